/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fastpath-linux: loads client/fastpath.bpf.c (built into telepodd as
 * bytes, client/fastpath-obj.h) with libbpf, attaches it to the TUN
 * device's egress in a clsact qdisc and keeps its flow map.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "client/fastpath-map.h"
#include "client/fastpath-obj.h"
#include "client/fastpath.h"

_Static_assert(FASTPATH_DIR_TO_LST == FASTPATH_TO_LST &&
                   FASTPATH_DIR_TO_APP == FASTPATH_TO_APP,
    "the map's direction values are enum fastpath_dir's");

/* The classifier's place in the qdisc. */
#define FASTPATH_HANDLE   1
#define FASTPATH_PRIORITY 1

struct fastpath {
	struct bpf_object *obj;
	int flows_fd;
	int stats_fd;
	int prog_fd;
	int ncpu;
	struct bpf_tc_hook hook;
	bool hook_made; /* the clsact qdisc is ours to remove */
	bool attached;
};

/* libbpf's last warning, for the error sentence (libbpf prints to stderr
 * unless told otherwise; errors here are returned, not printed). */
static char fastpath_libbpf_msg[256];

static int
fastpath_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(fastpath_libbpf_msg, sizeof(fastpath_libbpf_msg), fmt, ap);
	n = strlen(fastpath_libbpf_msg);
	while (n > 0 && (fastpath_libbpf_msg[n - 1] == '\n' ||
	                    fastpath_libbpf_msg[n - 1] == ' '))
		fastpath_libbpf_msg[--n] = '\0';
	return 0;
}

static void
fastpath_error(char *err, size_t errlen, const char *what, int r)
{
	if (fastpath_libbpf_msg[0])
		snprintf(err, errlen, "%s: %s (%s)", what, strerror(-r),
		    fastpath_libbpf_msg);
	else
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
}

static void
fastpath_key(const struct pkt_tuple *t, struct fastpath_tuple *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(&k->saddr, t->src, 4);
	memcpy(&k->daddr, t->dst, 4);
	k->sport = htons(t->sport);
	k->dport = htons(t->dport);
}

int
fastpath_open(int ifindex, unsigned max_flows, struct fastpath **ret, char *err,
    size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "fastpath");
	struct fastpath *fp;
	struct bpf_map *flows, *stats;
	struct bpf_program *prog;
	int r;

	if (ifindex <= 0 || max_flows == 0 || max_flows > (1u << 22)) {
		snprintf(err, errlen, "invalid fast path configuration");
		return -EINVAL;
	}
	libbpf_set_print(fastpath_print);
	fastpath_libbpf_msg[0] = '\0';
	fp = calloc(1, sizeof(*fp));
	if (!fp)
		return -ENOMEM;
	fp->flows_fd = fp->stats_fd = -1;
	fp->obj = bpf_object__open_mem(fastpath_obj, sizeof(fastpath_obj), &oo);
	if (!fp->obj) {
		r = errno ? -errno : -EINVAL;
		fastpath_error(err, errlen, "cannot open the BPF object", r);
		goto fail;
	}
	flows = bpf_object__find_map_by_name(fp->obj, "fastpath_flows");
	stats = bpf_object__find_map_by_name(fp->obj, "fastpath_stats");
	prog = bpf_object__find_program_by_name(fp->obj, "fastpath_egress");
	if (!flows || !stats || !prog) {
		snprintf(
		    err, errlen, "the BPF object lacks its maps or program");
		r = -ENOENT;
		goto fail;
	}
	r = bpf_map__set_max_entries(flows, 2 * max_flows);
	if (r < 0) {
		fastpath_error(err, errlen, "cannot size the flow map", r);
		goto fail;
	}
	r = bpf_object__load(fp->obj);
	if (r < 0) {
		fastpath_error(err, errlen,
		    "the kernel refused the BPF classifier (needs CAP_BPF and CAP_NET_ADMIN, or root)",
		    r);
		goto fail;
	}
	fp->flows_fd = bpf_map__fd(flows);
	fp->stats_fd = bpf_map__fd(stats);
	fp->ncpu = libbpf_num_possible_cpus();
	if (fp->ncpu <= 0) {
		r = fp->ncpu < 0 ? fp->ncpu : -EINVAL;
		fastpath_error(err, errlen, "cannot count the CPUs", r);
		goto fail;
	}
	fp->hook.sz = sizeof(fp->hook);
	fp->hook.ifindex = ifindex;
	fp->hook.attach_point = BPF_TC_EGRESS;
	r = bpf_tc_hook_create(&fp->hook);
	if (r == 0)
		fp->hook_made = true;
	else if (r != -EEXIST) {
		fastpath_error(err, errlen,
		    "cannot add a clsact qdisc to the TUN device", r);
		goto fail;
	}
	fp->prog_fd = bpf_program__fd(prog);
	/* Attached once now, so that a refusal shows at start; then only
	 * while flows use it (fastpath_attach). */
	r = fastpath_attach(fp);
	if (r < 0) {
		fastpath_error(err, errlen,
		    "cannot attach the BPF classifier to the TUN device", r);
		goto fail;
	}
	fastpath_detach(fp);
	*ret = fp;
	return 0;
fail:
	fastpath_free(fp);
	return r;
}

/* The classifier's place in the qdisc (and, to attach, its program). */
static void
fastpath_opts(struct bpf_tc_opts *o, int prog_fd, __u32 flags)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->handle = FASTPATH_HANDLE;
	o->priority = FASTPATH_PRIORITY;
	o->prog_fd = prog_fd;
	o->flags = flags;
}

int
fastpath_attach(struct fastpath *fp)
{
	struct bpf_tc_opts o;
	int r;

	if (fp->attached)
		return 0;
	fastpath_opts(&o, fp->prog_fd, BPF_TC_F_REPLACE);
	r = bpf_tc_attach(&fp->hook, &o);
	if (r < 0)
		return r;
	fp->attached = true;
	return 0;
}

void
fastpath_detach(struct fastpath *fp)
{
	struct bpf_tc_opts o;

	if (!fp->attached)
		return;
	/* Detaching names the place only (libbpf refuses a program). */
	fastpath_opts(&o, 0, 0);
	bpf_tc_detach(&fp->hook, &o);
	fp->attached = false;
}

bool
fastpath_attached(const struct fastpath *fp)
{
	return fp->attached;
}

void
fastpath_free(struct fastpath *fp)
{
	if (!fp)
		return;
	fastpath_detach(fp);
	if (fp->hook_made) {
		/* Both points: that is what deletes the clsact qdisc. */
		fp->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&fp->hook);
	}
	bpf_object__close(fp->obj);
	free(fp);
}

int
fastpath_add(struct fastpath *fp, const struct pkt_tuple *from,
    const struct pkt_tuple *to, enum fastpath_dir dir)
{
	struct fastpath_tuple k, v;

	if (from->family != AF_INET || to->family != AF_INET)
		return -EAFNOSUPPORT;
	fastpath_key(from, &k);
	fastpath_key(to, &v);
	v.dir = (__u8)dir;
	if (bpf_map_update_elem(fp->flows_fd, &k, &v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int
fastpath_del(struct fastpath *fp, const struct pkt_tuple *from)
{
	struct fastpath_tuple k;

	if (from->family != AF_INET)
		return -ENOENT;
	fastpath_key(from, &k);
	if (bpf_map_delete_elem(fp->flows_fd, &k) < 0)
		return -errno;
	return 0;
}

int
fastpath_count(const struct fastpath *fp, size_t *ret)
{
	struct fastpath_tuple k, next;
	size_t n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fp->flows_fd, prev, &next) == 0) {
		n++;
		k = next;
		prev = &k;
	}
	if (errno != ENOENT)
		return -errno;
	*ret = n;
	return 0;
}

int
fastpath_get_stats(const struct fastpath *fp, struct fastpath_stats *ret)
{
	struct fastpath_counters *c;
	struct fastpath_stats s;
	__u32 zero = 0;

	c = calloc((size_t)fp->ncpu, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fp->stats_fd, &zero, c) < 0) {
		int r = -errno;

		free(c);
		return r;
	}
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < fp->ncpu; i++) {
		for (int d = 0; d < 2; d++) {
			s.pkts[d] += c[i].pkts[d];
			s.bytes[d] += c[i].bytes[d];
		}
	}
	free(c);
	*ret = s;
	return 0;
}

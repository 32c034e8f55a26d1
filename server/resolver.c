/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolver: two c-ares channels driven by one libevent loop, the way curl's
 * asyn-ares.c and the c-ares docs describe for event loops.
 *
 * - "names" resolves host names for OPEN with ares_getaddrinfo; c-ares reads
 *   resolv.conf itself (servers, search, ndots, options).
 * - "raw" forwards clients' DNS messages with ares_send and
 *   ARES_FLAG_NOCHECKRESP, so SERVFAIL / REFUSED answers come back as they
 *   are instead of c-ares retrying and mapping them to an error. c-ares
 *   already switches to TCP for queries over 512 bytes and retries
 *   truncated UDP answers over TCP (we never set ARES_FLAG_IGNTC). It puts
 *   its own id on the wire; the answer gets the client's id back.
 *   ARES_FLAG_EDNS is deliberately not used: with it c-ares would strip
 *   what it believes is its own OPT record from the query on a FORMERR.
 *
 * Each channel has a list of watched sockets (created and updated by the
 * socket-state callback) and a timer armed from ares_timeout after every
 * call into c-ares. Results are copied into the request and delivered by a
 * zero-delay event, so user callbacks never run inside c-ares and may call
 * anything, resolver_free included.
 */
#include "server/resolver.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "proto/wire.h"
#include "server/dnsmsg.h"

enum resolver_chan_kind {
	RESOLVER_CHAN_NAMES = 0,
	RESOLVER_CHAN_RAW = 1,
	RESOLVER_CHAN_COUNT = 2,
};

struct resolver_sock {
	struct resolver_chan *chan;
	ares_socket_t fd;
	struct event *ev;
	struct resolver_sock *next;
};

struct resolver_chan {
	struct resolver *r;
	ares_channel ch;
	bool ready; /* ch was initialised */
	struct event *timer;
	struct resolver_sock *socks;
};

struct resolver {
	struct event_base *base;
	struct resolver_chan chan[RESOLVER_CHAN_COUNT];
	struct resolver_req *reqs; /* every request not yet delivered */
	bool lib_init;
};

enum resolver_req_kind {
	RESOLVER_REQ_ADDR,
	RESOLVER_REQ_DNS,
};

struct resolver_req {
	struct resolver *r;
	struct resolver_req *prev, *next;
	enum resolver_req_kind kind;
	bool in_ares;   /* c-ares still holds a pointer to this request */
	bool cancelled; /* free it when c-ares lets go, do not deliver */
	struct event *deliver;
	union {
		resolver_addr_cb addr;
		resolver_dns_cb dns;
	} cb;
	void *arg;
	/* Result. */
	uint32_t err;
	const char *why;
	uint16_t port;
	uint16_t query_id;
	size_t n_addrs;
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
	uint8_t *answer;
	size_t answer_len;
};

static void resolver_chan_arm(struct resolver_chan *c);

/* --- c-ares on libevent -------------------------------------------- */

static void
resolver_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_sock *s = arg;
	struct resolver_chan *c = s->chan;

	/* s may be freed by the socket-state callback inside this call. */
	ares_process_fd(c->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	resolver_chan_arm(c);
}

static void
resolver_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_chan *c = arg;

	ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_chan_arm(c);
}

static void
resolver_chan_arm(struct resolver_chan *c)
{
	struct timeval tv, *t;

	t = ares_timeout(c->ch, NULL, &tv);
	if (t)
		evtimer_add(c->timer, t);
	else
		evtimer_del(c->timer);
}

static void
resolver_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver_chan *c = data;
	struct resolver_sock **pp = &c->socks, *s;
	short what = (short)((readable ? EV_READ : 0) |
	                     (writable ? EV_WRITE : 0) | EV_PERSIST);

	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	s = *pp;
	if (!readable && !writable) {
		if (s) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			/* c-ares's timeout will fail the query. */
			log_warn("resolver: out of memory watching a socket");
			return;
		}
		s->chan = c;
		s->fd = fd;
		s->next = c->socks;
		c->socks = s;
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(c->r->base, fd, what, resolver_on_sock, s);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		log_warn("resolver: cannot watch socket %d", (int)fd);
}

static int
resolver_chan_init(struct resolver *r, struct resolver_chan *c,
    const struct resolver_config *cfg, int flags)
{
	struct ares_options opts;
	int mask = ARES_OPT_SOCK_STATE_CB, st;

	memset(&opts, 0, sizeof(opts));
	c->r = r;
	c->timer = evtimer_new(r->base, resolver_on_timer, c);
	if (!c->timer)
		return -ENOMEM;
	opts.sock_state_cb = resolver_sock_state;
	opts.sock_state_cb_data = c;
	if (flags) {
		opts.flags = flags;
		mask |= ARES_OPT_FLAGS;
	}
	if (cfg && cfg->timeout_ms) {
		opts.timeout = (int)cfg->timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (cfg && cfg->tries) {
		opts.tries = (int)cfg->tries;
		mask |= ARES_OPT_TRIES;
	}
	if (cfg && cfg->resolv_conf) {
		opts.resolvconf_path = (char *)cfg->resolv_conf;
		mask |= ARES_OPT_RESOLVCONF;
	}
	st = ares_init_options(&c->ch, &opts, mask);
	if (st != ARES_SUCCESS) {
		log_debug(
		    LOG_CAT_DNS, "ares_init_options: %s", ares_strerror(st));
		return st == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	c->ready = true;
	if (cfg && cfg->servers) {
		st = ares_set_servers_ports_csv(c->ch, cfg->servers);
		if (st != ARES_SUCCESS) {
			log_debug(LOG_CAT_DNS,
			    "ares_set_servers_ports_csv %s: %s", cfg->servers,
			    ares_strerror(st));
			return st == ARES_ENOMEM ? -ENOMEM : -EINVAL;
		}
	}
	return 0;
}

static void
resolver_chan_clear(struct resolver_chan *c)
{
	if (c->ready)
		ares_destroy(c->ch); /* callbacks see ARES_EDESTRUCTION */
	c->ready = false;
	while (c->socks) {
		struct resolver_sock *s = c->socks;

		c->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	if (c->timer)
		event_free(c->timer);
	c->timer = NULL;
}

/* --- requests --------------------------------------------------------- */

static void
resolver_req_unlink(struct resolver_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else if (q->r && q->r->reqs == q)
		q->r->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void
resolver_req_free(struct resolver_req *q)
{
	resolver_req_unlink(q);
	if (q->deliver)
		event_free(q->deliver);
	free(q->answer);
	free(q);
}

static void
resolver_on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_req *q = arg;

	/* Unlinked first: the callback may free the resolver. */
	resolver_req_unlink(q);
	q->r = NULL;
	if (q->kind == RESOLVER_REQ_ADDR)
		q->cb.addr(q->err, q->why, q->addrs, q->n_addrs, q->arg);
	else
		q->cb.dns(q->err, q->why, q->answer, q->answer_len, q->arg);
	resolver_req_free(q);
}

static void
resolver_req_done(struct resolver_req *q)
{
	static const struct timeval zero = {0, 0};

	event_add(q->deliver, &zero);
}

static struct resolver_req *
resolver_req_new(struct resolver *r, enum resolver_req_kind kind, void *arg)
{
	struct resolver_req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->deliver = evtimer_new(r->base, resolver_on_deliver, q);
	if (!q->deliver) {
		free(q);
		return NULL;
	}
	q->r = r;
	q->kind = kind;
	q->arg = arg;
	q->next = r->reqs;
	if (r->reqs)
		r->reqs->prev = q;
	r->reqs = q;
	return q;
}

/* True when c-ares let go of a request that nobody wants any more. */
static bool
resolver_req_released(struct resolver_req *q, int status)
{
	q->in_ares = false;
	if (q->cancelled) {
		resolver_req_free(q);
		return true;
	}
	/* resolver_free destroys the channels, then frees the requests. */
	return status == ARES_EDESTRUCTION;
}

static void
resolver_on_addrinfo(
    void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct resolver_req *q = arg;

	if (resolver_req_released(q, status))
		goto out;
	switch (status) {
	case ARES_SUCCESS:
		for (struct ares_addrinfo_node *n = res ? res->nodes : NULL;
		     n && q->n_addrs < RESOLVER_MAX_ADDRS; n = n->ai_next) {
			struct sockaddr_storage *ss = &q->addrs[q->n_addrs];

			if (n->ai_family == AF_INET &&
			    n->ai_addrlen >= sizeof(struct sockaddr_in)) {
				memcpy(
				    ss, n->ai_addr, sizeof(struct sockaddr_in));
				((struct sockaddr_in *)ss)->sin_port =
				    htons(q->port);
			} else if (n->ai_family == AF_INET6 &&
			           n->ai_addrlen >=
			               sizeof(struct sockaddr_in6)) {
				memcpy(ss, n->ai_addr,
				    sizeof(struct sockaddr_in6));
				((struct sockaddr_in6 *)ss)->sin6_port =
				    htons(q->port);
			} else {
				continue;
			}
			q->n_addrs++;
		}
		if (q->n_addrs > 0) {
			q->err = WIRE_OK;
		} else {
			q->err = WIRE_ERR_NAME_NOT_FOUND;
			q->why = "no addresses";
		}
		break;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_EBADNAME:
		q->err = WIRE_ERR_NAME_NOT_FOUND;
		q->why = ares_strerror(status);
		break;
	default:
		/* ETIMEOUT, ESERVFAIL, ECONNREFUSED, EREFUSED, ... */
		q->err = WIRE_ERR_NAME_FAILURE;
		q->why = ares_strerror(status);
		break;
	}
	resolver_req_done(q);
out:
	if (res)
		ares_freeaddrinfo(res);
}

static void
resolver_on_answer(
    void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct resolver_req *q = arg;

	if (resolver_req_released(q, status))
		return;
	if (status == ARES_SUCCESS && abuf && alen >= DNSMSG_HEADER_LEN) {
		q->answer = malloc((size_t)alen);
		if (q->answer) {
			memcpy(q->answer, abuf, (size_t)alen);
			q->answer_len = (size_t)alen;
			dnsmsg_set_id(q->answer, q->query_id);
			q->err = WIRE_OK;
		} else {
			q->err = WIRE_ERR_NAME_FAILURE;
			q->why = "out of memory";
		}
	} else if (status == ARES_ETIMEOUT) {
		q->err = WIRE_ERR_TIMEOUT;
		q->why = ares_strerror(status);
	} else {
		q->err = WIRE_ERR_NAME_FAILURE;
		q->why = status == ARES_SUCCESS ? "short answer"
		                                : ares_strerror(status);
	}
	resolver_req_done(q);
}

/* --- public API ------------------------------------------------------ */

int
resolver_new(struct event_base *base, const struct resolver_config *cfg,
    struct resolver **ret_resolver)
{
	struct resolver *r = calloc(1, sizeof(*r));
	int st, ret;

	if (!r)
		return -ENOMEM;
	r->base = base;
	st = ares_library_init(ARES_LIB_INIT_ALL);
	if (st != ARES_SUCCESS) {
		log_debug(
		    LOG_CAT_DNS, "ares_library_init: %s", ares_strerror(st));
		ret = -EIO;
		goto out;
	}
	r->lib_init = true;
	ret = resolver_chan_init(r, &r->chan[RESOLVER_CHAN_NAMES], cfg, 0);
	if (ret < 0)
		goto out;
	ret = resolver_chan_init(
	    r, &r->chan[RESOLVER_CHAN_RAW], cfg, ARES_FLAG_NOCHECKRESP);
	if (ret < 0)
		goto out;
	*ret_resolver = r;
	r = NULL;
	ret = 0;
out:
	resolver_free(r);
	return ret;
}

void
resolver_free(struct resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < RESOLVER_CHAN_COUNT; i++)
		resolver_chan_clear(&r->chan[i]);
	while (r->reqs)
		resolver_req_free(r->reqs);
	if (r->lib_init)
		ares_library_cleanup();
	free(r);
}

int
resolver_resolve(struct resolver *r, const char *name, uint16_t port,
    resolver_addr_cb cb, void *arg, struct resolver_req **ret_req)
{
	struct resolver_chan *c = &r->chan[RESOLVER_CHAN_NAMES];
	struct ares_addrinfo_hints hints;
	struct resolver_req *q;

	if (!name || !*name || !cb)
		return -EINVAL;
	q = resolver_req_new(r, RESOLVER_REQ_ADDR, arg);
	if (!q)
		return -ENOMEM;
	q->cb.addr = cb;
	q->port = port;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* The callback may run inside ares_getaddrinfo (numeric names,
	 * /etc/hosts); it only stores the result, delivery is deferred. */
	q->in_ares = true;
	ares_getaddrinfo(c->ch, name, NULL, &hints, resolver_on_addrinfo, q);
	resolver_chan_arm(c);
	*ret_req = q;
	return 0;
}

int
resolver_query(struct resolver *r, const uint8_t *msg, size_t len,
    resolver_dns_cb cb, void *arg, struct resolver_req **ret_req)
{
	struct resolver_chan *c = &r->chan[RESOLVER_CHAN_RAW];
	struct resolver_req *q;
	int chk;

	if (len < DNSMSG_HEADER_LEN || len > 65535)
		return -EMSGSIZE;
	if (!cb)
		return -EINVAL;
	q = resolver_req_new(r, RESOLVER_REQ_DNS, arg);
	if (!q)
		return -ENOMEM;
	q->cb.dns = cb;
	q->query_id = dnsmsg_id(msg);
	chk = dnsmsg_check_query(msg, len);
	if (chk < 0) {
		/* Answered locally; never sent upstream. */
		q->answer = malloc(DNSMSG_HEADER_LEN);
		if (!q->answer) {
			resolver_req_free(q);
			return -ENOMEM;
		}
		q->answer_len = dnsmsg_error_reply(msg,
		    chk == -EOPNOTSUPP ? DNSMSG_NOTIMP : DNSMSG_FORMERR,
		    q->answer);
		q->err = WIRE_OK;
		q->why = chk == -EOPNOTSUPP ? "opcode not supported"
		                            : "malformed query";
		resolver_req_done(q);
		*ret_req = q;
		return 0;
	}
	q->in_ares = true;
	ares_send(c->ch, msg, (int)len, resolver_on_answer, q);
	resolver_chan_arm(c);
	*ret_req = q;
	return 0;
}

void
resolver_cancel(struct resolver_req *req)
{
	if (!req)
		return;
	if (req->in_ares) {
		/* c-ares cannot drop one query; forget it when it answers. */
		req->cancelled = true;
		event_del(req->deliver);
		return;
	}
	resolver_req_free(req);
}

int
resolver_search_list(struct resolver *r, char *out, size_t cap)
{
	struct ares_options opts;
	int mask = 0, st;
	size_t len = 0;
	int ret = 0;

	if (cap == 0)
		return -EMSGSIZE;
	out[0] = '\0';
	memset(&opts, 0, sizeof(opts));
	st = ares_save_options(r->chan[RESOLVER_CHAN_NAMES].ch, &opts, &mask);
	if (st != ARES_SUCCESS)
		return st == ARES_ENOMEM ? -ENOMEM : -EIO;
	for (int i = 0; (mask & ARES_OPT_DOMAINS) && i < opts.ndomains; i++) {
		size_t n = strlen(opts.domains[i]);

		if (len + (len ? 1 : 0) + n + 1 > cap) {
			ret = -EMSGSIZE;
			goto out;
		}
		if (len)
			out[len++] = ' ';
		memcpy(out + len, opts.domains[i], n + 1);
		len += n;
	}
	ret = (int)len;
out:
	ares_destroy_options(&opts);
	return ret;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cidr: parsing, formatting and set arithmetic of IPv4/IPv6 prefixes for
 * telepodd's routing decisions. Addresses are kept as 16 bytes in network
 * order and handled bit by bit (bit 0 is the most significant bit of the
 * first byte), so one code path serves both families. Two prefixes are
 * either disjoint or nested, which keeps union, subtraction and merging
 * simple: subtraction splits a prefix into the siblings along the path down
 * to the removed prefix, and merging repeatedly joins two sibling halves.
 */
#include "client/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/errbuf.h"

unsigned
cidr_family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

static unsigned
cidr_bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1u;
}

static void
cidr_flip_bit(uint8_t *addr, unsigned i)
{
	addr[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
}

/* Clears every bit from position prefix on; true if any was set. */
static bool
cidr_clear_host_bits(uint8_t *addr, unsigned prefix)
{
	bool had = false;

	for (unsigned i = prefix; i < 128; i++) {
		if (i % 8 == 0) {
			if (addr[i / 8] != 0)
				had = true;
			addr[i / 8] = 0;
			i += 7;
			continue;
		}
		if (cidr_bit(addr, i)) {
			had = true;
			cidr_flip_bit(addr, i);
		}
	}
	return had;
}

/* Parses the address and optional length; keeps host bits. */
static int
cidr_parse_raw(const char *s, struct cidr *ret)
{
	char buf[CIDR_STR_MAX];
	const char *len_str = NULL;
	struct cidr c;
	size_t n;
	char *slash;
	unsigned bits, prefix;

	if (s == NULL)
		return -EINVAL;
	n = strnlen(s, sizeof(buf));
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
		len_str = slash + 1;
	}
	memset(&c, 0, sizeof(c));
	c.family = strchr(buf, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, buf, c.addr) != 1)
		return -EINVAL;
	bits = cidr_family_bits(c.family);
	if (len_str == NULL) {
		prefix = bits;
	} else {
		size_t digits = strlen(len_str);

		if (digits == 0 || digits > 3 ||
		    strspn(len_str, "0123456789") != digits ||
		    (digits > 1 && len_str[0] == '0'))
			return -EINVAL;
		prefix = (unsigned)atoi(len_str);
		if (prefix > bits)
			return -EINVAL;
	}
	c.prefix = (uint8_t)prefix;
	*ret = c;
	return 0;
}

int
cidr_parse(const char *s, struct cidr *ret, bool *ret_normalized)
{
	struct cidr c;
	bool had;
	int r;

	r = cidr_parse_raw(s, &c);
	if (r < 0)
		return r;
	had = cidr_clear_host_bits(c.addr, c.prefix);
	*ret = c;
	if (ret_normalized != NULL)
		*ret_normalized = had;
	return 0;
}

int
cidr_parse_host(const char *s, struct cidr *ret)
{
	return cidr_parse_raw(s, ret);
}

const char *
cidr_format_addr(const struct cidr *c, char *buf, size_t cap)
{
	char tmp[INET6_ADDRSTRLEN];

	if (cap == 0)
		return buf;
	if (inet_ntop(c->family, c->addr, tmp, sizeof(tmp)) == NULL)
		snprintf(tmp, sizeof(tmp), "?");
	snprintf(buf, cap, "%s", tmp);
	return buf;
}

const char *
cidr_format(const struct cidr *c, char *buf, size_t cap)
{
	char tmp[INET6_ADDRSTRLEN];

	if (cap == 0)
		return buf;
	cidr_format_addr(c, tmp, sizeof(tmp));
	snprintf(buf, cap, "%s/%u", tmp, (unsigned)c->prefix);
	return buf;
}

struct cidr
cidr_network(const struct cidr *c)
{
	struct cidr n = *c;

	cidr_clear_host_bits(n.addr, n.prefix);
	return n;
}

/* True when the first len bits of a and b agree. */
static bool
cidr_same_bits(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}

bool
cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       cidr_same_bits(a->addr, b->addr, a->prefix);
}

bool
cidr_contains(const struct cidr *outer, const struct cidr *inner)
{
	return outer->family == inner->family &&
	       outer->prefix <= inner->prefix &&
	       cidr_same_bits(outer->addr, inner->addr, outer->prefix);
}

bool
cidr_overlaps(const struct cidr *a, const struct cidr *b)
{
	return cidr_contains(a, b) || cidr_contains(b, a);
}

int
cidr_compare(const struct cidr *a, const struct cidr *b)
{
	struct cidr na, nb;
	int r;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	na = cidr_network(a);
	nb = cidr_network(b);
	r = memcmp(na.addr, nb.addr, sizeof(na.addr));
	if (r != 0)
		return r;
	return (int)a->prefix - (int)b->prefix;
}

static int
cidr_compare_qsort(const void *a, const void *b)
{
	return cidr_compare(a, b);
}

void
cidr_list_init(struct cidr_list *l)
{
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
}

void
cidr_list_clear(struct cidr_list *l)
{
	free(l->v);
	cidr_list_init(l);
}

int
cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	if (l->n >= CIDR_LIST_MAX)
		return -EMSGSIZE;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct cidr *v;

		if (cap > CIDR_LIST_MAX)
			cap = CIDR_LIST_MAX;
		v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *c;
	return 0;
}

int
cidr_list_add_str(struct cidr_list *l, const char *csv, bool *ret_normalized,
    char *err, size_t errlen)
{
	struct cidr_list tmp;
	bool any = false;
	const char *p = csv;
	int r = 0;

	cidr_list_init(&tmp);
	if (csv == NULL || *csv == '\0') {
		errbuf_set(err, errlen, "an empty list of subnets");
		return -EINVAL;
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[CIDR_STR_MAX];
		struct cidr c;
		bool norm = false;

		if (len == 0 || len >= sizeof(item)) {
			errbuf_set(err, errlen,
			    "\"%.*s\" in \"%.60s\" is not a subnet (expected "
			    "a list like 10.96.0.0/12,fd00::/64)",
			    (int)(len > 60 ? 60 : len), p, csv);
			r = -EINVAL;
			goto out;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (cidr_parse(item, &c, &norm) < 0) {
			errbuf_set(err, errlen,
			    "\"%s\" is not a subnet (expected ADDRESS/LENGTH "
			    "such as 10.96.0.0/12 or fd00::/64)",
			    item);
			r = -EINVAL;
			goto out;
		}
		any |= norm;
		r = cidr_list_add(&tmp, &c);
		if (r < 0)
			goto toomany;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (l->n + tmp.n > CIDR_LIST_MAX) {
		r = -EMSGSIZE;
		goto toomany;
	}
	for (size_t i = 0; i < tmp.n; i++) {
		r = cidr_list_add(l, &tmp.v[i]);
		if (r < 0) {
			l->n -= i; /* leave l as it was */
			goto toomany;
		}
	}
	if (ret_normalized != NULL)
		*ret_normalized = any;
	r = 0;
	goto out;
toomany:
	if (r == -EMSGSIZE)
		errbuf_set(err, errlen, "more than %d subnets", CIDR_LIST_MAX);
	else
		errbuf_set(err, errlen, "out of memory");
out:
	cidr_list_clear(&tmp);
	return r;
}

bool
cidr_list_contains(const struct cidr_list *l, const struct cidr *c)
{
	for (size_t i = 0; i < l->n; i++)
		if (cidr_contains(&l->v[i], c))
			return true;
	return false;
}

/* True when a and b are the two halves of one prefix, a the lower one
 * (both are networks: host bits clear). */
static bool
cidr_siblings(const struct cidr *a, const struct cidr *b)
{
	unsigned last;

	if (a->family != b->family || a->prefix != b->prefix || a->prefix == 0)
		return false;
	last = a->prefix - 1u;
	return cidr_same_bits(a->addr, b->addr, last) &&
	       cidr_bit(a->addr, last) == 0 && cidr_bit(b->addr, last) == 1;
}

int
cidr_list_minimize(struct cidr_list *l)
{
	size_t top = 0; /* l->v[0..top) is the result so far, a stack */

	for (size_t i = 0; i < l->n; i++)
		l->v[i] = cidr_network(&l->v[i]);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cidr_compare_qsort);
	for (size_t i = 0; i < l->n; i++) {
		struct cidr c = l->v[i];

		/* Sorted by address then length: an item inside an earlier
		 * one comes right after it (or after its merged parent). */
		if (top > 0 && cidr_contains(&l->v[top - 1], &c))
			continue;
		l->v[top++] = c;
		while (
		    top >= 2 && cidr_siblings(&l->v[top - 2], &l->v[top - 1])) {
			l->v[top - 2].prefix--;
			top--;
		}
	}
	l->n = top;
	return 0;
}

/*
 * Appends p minus e (e strictly inside p) to out: at each length from
 * p->prefix + 1 to e->prefix, the half that does not hold e remains.
 */
static int
cidr_split_out(
    const struct cidr *p, const struct cidr *e, struct cidr_list *out)
{
	struct cidr half;
	int r;

	for (unsigned len = p->prefix + 1u; len <= e->prefix; len++) {
		half = *e;
		half.prefix = (uint8_t)len;
		cidr_clear_host_bits(half.addr, len);
		cidr_flip_bit(half.addr, len - 1u);
		r = cidr_list_add(out, &half);
		if (r < 0)
			return r;
	}
	return 0;
}

int
cidr_list_subtract(const struct cidr_list *include,
    const struct cidr_list *exclude, struct cidr_list *ret)
{
	struct cidr_list work, ex, next;
	int r = 0;

	cidr_list_init(&work);
	cidr_list_init(&ex);
	cidr_list_init(&next);
	cidr_list_clear(ret);
	for (size_t i = 0; i < include->n; i++) {
		r = cidr_list_add(&work, &include->v[i]);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < exclude->n; i++) {
		r = cidr_list_add(&ex, &exclude->v[i]);
		if (r < 0)
			goto out;
	}
	cidr_list_minimize(&work);
	cidr_list_minimize(&ex);
	for (size_t j = 0; j < ex.n; j++) {
		const struct cidr *e = &ex.v[j];

		next.n = 0;
		for (size_t i = 0; i < work.n; i++) {
			const struct cidr *p = &work.v[i];

			if (!cidr_overlaps(p, e))
				r = cidr_list_add(&next, p);
			else if (cidr_contains(e, p))
				r = 0; /* removed whole */
			else
				r = cidr_split_out(p, e, &next);
			if (r < 0)
				goto out;
		}
		/* swap: work becomes next, next reuses work's storage */
		{
			struct cidr_list t = work;

			work = next;
			next = t;
		}
	}
	cidr_list_minimize(&work);
	*ret = work;
	cidr_list_init(&work);
out:
	cidr_list_clear(&work);
	cidr_list_clear(&ex);
	cidr_list_clear(&next);
	return r;
}

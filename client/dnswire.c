/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnswire: parses, routes, rebuilds and rewrites the DNS messages that
 * telepodd's stub sees. Everything a client or a server sends passes
 * through here before the stub acts on it, so every read is checked
 * against the buffer's length, names are bounded by DNSWIRE_MAX_NAME
 * while they are decoded, and compression pointers must point before the
 * label run that holds them, which makes pointer loops impossible rather
 * than merely detected. Output goes into caller buffers with an explicit
 * capacity; nothing allocates. tests/fuzz/fuzz_dnswire.c runs the parsers
 * and the rewriter on arbitrary bytes.
 *
 * Answers to names the stub made absolute ("gateway.jakub" asked as
 * "gateway.jakub.svc.cluster.local") are rewritten rather than wrapped: the
 * client gets records owned by the name it asked for, as if its own
 * resolver had applied a search domain, because glibc and most stub
 * resolvers drop answer records whose owner is not the question name (or
 * a CNAME target of it). Renaming owners moves names around the message,
 * which breaks compression offsets, so the rewriter writes every name
 * uncompressed.
 */
#include "client/dnswire.h"

#include <errno.h>
#include <string.h>

#include "proto/wire.h"

/* A name has at most 127 labels (each at least 2 bytes) plus the root. */
#define DNSWIRE_MAX_LABELS 128

/* The 16 flag bits copied from a query into a reply: opcode, RD, CD. */
#define DNSWIRE_FLAGS_ECHOED 0x7910u

static const struct dnswire_name dnswire_svc = {5, {3, 's', 'v', 'c', 0}};
static const struct dnswire_name dnswire_pod = {5, {3, 'p', 'o', 'd', 0}};

int
dnswire_header_parse(
    const uint8_t *msg, size_t len, struct dnswire_header *ret_hdr)
{
	if (len < DNSWIRE_HEADER_LEN)
		return -EBADMSG;
	ret_hdr->id = wire_get_u16(msg);
	ret_hdr->flags = wire_get_u16(msg + 2);
	ret_hdr->qdcount = wire_get_u16(msg + 4);
	ret_hdr->ancount = wire_get_u16(msg + 6);
	ret_hdr->nscount = wire_get_u16(msg + 8);
	ret_hdr->arcount = wire_get_u16(msg + 10);
	return 0;
}

const char *
dnswire_rcode_name(unsigned rcode)
{
	static const char *const names[] = {
	    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

	return rcode < sizeof(names) / sizeof(*names) ? names[rcode] : "RCODE";
}

int
dnswire_name_decode(const uint8_t *msg, size_t len, size_t off,
    struct dnswire_name *ret_name, size_t *ret_next)
{
	struct dnswire_name n = {0};
	size_t p = off, limit = off, next = 0;
	int jumped = 0;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return -EBADMSG;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (p + 1 >= len)
				return -EBADMSG;
			target = ((size_t)(c & 0x3f) << 8) | msg[p + 1];
			/* Strictly before the run holding this pointer:
			 * each jump lowers limit, so the walk ends. */
			if (target >= limit)
				return -EBADMSG;
			if (!jumped)
				next = p + 2;
			jumped = 1;
			limit = target;
			p = target;
			continue;
		}
		if (c & 0xc0)
			return -EBADMSG; /* 0x40 / 0x80: obsolete types */
		if (c == 0)
			break;
		/* The label, and still room for the root label after it. */
		if (len - p - 1 < c ||
		    (size_t)n.len + 1 + c + 1 > DNSWIRE_MAX_NAME)
			return -EBADMSG;
		memcpy(n.wire + n.len, msg + p, (size_t)1 + c);
		n.len = (uint8_t)(n.len + 1 + c);
		p += (size_t)1 + c;
	}
	n.wire[n.len++] = 0;
	if (!jumped)
		next = p + 1;
	*ret_name = n;
	*ret_next = next;
	return 0;
}

int
dnswire_name_from_text(const char *text, struct dnswire_name *ret_name)
{
	struct dnswire_name n = {0};
	const char *p = text;

	if (strcmp(text, ".") == 0)
		p = "";
	while (*p) {
		size_t l = strcspn(p, ".\\");

		if (p[l] == '\\')
			return -EINVAL;
		if (l == 0)
			return -EINVAL;
		if (l > DNSWIRE_MAX_LABEL ||
		    (size_t)n.len + 1 + l + 1 > DNSWIRE_MAX_NAME)
			return -ENAMETOOLONG;
		n.wire[n.len] = (uint8_t)l;
		memcpy(n.wire + n.len + 1, p, l);
		n.len = (uint8_t)(n.len + 1 + l);
		p += l;
		if (*p == '.')
			p++;
	}
	n.wire[n.len++] = 0;
	*ret_name = n;
	return 0;
}

static int
dnswire_plain_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

const char *
dnswire_name_to_text(const struct dnswire_name *name, char *out, size_t cap)
{
	size_t o = 0, p = 0;
	bool full = false;

	if (cap == 0)
		return out;
	if (name->len <= 1) {
		out[0] = cap > 1 ? '.' : '\0';
		out[cap > 1 ? 1 : 0] = '\0';
		return out;
	}
	while (p < name->len && name->wire[p] != 0) {
		uint8_t l = name->wire[p];

		if (p > 0 && !(full = o + 1 >= cap))
			out[o++] = '.';
		/* Stop at the first character that does not fit. */
		for (size_t i = 1; i <= l && p + i < name->len && !full; i++) {
			uint8_t c = name->wire[p + i];

			if (dnswire_plain_char(c)) {
				if (!(full = o + 1 >= cap))
					out[o++] = (char)c;
			} else if (!(full = o + 4 >= cap)) {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			}
		}
		if (full)
			break;
		p += (size_t)l + 1;
	}
	out[o] = '\0';
	return out;
}

/* Offsets of name's labels (the root label not included); returns the
 * count. name is well formed (built by this module). */
static unsigned
dnswire_label_offsets(
    const struct dnswire_name *name, uint8_t offs[DNSWIRE_MAX_LABELS])
{
	unsigned n = 0;
	size_t p = 0;

	while (p < name->len && name->wire[p] != 0 && n < DNSWIRE_MAX_LABELS) {
		offs[n++] = (uint8_t)p;
		p += (size_t)name->wire[p] + 1;
	}
	return n;
}

unsigned
dnswire_name_labels(const struct dnswire_name *name)
{
	uint8_t offs[DNSWIRE_MAX_LABELS];

	return dnswire_label_offsets(name, offs);
}

static uint8_t
dnswire_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Case-insensitive compare of n bytes of wire form: length bytes are at
 * most 63, so lowering them changes nothing. */
static bool
dnswire_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (dnswire_lower(a[i]) != dnswire_lower(b[i]))
			return false;
	}
	return true;
}

bool
dnswire_name_equal(const struct dnswire_name *a, const struct dnswire_name *b)
{
	return a->len == b->len &&
	       dnswire_bytes_equal(a->wire, b->wire, a->len);
}

bool
dnswire_name_ends_with(
    const struct dnswire_name *name, const struct dnswire_name *suffix)
{
	uint8_t offs[DNSWIRE_MAX_LABELS];
	unsigned n = dnswire_label_offsets(name, offs);
	unsigned ns = dnswire_name_labels(suffix);
	size_t tail;

	if (ns > n)
		return false;
	tail = ns == 0 ? (size_t)name->len - 1 : offs[n - ns];
	return name->len - tail == suffix->len &&
	       dnswire_bytes_equal(
	           name->wire + tail, suffix->wire, suffix->len);
}

int
dnswire_name_append(
    struct dnswire_name *name, const struct dnswire_name *suffix)
{
	if ((size_t)name->len - 1 + suffix->len > DNSWIRE_MAX_NAME)
		return -ENAMETOOLONG;
	memcpy(name->wire + name->len - 1, suffix->wire, suffix->len);
	name->len = (uint8_t)(name->len - 1 + suffix->len);
	return 0;
}

/* One resource record's fixed part, after its owner name. */
struct dnswire_rr {
	struct dnswire_name owner;
	size_t start; /* offset of the owner name */
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	size_t rdata; /* offset of the data */
	uint16_t rdlen;
	size_t end; /* offset just after the data */
};

static int
dnswire_rr_parse(
    const uint8_t *msg, size_t len, size_t off, struct dnswire_rr *ret_rr)
{
	struct dnswire_rr rr;
	size_t next;
	int r;

	rr.start = off;
	r = dnswire_name_decode(msg, len, off, &rr.owner, &next);
	if (r < 0)
		return r;
	if (len - next < 10)
		return -EBADMSG;
	rr.type = wire_get_u16(msg + next);
	rr.class = wire_get_u16(msg + next + 2);
	rr.ttl = wire_get_u32(msg + next + 4);
	rr.rdlen = wire_get_u16(msg + next + 8);
	rr.rdata = next + 10;
	if (len - rr.rdata < rr.rdlen)
		return -EBADMSG;
	rr.end = rr.rdata + rr.rdlen;
	*ret_rr = rr;
	return 0;
}

/* Parses the single question at offset 12. */
static int
dnswire_question_parse(const uint8_t *msg, size_t len,
    struct dnswire_name *ret_name, uint16_t *ret_type, uint16_t *ret_class,
    size_t *ret_end)
{
	struct dnswire_name name;
	size_t next;
	int r;

	r = dnswire_name_decode(msg, len, DNSWIRE_HEADER_LEN, &name, &next);
	if (r < 0)
		return r;
	if (len - next < 4)
		return -EBADMSG;
	*ret_name = name;
	*ret_type = wire_get_u16(msg + next);
	*ret_class = wire_get_u16(msg + next + 2);
	*ret_end = next + 4;
	return 0;
}

int
dnswire_query_parse(
    const uint8_t *msg, size_t len, struct dnswire_query *ret_query)
{
	struct dnswire_query q = {0};
	unsigned records;
	size_t off;
	int r;

	r = dnswire_header_parse(msg, len, &q.hdr);
	if (r < 0)
		return r;
	if (q.hdr.flags & DNSWIRE_FLAG_QR)
		return -EBADMSG;
	if (DNSWIRE_OPCODE(q.hdr.flags) != DNSWIRE_OPCODE_QUERY)
		return -EOPNOTSUPP;
	if (q.hdr.qdcount != 1)
		return -EBADMSG;
	r = dnswire_question_parse(
	    msg, len, &q.qname, &q.qtype, &q.qclass, &q.question_end);
	if (r < 0)
		return r;
	q.udp_size = DNSWIRE_UDP_MIN;
	off = q.question_end;
	records = (unsigned)q.hdr.ancount + q.hdr.nscount + q.hdr.arcount;
	for (unsigned i = 0; i < records; i++) {
		struct dnswire_rr rr;

		r = dnswire_rr_parse(msg, len, off, &rr);
		if (r < 0)
			return r;
		if (rr.type == DNSWIRE_TYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root, in the
			 * additional section. */
			if (q.opt_off != 0 || rr.owner.len != 1 ||
			    i < (unsigned)q.hdr.ancount + q.hdr.nscount)
				return -EBADMSG;
			q.opt_off = rr.start;
			q.opt_len = rr.end - rr.start;
			if (rr.class > DNSWIRE_UDP_MIN)
				q.udp_size = rr.class;
		}
		off = rr.end;
	}
	*ret_query = q;
	return 0;
}

/* Bounded output. */
struct dnswire_out {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

static int
dnswire_put(struct dnswire_out *o, const void *p, size_t n)
{
	if (o->cap - o->len < n)
		return -EMSGSIZE;
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

static int
dnswire_put_u16(struct dnswire_out *o, uint16_t v)
{
	uint8_t b[2];

	wire_put_u16(b, v);
	return dnswire_put(o, b, 2);
}

int
dnswire_query_rebuild(const uint8_t *msg, const struct dnswire_query *q,
    const struct dnswire_name *qname, uint8_t *out, size_t cap)
{
	struct dnswire_out o = {out, cap, 0};
	int r = 0;

	if (cap > DNSWIRE_MAX_MSG)
		o.cap = DNSWIRE_MAX_MSG;
	r |= dnswire_put_u16(&o, q->hdr.id);
	r |= dnswire_put_u16(&o, q->hdr.flags);
	r |= dnswire_put_u16(&o, 1);
	r |= dnswire_put_u16(&o, 0);
	r |= dnswire_put_u16(&o, 0);
	r |= dnswire_put_u16(&o, q->opt_off ? 1 : 0);
	r |= dnswire_put(&o, qname->wire, qname->len);
	r |= dnswire_put_u16(&o, q->qtype);
	r |= dnswire_put_u16(&o, q->qclass);
	if (q->opt_off)
		r |= dnswire_put(&o, msg + q->opt_off, q->opt_len);
	return r ? -EMSGSIZE : (int)o.len;
}

int
dnswire_reply_empty(const uint8_t *query, size_t len, uint8_t rcode, bool tc,
    uint8_t *out, size_t cap)
{
	struct dnswire_out o = {out, cap, 0};
	struct dnswire_name name;
	uint16_t flags, qtype = 0, qclass = 0;
	size_t end;
	bool question = false;
	int r = 0;

	if (len < DNSWIRE_HEADER_LEN)
		return -EBADMSG;
	if (wire_get_u16(query + 4) >= 1 &&
	    dnswire_question_parse(query, len, &name, &qtype, &qclass, &end) ==
	        0)
		question = true;
	flags = (uint16_t)((wire_get_u16(query + 2) & DNSWIRE_FLAGS_ECHOED) |
	                   DNSWIRE_FLAG_QR | DNSWIRE_FLAG_RA |
	                   (tc ? DNSWIRE_FLAG_TC : 0) | (rcode & 0x0f));
	r |= dnswire_put(&o, query, 2);
	r |= dnswire_put_u16(&o, flags);
	r |= dnswire_put_u16(&o, question ? 1 : 0);
	r |= dnswire_put_u16(&o, 0);
	r |= dnswire_put_u16(&o, 0);
	r |= dnswire_put_u16(&o, 0);
	if (question) {
		r |= dnswire_put(&o, name.wire, name.len);
		r |= dnswire_put_u16(&o, qtype);
		r |= dnswire_put_u16(&o, qclass);
	}
	return r ? -EMSGSIZE : (int)o.len;
}

/* Parses ans's header and single question; returns 0 or -EBADMSG. */
static int
dnswire_answer_head(const uint8_t *ans, size_t len, struct dnswire_header *hdr,
    struct dnswire_name *qname, uint16_t *qtype, uint16_t *qclass, size_t *end)
{
	int r = dnswire_header_parse(ans, len, hdr);

	if (r < 0)
		return r;
	if (!(hdr->flags & DNSWIRE_FLAG_QR) || hdr->qdcount != 1)
		return -EBADMSG;
	return dnswire_question_parse(ans, len, qname, qtype, qclass, end);
}

int
dnswire_answer_check(const uint8_t *ans, size_t len,
    const struct dnswire_name *qname, uint16_t qtype, uint16_t qclass)
{
	struct dnswire_header hdr;
	struct dnswire_name name;
	uint16_t type, class;
	size_t end;
	int r;

	r = dnswire_answer_head(ans, len, &hdr, &name, &type, &class, &end);
	if (r < 0)
		return r;
	if (!dnswire_name_equal(&name, qname) || type != qtype ||
	    class != qclass)
		return -EBADMSG;
	return 0;
}

/*
 * The layout of the data of record types holding names that RFC 1035
 * allowed to be compressed (RFC 3597 section 4), as a string: 'N' a name,
 * a digit k that many bytes copied. The data must end exactly after it.
 * Other types' data is copied as is.
 */
static const char *
dnswire_rdata_layout(uint16_t type)
{
	switch (type) {
	case 2:  /* NS */
	case 3:  /* MD */
	case 4:  /* MF */
	case 5:  /* CNAME */
	case 7:  /* MB */
	case 8:  /* MG */
	case 9:  /* MR */
	case 12: /* PTR */
	case 39: /* DNAME */
		return "N";
	case 6: /* SOA: mname, rname, serial, refresh, retry, expire, min */
		return "NN44444";
	case 14: /* MINFO */
	case 17: /* RP */
		return "NN";
	case 15: /* MX */
	case 18: /* AFSDB */
	case 21: /* RT */
	case 36: /* KX */
		return "2N";
	case 26: /* PX */
		return "2NN";
	case 33: /* SRV: priority, weight, port, target */
		return "222N";
	default:
		return NULL;
	}
}

/* Writes rr's data, names decompressed. */
static int
dnswire_rdata_rewrite(
    const uint8_t *ans, const struct dnswire_rr *rr, struct dnswire_out *o)
{
	const char *layout = dnswire_rdata_layout(rr->type);
	size_t p = rr->rdata;

	if (!layout)
		return dnswire_put(o, ans + rr->rdata, rr->rdlen);
	for (; *layout; layout++) {
		if (*layout == 'N') {
			struct dnswire_name name;
			size_t next;
			int r;

			/* Pointers may reach anywhere before; the name as
			 * it sits must end inside the data. */
			r = dnswire_name_decode(ans, rr->end, p, &name, &next);
			if (r < 0)
				return r;
			r = dnswire_put(o, name.wire, name.len);
			if (r < 0)
				return r;
			p = next;
		} else {
			size_t k = (size_t)(*layout - '0');
			int r;

			if (rr->end - p < k)
				return -EBADMSG;
			r = dnswire_put(o, ans + p, k);
			if (r < 0)
				return r;
			p += k;
		}
	}
	return p == rr->end ? 0 : -EBADMSG;
}

int
dnswire_answer_rewrite(const uint8_t *ans, size_t len,
    const struct dnswire_name *from, const struct dnswire_name *to,
    uint8_t *out, size_t cap, size_t *ret_len)
{
	struct dnswire_out o = {
	    out, cap > DNSWIRE_MAX_MSG ? DNSWIRE_MAX_MSG : cap, 0};
	struct dnswire_header hdr;
	struct dnswire_name qname;
	uint16_t qtype, qclass;
	unsigned records;
	size_t off;
	int r;

	r = dnswire_answer_head(ans, len, &hdr, &qname, &qtype, &qclass, &off);
	if (r < 0)
		return r;
	if (!dnswire_name_equal(&qname, from))
		return -EBADMSG;
	r = dnswire_put(&o, ans, DNSWIRE_HEADER_LEN);
	if (r < 0)
		return r;
	r = dnswire_put(&o, to->wire, to->len);
	if (r == 0)
		r = dnswire_put(&o, ans + off - 4, 4);
	if (r < 0)
		return r;
	records = (unsigned)hdr.ancount + hdr.nscount + hdr.arcount;
	for (unsigned i = 0; i < records; i++) {
		struct dnswire_rr rr;
		const struct dnswire_name *owner;
		size_t rdlen_at, rdlen;

		r = dnswire_rr_parse(ans, len, off, &rr);
		if (r < 0)
			return r;
		owner = dnswire_name_equal(&rr.owner, from) ? to : &rr.owner;
		r = dnswire_put(&o, owner->wire, owner->len);
		if (r < 0)
			return r;
		/* type, class, ttl, then rdlength patched below */
		r = dnswire_put(&o, ans + rr.rdata - 10, 10);
		if (r < 0)
			return r;
		rdlen_at = o.len - 2;
		r = dnswire_rdata_rewrite(ans, &rr, &o);
		if (r < 0)
			return r;
		rdlen = o.len - rdlen_at - 2;
		if (rdlen > UINT16_MAX)
			return -EMSGSIZE;
		wire_put_u16(o.buf + rdlen_at, (uint16_t)rdlen);
		off = rr.end;
	}
	*ret_len = o.len;
	return 0;
}

/* Is label i of name (offsets offs) equal to the single-label name one? */
static bool
dnswire_label_is(const struct dnswire_name *name, const uint8_t *offs,
    unsigned i, const struct dnswire_name *one)
{
	const uint8_t *l = name->wire + offs[i];

	/* one->wire is LEN, bytes, 0: compare LEN and bytes. */
	return one->len >= 2 && l[0] == one->wire[0] &&
	       dnswire_bytes_equal(l, one->wire, (size_t)one->len - 1);
}

/* Rule 1 of dnswire_route: the zone for a name in zones[d]'s domain, with
 * k labels before the domain. */
static size_t
dnswire_route_domain(const struct dnswire_name *qname, const uint8_t *offs,
    unsigned k, const struct dnswire_zone *zones, size_t n, size_t d)
{
	const struct dnswire_name *domain = &zones[d].domain;
	size_t named = n, ready = n;

	if (k >= 2 && (dnswire_label_is(qname, offs, k - 1, &dnswire_svc) ||
	                  dnswire_label_is(qname, offs, k - 1, &dnswire_pod))) {
		for (size_t j = n; j-- > 0;) {
			if (dnswire_name_equal(&zones[j].domain, domain) &&
			    dnswire_label_is(
			        qname, offs, k - 2, &zones[j].ns)) {
				named = j;
				break;
			}
		}
	}
	if (named < n && zones[named].ready)
		return named;
	for (size_t j = n; j-- > 0;) {
		if (zones[j].ready &&
		    dnswire_name_equal(&zones[j].domain, domain)) {
			ready = j;
			break;
		}
	}
	if (ready < n)
		return ready;
	return named < n ? named : d;
}

int
dnswire_route(const struct dnswire_name *qname,
    const struct dnswire_zone *zones, size_t n, size_t *ret_zone,
    struct dnswire_name *ret_qualified)
{
	uint8_t offs[DNSWIRE_MAX_LABELS];
	struct dnswire_name q = *qname;
	unsigned nl = dnswire_label_offsets(qname, offs);
	size_t z = n;
	int r = 0;

	if (n == 0 || nl == 0)
		return DNSWIRE_ROUTE_OUTSIDE;
	/* 1. in a cluster domain: asked as it is */
	for (size_t i = n; i-- > 0;) {
		if (dnswire_name_ends_with(qname, &zones[i].domain)) {
			unsigned k = nl - dnswire_name_labels(&zones[i].domain);

			*ret_zone =
			    dnswire_route_domain(qname, offs, k, zones, n, i);
			*ret_qualified = q;
			return DNSWIRE_ROUTE_CLUSTER;
		}
	}
	/* 2. NAME.NS.svc, NAME.NS.pod: the domain appended */
	if (nl >= 2 &&
	    (dnswire_label_is(qname, offs, nl - 1, &dnswire_svc) ||
	        dnswire_label_is(qname, offs, nl - 1, &dnswire_pod))) {
		for (size_t i = n; i-- > 0;) {
			if (dnswire_label_is(
			        qname, offs, nl - 2, &zones[i].ns)) {
				z = i;
				r = dnswire_name_append(&q, &zones[i].domain);
				goto out;
			}
		}
	}
	/* 3. NAME.NS: "svc" and the domain appended */
	if (nl >= 2) {
		for (size_t i = n; i-- > 0;) {
			if (dnswire_label_is(
			        qname, offs, nl - 1, &zones[i].ns)) {
				z = i;
				r = dnswire_name_append(&q, &dnswire_svc);
				if (r == 0)
					r = dnswire_name_append(
					    &q, &zones[i].domain);
				goto out;
			}
		}
		return DNSWIRE_ROUTE_OUTSIDE;
	}
	/* 4. a bare name: in the default namespace */
	z = n - 1;
	r = dnswire_name_append(&q, &zones[z].ns);
	if (r == 0)
		r = dnswire_name_append(&q, &dnswire_svc);
	if (r == 0)
		r = dnswire_name_append(&q, &zones[z].domain);
out:
	if (r < 0)
		return r;
	*ret_zone = z;
	*ret_qualified = q;
	return DNSWIRE_ROUTE_CLUSTER;
}

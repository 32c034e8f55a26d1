/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnswire: the DNS message handling of telepodd's DNS stub (client/dnsstub),
 * as pure functions over byte buffers: header and question parsing with
 * compression-pointer-safe name decoding, the stub's routing decision
 * (which names go through the tunnel and how they are made absolute),
 * queries rebuilt with another question name, answers rewritten back to
 * the client's question, and locally built replies (FORMERR, SERVFAIL,
 * NXDOMAIN, truncated).
 *
 * (server/dnsmsg is the server's much smaller query check; the client needs
 * names, routing and rewriting, and client/ may not depend on server/.)
 *
 * Limits: names are at most DNSWIRE_MAX_NAME bytes in wire form (labels
 * at most DNSWIRE_MAX_LABEL), messages at most DNSWIRE_MAX_MSG bytes.
 * Nothing here allocates; every read is checked against the buffer's
 * length.
 */
#ifndef TELEPOD_CLIENT_DNSWIRE_H
#define TELEPOD_CLIENT_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSWIRE_HEADER_LEN 12
#define DNSWIRE_MAX_NAME   255 /* wire form, root label included */
#define DNSWIRE_MAX_LABEL  63
#define DNSWIRE_MAX_MSG    65535 /* a TCP message's 2-byte length */
#define DNSWIRE_UDP_MIN    512   /* UDP payload without EDNS */
/* dnswire_name_to_text needs at most this (every byte as "\DDD", a dot per
 * label, the NUL). */
#define DNSWIRE_MAX_TEXT (4 * DNSWIRE_MAX_NAME + 2)

/* Header flags (the 16 bits after the id). */
#define DNSWIRE_FLAG_QR         0x8000u
#define DNSWIRE_FLAG_AA         0x0400u
#define DNSWIRE_FLAG_TC         0x0200u
#define DNSWIRE_FLAG_RD         0x0100u
#define DNSWIRE_FLAG_RA         0x0080u
#define DNSWIRE_OPCODE(flags)   (((flags) >> 11) & 0x0fu)
#define DNSWIRE_RCODE_OF(flags) ((flags)&0x000fu)
#define DNSWIRE_OPCODE_QUERY    0

enum dnswire_rcode {
	DNSWIRE_NOERROR = 0,
	DNSWIRE_FORMERR = 1,
	DNSWIRE_SERVFAIL = 2,
	DNSWIRE_NXDOMAIN = 3,
	DNSWIRE_NOTIMP = 4,
	DNSWIRE_REFUSED = 5,
};

/* Record types the rewriter knows (names inside their data). */
enum dnswire_type {
	DNSWIRE_TYPE_A = 1,
	DNSWIRE_TYPE_NS = 2,
	DNSWIRE_TYPE_CNAME = 5,
	DNSWIRE_TYPE_SOA = 6,
	DNSWIRE_TYPE_PTR = 12,
	DNSWIRE_TYPE_MX = 15,
	DNSWIRE_TYPE_TXT = 16,
	DNSWIRE_TYPE_AAAA = 28,
	DNSWIRE_TYPE_SRV = 33,
	DNSWIRE_TYPE_OPT = 41,
};
#define DNSWIRE_CLASS_IN 1

struct dnswire_header {
	uint16_t id;
	uint16_t flags;
	uint16_t qdcount;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
};

/* A name in uncompressed wire form: length-prefixed labels ending with the
 * root label (len >= 1; the root name is the single byte 0). */
struct dnswire_name {
	uint8_t len;
	uint8_t wire[DNSWIRE_MAX_NAME];
};

/* A parsed query (dnswire_query_parse). */
struct dnswire_query {
	struct dnswire_header hdr;
	struct dnswire_name qname; /* as sent: case kept */
	uint16_t qtype;
	uint16_t qclass;
	size_t question_end; /* offset just after the question */
	size_t opt_off;      /* the OPT record's offset, 0 when none */
	size_t opt_len;      /* its length in bytes */
	uint16_t udp_size;   /* largest UDP answer the client takes (>= 512) */
};

/* Reads the header of msg. Returns 0, or -EBADMSG when len < 12. */
int dnswire_header_parse(
    const uint8_t *msg, size_t len, struct dnswire_header *ret_hdr);

/*
 * Decodes the name at msg[off], following compression pointers. Every
 * pointer must point before the start of the label run that holds it (so
 * pointer loops are impossible), labels are 1..63 bytes (the 0x40/0x80
 * label types are rejected) and the whole name at most 255 bytes. Writes
 * the uncompressed name and the offset just after the name as it sits at
 * off (after its first pointer, if any). Returns 0 or -EBADMSG.
 */
int dnswire_name_decode(const uint8_t *msg, size_t len, size_t off,
    struct dnswire_name *ret_name, size_t *ret_next);

/*
 * Parses a dotted name ("gateway.jakub", trailing dot optional; "" and "."
 * are the root). Labels are 1..63 bytes of anything but '.' and '\\' (no
 * escapes). Returns 0, -EINVAL (an empty label or a backslash) or
 * -ENAMETOOLONG (a label over 63 bytes or a name over 255).
 */
int dnswire_name_from_text(const char *text, struct dnswire_name *ret_name);

/* Writes name as dotted text without the trailing dot ("." for the root),
 * bytes other than letters, digits, '-' and '_' as "\DDD", into out (cap
 * bytes, always terminated). Returns out. For logs. */
const char *dnswire_name_to_text(
    const struct dnswire_name *name, char *out, size_t cap);

/* Labels of name, the root label not counted. */
unsigned dnswire_name_labels(const struct dnswire_name *name);
/* Case-insensitive (ASCII) comparisons, label by label. */
bool dnswire_name_equal(
    const struct dnswire_name *a, const struct dnswire_name *b);
bool dnswire_name_ends_with(
    const struct dnswire_name *name, const struct dnswire_name *suffix);
/* Appends suffix's labels to name. Returns 0 or -ENAMETOOLONG (name is
 * then unchanged). */
int dnswire_name_append(
    struct dnswire_name *name, const struct dnswire_name *suffix);

/*
 * Parses a query: header, QR clear, opcode QUERY, exactly one question,
 * and every record after it walkable (the OPT record, if any, is noted with
 * the client's UDP payload size). Returns 0, -EBADMSG when malformed or not
 * a query (answer FORMERR when the header is readable), or -EOPNOTSUPP for
 * another opcode (answer NOTIMP).
 */
int dnswire_query_parse(
    const uint8_t *msg, size_t len, struct dnswire_query *ret_query);

/*
 * Builds msg's query (parsed into q) again with the question name qname:
 * header (same id and flags; one question, no answer or authority
 * records), the question, and the client's OPT record if it had one; other
 * additional records are dropped. Returns the length, or -EMSGSIZE when
 * out (cap bytes) is too small.
 */
int dnswire_query_rebuild(const uint8_t *msg, const struct dnswire_query *q,
    const struct dnswire_name *qname, uint8_t *out, size_t cap);

/*
 * Builds a reply without records to query (len bytes): the query's id,
 * opcode and RD, QR and RA set, TC when tc, the given rcode, and the
 * query's first question when it can be parsed (glibc ignores replies
 * whose question differs from its query), else no question. Returns the
 * length, -EBADMSG when len < 12, or -EMSGSIZE when cap is too small
 * (DNSWIRE_HEADER_LEN + DNSWIRE_MAX_NAME + 4 is always enough).
 */
int dnswire_reply_empty(const uint8_t *query, size_t len, uint8_t rcode,
    bool tc, uint8_t *out, size_t cap);

/*
 * Checks that ans (len bytes) is a response with exactly one question
 * equal (case-insensitively) to qname/qtype/qclass. Returns 0 or -EBADMSG.
 */
int dnswire_answer_check(const uint8_t *ans, size_t len,
    const struct dnswire_name *qname, uint16_t qtype, uint16_t qclass);

/*
 * Rewrites the answer ans (to a query for from) into an answer to a query
 * for to: the same header (id included; the caller sets it), the question
 * with name to, every record copied with its names uncompressed, and
 * every owner name equal to from (case-insensitively) replaced by to. Names
 * inside the data of NS, CNAME, SOA, PTR, MX, SRV and the other RFC 1035
 * types are decompressed (not renamed); other data is copied as is. ans
 * must pass dnswire_answer_check for from. Writes the length to *ret_len.
 * Returns 0, -EBADMSG (malformed) or -EMSGSIZE (over cap).
 */
int dnswire_answer_rewrite(const uint8_t *ans, size_t len,
    const struct dnswire_name *from, const struct dnswire_name *to,
    uint8_t *out, size_t cap, size_t *ret_len);

/*
 * Routing. A zone is a connected namespace: its name (one label), its
 * cluster domain and whether its session is ready now. zones[n - 1] is the
 * default (the most recently connected namespace).
 */
struct dnswire_zone {
	struct dnswire_name ns;
	struct dnswire_name domain;
	bool ready;
};

enum dnswire_route {
	DNSWIRE_ROUTE_OUTSIDE = 0, /* the original resolvers */
	DNSWIRE_ROUTE_CLUSTER = 1, /* the tunnel, asking *ret_qualified */
};

/*
 * Decides where qname goes (labels compared case-insensitively), first rule
 * that matches:
 *  1. it is or ends in a zone's cluster domain ("x.ns.svc.cluster.local"):
 *     cluster, unchanged; the zone of the namespace named before a "svc"
 *     or "pod" label if that is a zone with this domain and ready, else the
 *     most recent ready zone with this domain, else the named or most
 *     recent zone with this domain (not ready);
 *  2. its last two labels are "NS.svc" or "NS.pod" of a zone: cluster,
 *     the zone's domain appended;
 *  3. it has two or more labels and the last is a zone's NS ("gateway.ns"):
 *     cluster, "svc" and the zone's domain appended;
 *  4. it is a single label ("gateway"): cluster in the default zone,
 *     "NS.svc" and its domain appended;
 *  5. anything else (and everything when n == 0): outside.
 * Returns DNSWIRE_ROUTE_OUTSIDE, or DNSWIRE_ROUTE_CLUSTER with the zone's
 * index and the name to ask, or -ENAMETOOLONG when the name would be
 * routed to the cluster but its absolute form exceeds 255 bytes (no such
 * name can exist: answer NXDOMAIN).
 */
int dnswire_route(const struct dnswire_name *qname,
    const struct dnswire_zone *zones, size_t n, size_t *ret_zone,
    struct dnswire_name *ret_qualified);

/* "NOERROR", "SERVFAIL", ... or "RCODE" for others. */
const char *dnswire_rcode_name(unsigned rcode);

#endif

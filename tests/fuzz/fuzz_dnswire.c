/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dnswire: libFuzzer target for client/dnswire, the DNS stub's parser
 * of what local clients and servers send. The input is read as a query
 * and as an answer. Besides the sanitizers' checks it asserts the
 * module's promises: a parsed query rebuilt with its own name parses to
 * the same question; an empty reply is a response with the query's id; a
 * rewritten answer is an answer to the new name and fits its buffer;
 * routing never yields a name over 255 bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/dnswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dnswire_zone fuzz_zones[2];

static void
fuzz_init_zones(void)
{
	if (fuzz_zones[0].ns.len)
		return;
	if (dnswire_name_from_text("jakub", &fuzz_zones[0].ns) < 0 ||
	    dnswire_name_from_text("cluster.local", &fuzz_zones[0].domain) <
	        0 ||
	    dnswire_name_from_text("other", &fuzz_zones[1].ns) < 0 ||
	    dnswire_name_from_text("cluster.local", &fuzz_zones[1].domain) < 0)
		abort();
	fuzz_zones[1].ready = true;
}

static void
fuzz_query(const uint8_t *data, size_t size)
{
	static uint8_t out[DNSWIRE_MAX_MSG];
	struct dnswire_query q, q2;
	struct dnswire_name asked;
	struct dnswire_header h;
	size_t zone;
	int n, r;

	r = dnswire_query_parse(data, size, &q);
	if (r != 0 && r != -EBADMSG && r != -EOPNOTSUPP)
		abort();
	n = dnswire_reply_empty(
	    data, size, DNSWIRE_FORMERR, false, out, DNSWIRE_MAX_MSG);
	if (size < DNSWIRE_HEADER_LEN) {
		if (r == 0 || n != -EBADMSG)
			abort();
		return;
	}
	if (n < DNSWIRE_HEADER_LEN ||
	    n > DNSWIRE_HEADER_LEN + DNSWIRE_MAX_NAME + 4 ||
	    dnswire_header_parse(out, (size_t)n, &h) != 0 ||
	    !(h.flags & DNSWIRE_FLAG_QR) || memcmp(out, data, 2) != 0 ||
	    DNSWIRE_RCODE_OF(h.flags) != DNSWIRE_FORMERR)
		abort();
	if (r != 0)
		return;
	if (q.qname.len < 1 || q.qname.len > DNSWIRE_MAX_NAME ||
	    q.question_end > size || q.udp_size < DNSWIRE_UDP_MIN)
		abort();
	n = dnswire_query_rebuild(data, &q, &q.qname, out, sizeof(out));
	if (n < 0 || dnswire_query_parse(out, (size_t)n, &q2) != 0 ||
	    !dnswire_name_equal(&q.qname, &q2.qname) || q.qtype != q2.qtype ||
	    q.udp_size != q2.udp_size)
		abort();
	r = dnswire_route(&q.qname, fuzz_zones, 2, &zone, &asked);
	if (r == DNSWIRE_ROUTE_CLUSTER) {
		if (zone >= 2 || asked.len > DNSWIRE_MAX_NAME ||
		    !dnswire_name_ends_with(&asked, &fuzz_zones[0].domain))
			abort();
	} else if (r != DNSWIRE_ROUTE_OUTSIDE && r != -ENAMETOOLONG) {
		abort();
	}
}

static void
fuzz_answer(const uint8_t *data, size_t size)
{
	static uint8_t out[DNSWIRE_MAX_MSG];
	struct dnswire_name from, to;
	size_t next, len;
	int r;

	if (dnswire_name_decode(data, size, DNSWIRE_HEADER_LEN, &from, &next) <
	    0)
		return;
	if (dnswire_name_from_text("GateWay.jakub", &to) < 0)
		abort();
	/* A small buffer first (must fail cleanly or fit), then a big one. */
	r = dnswire_answer_rewrite(data, size, &from, &to, out, 300, &len);
	if (r == 0 && len > 300)
		abort();
	r = dnswire_answer_rewrite(
	    data, size, &from, &to, out, sizeof(out), &len);
	if (r == 0) {
		if (len > sizeof(out) ||
		    dnswire_answer_check(out, len, &to,
		        (uint16_t)(out[12 + to.len] << 8 | out[13 + to.len]),
		        (uint16_t)(out[14 + to.len] << 8 | out[15 + to.len])) !=
		        0)
			abort();
	} else if (r != -EBADMSG && r != -EMSGSIZE) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init_zones();
	fuzz_query(data, size);
	fuzz_answer(data, size);
	return 0;
}

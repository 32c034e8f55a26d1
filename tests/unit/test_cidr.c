/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/cidr: parsing and normalising prefixes, formatting,
 * containment, and the set arithmetic that decides what telepodd routes
 * (exact expected lists, IPv6 too, limits, and a randomised comparison
 * against a bitmap of a small address space).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/cidr.h"
#include "tests/unit/cunit_main.h"

/* The list as "a,b,c" (static buffer: one use per assertion). */
static const char *
join(const struct cidr_list *l)
{
	static char buf[8192];
	char one[CIDR_STR_MAX];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
		    i ? "," : "", cidr_format(&l->v[i], one, sizeof(one)));
	return buf;
}

static struct cidr
P(const char *s) {
	struct cidr c;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(cidr_parse(s, &c, NULL), 0);
	return c;
}

/* include minus exclude, as text (or "ERR <n>"). */
static const char *
subtract(const char *inc, const char *exc)
{
	static char buf[8192];
	struct cidr_list a, b, out;
	int r;

	cidr_list_init(&a);
	cidr_list_init(&b);
	cidr_list_init(&out);
	if (*inc)
		CU_ASSERT_EQUAL(cidr_list_add_str(&a, inc, NULL, NULL, 0), 0);
	if (*exc)
		CU_ASSERT_EQUAL(cidr_list_add_str(&b, exc, NULL, NULL, 0), 0);
	r = cidr_list_subtract(&a, &b, &out);
	if (r < 0)
		snprintf(buf, sizeof(buf), "ERR %d", r);
	else
		snprintf(buf, sizeof(buf), "%s", join(&out));
	cidr_list_clear(&a);
	cidr_list_clear(&b);
	cidr_list_clear(&out);
	return buf;
}

static void
test_parse(void)
{
	struct cidr c;
	bool norm = true;
	char buf[CIDR_STR_MAX];

	CU_ASSERT_EQUAL(cidr_parse("10.96.0.0/12", &c, &norm), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET);
	CU_ASSERT_EQUAL(c.prefix, 12);
	CU_ASSERT_FALSE(norm);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&c, buf, sizeof(buf)), "10.96.0.0/12");

	CU_ASSERT_EQUAL(cidr_parse("10.96.1.7/12", &c, &norm), 0);
	CU_ASSERT_TRUE(norm);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&c, buf, sizeof(buf)), "10.96.0.0/12");

	CU_ASSERT_EQUAL(cidr_parse("10.1.2.3", &c, &norm), 0);
	CU_ASSERT_EQUAL(c.prefix, 32);
	CU_ASSERT_FALSE(norm);

	CU_ASSERT_EQUAL(cidr_parse("0.0.0.0/0", &c, NULL), 0);
	CU_ASSERT_EQUAL(c.prefix, 0);

	CU_ASSERT_EQUAL(cidr_parse("FD00:96::1/108", &c, &norm), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET6);
	CU_ASSERT_TRUE(norm);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&c, buf, sizeof(buf)), "fd00:96::/108");

	CU_ASSERT_EQUAL(cidr_parse("::/0", &c, &norm), 0);
	CU_ASSERT_EQUAL(c.prefix, 0);
	CU_ASSERT_EQUAL(cidr_parse("fd00::7", &c, NULL), 0);
	CU_ASSERT_EQUAL(c.prefix, 128);

	/* The host form keeps the address. */
	CU_ASSERT_EQUAL(cidr_parse_host("198.18.0.1/16", &c), 0);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&c, buf, sizeof(buf)), "198.18.0.1/16");
	CU_ASSERT_STRING_EQUAL(
	    cidr_format_addr(&c, buf, sizeof(buf)), "198.18.0.1");
	c = cidr_network(&c);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&c, buf, sizeof(buf)), "198.18.0.0/16");

	/* A too small buffer truncates and terminates. */
	CU_ASSERT_STRING_EQUAL(cidr_format(&c, buf, 5), "198.");
}

static void
test_parse_rejects(void)
{
	static const char *const bad[] = {"", "10.0.0.0/33", "10.0.0.0/",
	    "10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/-1", " 10.0.0.0/8",
	    "10.0.0.0/8 ", "10.0.0/8", "010.0.0.0/8", "10.0.0.256/32", "::/129",
	    "fd00::/64x", "fd00::/1000", "fd00:::1/64", "host/8",
	    "10.0.0.0/8/8", "10.0.0.0//8",
	    "1111:2222:3333:4444:5555:6666:7777:8888/128/128/128/128"};
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = cidr_parse(bad[i], &c, NULL);

		if (r != -EINVAL)
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		CU_ASSERT_EQUAL(r, -EINVAL);
	}
	CU_ASSERT_EQUAL(cidr_parse(NULL, &c, NULL), -EINVAL);
}

static void
test_contains_overlaps(void)
{
	struct cidr a = P("10.0.0.0/8"), b = P("10.96.0.0/12");
	struct cidr c = P("10.100.0.0/16"), d = P("11.0.0.0/8");
	struct cidr v6 = P("::/0"), all4 = P("0.0.0.0/0"), probe;

	CU_ASSERT_TRUE(cidr_contains(&a, &b));
	CU_ASSERT_FALSE(cidr_contains(&b, &a));
	CU_ASSERT_TRUE(cidr_contains(&b, &c));
	CU_ASSERT_TRUE(cidr_contains(&b, &b));
	CU_ASSERT_TRUE(cidr_overlaps(&c, &a));
	CU_ASSERT_FALSE(cidr_overlaps(&a, &d));
	CU_ASSERT_TRUE(cidr_contains(&all4, &d));
	/* Families never mix, even ::/0. */
	CU_ASSERT_FALSE(cidr_overlaps(&v6, &a));
	CU_ASSERT_FALSE(cidr_contains(&v6, &a));
	probe = P("10.96.5.5/12");
	CU_ASSERT_TRUE(cidr_equal(&b, &probe));
	CU_ASSERT_FALSE(cidr_equal(&b, &c));
	CU_ASSERT_TRUE(cidr_compare(&a, &b) < 0);
	CU_ASSERT_TRUE(cidr_compare(&d, &v6) < 0);
}

static void
test_minimize(void)
{
	struct cidr_list l;

	cidr_list_init(&l);
	CU_ASSERT_EQUAL(cidr_list_add_str(&l,
	                    "10.104.0.0/13,10.96.0.0/13,10.96.0.0/16,"
	                    "192.168.1.0/24,192.168.1.0/24,fd00:1::/33,"
	                    "fd00:1:8000::/33,10.112.0.0/12",
	                    NULL, NULL, 0),
	    0);
	cidr_list_minimize(&l);
	CU_ASSERT_STRING_EQUAL(
	    join(&l), "10.96.0.0/11,192.168.1.0/24,fd00:1::/32");
	cidr_list_clear(&l);

	/* Merging cascades: four quarters become one. */
	CU_ASSERT_EQUAL(
	    cidr_list_add_str(&l,
	        "10.0.0.192/26,10.0.0.0/26,10.0.0.128/26,10.0.0.64/26", NULL,
	        NULL, 0),
	    0);
	cidr_list_minimize(&l);
	CU_ASSERT_STRING_EQUAL(join(&l), "10.0.0.0/24");
	cidr_list_clear(&l);

	/* Adjacent but not siblings: 10.0.1.0/24 + 10.0.2.0/24 stay. */
	CU_ASSERT_EQUAL(
	    cidr_list_add_str(&l, "10.0.2.0/24,10.0.1.0/24", NULL, NULL, 0), 0);
	cidr_list_minimize(&l);
	CU_ASSERT_STRING_EQUAL(join(&l), "10.0.1.0/24,10.0.2.0/24");
	cidr_list_clear(&l);
}

static void
test_subtract(void)
{
	CU_ASSERT_STRING_EQUAL(subtract("10.96.0.0/12", "10.96.0.0/16"),
	    "10.97.0.0/16,10.98.0.0/15,10.100.0.0/14,10.104.0.0/13");
	CU_ASSERT_STRING_EQUAL(subtract("10.96.0.0/12", "10.100.0.0/16"),
	    "10.96.0.0/14,10.101.0.0/16,10.102.0.0/15,10.104.0.0/13");
	CU_ASSERT_STRING_EQUAL(subtract("10.96.0.0/12", "10.111.255.255/32"),
	    "10.96.0.0/13,10.104.0.0/14,10.108.0.0/15,10.110.0.0/16,"
	    "10.111.0.0/17,10.111.128.0/18,10.111.192.0/19,10.111.224.0/20,"
	    "10.111.240.0/21,10.111.248.0/22,10.111.252.0/23,"
	    "10.111.254.0/24,10.111.255.0/25,10.111.255.128/26,"
	    "10.111.255.192/27,10.111.255.224/28,10.111.255.240/29,"
	    "10.111.255.248/30,10.111.255.252/31,10.111.255.254/32");
	/* Disjoint, whole, and nothing to subtract. */
	CU_ASSERT_STRING_EQUAL(
	    subtract("10.96.0.0/12", "192.168.0.0/16"), "10.96.0.0/12");
	CU_ASSERT_STRING_EQUAL(subtract("10.96.0.0/12", "10.0.0.0/8"), "");
	CU_ASSERT_STRING_EQUAL(subtract("10.96.0.0/12,10.244.0.0/16", ""),
	    "10.96.0.0/12,10.244.0.0/16");
	CU_ASSERT_STRING_EQUAL(subtract("", "10.0.0.0/8"), "");
	/* Two holes in one prefix; the excluded parts never come back. */
	CU_ASSERT_STRING_EQUAL(
	    subtract("10.0.0.0/24", "10.0.0.0/26,10.0.0.192/26"),
	    "10.0.0.64/26,10.0.0.128/26");
	/* Server subnets plus --also-proxy minus --never-proxy, both
	 * families; the IPv6 exclusion leaves the IPv4 list alone. */
	CU_ASSERT_STRING_EQUAL(
	    subtract("10.96.0.0/12,fd00:96::/108,10.244.0.0/16,10.244.0.0/17",
	        "10.244.128.0/17,fd00:96::/110"),
	    "10.96.0.0/12,10.244.0.0/17,fd00:96::4:0/110,fd00:96::8:0/109");
	CU_ASSERT_STRING_EQUAL(subtract("fd00::/64", "fd00::/66"),
	    "fd00::4000:0:0:0/66,fd00::8000:0:0:0/65");
	CU_ASSERT_STRING_EQUAL(subtract("::/0", "::/1"), "8000::/1");
}

static void
test_subtract_all(void)
{
	struct cidr_list a, b, out;
	char buf[CIDR_STR_MAX];
	struct cidr host = P("1.2.3.4/32"), probe;

	cidr_list_init(&a);
	cidr_list_init(&b);
	cidr_list_init(&out);
	probe = P("0.0.0.0/0");
	cidr_list_add(&a, &probe);
	cidr_list_add(&b, &host);
	CU_ASSERT_EQUAL(cidr_list_subtract(&a, &b, &out), 0);
	CU_ASSERT_EQUAL(out.n, 32);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&out.v[0], buf, sizeof(buf)), "0.0.0.0/8");
	CU_ASSERT_FALSE(cidr_list_contains(&out, &host));
	probe = P("1.2.3.5/32");
	CU_ASSERT_TRUE(cidr_list_contains(&out, &probe));
	probe = P("255.255.255.255/32");
	CU_ASSERT_TRUE(cidr_list_contains(&out, &probe));
	cidr_list_clear(&a);
	cidr_list_clear(&b);
	cidr_list_clear(&out);
}

static void
test_limits(void)
{
	struct cidr_list a, b, out;
	struct cidr c = P("fd00::/128");
	char err[256] = "";
	bool norm = false;
	int r;

	cidr_list_init(&a);
	cidr_list_init(&b);
	cidr_list_init(&out);
	for (unsigned i = 0; i < CIDR_LIST_MAX; i++) {
		c.addr[15] = (uint8_t)i;
		c.addr[14] = (uint8_t)(i >> 8);
		if (cidr_list_add(&a, &c) != 0)
			break;
	}
	CU_ASSERT_EQUAL(a.n, CIDR_LIST_MAX);
	CU_ASSERT_EQUAL(cidr_list_add(&a, &c), -EMSGSIZE);
	CU_ASSERT_EQUAL(
	    cidr_list_add_str(&a, "10.0.0.0/8", NULL, err, sizeof(err)),
	    -EMSGSIZE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than"));
	CU_ASSERT_EQUAL(a.n, CIDR_LIST_MAX);
	cidr_list_clear(&a);

	/* ::/0 minus 40 scattered hosts would need ~5000 prefixes. */
	c = P("::/0");
	cidr_list_add(&a, &c);
	for (unsigned i = 0; i < 40; i++) {
		c = P("fd00::/128");
		c.addr[1] = (uint8_t)(i * 6);
		c.addr[15] = (uint8_t)i;
		cidr_list_add(&b, &c);
	}
	r = cidr_list_subtract(&a, &b, &out);
	CU_ASSERT_EQUAL(r, -EMSGSIZE);
	CU_ASSERT_EQUAL(out.n, 0);
	cidr_list_clear(&a);
	cidr_list_clear(&b);
	cidr_list_clear(&out);

	/* Parsing a list is all or nothing, and names the bad item. */
	CU_ASSERT_EQUAL(cidr_list_add_str(&a, "10.0.0.0/8,bogus,11.0.0.0/8",
	                    NULL, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"bogus\""));
	CU_ASSERT_EQUAL(a.n, 0);
	CU_ASSERT_EQUAL(
	    cidr_list_add_str(&a, "10.0.0.0/8,", NULL, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(
	    cidr_list_add_str(&a, "", NULL, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cidr_list_add_str(
	                    &a, "10.1.0.0/8,fd00::/8", &norm, err, sizeof(err)),
	    0);
	CU_ASSERT_TRUE(norm);
	CU_ASSERT_STRING_EQUAL(join(&a), "10.0.0.0/8,fd00::/8");
	cidr_list_clear(&a);
}

/*
 * Randomised: prefixes inside 10.0.0.0/24, result checked address by
 * address against bitmaps, and for minimality (sorted, no nesting, no
 * mergeable siblings).
 */
static void
test_random_against_bitmap(void)
{
	unsigned seed = 12345;

	for (int round = 0; round < 300; round++) {
		struct cidr_list inc, exc, out;
		unsigned char want[256] = {0};

		cidr_list_init(&inc);
		cidr_list_init(&exc);
		cidr_list_init(&out);
		for (int k = 0; k < 12; k++) {
			struct cidr c = P("10.0.0.0/24");
			bool is_exc = rand_r(&seed) % 3 == 0;
			unsigned len = 24 + (unsigned)rand_r(&seed) % 9;
			unsigned host = (unsigned)rand_r(&seed) % 256;
			unsigned size = 1u << (32 - len);

			c.addr[3] = (uint8_t)(host & ~(size - 1));
			c.prefix = (uint8_t)len;
			cidr_list_add(is_exc ? &exc : &inc, &c);
		}
		for (unsigned h = 0; h < 256; h++) {
			struct cidr a = P("10.0.0.0/32");

			a.addr[3] = (uint8_t)h;
			want[h] = cidr_list_contains(&inc, &a) &&
			          !cidr_list_contains(&exc, &a);
		}
		CU_ASSERT_EQUAL_FATAL(cidr_list_subtract(&inc, &exc, &out), 0);
		for (unsigned h = 0; h < 256; h++) {
			struct cidr a = P("10.0.0.0/32");

			a.addr[3] = (uint8_t)h;
			CU_ASSERT_EQUAL(cidr_list_contains(&out, &a), want[h]);
		}
		for (size_t i = 0; i + 1 < out.n; i++) {
			struct cidr x = out.v[i], y = out.v[i + 1];

			CU_ASSERT_TRUE(cidr_compare(&x, &y) < 0);
			CU_ASSERT_FALSE(cidr_overlaps(&x, &y));
			/* siblings would have been merged */
			if (x.prefix == y.prefix && x.prefix > 0) {
				struct cidr px = x, py = y;

				px.prefix--;
				py.prefix--;
				CU_ASSERT_FALSE(cidr_equal(&px, &py));
			}
		}
		cidr_list_clear(&inc);
		cidr_list_clear(&exc);
		cidr_list_clear(&out);
	}
}

static const struct cunit_test tests[] = {
    {"parse", test_parse},
    {"parse_rejects", test_parse_rejects},
    {"contains_overlaps", test_contains_overlaps},
    {"minimize", test_minimize},
    {"subtract", test_subtract},
    {"subtract_all", test_subtract_all},
    {"limits", test_limits},
    {"random_against_bitmap", test_random_against_bitmap},
};

CUNIT_MAIN("cidr", tests)

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cidr: IPv4 and IPv6 prefixes ("10.96.0.0/12", "fd00:96::/108") and the
 * set arithmetic that decides what telepodd routes into its TUN device: the
 * server's subnets plus --also-proxy, minus --never-proxy, as the smallest
 * list of prefixes covering exactly that set of addresses. Pure: no I/O, no
 * logging; allocation only in struct cidr_list, bounded by CIDR_LIST_MAX.
 */
#ifndef TELEPOD_CLIENT_CIDR_H
#define TELEPOD_CLIENT_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text of a prefix: an IPv6 address (45) + "/128" + NUL. */
#define CIDR_STR_MAX 50
/* Most prefixes a list may hold; adding more fails with -EMSGSIZE. Big
 * enough for any real cluster plus flags; small enough that subtracting
 * a few host addresses from ::/0 cannot run away. */
#define CIDR_LIST_MAX 4096

/*
 * A prefix, or an interface address with its prefix length (see
 * cidr_parse_host). addr is in network byte order; an IPv4 address uses the
 * first 4 bytes and the rest is zero. family is AF_INET or AF_INET6.
 */
struct cidr {
	int family;
	uint8_t prefix;
	uint8_t addr[16];
};

/* A growable list of prefixes (embedded; cidr_list_init / _clear). */
struct cidr_list {
	struct cidr *v;
	size_t n;
	size_t cap;
};

/*
 * Parses "ADDR/LEN" or a bare "ADDR" (a host prefix: /32 or /128). Host
 * bits set below the prefix ("10.96.1.0/12") are cleared; *ret_normalized
 * (optional) says so, and the caller warns, since the user probably meant
 * something else. Surrounding spaces, leading zeros in the length and
 * lengths beyond the family's width are refused.
 * Returns 0, or -EINVAL.
 */
int cidr_parse(const char *s, struct cidr *ret, bool *ret_normalized);

/*
 * Parses an interface address with its prefix length, "198.18.0.1/16",
 * keeping the host bits. A bare address means /32 or /128.
 * Returns 0, or -EINVAL.
 */
int cidr_parse_host(const char *s, struct cidr *ret);

/* Writes "ADDR/LEN" into buf (cap >= CIDR_STR_MAX for any prefix) and
 * returns buf; a too small buffer gets a truncated, terminated text. */
const char *cidr_format(const struct cidr *c, char *buf, size_t cap);

/* Writes only the address ("198.18.0.1") into buf and returns buf. */
const char *cidr_format_addr(const struct cidr *c, char *buf, size_t cap);

/* Number of address bits of the family: 32 or 128 (0 if unknown). */
unsigned cidr_family_bits(int family);

/* The prefix c with its host bits cleared. */
struct cidr cidr_network(const struct cidr *c);

/* True when both have the same family, length and network address. */
bool cidr_equal(const struct cidr *a, const struct cidr *b);

/* True when every address of inner lies in outer (same family). */
bool cidr_contains(const struct cidr *outer, const struct cidr *inner);

/* True when a and b share at least one address. Two prefixes either are
 * disjoint or one contains the other. */
bool cidr_overlaps(const struct cidr *a, const struct cidr *b);

/* Orders by family (IPv4 first), network address, then length (shorter
 * first): negative, 0 or positive like strcmp. */
int cidr_compare(const struct cidr *a, const struct cidr *b);

void cidr_list_init(struct cidr_list *l);
/* Frees the items; the list is empty and reusable afterwards. */
void cidr_list_clear(struct cidr_list *l);

/* Appends a copy of c. Returns 0, -EMSGSIZE beyond CIDR_LIST_MAX, or
 * -ENOMEM. */
int cidr_list_add(struct cidr_list *l, const struct cidr *c);

/*
 * Parses a comma-separated list ("10.96.0.0/12,fd00::/64"; empty items are
 * refused) and appends every prefix, for flags given once with many values
 * or many times. *ret_normalized (optional) is set when any item had host
 * bits set. On error the list is unchanged and err (optional) holds a
 * sentence naming the bad item.
 * Returns 0, -EINVAL, -EMSGSIZE or -ENOMEM.
 */
int cidr_list_add_str(struct cidr_list *l, const char *csv,
    bool *ret_normalized, char *err, size_t errlen);

/* True when some item of l contains c. */
bool cidr_list_contains(const struct cidr_list *l, const struct cidr *c);

/*
 * Sorts l and rewrites it as the smallest list of prefixes covering the
 * same addresses: duplicates and prefixes inside others go, and two halves
 * of one prefix become that prefix (10.96.0.0/13 + 10.104.0.0/13 =
 * 10.96.0.0/12), repeatedly. Returns 0 (it only shrinks the list).
 */
int cidr_list_minimize(struct cidr_list *l);

/*
 * What to route: the union of include minus every address of exclude, as a
 * minimal sorted list written to *ret (initialised by the caller, emptied
 * first). Subtracting a prefix from a larger one splits the larger into the
 * prefixes that remain: 10.96.0.0/12 minus 10.96.0.0/16 is 10.97.0.0/16,
 * 10.98.0.0/15, 10.100.0.0/14 and 10.104.0.0/13.
 * Returns 0, -EMSGSIZE when the result would exceed CIDR_LIST_MAX, or
 * -ENOMEM; *ret is left empty on error.
 */
int cidr_list_subtract(const struct cidr_list *include,
    const struct cidr_list *exclude, struct cidr_list *ret);

#endif

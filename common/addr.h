/* SPDX-License-Identifier: Apache-2.0 */
/*
 * addr: numeric socket addresses as text. Every listen flag takes the same
 * form, "IP:PORT" for IPv4 and "[V6]:PORT" for IPv6 (no names: nothing
 * here resolves), and logs and replies show addresses in that form again.
 */
#ifndef TELEPOD_COMMON_ADDR_H
#define TELEPOD_COMMON_ADDR_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The longest text addr_format() writes, with its NUL: "[V6]:65535". */
#define ADDR_STR_MAX (INET6_ADDRSTRLEN + 8)

/*
 * Parses "IP:PORT" (IPv4 only) or "[V6]:PORT" (IPv6 only): a numeric host
 * and a decimal port 0..65535 (0 asks the kernel for one when binding).
 * Fills *ret_ss and *ret_len (the length of the sockaddr_in or _in6) only
 * on success. Returns 0, or -EINVAL when s is not in that form.
 */
int addr_parse(
    const char *s, struct sockaddr_storage *ret_ss, socklen_t *ret_len);

/*
 * Formats sa as "1.2.3.4:80" or "[::1]:80" ("(family N)" for another
 * family) into buf, always terminated unless len is 0; ADDR_STR_MAX bytes
 * always suffice. Returns buf, for use as a printf argument.
 */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dial: a non-blocking TCP connect over a list of addresses, tried in turn
 * within one overall deadline, on the libevent loop. The connected socket
 * has TCP_NODELAY set and goes to the caller. Failures are reported both as
 * the errno of the most telling attempt and as the wire error of the
 * protocol (REFUSED, UNREACHABLE, TIMEOUT, ...).
 */
#ifndef TELEPOD_SERVER_DIAL_H
#define TELEPOD_SERVER_DIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

/* At most this many addresses are tried per dial (the rest are ignored). */
#define DIAL_MAX_ADDRS 16
/* Default overall connect timeout. */
#define DIAL_DEFAULT_TIMEOUT_MS 10000u

struct dial;

/*
 * Called once, from the event loop (never from dial_start), when the dial
 * ends. On success fd >= 0 is a connected non-blocking socket the callee
 * owns, err is WIRE_OK and sys_err 0. On failure fd is -1, err a wire error
 * and sys_err the errno behind it (ETIMEDOUT for the deadline). The dial is
 * freed when the callback returns; do not dial_cancel it.
 */
typedef void (*dial_cb)(int fd, uint32_t err, int sys_err, void *arg);

/*
 * Starts connecting to addrs[0..n) (copied; at most DIAL_MAX_ADDRS, each a
 * sockaddr_in or sockaddr_in6 with the port set) with an overall deadline
 * of timeout_ms; each address gets an equal share of the time left. Returns
 * 0 and the dial in *ret_dial, -EINVAL for n == 0 or a bad address, or
 * -ENOMEM.
 */
int dial_start(struct event_base *base, const struct sockaddr_storage *addrs,
    size_t n, unsigned timeout_ms, dial_cb cb, void *arg,
    struct dial **ret_dial);

/* Stops a dial before its callback ran: closes its socket, frees it. The
 * callback is not called. Accepts NULL. */
void dial_cancel(struct dial *d);

/* Maps a connect errno to the wire error (ECONNREFUSED -> REFUSED, ...). */
uint32_t dial_wire_error(int sys_err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dial: connects a TCP socket without blocking the loop. One attempt at a
 * time (no happy eyeballs): socket(), connect() returning EINPROGRESS, then
 * a write event with the attempt's share of the deadline, SO_ERROR tells
 * the outcome. When every address failed, the most telling error is kept:
 * a refusal proves the host exists, so it beats a timeout, which beats "no
 * route" (typical for an IPv6 address on an IPv4-only pod network).
 */
#include "server/dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/monotime.h"
#include "proto/wire.h"

struct dial {
	struct event_base *base;
	struct event *ev; /* the attempt's write/timeout event, or delivery */
	struct sockaddr_storage addrs[DIAL_MAX_ADDRS];
	size_t n;
	size_t next;       /* index of the next address to try */
	int fd;            /* socket of the current attempt or the result */
	int best_err;      /* most telling errno so far */
	uint64_t deadline; /* CLOCK_MONOTONIC milliseconds */
	bool done;         /* result decided; ev delivers it */
	dial_cb cb;
	void *arg;
};

uint32_t
dial_wire_error(int sys_err)
{
	switch (sys_err) {
	case 0:
		return WIRE_OK;
	case ECONNREFUSED:
		return WIRE_ERR_REFUSED;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case EAFNOSUPPORT:
	case EADDRNOTAVAIL:
		return WIRE_ERR_UNREACHABLE;
	case ETIMEDOUT:
		return WIRE_ERR_TIMEOUT;
	case ECONNRESET:
		return WIRE_ERR_CONN_RESET;
	case EACCES:
	case EPERM:
		return WIRE_ERR_PROHIBITED;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return WIRE_ERR_RESOURCE;
	default:
		return WIRE_ERR_INTERNAL;
	}
}

/* Higher is more telling for the user; see the file comment. */
static int
dial_err_rank(int sys_err)
{
	switch (dial_wire_error(sys_err)) {
	case WIRE_ERR_REFUSED:
		return 5;
	case WIRE_ERR_CONN_RESET:
		return 4;
	case WIRE_ERR_TIMEOUT:
		return 3;
	case WIRE_ERR_PROHIBITED:
		return 2;
	case WIRE_ERR_UNREACHABLE:
		return 1;
	default:
		return 0;
	}
}

static void
dial_note_err(struct dial *d, int sys_err)
{
	if (d->best_err == 0 ||
	    dial_err_rank(sys_err) > dial_err_rank(d->best_err))
		d->best_err = sys_err;
}

static void dial_on_event(evutil_socket_t fd, short what, void *arg);

static void
dial_on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	dial_cb cb = d->cb;
	void *cb_arg = d->arg;
	int result_fd = d->fd;
	int err = result_fd >= 0 ? 0 : d->best_err;

	d->fd = -1;
	event_free(d->ev);
	free(d);
	cb(result_fd, dial_wire_error(err), err, cb_arg);
}

/* Decides the outcome; the callback runs from the loop, later in this
 * turn (made active: no timer and no epoll_wait in between). */
static void
dial_finish(struct dial *d)
{
	d->done = true;
	if (d->fd < 0 && d->best_err == 0)
		d->best_err = ETIMEDOUT;
	event_del(d->ev);
	event_assign(d->ev, d->base, -1, 0, dial_on_deliver, d);
	event_active(d->ev, EV_TIMEOUT, 1);
}

static void
dial_close_attempt(struct dial *d)
{
	event_del(d->ev);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/*
 * Connects fd: 0 once connected, -EINPROGRESS while the handshake goes on,
 * else -errno. A local peer (loopback, or a pod on this node) has often
 * answered before a non-blocking connect() returned: a second connect()
 * says so (0), gives the failure, or says EALREADY. Cheaper than an
 * EPOLLOUT registration, a wake-up and a deregistration, and the stream's
 * answer goes out a loop turn earlier.
 */
static int
dial_connect(int fd, const struct sockaddr_storage *ss, socklen_t slen)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;

	if (connect(fd, sa, slen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	if (connect(fd, sa, slen) == 0 || errno == EISCONN)
		return 0;
	if (errno == EALREADY || errno == EINPROGRESS || errno == EINTR)
		return -EINPROGRESS;
	return -errno;
}

/* Starts attempts until one is in progress or connected, or all failed. */
static void
dial_try_next(struct dial *d)
{
	while (d->next < d->n) {
		const struct sockaddr_storage *ss = &d->addrs[d->next];
		size_t left = d->n - d->next;
		socklen_t slen = ss->ss_family == AF_INET
		                     ? sizeof(struct sockaddr_in)
		                     : sizeof(struct sockaddr_in6);
		uint64_t now = monotime_ms(), share;
		struct timeval tv;
		int one = 1, fd, r;

		d->next++;
		if (now >= d->deadline) {
			dial_note_err(d, ETIMEDOUT);
			break;
		}
		fd = socket(ss->ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			dial_note_err(d, errno);
			continue;
		}
		/* Interactive protocols go through the tunnel; Nagle on top of
		 * the mux's own batching only adds latency. */
		if (setsockopt(
		        fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_debug(
			    LOG_CAT_MUX, "TCP_NODELAY: %s", strerror(errno));
		d->fd = fd;
		r = dial_connect(fd, ss, slen);
		if (r == 0) {
			dial_finish(d);
			return;
		}
		if (r != -EINPROGRESS) {
			dial_note_err(d, -r);
			dial_close_attempt(d);
			continue;
		}
		share = (d->deadline - now) / left;
		if (share == 0)
			share = 1;
		tv.tv_sec = (time_t)(share / 1000u);
		tv.tv_usec = (suseconds_t)(share % 1000u) * 1000;
		event_assign(d->ev, d->base, fd, EV_WRITE, dial_on_event, d);
		event_add(d->ev, &tv);
		return;
	}
	dial_finish(d);
}

static void
dial_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		err = ETIMEDOUT;
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		err = errno;
	} else if (err == 0) {
		dial_finish(d);
		return;
	}
	dial_note_err(d, err);
	dial_close_attempt(d);
	dial_try_next(d);
}

int
dial_start(struct event_base *base, const struct sockaddr_storage *addrs,
    size_t n, unsigned timeout_ms, dial_cb cb, void *arg,
    struct dial **ret_dial)
{
	struct dial *d = NULL;
	int r;

	if (n == 0 || !cb) {
		r = -EINVAL;
		goto out;
	}
	if (n > DIAL_MAX_ADDRS)
		n = DIAL_MAX_ADDRS;
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ss_family != AF_INET &&
		    addrs[i].ss_family != AF_INET6) {
			r = -EINVAL;
			goto out;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		r = -ENOMEM;
		goto out;
	}
	d->ev = event_new(base, -1, 0, dial_on_event, d);
	if (!d->ev) {
		r = -ENOMEM;
		goto out;
	}
	d->base = base;
	memcpy(d->addrs, addrs, n * sizeof(*addrs));
	d->n = n;
	d->fd = -1;
	d->deadline = monotime_ms() + timeout_ms;
	d->cb = cb;
	d->arg = arg;
	dial_try_next(d);
	*ret_dial = d;
	d = NULL;
	r = 0;
out:
	if (d) {
		if (d->ev)
			event_free(d->ev);
		free(d);
	}
	return r;
}

void
dial_cancel(struct dial *d)
{
	if (!d)
		return;
	dial_close_attempt(d);
	event_free(d->ev);
	free(d);
}

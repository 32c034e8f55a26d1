/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evtest: helpers the event-driven CUnit drivers share: a connected
 * loopback TCP pair, and running an event_base until a condition holds.
 */
#ifndef TELEPOD_TESTS_EVTEST_H
#define TELEPOD_TESTS_EVTEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* A connected loopback TCP pair in fds (blocking, close-on-exec): fds[0]
 * the accepted end, fds[1] the connecting one. Returns 0 or -1. */
static inline int
evtest_tcp_pair(int fds[2])
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	fds[0] = fds[1] = -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) < 0)
		goto fail;
	fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[1] < 0 ||
	    connect(fds[1], (struct sockaddr *)&sin, sizeof(sin)) < 0)
		goto fail;
	fds[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fds[0] < 0)
		goto fail;
	close(l);
	return 0;
fail:
	if (fds[1] >= 0)
		close(fds[1]);
	fds[1] = -1;
	if (l >= 0)
		close(l);
	return -1;
}

static inline void
evtest_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs base until done(arg) or secs seconds passed (a 20 ms tick keeps
 * the loop turning); returns done(arg). */
static inline bool
evtest_run_until(
    struct event_base *base, bool (*done)(void *), void *arg, int secs)
{
	struct timeval every = {0, 20 * 1000};
	struct event *t = event_new(base, -1, EV_PERSIST, evtest_tick, NULL);
	time_t end = time(NULL) + secs;

	event_add(t, &every);
	while (!done(arg) && time(NULL) < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return done(arg);
}

#endif

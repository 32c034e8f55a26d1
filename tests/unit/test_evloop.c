/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/evloop: how the polling budget adapts, that
 * evloop_run ends the way event_base_dispatch does (no events left,
 * loopbreak, loopexit) in its sleeping and in its polling phase, and that
 * with a budget it handles closely spaced events without going to sleep
 * between them (counted as the thread's voluntary context switches),
 * which without one it does.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/evloop.h"
#include "common/monotime.h"
#include "tests/unit/cunit_main.h"

static void
test_budget(void)
{
	/* No maximum: never polls. */
	CU_ASSERT_EQUAL(evloop_next_budget(0, 0, 0), 0);
	CU_ASSERT_EQUAL(evloop_next_budget(40, 5, 0), 0);
	/* A short sleep starts polling, then doubles up to the maximum. */
	CU_ASSERT_EQUAL(evloop_next_budget(0, 30, 200), EVLOOP_POLL_START_US);
	CU_ASSERT_EQUAL(evloop_next_budget(10, 30, 200), 20);
	CU_ASSERT_EQUAL(evloop_next_budget(80, 30, 200), 160);
	CU_ASSERT_EQUAL(evloop_next_budget(160, 30, 200), 200);
	CU_ASSERT_EQUAL(evloop_next_budget(200, 200, 200), 200);
	/* A sleep longer than the maximum stops it. */
	CU_ASSERT_EQUAL(evloop_next_budget(200, 201, 200), 0);
	CU_ASSERT_EQUAL(evloop_next_budget(0, 5000, 200), 0);
	/* A maximum below the start is the budget itself. */
	CU_ASSERT_EQUAL(evloop_next_budget(0, 3, 4), 4);
	CU_ASSERT_EQUAL(evloop_next_budget(4, 3, 4), 4);
}

static void
test_parse(void)
{
	uint32_t us = 7;

	CU_ASSERT_EQUAL(evloop_parse_poll("0", &us), 0);
	CU_ASSERT_EQUAL(us, 0);
	CU_ASSERT_EQUAL(evloop_parse_poll("200", &us), 0);
	CU_ASSERT_EQUAL(us, 200);
	CU_ASSERT_EQUAL(evloop_parse_poll("1000", &us), 0);
	CU_ASSERT_EQUAL(us, 1000);
	/* Out of range or not a plain number: refused, us untouched. */
	CU_ASSERT_EQUAL(evloop_parse_poll("1001", &us), -EINVAL);
	CU_ASSERT_EQUAL(evloop_parse_poll("-1", &us), -EINVAL);
	CU_ASSERT_EQUAL(evloop_parse_poll("", &us), -EINVAL);
	CU_ASSERT_EQUAL(evloop_parse_poll("20us", &us), -EINVAL);
	CU_ASSERT_EQUAL(evloop_parse_poll(" 20", &us), -EINVAL);
	CU_ASSERT_EQUAL(
	    evloop_parse_poll("99999999999999999999", &us), -EINVAL);
	CU_ASSERT_EQUAL(evloop_parse_poll(NULL, &us), -EINVAL);
	CU_ASSERT_EQUAL(us, 1000);
}

/* ---- ending the loop ---------------------------------------------------- */

struct ender {
	struct event_base *base;
	int second; /* write end of the second pipe */
	int stage, how;
	int calls;
	bool timed_out;
};

enum { END_BREAK, END_EXIT };

static void
ender_stop(struct ender *e)
{
	if (e->how == END_BREAK)
		event_base_loopbreak(e->base);
	else
		event_base_loopexit(e->base, NULL);
}

/* Each pipe's byte. The first one's: stop at once (the sleeping phase), or
 * write the second pipe's byte, which the next epoll_wait sees (the
 * polling phase's, when there is one); the second one's: stop. */
static void
ender_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ender *e = arg;
	char c;

	(void)what;
	if (read(fd, &c, 1) != 1)
		return;
	e->calls++;
	if (e->stage == 0 || e->calls == 2)
		ender_stop(e);
	else if (write(e->second, "y", 1) != 1)
		e->calls = -100;
}

/* A loop that missed the stop would run forever: it is ended after 5 s. */
static void
ender_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ender *e = arg;

	(void)fd;
	(void)what;
	e->timed_out = true;
	event_base_loopbreak(e->base);
}

static void
run_ender(int stage, int how, uint32_t max_us)
{
	struct ender e = {.stage = stage, .how = how};
	struct timeval five = {5, 0};
	struct event *first, *second, *deadline;
	int p[2], q[2];

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	CU_ASSERT_FATAL(pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0);
	e.base = event_base_new();
	CU_ASSERT_FATAL(e.base != NULL);
	e.second = q[1];
	/* EV_PERSIST: the loop would go on waiting if it missed the stop. */
	first =
	    event_new(e.base, p[0], EV_READ | EV_PERSIST, ender_read_cb, &e);
	second =
	    event_new(e.base, q[0], EV_READ | EV_PERSIST, ender_read_cb, &e);
	deadline = evtimer_new(e.base, ender_deadline_cb, &e);
	CU_ASSERT_FATAL(
	    first && second && deadline && event_add(first, NULL) == 0 &&
	    event_add(second, NULL) == 0 && evtimer_add(deadline, &five) == 0);
	CU_ASSERT_FATAL(write(p[1], "x", 1) == 1);
	CU_ASSERT_EQUAL(evloop_run(e.base, max_us), 0);
	CU_ASSERT_FALSE(e.timed_out);
	CU_ASSERT_EQUAL(e.calls, stage == 0 ? 1 : 2);
	event_free(deadline);
	event_free(second);
	event_free(first);
	event_base_free(e.base);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void
test_stops(void)
{
	for (int stage = 0; stage < 2; stage++) {
		run_ender(stage, END_BREAK, 0);
		run_ender(stage, END_EXIT, 0);
		run_ender(stage, END_BREAK, 1000);
		run_ender(stage, END_EXIT, 1000);
	}
}

static void
count_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

/* Nothing left to wait for: returns 1 as event_base_dispatch does, also
 * after the last event ran in the polling phase. */
static void
test_no_events(void)
{
	static const struct timeval zero = {0, 0};
	struct event_base *base = event_base_new();
	int n = 0;

	CU_ASSERT_FATAL(base != NULL);
	CU_ASSERT_EQUAL(evloop_run(base, 0), 1);
	CU_ASSERT_EQUAL(evloop_run(base, 500), 1);
	CU_ASSERT_EQUAL(
	    event_base_once(base, -1, EV_TIMEOUT, count_cb, &n, &zero), 0);
	CU_ASSERT_EQUAL(evloop_run(base, 500), 1);
	CU_ASSERT_EQUAL(n, 1);
	event_base_free(base);
}

/* ---- polling instead of sleeping ---------------------------------------- */

#define BURST_EVENTS 200
#define BURST_GAP_US 20

struct burst {
	struct event_base *base;
	int rfd, wfd;
	int got;
};

/* Writes BURST_EVENTS bytes, each after the previous one was read (so
 * each is an event of its own) and BURST_GAP_US of sleep. It only ever
 * sleeps, never spins: its timer wakes it as a peer's segment would, so
 * on a shared CPU it preempts a polling reader rather than waiting out
 * the reader's budget. Bounded: gives up after 10 s. */
static void *
burst_writer(void *arg)
{
	struct burst *b = arg;
	struct timespec gap = {0, BURST_GAP_US * 1000};
	uint64_t deadline = monotime_us() + 10u * 1000000u;

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (int i = 0; i < BURST_EVENTS && monotime_us() < deadline; i++) {
		while (__atomic_load_n(&b->got, __ATOMIC_ACQUIRE) < i &&
		       monotime_us() < deadline)
			nanosleep(&gap, NULL);
		nanosleep(&gap, NULL);
		if (write(b->wfd, "x", 1) != 1)
			return NULL;
	}
	return NULL;
}

static void
burst_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct burst *b = arg;
	char c;

	(void)what;
	while (read(fd, &c, 1) == 1) {
		if (__atomic_add_fetch(&b->got, 1, __ATOMIC_RELEASE) ==
		    BURST_EVENTS)
			event_base_loopbreak(b->base);
	}
}

static void
burst_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Voluntary context switches of this thread while evloop_run handled
 * BURST_EVENTS events arriving BURST_GAP_US apart. */
static long
burst_sleeps(uint32_t max_us)
{
	struct burst b = {0};
	struct event *ev, *deadline;
	struct timeval ten = {10, 0};
	struct rusage r0, r1;
	pthread_t th;
	int p[2];

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	b.base = event_base_new();
	CU_ASSERT_FATAL(b.base != NULL);
	b.rfd = p[0];
	b.wfd = p[1];
	ev = event_new(b.base, p[0], EV_READ | EV_PERSIST, burst_read_cb, &b);
	deadline = evtimer_new(b.base, burst_deadline_cb, b.base);
	CU_ASSERT_FATAL(ev && deadline && event_add(ev, NULL) == 0 &&
	                evtimer_add(deadline, &ten) == 0);
	getrusage(RUSAGE_THREAD, &r0);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, burst_writer, &b) == 0);
	CU_ASSERT_EQUAL(evloop_run(b.base, max_us), 0);
	getrusage(RUSAGE_THREAD, &r1);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(b.got, BURST_EVENTS);
	event_free(ev);
	event_free(deadline);
	event_base_free(b.base);
	close(p[0]);
	close(p[1]);
	return r1.ru_nvcsw - r0.ru_nvcsw;
}

static void
test_polls_between_close_events(void)
{
	long sleeping = burst_sleeps(0), polling = burst_sleeps(1000);

	/* Without a budget the loop sleeps before nearly every event; with
	 * one it sleeps only until the budget has grown, and when the writer
	 * is held up for more than a millisecond (a busy machine). Both
	 * threads may share one CPU (make -j2 check): the writer then runs
	 * when its timer preempts the polling reader. */
	CU_ASSERT(sleeping >= BURST_EVENTS * 3 / 4);
	CU_ASSERT(polling < BURST_EVENTS / 2);
	if (getenv("EVLOOP_TEST_VERBOSE") || sleeping < BURST_EVENTS * 3 / 4 ||
	    polling >= BURST_EVENTS / 2)
		fprintf(stderr,
		    "voluntary switches: %ld without polling, %ld with\n",
		    sleeping, polling);
}

static const struct cunit_test tests[] = {
    {"budget", test_budget},
    {"parse", test_parse},
    {"stops", test_stops},
    {"no_events", test_no_events},
    {"polls_between_close_events", test_polls_between_close_events},
};

CUNIT_MAIN("evloop", tests)

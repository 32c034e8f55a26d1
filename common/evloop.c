/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "common/evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "common/monotime.h"
uint32_t
evloop_next_budget(uint32_t budget_us, uint64_t slept_us, uint32_t max_us)
{
	if (max_us == 0 || slept_us > max_us)
		return 0;
	if (budget_us < EVLOOP_POLL_START_US)
		budget_us = EVLOOP_POLL_START_US;
	else if (budget_us <= max_us / 2)
		budget_us *= 2;
	else
		budget_us = max_us;
	return budget_us < max_us ? budget_us : max_us;
}

static bool
evloop_stopped(struct event_base *base)
{
	return event_base_got_break(base) || event_base_got_exit(base);
}

int
evloop_run(struct event_base *base, uint32_t max_poll_us)
{
	uint32_t budget = 0;
	uint64_t t0, t;
	int r;

	if (max_poll_us == 0)
		return event_base_dispatch(base);
	for (;;) {
		/* Sleep until something happens, and handle it. */
		t0 = monotime_us();
		r = event_base_loop(base, EVLOOP_ONCE);
		if (r != 0 || evloop_stopped(base))
			return r;
		/* What counts as the sleep is the whole turn, the handling of
		 * what woke us included (libevent does not say when the wait
		 * ended): a turn of more than the maximum's work also ends
		 * polling, which a loop that busy would not need. */
		t = monotime_us();
		budget = evloop_next_budget(budget, t - t0, max_poll_us);
		/* Then poll for up to the budget before sleeping again. */
		t0 = t;
		while (budget > 0 && t - t0 < budget) {
			r = event_base_loop(base, EVLOOP_NONBLOCK);
			if (r != 0 || evloop_stopped(base))
				return r;
			t = monotime_us();
		}
	}
}

int
evloop_parse_poll(const char *s, uint32_t *ret_us)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > EVLOOP_MAX_POLL_US)
		return -EINVAL;
	*ret_us = (uint32_t)v;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evloop: the daemons' event loop, optionally polling before it sleeps.
 *
 * A daemon that relays a request waits a few tens of microseconds for the
 * answer. If its CPU goes idle meanwhile, the answer has to wake it (an
 * interrupt, and in a virtual machine a halted vCPU's exit and re-entry),
 * which can cost more than the relaying itself. With a budget, like the
 * kernel's busy polling (net.core.busy_poll) and KVM's halt polling
 * (halt_poll_ns), the loop keeps asking for events without sleeping for
 * up to that many microseconds after each wake-up, and sleeps only then.
 *
 * The budget adapts the way KVM's does: it grows (from
 * EVLOOP_POLL_START_US, doubling, up to the maximum) while each sleep
 * that follows polling ends within the maximum (events come that close
 * together), and drops to zero after a longer one. An idle daemon, or one
 * whose peer is milliseconds away, does not poll; a busy one polls at most
 * the maximum per wake-up, and gives the CPU up while polling only when
 * the scheduler preempts it (as the kernel's busy polling does: a
 * sched_yield() between polls handed the CPU to any runnable thread, a
 * SCHED_IDLE one included, for a whole slice). The price is CPU time:
 * during a ping-pong the daemon stays on its CPU instead of sleeping. So
 * it is off by default (docs/performance.md, "Waking up").
 */
#ifndef TELEPOD_COMMON_EVLOOP_H
#define TELEPOD_COMMON_EVLOOP_H

#include <stdint.h>

struct event_base;

/* The default maximum, in microseconds: no polling. */
#define EVLOOP_DEFAULT_POLL_US 0u
/* Upper bound accepted for the maximum (1 ms). */
#define EVLOOP_MAX_POLL_US 1000u
/* The first non-zero budget, in microseconds. */
#define EVLOOP_POLL_START_US 10u

/*
 * The next polling budget (microseconds) after a sleep of `slept_us`
 * that followed polling for `budget_us`, with `max_us` the maximum.
 * Pure; exposed for the unit test.
 */
uint32_t evloop_next_budget(
    uint32_t budget_us, uint64_t slept_us, uint32_t max_us);

/*
 * Runs `base` until it has no events left, event_base_loopbreak() or
 * event_base_loopexit(), polling up to `max_poll_us` microseconds after
 * each wake-up (0: plain event_base_dispatch, never polls).
 * Returns what event_base_dispatch would: 0, 1 (no events left) or -1.
 */
int evloop_run(struct event_base *base, uint32_t max_poll_us);

/*
 * Parses a --busy-poll value: microseconds, 0..EVLOOP_MAX_POLL_US.
 * Returns 0 and sets *ret_us, or -EINVAL.
 */
int evloop_parse_poll(const char *s, uint32_t *ret_us);

#endif

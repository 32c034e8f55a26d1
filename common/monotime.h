/* SPDX-License-Identifier: Apache-2.0 */
/*
 * monotime: the monotonic clock (CLOCK_MONOTONIC) in microseconds and
 * milliseconds, for deadlines, timeouts and round-trip times. Not wall
 * time: it does not jump with clock changes and starts at an unspecified
 * point, so only differences mean anything.
 */
#ifndef TELEPOD_COMMON_MONOTIME_H
#define TELEPOD_COMMON_MONOTIME_H

#include <stdint.h>

/* Now, in microseconds / milliseconds of CLOCK_MONOTONIC. */
uint64_t monotime_us(void);
uint64_t monotime_ms(void);

#endif

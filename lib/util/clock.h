/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monotonic clock every timer and deadline of the project reads
 * (CLOCK_MONOTONIC: never jumps with the wall clock).
 */
#ifndef SPANBLK_LIB_UTIL_CLOCK_H
#define SPANBLK_LIB_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds since an arbitrary fixed point (boot). */
static inline uint64_t sb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds since the same point. */
static inline uint64_t sb_now_ms(void)
{
	return sb_now_ns() / 1000000u;
}

/*
 * The CLOCK_MONOTONIC time @ms from now, for pthread_cond_timedwait on a
 * condition variable whose clock is CLOCK_MONOTONIC.
 */
static inline struct timespec sb_deadline_in(unsigned int ms)
{
	uint64_t ns = sb_now_ns() + (uint64_t)ms * 1000000u;
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	return ts;
}

#endif

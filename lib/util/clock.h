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

#endif

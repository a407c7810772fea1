/* Durations ("500ms", "1h30m") to milliseconds and points in time ("2026-11-01",
 * ISO 8601 with Z or an offset, UNIX seconds) to UNIX seconds: pure, UTC only, no locale. */
#ifndef FLEETARC_UTIL_TIMEPARSE_H
#define FLEETARC_UTIL_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* A size for err buffers that holds every message of this module. */
#define TIMEPARSE_ERR_MAX 128

/* A duration: one or more <digits><unit> with units d, h, m, s, ms, each at most once
 * and from largest to smallest ("3d", "1h30m", "2m500ms"). A bare number is an error
 * (units are required), as are signs, fractions and spaces. "0s" is 0.
 * Returns 0 with *ms set, or -EINVAL with a reason in err (err may be NULL; the reason
 * quotes at most a unit, never the whole input). Overflow of int64 milliseconds is -EINVAL. */
int timeparse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A point in time for the command line, as UNIX seconds:
 *   2026-11-01                   UTC midnight
 *   2026-11-01T06:30:00Z         (T or a space; Z or z; seconds optional: 06:30Z)
 *   2026-11-01T08:30:00+02:00    offset as +HH:MM, +HHMM or +HH (up to 23:59)
 *   1761955200                   UNIX seconds (digits only: 20261101 is seconds too)
 * A time of day without a zone is an error (local time is never guessed), and so are
 * fractional seconds (the API counts whole seconds; a silent truncation would move an
 * exclusive --to). Years 0001-9999; the date must exist (no 02-30, no 24:00, no :60).
 * Returns 0 or -EINVAL with a reason in err (err may be NULL). */
int timeparse_time(const char *s, int64_t *unix_seconds, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31). */
int64_t timeparse_days_from_civil(int64_t year, int month, int day);

/* The shortest text timeparse_duration reads back as ms ("1h30m", "500ms", "0s");
 * ms must be >= 0. Writes at most n bytes (NUL included) and returns out. */
char *timeparse_format_duration(int64_t ms, char *out, size_t n);

/* UNIX seconds as "2026-11-01T06:30:00Z" (21 bytes with the NUL); returns out. */
char *timeparse_format_time(int64_t unix_seconds, char *out, size_t n);

#endif

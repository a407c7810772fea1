/* What is archived, per device and stream (playback on gpstime, alarms on system time),
 * as the archiver holds it in memory: sorted, disjoint intervals [from, to] of whole
 * seconds, both inclusive, merged when they overlap or touch. Loaded from the view
 * fleetarc.coverage at startup, and added to only in a batch's commit callback, with the
 * interval that batch wrote (pgw_batch_add_coverage): so it is always what the database
 * has committed. Every job (run, backfill) asks only for the gaps: coverage_gap() says
 * where the next gap at or after a time starts and ends. Pure: no I/O. */
#ifndef FLEETARC_ARCHIVE_COVERAGE_H
#define FLEETARC_ARCHIVE_COVERAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COVERAGE_STREAMS 2 /* STREAM_PLAYBACK and STREAM_ALARMS (domain/stream.h): mileage has no coverage */

typedef struct coverage_iv {
  int64_t from, to; /* inclusive */
} coverage_iv_t;

typedef struct coverage coverage_t;

coverage_t *coverage_new(void);
void coverage_free(coverage_t *c);

/* Adds [from, to] for (dev, stream), merged with what it overlaps or touches (to + 1 ==
 * from). 0, -EINVAL (stream out of range, to < from), -ENOMEM. */
int coverage_add(coverage_t *c, size_t dev, int stream, int64_t from, int64_t to)
    __attribute__((warn_unused_result));

/* True when t is covered. */
bool coverage_covers(const coverage_t *c, size_t dev, int stream, int64_t t);

/* The gap at or after t: *gap_from is the first second >= t not covered, *gap_to the
 * last second of that gap (the next interval's from - 1), INT64_MAX when no interval
 * follows. */
void coverage_gap(const coverage_t *c, size_t dev, int stream, int64_t t, int64_t *gap_from,
                  int64_t *gap_to);

/* The intervals of (dev, stream), in order: count, and the i-th. */
size_t coverage_count(const coverage_t *c, size_t dev, int stream);
const coverage_iv_t *coverage_at(const coverage_t *c, size_t dev, int stream, size_t i);

/* The latest interval, or NULL. */
const coverage_iv_t *coverage_last(const coverage_t *c, size_t dev, int stream);

#endif

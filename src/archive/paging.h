/* The paging rules of playback (2.3, 1000 records, by gpstime) and alarms (2.8, 100
 * records, by system time), as pure functions: the archiver asks what to request next
 * and which records of a page are new. Invariant: a page is never requested twice with
 * the same begin unless the previous attempt failed; a cursor only moves forward. */
#ifndef FLEETARC_ARCHIVE_PAGING_H
#define FLEETARC_ARCHIVE_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGING_PLAYBACK_PAGE 1000
#define PAGING_ALARM_PAGE 100

/* Where a stream of one device stands. `begin` is the next request's begin time (the
 * API's begin is inclusive). `have_begin` says that everything at time == begin that a
 * page can hold was already stored, so records at exactly `begin` are the boundary
 * coming back: playback drops them (its key is (imei, gpstime)); alarms keep them for
 * the unique key to absorb, since distinct alarms may share a system time. */
typedef struct paging_cursor {
  int64_t begin;
  bool have_begin;
} paging_cursor_t;

typedef enum {
  PAGING_DONE = 0,   /* the window is exhausted: no further request */
  PAGING_MORE = 1,   /* request again from cursor->begin */
} paging_step_t;

/* What one page did to the cursor. */
typedef struct paging_result {
  paging_step_t step;
  size_t first_new;  /* records [first_new, n) are to be stored (playback drops the boundary) */
  bool guard_fired;  /* a full page of one timestamp: moved past it, see skipped_time */
  int64_t skipped_time;
} paging_result_t;

/* Applies a page whose answer held raw records, of which the n kept (the others refused
 * at ingest) have the times (gpstime for playback, system time for alarms) times[0..n-1],
 * non-decreasing, requested with [cursor->begin, end]; page_size is PAGING_PLAYBACK_PAGE
 * or PAGING_ALARM_PAGE; drop_boundary is true for playback. Whether the page is full
 * (and so whether the next one must be asked) is a property of the answer: raw >=
 * page_size, whatever was refused; a full page is paged on from the last record kept.
 * Returns -EINVAL when the page breaks the rules (more than page_size records kept, n >
 * raw, times out of [begin, end] or out of order), -ENODATA for a full page whose every
 * record was refused (nothing to page on from): the caller logs it and retries later; the
 * cursor is then unchanged. On 0 the cursor is advanced (in a copy the caller commits
 * together with the rows: the caller passes a copy and keeps it only once the rows are
 * written). */
int paging_apply(paging_cursor_t *cursor, int64_t end, const int64_t *times, size_t n,
                 size_t raw, size_t page_size, bool drop_boundary, paging_result_t *out)
    __attribute__((warn_unused_result));

/* True when a playback request is needed: the device's last gpstime from /api/track is
 * past what the cursor holds. A device that did not move costs no request. */
bool paging_playback_due(const paging_cursor_t *cursor, int64_t last_gpstime);

/* Mileage (2.14): the UTC days [day, day + 86400) covering [from, to), aligned to
 * midnight (which is on minute 0, and well inside the 7-day limit). Writes at most
 * max_days day starts into days and returns how many there are in all. */
size_t paging_mileage_days(int64_t from, int64_t to, int64_t *days, size_t max_days);

#endif

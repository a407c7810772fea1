/* Paging rules for playback and alarms; see paging.h. Pure: no I/O, no allocation. */
#include "archive/paging.h"

#include <errno.h>

int paging_apply(paging_cursor_t *cursor, int64_t end, const int64_t *times, size_t n,
                 size_t raw, size_t page_size, bool drop_boundary, paging_result_t *out) {
  *out = (paging_result_t){.step = PAGING_DONE, .first_new = 0};
  if (n > page_size || n > raw) return -EINVAL;
  bool full = raw >= page_size;
  if (full && n == 0) return -ENODATA;
  for (size_t i = 0; i < n; i++) {
    if (times[i] < cursor->begin || times[i] > end) return -EINVAL;
    if (i && times[i] < times[i - 1]) return -EINVAL;
  }
  size_t first_new = 0;
  if (drop_boundary && cursor->have_begin)
    while (first_new < n && times[first_new] == cursor->begin) first_new++;
  out->first_new = first_new;

  if (!full) {
    /* The window is exhausted. The cursor rests on the last record stored, so the next
     * incremental run starts there (its boundary is dropped or absorbed again). */
    if (n > 0) {
      cursor->begin = times[n - 1];
      cursor->have_begin = true;
    }
    out->step = PAGING_DONE;
    return 0;
  }

  int64_t last = times[n - 1];
  if (last == cursor->begin) {
    /* A full page of one timestamp: asking again from `last` would return this page
     * again, forever. Move past it; what lay beyond the page at that second is lost to
     * the API's paging, and the caller logs it. */
    out->guard_fired = true;
    out->skipped_time = last;
    if (last >= end) {
      cursor->begin = last;
      cursor->have_begin = true;
      out->step = PAGING_DONE;
      return 0;
    }
    cursor->begin = last + 1;
    cursor->have_begin = false;
    out->step = PAGING_MORE;
    return 0;
  }
  /* A full page means "ask again" even if the next page holds only the boundary. */
  cursor->begin = last;
  cursor->have_begin = true;
  out->step = PAGING_MORE;
  return 0;
}

bool paging_playback_due(const paging_cursor_t *cursor, int64_t last_gpstime) {
  if (cursor->have_begin) return last_gpstime > cursor->begin;
  return last_gpstime >= cursor->begin;
}

size_t paging_mileage_days(int64_t from, int64_t to, int64_t *days, size_t max_days) {
  if (to <= from) return 0;
  int64_t day = from - ((from % 86400) + 86400) % 86400;
  size_t n = 0;
  for (; day < to; day += 86400, n++)
    if (n < max_days) days[n] = day;
  return n;
}

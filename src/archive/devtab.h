/* The archiver's device table: every device of every account, about 100 bytes each, with
 * the in-memory copy of its committed cursors. Invariant: a device's cursor here is what
 * the database has committed (it moves only in a commit callback). */
#ifndef FLEETARC_ARCHIVE_DEVTAB_H
#define FLEETARC_ARCHIVE_DEVTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/paging.h"

#define DEVTAB_IMEI_MAX 20 /* IMEIs are 15 digits; some platforms use up to 17-20 chars */

typedef enum {
  DEVTAB_STREAM_PLAYBACK = 0,
  DEVTAB_STREAM_ALARMS = 1,
  DEVTAB_STREAM_MILEAGE = 2,
  DEVTAB_STREAM_COUNT
} devtab_stream_t;

typedef struct devtab_device {
  char imei[DEVTAB_IMEI_MAX + 1];
  uint8_t busy;            /* bit per stream: a page is requested or waits for its commit */
  uint8_t removed : 1;     /* gone from the account's list: no longer archived */
  uint8_t seen : 1;        /* mark for discovery's sweep */
  uint16_t account;        /* index into the configured accounts */
  int64_t last_gpstime;    /* from /api/track; 0 when unknown */
  paging_cursor_t cursor[DEVTAB_STREAM_COUNT]; /* mileage: begin = next day to fetch */
  int64_t last_systemtime; /* max(systemtime, hearttime) from /api/track: alarms due */
  uint32_t retry_at[DEVTAB_STREAM_COUNT]; /* archiver seconds: not before (backoff) */
  uint8_t failures[DEVTAB_STREAM_COUNT];  /* consecutive failed attempts of the stream */
  uint8_t done;            /* bit per stream: finished (backfill) or given up */
} devtab_device_t;

typedef struct devtab devtab_t;

devtab_t *devtab_new(void);
void devtab_free(devtab_t *t);

/* The device with this IMEI, added (zeroed, not removed) when missing; *added says which.
 * NULL on allocation failure or an IMEI that is empty, too long or not printable ASCII.
 * Pointers stay valid until the next devtab_get_or_add (the array may move): keep indices. */
devtab_device_t *devtab_get_or_add(devtab_t *t, const char *imei, bool *added);
/* Index of the device, or -1. O(1). */
int64_t devtab_find(const devtab_t *t, const char *imei);
size_t devtab_count(const devtab_t *t);
devtab_device_t *devtab_at(devtab_t *t, size_t i);

#endif

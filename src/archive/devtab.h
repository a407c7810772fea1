/* The archiver's device table: every device of every account, about 100 bytes each, with
 * the in-memory copy of its committed cursors, and sets of device indices (the archiver's
 * due work). Invariant: a device's cursor here is what the database has committed (it
 * moves only in a commit callback); a device is in a set at most once. */
#ifndef FLEETARC_ARCHIVE_DEVTAB_H
#define FLEETARC_ARCHIVE_DEVTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/paging.h"
#include "domain/stream.h"

#define DEVTAB_IMEI_MAX 20 /* IMEIs are 15 digits; some platforms use up to 17-20 chars */


typedef struct devtab_device {
  char imei[DEVTAB_IMEI_MAX + 1];
  uint8_t busy;            /* bit per stream: a page is requested or waits for its commit */
  uint8_t removed : 1;     /* gone from the account's list: no longer archived */
  uint8_t seen : 1;        /* mark for discovery's sweep */
  uint8_t more;            /* bit per stream: its last page was full: the next one is asked
                            * whatever /api/track says (spec 2.3, 2.8) */
  uint16_t account;        /* index into the configured accounts */
  uint16_t state_at;       /* its device_state row last written, in archiver seconds / 8
                            * (modulo 2^16: poller.c compares differences only) */
  uint32_t state_hash;     /* of that row's record, as poller.c compares them; 0: none */
  int64_t last_gpstime;    /* from /api/track: the latest gpstime reported, 0 when none
                            * (never reported, or `run` before its first poll); -1 in a
                            * backfill until a poll tells it (unknown: playback asked) */
  paging_cursor_t cursor[STREAM_COUNT]; /* mileage: begin = next day to fetch */
  int64_t last_systemtime; /* max(systemtime, hearttime) from /api/track: alarms due */
  uint32_t retry_at[STREAM_COUNT]; /* archiver seconds: not before (backoff) */
  uint8_t failures[STREAM_COUNT];  /* consecutive failed attempts of the stream */
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
/* Index of a device pointer returned by this table (valid until the next add). */
size_t devtab_index(const devtab_t *t, const devtab_device_t *d);

/* Sets of device indices, one bit per device plus a bit per 64 devices, so that
 * visiting the members costs O(members + count / 4096), not O(count). A new device is
 * in no set. The archiver keeps in them the devices that may have work due. */
typedef enum {
  DEVTAB_SET_PAGES = 0,   /* playback or alarms may be due */
  DEVTAB_SET_MILEAGE = 1, /* mileage may be due */
  DEVTAB_SET_BACKOFF = 2, /* a stream waits for its retry time */
  DEVTAB_SET_COUNT
} devtab_set_t;

/* i < devtab_count(t); adding a member or deleting a non-member is a no-op. */
void devtab_set_add(devtab_t *t, devtab_set_t s, size_t i);
void devtab_set_del(devtab_t *t, devtab_set_t s, size_t i);
bool devtab_set_has(const devtab_t *t, devtab_set_t s, size_t i);
/* Every device of the table. */
void devtab_set_add_all(devtab_t *t, devtab_set_t s);
size_t devtab_set_size(const devtab_t *t, devtab_set_t s);
/* The smallest member in [from, to), or -1; to is capped at devtab_count(t). */
int64_t devtab_set_next(const devtab_t *t, devtab_set_t s, size_t from, size_t to);

#endif

/* The archiver's scheduler: which stream of which device is due, and handing out the due
 * work within a budget of calls in flight while the engine is ready (the writer not full,
 * discovery over). It owns the due queues (devtab sets: pages, mileage, backoff), the
 * backoff of failed streams, and the round-robin positions; it asks for nothing itself:
 * its hooks start the calls. No network, no database: tests drive it with a device
 * table, a coverage, an alarm cadence and a clock of their own.
 * Invariant: a device with a stream that sched_due calls DUE_YES is in that stream's
 * queue (playback: a heap by its cursor, oldest coverage first; DEVTAB_SET_PAGES for
 * alarms, DEVTAB_SET_MILEAGE), or the present
 * has reached the time wake, or its backoff expired and the pump has not looked yet.
 * Each stream of a device has at most one call or uncommitted page at a time (its busy
 * bit), so its cursor in memory is the committed one. */
#ifndef FLEETARC_ARCHIVE_SCHEDULER_H
#define FLEETARC_ARCHIVE_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/alarmcad.h"
#include "archive/coverage.h"
#include "archive/devtab.h"
#include "archive/paging.h"

#define SCHED_UNSET INT64_MIN       /* a cursor not set yet (run: before the first poll) */
#define SCHED_MAX_FAILURES 12       /* a backfill gives up a device's stream after these */
#define SCHED_BACKOFF_MAX_S 300     /* cap of the per-device retry delay */
#define SCHED_MILEAGE_IN_FLIGHT 2   /* mileage windows of 100 devices in flight */
#define SCHED_MILEAGE_BATCH 100     /* devices of one mileage call (API_MAX_IMEIS) */
/* A pump's round ends after this many queued devices in a row started nothing while some
 * due stream was on a full lane (what is left waits for the next pump, from there). */
#define SCHED_LANE_SKIP_MAX 256
/* Alarms are paged by system time but a backfill's range is one of gpstime: an alarm of
 * [from, to) may reach the platform up to this late, so a backfill asks alarms up to
 * to - 1 + this and keeps those whose gpstime is in range. (The simulator's bound is
 * 6 h; a platform that uploads later is caught by `run`, which pages on system time.) */
#define SCHED_ALARM_LATE_S (6 * 3600)

typedef struct sched sched_t;

typedef enum {
  DUE_NO,      /* complete (backfill) or nothing new (run) */
  DUE_YES,     /* a call is needed now */
  DUE_LATER,   /* busy, or backing off */
  DUE_BLOCKED, /* its account is stopped (or leased elsewhere) */
} due_t;

typedef struct sched_options {
  bool backfill;
  int64_t from, to;           /* backfill: [from, to), UNIX seconds */
  unsigned streams;           /* STREAM_BIT set */
  size_t max_in_flight;       /* data calls (pages, mileage, heals) out at a time */
  int64_t alarm_interval_s, alarm_idle_s; /* run: the alarm cadence (alarmcad.h) */
} sched_options_t;

/* What the scheduler asks of the engine; every hook runs from inside sched_pump (or
 * sched_due for the clocks). A start hook returns 0 when the call is out (the scheduler
 * then marks the stream busy and counts the call), or < 0 (the stream fails: backoff). */
typedef struct sched_hooks {
  void *arg;
  int64_t (*server_now)(void *arg);  /* the platform's present, UNIX seconds */
  uint32_t (*mono_s)(void *arg);     /* a monotonic clock, seconds (backoff) */
  bool (*ready)(void *arg);          /* false: hand out nothing (writer full, stopping...) */
  bool (*blocked)(void *arg, uint16_t account); /* account stopped, or not held */
  /* playback or alarms of dev, from its cursor (already moved past its coverage) to end
   * inclusive */
  int (*start_page)(void *arg, uint32_t dev, int s, int64_t end, int64_t now_server);
  /* mileage of day [day, day + 86400) for devs[0..n), all of one account */
  int (*start_mileage)(void *arg, const uint32_t *devs, size_t n, int64_t day);
  /* Whether the lane of stream st of account (its endpoint: the platform paces each
   * account x endpoint on its own) already holds enough calls waiting to be sent (may be
   * NULL: never). A due stream on a full lane is left queued: the free calls go to the
   * other lanes, as the one it waits for could not send it sooner. */
  bool (*lane_full)(void *arg, uint16_t account, int st);
  /* after the pages, while calls are free (may be NULL): gap healing */
  void (*spare)(void *arg, int64_t now_server);
} sched_hooks_t;

/* dev, cov and acad are borrowed for the scheduler's life (acad unused by a backfill). */
sched_t *sched_new(devtab_t *dev, coverage_t *cov, alarmcad_t *acad, const sched_options_t *o,
                   const sched_hooks_t *h);
void sched_free(sched_t *s);

/* A reload: streams, alarm cadence (the mode, range and budget stay). Every device is
 * looked at again. */
void sched_set_options(sched_t *s, const sched_options_t *o);
bool sched_stream_on(const sched_t *s, int stream);

/* Hands out due work while calls are free and ready() holds, never the whole fleet at
 * once: playback oldest coverage first, then alarms in rounds over the device table,
 * then spare, then mileage. A stream whose lane is full (hooks.lane_full) stays queued
 * and the free calls go to the other lanes. */
void sched_pump(sched_t *s);

/* Whether stream st of device dev needs a call now. With wake not NULL and DUE_NO only
 * because the present is not far enough yet, *wake is lowered to the server time at
 * which that changes. */
due_t sched_due(sched_t *s, uint32_t dev, int st, int64_t now_server, int64_t *wake);

/* The largest end a stream's window reaches as the present grows. */
int64_t sched_window_bound(const sched_t *s, int st);

/* ---- events: each may make a device due (it is queued) ---- */

void sched_mark_stream(sched_t *s, uint32_t dev, int st);
void sched_mark_device(sched_t *s, uint32_t dev); /* every stream */
void sched_mark_all(sched_t *s);                  /* every device (startup, reload) */
/* The stream's call or page is over without a commit (busy bit cleared). */
void sched_stream_free(sched_t *s, uint32_t dev, int st);
/* Its page committed: the cursor moves, failures reset; more: a full page, the next one
 * is asked at once whatever /api/track says; done: backfill, the stream is complete. */
void sched_committed(sched_t *s, uint32_t dev, int st, const paging_cursor_t *cursor, bool more,
                     bool done);
/* A failed attempt: backoff (2^failures s, capped, spread); a backfill gives up after
 * SCHED_MAX_FAILURES. why is logged. */
void sched_fail(sched_t *s, uint32_t dev, int st, const char *why);
/* A permanent answer: the stream stops until a restart (given up). */
void sched_stop(sched_t *s, uint32_t dev, int st, const char *why);

/* ---- the budget of calls in flight ---- */

size_t sched_free_slots(const sched_t *s);
void sched_call_begun(sched_t *s);            /* a call outside pump (gap healing) */
void sched_call_ended(sched_t *s, bool mileage);
size_t sched_in_flight(const sched_t *s);

/* A backfill's first pump happened (its alarm windows end at the present it saw then). */
bool sched_started(const sched_t *s);

typedef struct sched_stats {
  uint64_t failures;   /* attempts failed (sched_fail) */
  uint64_t stopped;    /* streams stopped for good (sched_stop) */
} sched_stats_t;
const sched_stats_t *sched_stats(const sched_t *s);

#endif

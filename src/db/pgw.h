/* pgw, the PostgreSQL writer: batches of rows (positions, alarms, device state, devices,
 * daily mileage) and the cursor moves they justify, written one transaction per batch
 * over a non-blocking libpq connection on a libuv loop. A batch counts as written only
 * when its COMMIT's result has arrived; then, and only then, its callback says so.
 *
 * Lifecycle: pgw_new() connects at once (and again, with backoff, whenever the server
 * goes away); pgw_submit() queues batches, which are written in submission order, one at
 * a time; pgw_close() drains, then frees the writer. Single-threaded: every function is
 * called on the loop's thread. libpq stays inside src/db/. */
#ifndef FLEETARC_DB_PGW_H
#define FLEETARC_DB_PGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "domain/stream.h"

typedef struct pgw pgw_t;
typedef struct pgw_batch pgw_batch_t;


/* One /api/track record (spec 2.2). Times are UNIX seconds, 0 = unknown (stored NULL).
 * The -1 "no such status" of accstatus, doorstatus, chargestatus, oilpowerstatus,
 * defencestatus, battery, mileage and todaymileage is stored as NULL (see 001_schema.sql). */
typedef struct pgw_device_state {
  const char *imei;
  int64_t servertime, gpstime, hearttime, systemtime;
  double longitude, latitude;
  int course, speed;
  int64_t acctime;
  int accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus, datastatus, battery;
  int64_t mileage, todaymileage; /* metres */
} pgw_device_state_t;

/* One device of /api/device/list or /detail (spec 2.7, 2.12). Strings may be NULL
 * (stored NULL); times are UNIX seconds, 0 = never (stored NULL). Writing it sets
 * last_seen to the transaction's time and clears removed_at. */
typedef struct pgw_device {
  const char *imei;
  const char *account; /* required */
  const char *devicename, *devicetype, *platenumber, *simcard, *iccid;
  int64_t onlinetime, platformduetime, activatedtime, userduetime;
} pgw_device_t;

/* ---- batches: built by the caller, then handed to pgw_submit() ---- */

/* A new empty batch. `name` (copied) names it in logs and error messages, e.g.
 * "playback 358899051025339 from 1406746394". NULL on out of memory. */
pgw_batch_t *pgw_batch_new(const char *name) __attribute__((warn_unused_result));
/* Frees a batch that was never submitted (a submitted one belongs to the writer). */
void pgw_batch_free(pgw_batch_t *batch);

/* Appenders: each copies its arguments (strings are borrowed for the call only) into the
 * batch's COPY data (binary). 0, -EINVAL (imei NULL or empty), -ENOMEM.
 * Positions and alarms that repeat an existing key are skipped at write time and counted
 * as duplicates. Upserts of one key within a batch: the last appended wins. */
int pgw_batch_add_position(pgw_batch_t *batch, const char *imei, int64_t gpstime,
                           double longitude, double latitude, int speed, int course)
    __attribute__((warn_unused_result));
int pgw_batch_add_alarm(pgw_batch_t *batch, const char *imei, int alarm_type, int64_t gpstime,
                        int64_t systemtime, double longitude, double latitude, int speed,
                        int course, int64_t geofence_id) __attribute__((warn_unused_result));
/* Replaces the device's row unless the stored one has a later servertime. */
int pgw_batch_add_device_state(pgw_batch_t *batch, const pgw_device_state_t *state)
    __attribute__((warn_unused_result));
int pgw_batch_add_device(pgw_batch_t *batch, const pgw_device_t *device)
    __attribute__((warn_unused_result));
/* km of the UTC day holding `day` (any second of it); replaces the stored value. */
int pgw_batch_add_mileage(pgw_batch_t *batch, const char *imei, int64_t day, double km)
    __attribute__((warn_unused_result));
/* Marks the device as no longer listed: sets fleetarc.devices.removed_at to the
 * transaction's time where it is NULL (an earlier removal keeps its time; an IMEI
 * without a devices row changes nothing). pgw_batch_add_device clears it again. Applied
 * after the batch's devices rows. 0, -EINVAL, -ENOMEM. */
int pgw_batch_mark_removed(pgw_batch_t *batch, const char *imei)
    __attribute__((warn_unused_result));
/* Moves (imei, stream)'s cursor to `cursor` (UNIX seconds) in the same transaction as the
 * batch's rows. Cursors only move forward: an older value leaves the stored one. */
int pgw_batch_move_cursor(pgw_batch_t *batch, const char *imei, stream_t stream,
                          int64_t cursor) __attribute__((warn_unused_result));
/* The same for a stream named by `stream_key` (borrowed for the call): 'playback',
 * 'alarms', 'mileage', or a backfill range's 'playback@FROM-TO' (010_backfill_cursors). */
int pgw_batch_move_cursor_key(pgw_batch_t *batch, const char *imei, const char *stream_key,
                              int64_t cursor) __attribute__((warn_unused_result));

/* Records [from, to] (UNIX seconds, both inclusive) of (imei, stream) as archived, in the
 * same transaction as the batch's rows: merged with the stored intervals it overlaps or
 * touches (fleetarc.coverage_add, 070_coverage.sql). stream: STREAM_PLAYBACK (gpstime)
 * or STREAM_ALARMS (system time). 0, -EINVAL (bad imei or stream, to < from), -ENOMEM. */
int pgw_batch_add_coverage(pgw_batch_t *batch, const char *imei, stream_t stream,
                           int64_t from, int64_t to) __attribute__((warn_unused_result));

/* Rows of every kind in the batch, cursor moves included (what pgw_submit counts). */
/* A gap of a device's stored track asked again for late uploads (072_gaps.sql): inserted,
 * or updated (forward only: attempts, recovered, last_asked never go back, a healed gap
 * stays healed) in the same transaction as the batch's rows. Times in UNIX seconds;
 * last_asked and healed_at 0: NULL. 0, -EINVAL, -ENOMEM. */
typedef struct pgw_gap {
  const char *imei;
  int64_t from, to;          /* the window, inclusive gpstimes */
  int64_t detected_at, next_at, last_asked, healed_at;
  int32_t attempts;
  int64_t recovered;
} pgw_gap_t;
int pgw_batch_add_gap(pgw_batch_t *batch, const pgw_gap_t *gap) __attribute__((warn_unused_result));
/* Fencing (096_leases.sql, archive/lease.h): the batch commits only if `holder` still
 * holds the lease of `account` at `generation`, checked in its transaction before the
 * merges (fleetarc.lease_fence, which share-locks the lease row until the COMMIT);
 * else the transaction is rolled back and the batch fails (-EIO, SQLSTATE FL001). One
 * holder per batch; an account already fenced keeps its first generation (a batch that
 * mixes two generations of one account fails). 0, -EINVAL (another holder, empty
 * strings), -ENOMEM. */
int pgw_batch_add_fence(pgw_batch_t *batch, const char *holder, const char *account,
                        int64_t generation) __attribute__((warn_unused_result));
size_t pgw_batch_rows(const pgw_batch_t *batch);
const char *pgw_batch_name(const pgw_batch_t *batch);

/* ---- the writer ---- */

/* What became of a batch. */
typedef struct pgw_result {
  int status;        /* 0 committed (rows_rejected of its rows may have been refused
                        and kept in fleetarc.rejected); -EIO the server rejected its
                        data in a way no single row explains (it is dropped, the
                        writer goes on); -ECANCELED the writer closed before it was
                        written: nothing of it counts as written */
  const char *error; /* NULL on success, else one line naming the batch; borrowed until
                        the callback returns */
  size_t positions_new, positions_dup; /* rows inserted / skipped as already stored */
  size_t alarms_new, alarms_dup;
  size_t device_states;                /* device_state rows inserted or replaced */
  size_t devices;                      /* devices rows inserted or updated */
  size_t mileage_days;                 /* daily_mileage rows inserted or updated */
  size_t cursors_moved;                /* cursors that moved forward (or were created) */
  size_t coverage_added;               /* covered intervals merged in */
  size_t gaps_written;                 /* gap rows inserted or updated */
  size_t rows_rejected;                /* rows the server refused for their data: not
                                          written, kept in fleetarc.rejected (logged) */
  unsigned attempts;                   /* transactions tried, >1 after reconnects */
} pgw_result_t;

/* Called exactly once per submitted batch: after its COMMIT's result arrived (status 0),
 * or when it failed or was cancelled. `batch` is borrowed until the callback returns,
 * then the writer frees it. The callback may call pgw_submit() and pgw_close(). */
typedef void (*pgw_batch_cb)(pgw_t *writer, const pgw_batch_t *batch,
                             const pgw_result_t *result, void *data);

/* Backpressure: the queue becomes full when the rows held (in-flight batch included)
 * reach max_queued_rows or a pgw_submit() is refused with -EAGAIN, and no longer full
 * once they have fallen to half of max_queued_rows. Called from the loop, never from
 * inside a pgw_* call (it may call pgw_submit()), at the loop's next turn after the
 * change, with the state as it is then: full=true and full=false alternate, and a change
 * undone before the loop came round is not reported. Not called after pgw_close()'s
 * callback. */
typedef void (*pgw_pressure_cb)(pgw_t *writer, bool full, void *data);

typedef struct pgw_options {
  const char *conninfo;        /* libpq conninfo or URI, copied; NULL or "": PG* env */
  size_t max_queued_rows;      /* bound on rows held; 0: 200000 */
  unsigned connect_timeout_ms; /* one connection attempt; 0: 10000 */
  unsigned batch_timeout_ms;   /* one write attempt, then the connection is dropped and
                                  the batch retried; 0: 300000 */
  unsigned backoff_min_ms;     /* reconnect delay after the first failure; 0: 200 */
  unsigned backoff_max_ms;     /* cap of the doubling delay (with jitter); 0: 30000 */
  pgw_pressure_cb on_pressure; /* may be NULL */
  void *data;                  /* for on_pressure */
} pgw_options_t;

/* A writer on `loop` (borrowed; must outlive the writer). Starts connecting at once.
 * NULL on out of memory. Connection failures are not errors here: it keeps retrying. */
pgw_t *pgw_new(uv_loop_t *loop, const pgw_options_t *options) __attribute__((warn_unused_result));

/* Queues `batch` behind the others. On 0 the writer owns the batch and will call `cb`
 * exactly once. -EAGAIN: the queue is full (the batch would bring the rows held past
 * max_queued_rows; a batch is always accepted into an empty queue): the caller keeps the
 * batch and retries after on_pressure(false) or a completion. -ESHUTDOWN: pgw_close()
 * was called. -EINVAL: NULL batch or cb. */
int pgw_submit(pgw_t *writer, pgw_batch_t *batch, pgw_batch_cb cb, void *data)
    __attribute__((warn_unused_result));

/* Rows held: queued batches plus the one being written. */
size_t pgw_queue_rows(const pgw_t *writer);
size_t pgw_queue_batches(const pgw_t *writer);
/* True while the queue is full (see pgw_pressure_cb): at once, on_pressure says so at the
 * loop's next turn. */
bool pgw_queue_full(const pgw_t *writer);
/* True when a connection is up and set up (idle or writing). */
bool pgw_connected(const pgw_t *writer);

/* The kinds of rows a batch holds; pgw_kind_name(0..PGW_KINDS-1) names their target
 * ("positions", "alarms", "device_state", "devices", "daily_mileage", "removed",
 * "cursors"), which is also fleetarc.rejected's source. */
#define PGW_KINDS 9
const char *pgw_kind_name(int kind);

typedef struct pgw_stats {
  uint64_t connects;          /* connections established */
  uint64_t connection_losses; /* established connections that went away */
  uint64_t batches_committed;
  uint64_t batches_failed;    /* data errors */
  uint64_t batches_retried;   /* attempts restarted after a connection loss */
  uint64_t rows_rejected[PGW_KINDS]; /* rows refused by the server, kept in
                                        fleetarc.rejected, by pgw_kind_name(i) */
} pgw_stats_t;
void pgw_get_stats(const pgw_t *writer, pgw_stats_t *out);

/* Stops accepting batches, keeps writing the queued ones while connected for at most
 * drain_timeout_ms, then cancels what is left (callbacks with -ECANCELED, an in-flight
 * transaction is abandoned, i.e. rolled back or of unknown outcome: not counted as
 * written), closes the connection and every handle, frees the writer, and calls
 * `cb(data)` (may be NULL) from the loop. When not connected, cancels at once.
 * Call once; the writer pointer is invalid after cb. */
void pgw_close(pgw_t *writer, unsigned drain_timeout_ms, void (*cb)(void *data), void *data);

#endif

/* The archiver: the engine of `fleetarc run` and `fleetarc backfill`, a handle on a
 * libuv loop (the caller's; archiver_run makes its own). One thread: on that loop it
 * holds the API client (net/client.h), the database writer (db/pgw.h), timers and
 * signals. Invariant: the coverage of playback and alarms (and the mileage
 * cursor) grows (in the database and then in memory) only in the transaction that
 * writes the rows it covers, so a crash at any moment loses nothing; every job asks
 * only for what no job has covered (archive/coverage.h). */
#ifndef FLEETARC_ARCHIVE_ARCHIVER_H
#define FLEETARC_ARCHIVE_ARCHIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "domain/stream.h"

struct config;
struct net_result;
struct pgw_result;
struct netc;
struct pgw;
typedef struct archiver archiver_t;

/* Hooks for the operations side (ops/service.h: metrics, health, sd_notify). Each runs on
 * the loop's thread and must not block; every member may be NULL. */
typedef struct archiver_hooks {
  void *arg;
  /* archiver_start: the work has begun: start your handles on `loop`. */
  void (*started)(void *arg, archiver_t *a, uv_loop_t *loop);
  /* Shutdown began: close every handle started on the loop (it ends when they are). */
  void (*stopping)(void *arg);
  /* The end of every API call of the archiver (res borrowed for the call). */
  void (*response)(void *arg, const struct net_result *res);
  /* The end of every batch: its rows and the time from submit to its callback. */
  void (*batch)(void *arg, const struct pgw_result *res, size_t rows, uint64_t elapsed_ms);
  /* a record (or one field of it) refused by validation: endpoint "track", "playback",
   * "alarm/list", "device/list", "user/list", "device/mileage"; field as named there */
  void (*reject)(void *arg, const char *endpoint, const char *field);
} archiver_hooks_t;

typedef enum {
  ARCHIVER_RUN = 0,      /* until SIGINT/SIGTERM: discovery, polls, playback, alarms, mileage */
  ARCHIVER_BACKFILL = 1, /* exactly [from, to), then exit */
} archiver_mode_t;

typedef struct archiver_options {
  archiver_mode_t mode;
  const struct config *cfg; /* borrowed for the whole run */
  unsigned streams;         /* STREAM_BIT set (domain/stream.h); 0: all */
  /* backfill only */
  int64_t from, to;         /* UNIX seconds, from < to; `to` is exclusive */
  const char *const *imeis; /* NULL: every device discovery finds; borrowed */
  size_t n_imeis;
  const char *account;      /* NULL: every configured account; else that one only */
  bool progress_bar;        /* stderr is a terminal: a progress bar, else periodic lines */
  const archiver_hooks_t *hooks; /* NULL: none; borrowed for the whole run */
} archiver_options_t;

/* ---- the handle, as libuv's: new, start, close ----
 *
 *   archiver_new(loop, &opt, &a);   reads what the database has committed, opens the
 *                                    clients and handles on loop (nothing started)
 *   archiver_start(a);               discovery, polls, pages: work begins
 *   ...the loop runs; the archiver stops by itself (a backfill done or given up,
 *      SIGINT, SIGTERM) or when asked (archiver_close)...
 *   archiver_close(a, cb, arg);      cb(arg, exit_status) from the loop once every handle
 *                                    is closed; a is freed after cb returns
 *
 * Stopping writes what in-flight calls bring (5 s at most), then drains the writer
 * (3 s at most). Once the archiver has stopped by itself it holds no active handle (the
 * loop's uv_run returns), but it still needs archiver_close. */

/* The exit status of a run: 0 done (or a clean stop of `run`), 1 failed at run time (a
 * backfill left incomplete or interrupted: a summary of what is missing is logged). */
typedef void (*archiver_close_cb)(void *arg, int exit_status);

/* Creates the archiver on loop (borrowed until the close callback). 0 and *out; else
 * *out is NULL and: -EINVAL bad options (an unknown --account, a bad IMEI, from >= to),
 * -EIO the database unreachable (logged), -ENOMEM. After a failure the loop may hold
 * closing handles of the clients: run it before uv_loop_close. */
int archiver_new(uv_loop_t *loop, const archiver_options_t *opt, archiver_t **out)
    __attribute__((warn_unused_result));

/* Starts the work and the signal handlers (SIGINT, SIGTERM: a clean stop). 0, or
 * -EALREADY (started or stopping). */
int archiver_start(archiver_t *a);

/* Stops the archiver if it runs (as SIGTERM would: `run` exits 0, a backfill 1; one never
 * started: 0) and closes it: cb (may be NULL) runs from the loop once every handle is closed, never from
 * inside this call; then a is freed. Once per archiver. */
void archiver_close(archiver_t *a, archiver_close_cb cb, void *arg);

/* The whole life on a loop of its own: new, start, run until it stops, close. Returns
 * the exit status: 0, 1 (as above, or the database unreachable at startup), 2 bad
 * options. */
int archiver_run(const archiver_options_t *opt);

/* ---- reload (run mode, on the loop's thread, e.g. from a SIGHUP handler) ---- */

/* Applies a new configuration without losing work: archive.track_interval and
 * discovery_interval (timers re-armed, polls spread anew), archive.lookback (devices seen
 * from now on), archive.streams (a stream turned off gets no new request, those in
 * flight still commit; turned on, it resumes from what each device has covered),
 * archive.alarm_interval and alarm_idle_interval (from the next track record on),
 * database.batch_rows and flush_interval, api.rate_limits and global_rate, and accounts:
 * added (discovered at once), removed (their devices no longer scheduled; calls in flight
 * commit rows and coverage together or neither), a changed password or an account the
 * platform stopped (a fresh login), subaccounts (discovered again). What the running
 * clients hold is left as it was and named in restart: the keys the configuration
 * table (src/config/keys.c) marks "restart", compared by config_diff.
 * Takes ownership of new_cfg in every case: it is freed by the next reload or when
 * the archiver is closed (the first configuration stays the caller's). applied and restart
 * (each may be NULL) get ", "-separated names of the settings applied and of those that
 * changed but need a restart. Returns 0, -ENOTSUP (backfill), -ESHUTDOWN (stopping), or
 * -ENOMEM (a list could not be written; what was applied stays applied). */
struct buf;
int archiver_reconfigure(archiver_t *a, struct config *new_cfg, struct buf *applied,
                         struct buf *restart) __attribute__((warn_unused_result));
/* The configuration in force (the last reload's, or opt.cfg): borrowed until the next
 * archiver_reconfigure. */
const struct config *archiver_config(const archiver_t *a);

/* ---- a live view for the hooks (between started and the end of the loop) ---- */

/* The clients, NULL once closed: read their stats, never call or close them. */
const struct netc *archiver_net(const archiver_t *a);
const struct pgw *archiver_db(const archiver_t *a);
/* Accounts by index, removed ones included (their index stays for the run). */
size_t archiver_account_count(const archiver_t *a);
/* The account's name, NULL once a reload removed it; the text stays valid until the
 * archiver is closed. */
const char *archiver_account_name(const archiver_t *a, size_t i);

typedef struct archiver_status {
  size_t devices_active, devices_removed;
  size_t devices_failing;      /* active, with a stream whose last attempt failed */
  size_t devices_without_position; /* active, no position from /api/track yet: left out
                                    * of lag_s (never reported, or not polled yet) */
  size_t streams_complete, streams_due, streams_later, streams_blocked, streams_given_up;
  int64_t lag_s[STREAM_COUNT]; /* per stream (domain/stream.h): the largest
                                * distance of an active device's archive behind the last
                                * data /api/track reported of it (devices with a position) */
  uint64_t points, alarms, mileage_days, errors; /* written / failed batches so far */
  bool backpressure;
} archiver_status_t;
/* O(devices): for a scrape, not for every event. */
void archiver_status(archiver_t *a, archiver_status_t *out);

#endif

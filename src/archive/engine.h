/* The archiver's private header: the engine's shared state (struct archiver) and the
 * functions its modules call of each other. Only src/archive/ includes it; the public
 * contract is archiver.h. Modules: archiver.c (handle, clocks, startup, shutdown),
 * calls.c (one API call, the in-flight queue, answers dispatched),
 * scheduler.c (due sets, pump, backoff), pages.c (playback, alarm and mileage pages),
 * heal.c (gaps asked again), poller.c (/api/track), discovery.c (device/user lists),
 * commit.c (batches and what their COMMIT moves), progress.c (tallies, summaries),
 * reload.c (archiver_reconfigure). */
#ifndef FLEETARC_ARCHIVE_ENGINE_H
#define FLEETARC_ARCHIVE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "archive/alarmcad.h"
#include "archive/archiver.h"
#include "archive/coverage.h"
#include "archive/devtab.h"
#include "archive/gapheal.h"
#include "archive/ingest.h"
#include "archive/lease.h"
#include "archive/nameset.h"
#include "archive/paging.h"
#include "archive/scheduler.h"
#include "config/config.h"
#include "db/pgw.h"
#include "domain/stream.h"
#include "net/client.h"

#define ARCH_SUMMARY_MS 60000        /* the periodic summary line of `run` */
#define ARCH_TICK_MS 250             /* scheduler tick: backoff expiry, completion check */
#define ARCH_PROGRESS_LINE_MS 10000  /* backfill progress lines when stderr is no terminal */
#define ARCH_SHUTDOWN_WAIT_MS 5000   /* in-flight responses still written, at most this */
#define ARCH_DRAIN_MS 3000           /* then the writer drains for at most this */
/* A device's device_state row is written again at least this often when its track
 * record did not change (poller.c, state_unchanged). */
#define ARCH_STATE_REFRESH_S 300
#define ARCH_POLLS_SKIPPED_TOLD 10   /* track polls skipped under pressure before it is logged */

/* How far a servertime may be ahead of the real present (the later of the local clock
 * and the HTTP Date header's) and still be believed: beyond it, it is ignored and
 * logged, and no cursor, mileage day or new device's cursor is set from it. */
#define ARCH_SERVERTIME_AHEAD_S 300

/* Run mode: a new device's cursors wait for the first track poll, which tells the
 * platform's present that lookback counts back from. */
#define ARCH_UNSET SCHED_UNSET

/* An account's poll timer, allocated apart: the accounts' array grows on reload. */
typedef struct poll_timer {
  uv_timer_t timer;       /* one-shot: the next chunk's due time (poller_pump) */
  archiver_t *a;
  uint16_t acct;
  bool running;           /* run mode: polls scheduled (poller_schedule) */
  uint64_t cycle_start;   /* loop ms: when the current cycle's first chunk was due */
} poll_timer_t;

/* A configured account: its login, its discovery and its track polls. Accounts keep
 * their index for the whole run (devices and calls refer to it); a reload that drops
 * one marks it removed. */
typedef struct acct {
  archiver_t *a;
  config_account_t *cfg;  /* owned copy: a reload frees the config it came from */
  netc_account_t *na;
  bool stopped;
  int stop_code;          /* the API code that stopped it (20001, 10016...), -1: other */
  bool removed;           /* dropped from the configuration by a reload */
  int disc_pending;       /* device/user list calls of the running discovery */
  bool disc_failed;       /* one of them failed: no removal sweep this time */
  nameset_t visited;      /* sub-accounts listed in this discovery (cycle guard) */
  bool cap_logged;        /* a discovery cap was hit (logged once per discovery) */
  uint32_t *poll_devs;    /* its active devices, in chunks of API_MAX_IMEIS */
  size_t n_poll, poll_pos;
  uint32_t poll_in_flight; /* its track calls in flight (backfill: all its chunks) */
  poll_timer_t *poll;     /* freed by its close callback */
} acct_t;

typedef enum { W_PLAYBACK, W_ALARMS, W_MILEAGE, W_TRACK, W_DEVLIST, W_USERLIST, W_HEAL } work_kind_t;
#define W_KIND_COUNT (W_HEAL + 1)

/* One API call: what was asked, so that its response can be applied. */
typedef struct work {
  archiver_t *a;
  struct work *prev, *next;  /* the in-flight queue (calls_t) */
  work_kind_t kind;
  uint16_t acct;
  uint32_t dev;              /* playback, alarms */
  paging_cursor_t cursor;    /* a copy of the committed cursor, advanced by the page */
  int64_t begin;             /* playback, alarms: the request's begin (cursor.begin as asked) */
  int64_t end;               /* the request's inclusive end */
  int64_t asked_at;          /* server time of the request (alarms: the ingest margin) */
  int64_t gap_from, gap_to;  /* heal: the gap's identity (gapheal.h); begin/end as asked */
  int64_t day;               /* mileage */
  uint32_t *devs;            /* mileage, track */
  size_t n_devs;
  char owner[128];           /* device/user list: the account listed */
  uint16_t depth;            /* device/user list: levels below the configured account */
} work_t;

/* The calls out: every work item from arch_call until its answer is dispatched. */
typedef struct calls {
  work_t *head;
  size_t n[W_KIND_COUNT];    /* by kind */
  size_t total;
} calls_t;

/* A cursor move waiting for its batch's COMMIT. */
typedef struct move {
  uint32_t dev;
  uint8_t stream;
  bool done;                 /* backfill: the stream of this device is complete */
  bool more;                 /* a full page: the next one is asked whatever /api/track says */
  bool has_cov;              /* playback, alarms: [cov_from, cov_to] is now covered */
  bool cov_only;             /* a track poll's point: its second is covered; no page */
  int64_t cov_from, cov_to;
  paging_cursor_t cursor;
} move_t;

typedef struct bctx {
  archiver_t *a;
  uint64_t submitted_ms;     /* for the batch hook's latency */
  move_t *moves;
  size_t n, cap;
} bctx_t;

struct archiver {
  archiver_options_t opt;
  const config_t *cfg;       /* opt.cfg, or the last reload's (owned_cfg) */
  config_t *owned_cfg;       /* the configuration of the last reload, NULL before one */
  uv_loop_t *loop;           /* the caller's (archiver_new) */
  netc_t *net;
  pgw_t *db;                 /* the writer */
  pgw_t *db2;                /* backfill: a second writer (commit.c), NULL in run */
  unsigned db_closing;       /* writers whose pgw_close has not called back yet */
  devtab_t *dev;
  acct_t *accts;
  size_t n_accts;
  char stream_key[STREAM_COUNT][64]; /* cursor names in fleetarc.cursors (mileage) */
  coverage_t *cov;           /* playback and alarms: what is committed (coverage.h) */
  alarmcad_t *acad;          /* run: when alarms are asked (alarmcad.h) */
  gapheal_t *heal;           /* gaps of the stored track asked again (gapheal.h) */
  lease_t *lease;            /* cluster.enabled (run): the accounts this instance holds */
  uint64_t n_heal_requests, n_heal_points;

  uv_timer_t tick, flush_timer, summary_timer, discovery_timer, shutdown_timer;
  uv_signal_t sigint, sigterm;
  bool timers_up;
  /* The handle's life (archiver.h): started, stopping (shutdown began), stopped (every
   * handle closed: the run is over); close_timer is never started: its close is the
   * last step, after which archiver_close's callback runs and the archiver is freed. */
  uv_timer_t close_timer;
  bool started, hooks_started, stopped, close_requested;
  unsigned closing;          /* closes issued whose callback has not run */
  archiver_close_cb close_cb;
  void *close_arg;

  struct {                   /* commit.c: the batches to the writer */
    pgw_batch_t *batch;      /* being filled */
    bctx_t *bctx;            /* its moves */
    bool blocked;            /* pgw_submit said -EAGAIN: retry on pressure(false) */
    bool pressure;           /* every writer is full: no data requests */
    size_t pending;          /* submitted, callback not yet run */
  } commit;
  struct {                   /* discovery.c */
    int accounts_pending;    /* accounts whose discovery has not ended */
    bool first_done;         /* run: the startup sweep of known, unlisted devices ran */
    bool incomplete;         /* backfill: a device list failed: the range cannot be whole */
  } disc;
  struct {                   /* poller.c */
    size_t pending;          /* backfill: first track polls not yet answered */
    bool paused;             /* run: track polls skipped while the writer is full */
    uint64_t skipped;
  } polls;

  sched_t *sched;            /* due queues, pump, backoff, the budget of data calls */
  calls_t calls;             /* in flight: every API call out (calls.c) */
  /* Backfill: give up when no call has succeeded for archive.give_up_after while calls
   * kept failing (an API down for good must not cost half an hour of backoff). */
  uint64_t last_success_ms;
  uint64_t failures_since_success;
  char last_error[300];
  bool gave_up;

  bool stopping, net_closing, interrupted;
  int exit_code;
  uint64_t start_ms, last_progress_ms;
  bool have_offset;          /* server_offset learned from a track record's servertime */
  int64_t server_offset;
  bool servertime_ignored;   /* the last servertime was beyond the bound (logged once) */
  uint64_t n_servertime_ignored;
  netc_stats_t net_stats;    /* copied before the client closes, for the last summary */

  api_points_t points;
  api_alarms_t alarms;
  api_tracks_t tracks;
  api_devices_t devices;
  api_users_t users;
  api_mileages_t mileages;
  api_rejects_t rejects;     /* of the last lenient parse */
  ingest_t *ingest;          /* bounds at ingest, rejected records' log and count */
  int64_t *times;
  size_t times_cap;

  /* counters */
  uint64_t n_points, n_alarms, n_requests, n_errors, n_mileage, n_guards;
  uint64_t n_hist_answers, n_hist_records; /* playback/alarm answers parsed, their records */
};

typedef struct tally {
  size_t devices, streams, complete, due, later, blocked, given_up;
  int64_t lag;
  double covered; /* backfill: the fraction of [from, to) x streams archived, 0 to 1 */
} tally_t;

/* ---- archiver.c: clocks, modes, accounts ---- */
config_account_t *arch_acct_cfg_dup(const config_account_t *c);
void arch_acct_cfg_free(config_account_t *k);
uint32_t arch_now_s(archiver_t *a);
int64_t arch_present_bound(archiver_t *a);
int64_t arch_server_now(archiver_t *a);
bool arch_learn_servertime(archiver_t *a, int64_t servertime);
int64_t arch_floor_day(int64_t t);
bool arch_backfill(const archiver_t *a);
bool arch_stream_on(const archiver_t *a, int s);
int64_t arch_stream_start_of(archiver_t *a, uint32_t idx, int s);
void arch_device_init(archiver_t *a, devtab_device_t *d);
bool arch_acct_held(const archiver_t *a, size_t i);
const char *arch_lease_key(const archiver_t *a, size_t i, char *buf, size_t size);
/* Stopping: closes the client once no call is out (or the wait is over). */
void arch_check_shutdown(archiver_t *a);
/* ---- calls.c: one API call, its answer dispatched ---- */
/* Sends req (freed in every case) for w, which is freed once its answer is applied;
 * on an error w stays the caller's. */
int arch_call(archiver_t *a, acct_t *ac, api_request_t *req, work_t *w);
int arch_response_ok(archiver_t *a, work_t *w, const net_result_t *res);
bool arch_permanent_code(const net_result_t *res);
/* A permanent answer (arch_permanent_code) stops stream s of dev until a restart. */
void arch_stop_stream(archiver_t *a, uint32_t dev, int s, const net_result_t *res);
/* The scheduler's options from the mode and cfg (startup, reload). */
sched_options_t arch_sched_options(const archiver_t *a, const config_t *cfg);

/* ---- pages.c ---- */
/* The scheduler's start hooks (scheduler.h): 0 when the call is out. */
int pages_start(archiver_t *a, uint32_t idx, int s, int64_t end, int64_t now_server);
int pages_start_mileage(archiver_t *a, const uint32_t *devs, size_t n, int64_t day);
void pages_apply(archiver_t *a, work_t *w, const net_result_t *res);
void pages_apply_mileage(archiver_t *a, work_t *w, const net_result_t *res);
/* The records of a decoded page (a->points or a->alarms by stream s): those the lenient
 * parser refused (a->rejects) logged and counted, those out of bounds at ingest dropped
 * (and told), the rest in order. *raw: the page's size as sent (what decides "full").
 * Returns how many are kept. */
size_t pages_accept(archiver_t *a, int s, const char *imei, api_endpoint_t ep, size_t *raw);

/* ---- heal.c ---- */
gapheal_options_t heal_options(const config_t *cfg);
/* Gap healing is on: archive.gap_max_attempts > 0 and playback archived. */
bool heal_on(const archiver_t *a);
int heal_observe(archiver_t *a, const work_t *w, const api_point_t *p);
void heal_pump(archiver_t *a, int64_t now_server);
void heal_apply(archiver_t *a, work_t *w, const net_result_t *res);

/* ---- commit.c ---- */
int commit_fence(archiver_t *a, const devtab_device_t *d);
void commit_submit(archiver_t *a);
size_t commit_cap_rows(const archiver_t *a);
pgw_batch_t *commit_batch(archiver_t *a);
int commit_move(archiver_t *a, uint32_t dev, int s, const paging_cursor_t *cur, bool done,
                const move_t *page);
void commit_maybe_submit(archiver_t *a);
void commit_on_pressure(pgw_t *w, bool full, void *data);

/* ---- poller.c ---- */
int poller_timer_init(archiver_t *a, acct_t *ac);
void poller_apply(archiver_t *a, work_t *w, const net_result_t *res);
void poller_chunk(archiver_t *a, acct_t *ac, size_t chunk_start);
void poller_rebuild(archiver_t *a, acct_t *ac);
void poller_schedule(archiver_t *a, acct_t *ac);
void poller_pump(archiver_t *a, acct_t *ac);
void poller_state_forget(archiver_t *a);
void poller_close_timers(archiver_t *a);

/* ---- discovery.c ---- */
void discovery_apply_devlist(archiver_t *a, work_t *w, const net_result_t *res);
void discovery_apply_userlist(archiver_t *a, work_t *w, const net_result_t *res);
void discovery_start(archiver_t *a, acct_t *ac);
void discovery_step_done(archiver_t *a, acct_t *ac);
void discovery_on_timer(uv_timer_t *t);

/* ---- progress.c ---- */
void progress_tally(archiver_t *a, tally_t *t);
void progress_report(archiver_t *a, bool final);
int progress_verdict(archiver_t *a, const tally_t *tl);
void progress_missing(archiver_t *a);
void progress_nothing(archiver_t *a);

#endif

/* The batch writer against a real PostgreSQL: 100k positions in batches arrive exactly
 * once, overlaps are counted as duplicates, every callback fires once and only after its
 * COMMIT (rows and cursor visible from another session), cursors never move backwards,
 * the queue stays bounded, a data error fails one batch only, every row kind is merged
 * as documented, and a writer that never connects cancels its batches on close. Every
 * test ends with uv_loop_close() == 0. */
#include <errno.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "db/pgw.h"

#include "pgw_run.h"
#include "testdb.h"

static testdb_t db;

/* ---- 100k positions ---- */

#define NDEV 20
#define PER_DEV 5000
#define CHUNK 1000
#define OVERLAP 50
#define STEP_S 1200                /* 20 minutes between points: 5000 points span ~69 days */
#define BASE_T 1764892800LL        /* 2025-12-05T00:00:00Z: crosses a year and 3 months */
#define NBATCH (NDEV * (PER_DEV / CHUNK) + 1) /* + one full resubmission */
#define MAX_QUEUED 5000

typedef struct bulk {
  pgw_loop_t lc;
  pgw_t *w;
  int next;                 /* next batch number to build */
  pgw_batch_t *pending;     /* built, refused with -EAGAIN */
  int calls[NBATCH];
  size_t total_new, total_dup;
  int done;
  bool all_done;
  int eagain;
  size_t max_seen_rows;
  int pressure_on, pressure_off;
} bulk_t;

static void imei_of(int d, char *out, size_t n) { snprintf(out, n, "0358990510%05d", d); }

/* Batch i: device i % NDEV, chunk i / NDEV, its 1000 points plus the 50 before them (the
 * overlap of a re-fetched page boundary). The last batch repeats batch 0 entirely, with a
 * cursor move backwards. */
static pgw_batch_t *build_batch(int i) {
  int d = i == NBATCH - 1 ? 0 : i % NDEV;
  int chunk = i == NBATCH - 1 ? 0 : i / NDEV;
  char imei[32], name[64];
  imei_of(d, imei, sizeof imei);
  snprintf(name, sizeof name, "bulk-%d", i);
  pgw_batch_t *b = pgw_batch_new(name);
  assert_non_null(b);
  int from = chunk * CHUNK - (chunk > 0 ? OVERLAP : 0);
  int to = (chunk + 1) * CHUNK;
  for (int k = from; k < to; k++) {
    int64_t t = BASE_T + (int64_t)k * STEP_S;
    assert_int_equal(pgw_batch_add_position(b, imei, t, 57.5 + k * 1e-5, -20.1 - d * 1e-3, k % 120,
                                            k % 360), 0);
  }
  int64_t cursor = BASE_T + (int64_t)(to - 1) * STEP_S;
  if (i == NBATCH - 1) cursor = BASE_T; /* backwards: must not move */
  assert_int_equal(pgw_batch_move_cursor(b, imei, STREAM_PLAYBACK, cursor), 0);
  return b;
}

static void bulk_produce(bulk_t *s);

static void on_bulk_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  bulk_t *s = (bulk_t *)((void **)data)[0];
  int i = (int)(intptr_t)((void **)data)[1];
  free(data);
  (void)w;
  s->calls[i]++;
  if (res->status != 0) fail_msg("batch %s failed: %s", pgw_batch_name(batch), res->error);
  assert_null(res->error);
  int d = i == NBATCH - 1 ? 0 : i % NDEV;
  int chunk = i == NBATCH - 1 ? 0 : i / NDEV;
  char imei[32], sql[256];
  imei_of(d, imei, sizeof imei);
  if (i == NBATCH - 1) {
    assert_int_equal(res->positions_new, 0);
    assert_int_equal(res->positions_dup, CHUNK);
    assert_int_equal(res->cursors_moved, 0);
  } else {
    assert_int_equal(res->positions_new, CHUNK);
    assert_int_equal(res->positions_dup, chunk > 0 ? OVERLAP : 0);
    assert_int_equal(res->cursors_moved, 1);
  }
  s->total_new += res->positions_new;
  s->total_dup += res->positions_dup;
  /* Committed before this callback: another session sees the rows and the cursor. */
  snprintf(sql, sizeof sql, "SELECT count(*) FROM fleetarc.positions WHERE imei = '%s'", imei);
  long long want = i == NBATCH - 1 ? PER_DEV : (long long)(chunk + 1) * CHUNK;
  assert_int_equal(testdb_scalar_ll(&db, sql), want);
  snprintf(sql, sizeof sql,
           "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors "
           "WHERE imei = '%s' AND stream = 'playback'", imei);
  long long want_cursor = BASE_T + (long long)((i == NBATCH - 1 ? PER_DEV / CHUNK - 1 : chunk) + 1) *
                                       CHUNK * STEP_S - STEP_S;
  assert_int_equal(testdb_scalar_ll(&db, sql), want_cursor);
  /* The cursor never runs ahead of the rows it covers. */
  snprintf(sql, sizeof sql,
           "SELECT (SELECT cursor FROM fleetarc.cursors WHERE imei = '%s' AND stream = 'playback')"
           " <= (SELECT max(gpstime) FROM fleetarc.positions WHERE imei = '%s')", imei, imei);
  assert_string_equal(testdb_scalar(&db, sql), "t");
  s->done++;
  if (s->done == NBATCH) s->all_done = true;
  else bulk_produce(s);
}

static void on_bulk_pressure(pgw_t *w, bool full, void *data) {
  bulk_t *s = data;
  (void)w;
  if (full) {
    s->pressure_on++;
  } else {
    s->pressure_off++;
  }
}

static void bulk_produce(bulk_t *s) {
  while (s->next < NBATCH || s->pending) {
    if (!s->pending) s->pending = build_batch(s->next++);
    void **ctx = malloc(2 * sizeof *ctx);
    assert_non_null(ctx);
    ctx[0] = s;
    /* The batch's number is the one it was built with. */
    int num = atoi(pgw_batch_name(s->pending) + 5);
    ctx[1] = (void *)(intptr_t)num;
    int rc = pgw_submit(s->w, s->pending, on_bulk_done, ctx);
    if (pgw_queue_rows(s->w) > s->max_seen_rows) s->max_seen_rows = pgw_queue_rows(s->w);
    if (rc == -EAGAIN) {
      free(ctx);
      s->eagain++;
      return; /* a completion calls us again */
    }
    assert_int_equal(rc, 0);
    s->pending = NULL;
  }
}

static void test_bulk_100k(void **state) {
  (void)state;
  static bulk_t s; /* large; zeroed per run below */
  memset(&s, 0, sizeof s);
  pgw_loop_init(&s.lc);
  pgw_options_t opt = {.conninfo = db.conninfo, .max_queued_rows = MAX_QUEUED,
                       .on_pressure = on_bulk_pressure, .data = &s};
  s.w = pgw_new(&s.lc.loop, &opt);
  assert_non_null(s.w);
  bulk_produce(&s);
  pgw_loop_run_until(&s.lc, &s.all_done, 300);
  for (int i = 0; i < NBATCH; i++) assert_int_equal(s.calls[i], 1);
  assert_int_equal(s.total_new, NDEV * PER_DEV);
  assert_int_equal(s.total_dup, NDEV * (PER_DEV / CHUNK - 1) * OVERLAP + CHUNK);
  assert_true(s.eagain > 0);                     /* backpressure happened */
  assert_true(s.max_seen_rows <= MAX_QUEUED);    /* and held */
  assert_true(s.pressure_on >= 1);
  assert_true(s.pressure_off >= 1);
  pgw_stats_t st;
  pgw_get_stats(s.w, &st);
  assert_int_equal(st.batches_committed, NBATCH);
  assert_int_equal(st.batches_failed, 0);
  pgw_loop_close(&s.lc, s.w);

  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions"), NDEV * PER_DEV);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(DISTINCT (imei, gpstime)) FROM fleetarc.positions"),
                   NDEV * PER_DEV);
  /* Values arrive as sent: the 4321st point of device 7. */
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT longitude = 57.5 + 4321 * 1e-5::float8 AND latitude = -20.1 - 7 * 1e-3::float8"
           " AND speed = %d AND course = %d FROM fleetarc.positions WHERE imei = '035899051000007'"
           " AND gpstime = to_timestamp(%lld)", 4321 % 120, 4321 % 360,
           BASE_T + 4321LL * STEP_S);
  assert_string_equal(testdb_scalar(&db, sql), "t");
  /* Three monthly partitions (Dec, Jan, Feb) hold them, made by the writer on demand. */
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(DISTINCT tableoid) FROM fleetarc.positions"), 3);
}

/* ---- every row kind, a data error, escaping ---- */

typedef struct kinds {
  pgw_loop_t lc;
  int calls[4];
  pgw_result_t res[4];
  char err[4][512];
  int done;
  bool all_done;
} kinds_t;

static void on_kind_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  kinds_t *k = data;
  int i = pgw_batch_name(batch)[0] - '0';
  k->calls[i]++;
  k->res[i] = *res;
  if (res->error) snprintf(k->err[i], sizeof k->err[i], "%s", res->error);
  k->res[i].error = NULL;
  if (++k->done == 4) k->all_done = true;
}

static void test_kinds_and_data_error(void **state) {
  (void)state;
  kinds_t k;
  memset(&k, 0, sizeof k);
  pgw_loop_init(&k.lc);
  pgw_options_t opt = {.conninfo = db.conninfo};
  pgw_t *w = pgw_new(&k.lc.loop, &opt);
  assert_non_null(w);

  /* 0: a device name that is not UTF-8: the server rejects the batch. */
  pgw_batch_t *b0 = pgw_batch_new("0-bad-utf8");
  pgw_device_t bad = {.imei = "111", .account = "demo", .devicename = "\xff\xfe"};
  assert_int_equal(pgw_batch_add_device(b0, &bad), 0);
  assert_int_equal(pgw_batch_add_position(b0, "111", BASE_T, 1, 2, 3, 4), 0);
  assert_int_equal(pgw_batch_move_cursor(b0, "111", STREAM_PLAYBACK, BASE_T), 0);

  /* 1: every kind, upserts repeated within the batch, text needing escapes. */
  pgw_batch_t *b1 = pgw_batch_new("1-kinds");
  pgw_device_t dev = {.imei = "0222", .account = "demo", .devicename = "first"};
  assert_int_equal(pgw_batch_add_device(b1, &dev), 0);
  dev.devicename = "tab\there, line\nbreak, back\\slash, cr\r, \\N";
  dev.platenumber = NULL;
  dev.simcard = "7557862586";
  dev.onlinetime = 1419905754;
  assert_int_equal(pgw_batch_add_device(b1, &dev), 0);
  pgw_device_state_t ds = {.imei = "0222", .servertime = 1420964313, .gpstime = 1419906052,
                           .hearttime = 1419906952, .systemtime = 1419905754,
                           .longitude = 113.909813, .latitude = 22.583197, .course = 195,
                           .speed = 0, .acctime = 1400, .accstatus = 1, .doorstatus = 0,
                           .chargestatus = -1, .oilpowerstatus = 1, .defencestatus = -1,
                           .datastatus = 2, .battery = -1, .mileage = 51654,
                           .todaymileage = -1};
  assert_int_equal(pgw_batch_add_device_state(b1, &ds), 0);
  assert_int_equal(pgw_batch_add_mileage(b1, "0222", 1631721600 + 3600, 338.21), 0);
  assert_int_equal(pgw_batch_add_mileage(b1, "0222", 1631721600 + 7200, 338.5), 0); /* same day */
  assert_int_equal(pgw_batch_add_alarm(b1, "0222", 27, 1541575497, 1541575507, 113.885888,
                                       22.580592, 40, 40, 0), 0);
  assert_int_equal(pgw_batch_add_alarm(b1, "0222", 27, 1541575497, 1541575507, 113.885888,
                                       22.580592, 40, 40, 0), 0); /* the page boundary again */
  assert_int_equal(pgw_batch_add_alarm(b1, "0222", 45, 1541575497, 1541575600, 1, 2, 3, 4, 7), 0);
  assert_int_equal(pgw_batch_move_cursor(b1, "0222", STREAM_ALARMS, 1541575600), 0);
  assert_int_equal(pgw_batch_move_cursor(b1, "0222", STREAM_MILEAGE, 1631721600), 0);

  /* 2: an older track record must not replace the newer one; a cursor move backwards. */
  pgw_batch_t *b2 = pgw_batch_new("2-older");
  pgw_device_state_t old = ds;
  old.servertime = 1420964000;
  old.speed = 99;
  assert_int_equal(pgw_batch_add_device_state(b2, &old), 0);
  assert_int_equal(pgw_batch_move_cursor(b2, "0222", STREAM_ALARMS, 1541575000), 0);

  /* 3: nothing but a cursor: still one transaction, still a callback. */
  pgw_batch_t *b3 = pgw_batch_new("3-cursor-only");
  assert_int_equal(pgw_batch_move_cursor(b3, "0222", STREAM_PLAYBACK, 1700000000), 0);

  assert_int_equal(pgw_batch_add_position(b3, "", 1, 1, 1, 1, 1), -EINVAL);
  assert_int_equal(pgw_batch_add_position(b3, NULL, 1, 1, 1, 1, 1), -EINVAL);
  assert_int_equal(pgw_batch_rows(b3), 1);

  assert_int_equal(pgw_submit(w, b0, on_kind_done, &k), 0);
  assert_int_equal(pgw_submit(w, b1, on_kind_done, &k), 0);
  assert_int_equal(pgw_submit(w, b2, on_kind_done, &k), 0);
  assert_int_equal(pgw_submit(w, b3, on_kind_done, &k), 0);
  assert_int_equal(pgw_submit(w, NULL, on_kind_done, &k), -EINVAL);
  pgw_loop_run_until(&k.lc, &k.all_done, 60);
  for (int i = 0; i < 4; i++) assert_int_equal(k.calls[i], 1);

  assert_int_equal(k.res[0].status, -EIO);
  assert_non_null(strstr(k.err[0], "0-bad-utf8"));
  assert_non_null(strstr(k.err[0], "SQLSTATE 22021"));
  assert_int_equal(k.res[0].positions_new, 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = '111'"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors WHERE imei = '111'"), 0);

  assert_int_equal(k.res[1].status, 0);
  assert_int_equal(k.res[1].devices, 1);
  assert_int_equal(k.res[1].device_states, 1);
  assert_int_equal(k.res[1].mileage_days, 1);
  assert_int_equal(k.res[1].alarms_new, 2);
  assert_int_equal(k.res[1].alarms_dup, 1);
  assert_int_equal(k.res[1].cursors_moved, 2);
  assert_string_equal(testdb_scalar(&db, "SELECT devicename FROM fleetarc.devices WHERE imei = '0222'"),
                      "tab\there, line\nbreak, back\\slash, cr\r, \\N");
  assert_string_equal(testdb_scalar(&db, "SELECT platenumber IS NULL AND simcard = '7557862586' AND "
                                         "onlinetime = to_timestamp(1419905754) AND platformduetime IS NULL "
                                         "AND removed_at IS NULL FROM fleetarc.devices WHERE imei = '0222'"),
                      "t");
  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws(',', speed, course, accstatus, doorstatus, "
                                         "coalesce(chargestatus::text, 'null'), oilpowerstatus, "
                                         "coalesce(defencestatus::text, 'null'), datastatus, "
                                         "coalesce(battery::text, 'null'), mileage, "
                                         "coalesce(todaymileage::text, 'null'), acctime, "
                                         "extract(epoch FROM gpstime)::bigint, longitude) "
                                         "FROM fleetarc.device_state WHERE imei = '0222'"),
                      "0,195,1,0,null,1,null,2,null,51654,null,1400,1419906052,113.909813");
  assert_string_equal(testdb_scalar(&db, "SELECT day || ' ' || km FROM fleetarc.daily_mileage "
                                         "WHERE imei = '0222'"), "2021-09-15 338.5");
  assert_string_equal(testdb_scalar(&db, "SELECT string_agg(alarm_type || ':' || geofence_id, ',' "
                                         "ORDER BY alarm_type) FROM fleetarc.alarms WHERE imei = '0222'"),
                      "27:0,45:7");

  assert_int_equal(k.res[2].status, 0);
  assert_int_equal(k.res[2].device_states, 0);
  assert_int_equal(k.res[2].cursors_moved, 0);
  assert_string_equal(testdb_scalar(&db, "SELECT speed FROM fleetarc.device_state WHERE imei = '0222'"), "0");
  assert_int_equal(testdb_scalar_ll(&db, "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors "
                                         "WHERE imei = '0222' AND stream = 'alarms'"), 1541575600);

  assert_int_equal(k.res[3].status, 0);
  assert_int_equal(k.res[3].cursors_moved, 1);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors "
                                         "WHERE imei = '0222' AND stream = 'playback'"), 1700000000);
  pgw_loop_close(&k.lc, w);
}

/* ---- one batch much larger than the socket's buffers ---- */

typedef struct big {
  pgw_loop_t lc;
  int calls;
  pgw_result_t res;
  bool done;
} big_t;

static void on_big_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  (void)batch;
  big_t *g = data;
  g->calls++;
  g->res = *res;
  g->res.error = NULL;
  if (res->error) fprintf(stderr, "%s\n", res->error);
  g->done = true;
}

/* 60,000 rows (~4 MB of COPY text): the COPY must wait for writable and flush what
 * PQputCopyEnd leaves queued, or it hangs. */
static void test_big_batch(void **state) {
  (void)state;
  big_t g;
  memset(&g, 0, sizeof g);
  pgw_loop_init(&g.lc);
  pgw_options_t opt = {.conninfo = db.conninfo, .batch_timeout_ms = 60000};
  pgw_t *w = pgw_new(&g.lc.loop, &opt);
  assert_non_null(w);
  pgw_batch_t *b = pgw_batch_new("big");
  for (int i = 0; i < 60000; i++)
    assert_int_equal(pgw_batch_add_position(b, "0777", 1600000000 + i, 1.25, 2.5, 3, 4), 0);
  assert_int_equal(pgw_submit(w, b, on_big_done, &g), 0);
  pgw_loop_run_until(&g.lc, &g.done, 60);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.res.status, 0);
  assert_int_equal(g.res.positions_new, 60000);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = '0777'"), 60000);
  pgw_loop_close(&g.lc, w);
}

/* ---- a writer that never reaches the server ---- */

typedef struct unreachable {
  pgw_loop_t lc;
  int calls[3];
  int status[3];
} unreachable_t;

static void on_cancelled(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  unreachable_t *u = data;
  int i = pgw_batch_name(batch)[0] - '0';
  u->calls[i]++;
  u->status[i] = res->status;
}

static void test_close_while_unreachable(void **state) {
  (void)state;
  unreachable_t u;
  memset(&u, 0, sizeof u);
  pgw_loop_init(&u.lc);
  pgw_options_t opt = {.conninfo = "host=/nonexistent-fleetarc port=1 dbname=x",
                       .backoff_min_ms = 10, .backoff_max_ms = 40, .max_queued_rows = 2};
  pgw_t *w = pgw_new(&u.lc.loop, &opt);
  assert_non_null(w);
  const char *names[3] = {"0-a", "1-b", "2-c"};
  pgw_batch_t *b[3];
  for (int i = 0; i < 3; i++) {
    b[i] = pgw_batch_new(names[i]);
    assert_int_equal(pgw_batch_add_position(b[i], "9", 1700000000 + i, 0, 0, 0, 0), 0);
  }
  assert_int_equal(pgw_submit(w, b[0], on_cancelled, &u), 0);
  assert_int_equal(pgw_submit(w, b[1], on_cancelled, &u), 0);
  assert_int_equal(pgw_submit(w, b[2], on_cancelled, &u), -EAGAIN); /* bounded */
  assert_true(pgw_queue_full(w));
  /* Let it fail a few connection attempts. */
  bool never = false;
  uint64_t until = uv_hrtime() + 300 * 1000000ULL;
  while (uv_hrtime() < until) uv_run(&u.lc.loop, UV_RUN_ONCE);
  (void)never;
  assert_false(pgw_connected(w));
  assert_int_equal(u.calls[0] + u.calls[1], 0);
  pgw_loop_close(&u.lc, w);
  assert_int_equal(u.calls[0], 1);
  assert_int_equal(u.calls[1], 1);
  assert_int_equal(u.status[0], -ECANCELED);
  assert_int_equal(u.status[1], -ECANCELED);
  pgw_batch_free(b[2]); /* refused: still ours */
}

/* ---- backpressure is told from the loop, never from inside pgw_submit ---- */

typedef struct told {
  pgw_loop_t lc;
  bool in_submit;       /* a pgw_submit call is on the stack */
  int inside;           /* on_pressure calls from inside pgw_submit */
  int full, not_full;   /* on_pressure calls, by state */
} told_t;

static void on_told_pressure(pgw_t *w, bool full, void *data) {
  (void)w;
  told_t *t = data;
  if (t->in_submit) t->inside++;
  if (full) t->full++;
  else t->not_full++;
}

static void on_told_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w, (void)batch, (void)res, (void)data;
}

static int told_submit(told_t *t, pgw_t *w, pgw_batch_t *b) {
  t->in_submit = true;
  int rc = pgw_submit(w, b, on_told_done, t);
  t->in_submit = false;
  return rc;
}

static void test_pressure_told_from_loop(void **state) {
  (void)state;
  told_t t;
  memset(&t, 0, sizeof t);
  pgw_loop_init(&t.lc);
  /* Unreachable: nothing drains, so the queue stays full until the close. */
  pgw_options_t opt = {.conninfo = "host=/nonexistent-fleetarc port=1 dbname=x",
                       .backoff_min_ms = 10, .backoff_max_ms = 40, .max_queued_rows = 2,
                       .on_pressure = on_told_pressure, .data = &t};
  pgw_t *w = pgw_new(&t.lc.loop, &opt);
  assert_non_null(w);
  pgw_batch_t *b[3];
  for (int i = 0; i < 3; i++) {
    b[i] = pgw_batch_new("told");
    assert_int_equal(pgw_batch_add_position(b[i], "9", 1700000000 + i, 0, 0, 0, 0), 0);
  }
  assert_int_equal(told_submit(&t, w, b[0]), 0);
  assert_int_equal(told_submit(&t, w, b[1]), 0);       /* reaches max_queued_rows */
  assert_int_equal(told_submit(&t, w, b[2]), -EAGAIN); /* refused */
  assert_true(pgw_queue_full(w));
  assert_int_equal(t.inside, 0); /* not from inside the calls */
  assert_int_equal(t.full, 0);
  uv_run(&t.lc.loop, UV_RUN_NOWAIT);
  assert_int_equal(t.full, 1); /* from the loop, once */
  assert_int_equal(t.not_full, 0);
  pgw_loop_close(&t.lc, w);
  assert_int_equal(t.inside, 0);
  pgw_batch_free(b[2]); /* refused: still ours */
}

int main(void) {
  if (testdb_setup(&db, "fleetarc_test_db_pgw") != 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bulk_100k),
    cmocka_unit_test(test_pressure_told_from_loop),
    cmocka_unit_test(test_kinds_and_data_error),
    cmocka_unit_test(test_big_batch),
    cmocka_unit_test(test_close_while_unreachable),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  testdb_teardown(&db);
  return rc;
}

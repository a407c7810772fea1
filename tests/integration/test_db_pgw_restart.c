/* The writer across a PostgreSQL restart: while batches flow, the server is stopped
 * (pg_ctl -m fast, which kills our session mid-transaction) and started again later.
 * Every row must arrive exactly once, every callback fire once and with success, the
 * writer reconnect by itself, and the queue stay bounded while the server is down.
 * Runs on a private cluster (scripts/pg-test-cluster) so that stopping it cannot disturb
 * the tests that share scripts/test's server. */
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

#include "db/migrate.h"
#include "db/pgw.h"
#include "util/log.h"

#include "testdb.h"

#define NDEV 5
#define NBATCH 60
#define ROWS 1000      /* new rows per batch */
#define OVERLAP 20     /* rows of the previous batch of the same device, sent again */
#define MAX_QUEUED 4000
#define STEP_S 10
#define BASE_T 1767225600LL /* 2026-01-01T00:00:00Z */

static char cluster_dir[256];
static char conninfo[512];

typedef struct run {
  uv_loop_t loop;
  uv_timer_t tick;     /* producer */
  uv_timer_t restart;  /* how long the server stays down */
  uv_process_t proc;
  bool proc_running;
  pgw_t *w;
  int next;
  pgw_batch_t *pending;
  int calls[NBATCH];
  int committed;
  size_t total_new, total_dup;
  enum { UP, STOPPING, DOWN, STARTING, RESTARTED } phase;
  int eagain_while_down;
  size_t max_rows_seen;
  bool all_done, closed;
} run_t;

static void batch_rows(int i, int *dev, int *from, int *to) {
  *dev = i % NDEV;
  int nth = i / NDEV; /* the device's nth batch */
  *from = nth * ROWS - (nth > 0 ? OVERLAP : 0);
  *to = (nth + 1) * ROWS;
}

static pgw_batch_t *build(int i) {
  int dev, from, to;
  batch_rows(i, &dev, &from, &to);
  char imei[32], name[32];
  snprintf(imei, sizeof imei, "86%013d", dev);
  snprintf(name, sizeof name, "restart-%d", i);
  pgw_batch_t *b = pgw_batch_new(name);
  assert_non_null(b);
  for (int k = from; k < to; k++)
    assert_int_equal(pgw_batch_add_position(b, imei, BASE_T + (int64_t)k * STEP_S, 1.5, 2.5, 10, 20), 0);
  assert_int_equal(pgw_batch_move_cursor(b, imei, STREAM_PLAYBACK,
                                         BASE_T + (int64_t)(to - 1) * STEP_S), 0);
  return b;
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig);
static void on_proc_closed(uv_handle_t *h) { ((run_t *)h->data)->proc_running = false; }

static void spawn_cluster(run_t *r, const char *what) {
  char script[512];
  const char *src = getenv("FLEETARC_SOURCE_DIR");
  snprintf(script, sizeof script, "%s/scripts/pg-test-cluster", src ? src : ".");
  char *args[] = {"bash", script, (char *)what, cluster_dir, NULL};
  uv_process_options_t o = {.file = "bash", .args = args, .exit_cb = on_proc_exit};
  r->proc.data = r;
  assert_false(r->proc_running);
  assert_int_equal(uv_spawn(&r->loop, &r->proc, &o), 0);
  r->proc_running = true;
}

static void on_restart_timer(uv_timer_t *t) {
  run_t *r = t->data;
  r->phase = STARTING;
  spawn_cluster(r, "start");
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig) {
  run_t *r = p->data;
  (void)sig;
  assert_int_equal(status, 0);
  uv_close((uv_handle_t *)p, on_proc_closed);
  if (r->phase == STOPPING) {
    r->phase = DOWN;
    fprintf(stderr, "test: server stopped with %d batches committed\n", r->committed);
    uv_timer_start(&r->restart, on_restart_timer, 1500, 0);
  } else if (r->phase == STARTING) {
    r->phase = RESTARTED;
    fprintf(stderr, "test: server started again\n");
  }
}

static void produce(run_t *r);

static void on_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  run_t *r = data;
  (void)w;
  int i = atoi(pgw_batch_name(batch) + 8);
  assert_true(i >= 0 && i < NBATCH);
  r->calls[i]++;
  if (res->status != 0) fail_msg("%s", res->error);
  r->total_new += res->positions_new;
  r->total_dup += res->positions_dup;
  assert_int_equal(res->positions_new + res->positions_dup, pgw_batch_rows(batch) - 1);
  r->committed++;
  if (r->committed == 8 && r->phase == UP) {
    /* Stop while the queue is full: the next batch is already in its transaction. */
    r->phase = STOPPING;
    spawn_cluster(r, "stop");
  }
  if (r->committed == NBATCH) r->all_done = true;
}

static void produce(run_t *r) {
  while (r->next < NBATCH || r->pending) {
    if (!r->pending) r->pending = build(r->next++);
    int rc = pgw_submit(r->w, r->pending, on_done, r);
    if (pgw_queue_rows(r->w) > r->max_rows_seen) r->max_rows_seen = pgw_queue_rows(r->w);
    if (rc == -EAGAIN) {
      if (r->phase == DOWN) r->eagain_while_down++;
      return;
    }
    assert_int_equal(rc, 0);
    r->pending = NULL;
  }
}

static void on_tick(uv_timer_t *t) { produce(t->data); }

static void on_closed(void *data) { ((run_t *)data)->closed = true; }

static void test_restart(void **state) {
  (void)state;
  static run_t r;
  memset(&r, 0, sizeof r);
  assert_int_equal(uv_loop_init(&r.loop), 0);
  uv_timer_init(&r.loop, &r.tick);
  uv_timer_init(&r.loop, &r.restart);
  r.tick.data = r.restart.data = &r;
  pgw_options_t opt = {.conninfo = conninfo, .max_queued_rows = MAX_QUEUED,
                       .backoff_min_ms = 50, .backoff_max_ms = 400, .connect_timeout_ms = 2000};
  r.w = pgw_new(&r.loop, &opt);
  assert_non_null(r.w);
  uv_timer_start(&r.tick, on_tick, 0, 5);

  uint64_t deadline = uv_hrtime() + 120 * 1000000000ULL;
  while (!r.all_done || r.proc_running) {
    if (uv_hrtime() > deadline) fail_msg("timed out: %d of %d committed", r.committed, NBATCH);
    uv_run(&r.loop, UV_RUN_ONCE);
    /* Bounded while the server is down (a batch is only over the bound in an empty queue). */
    assert_true(pgw_queue_rows(r.w) <= MAX_QUEUED);
  }
  assert_int_equal(r.phase, RESTARTED);
  for (int i = 0; i < NBATCH; i++) assert_int_equal(r.calls[i], 1);
  assert_true(r.eagain_while_down > 0);
  assert_true(r.max_rows_seen <= MAX_QUEUED);
  pgw_stats_t st;
  pgw_get_stats(r.w, &st);
  fprintf(stderr, "test: connects %llu, losses %llu, retried %llu\n",
          (unsigned long long)st.connects, (unsigned long long)st.connection_losses,
          (unsigned long long)st.batches_retried);
  assert_true(st.connects >= 2);
  assert_true(st.connection_losses >= 1);
  assert_true(st.batches_retried >= 1);
  assert_int_equal(st.batches_committed, NBATCH);
  /* A retried batch may find its rows already committed (its COMMIT's answer was lost
   * with the connection): then they count as duplicates. At most one batch is affected;
   * the table counts below are the exactly-once check. */
  assert_true(r.total_new <= (size_t)NBATCH * ROWS);
  assert_true(r.total_new >= (size_t)(NBATCH - 1) * ROWS - OVERLAP);

  uv_timer_stop(&r.tick);
  pgw_close(r.w, 5000, on_closed, &r);
  while (!r.closed) uv_run(&r.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&r.tick, NULL);
  uv_close((uv_handle_t *)&r.restart, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r.loop), 0);

  testdb_t db;
  assert_int_equal(testdb_connect(&db, conninfo), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions"),
                   (long long)NBATCH * ROWS);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(DISTINCT (imei, gpstime)) FROM fleetarc.positions"),
                   (long long)NBATCH * ROWS);
  /* Each device's cursor sits on its last row. */
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors c JOIN (SELECT imei, "
                                         "max(gpstime) m FROM fleetarc.positions GROUP BY imei) p "
                                         "USING (imei) WHERE c.cursor = p.m"), NDEV);
  testdb_teardown(&db);
}

static int teardown(void **state) {
  (void)state;
  char cmd[700];
  const char *src = getenv("FLEETARC_SOURCE_DIR");
  snprintf(cmd, sizeof cmd, "bash '%s/scripts/pg-test-cluster' destroy '%s'", src ? src : ".",
           cluster_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  if (getenv("FLEETARC_TEST_DEBUG")) log_set_level(LOG_LEVEL_DEBUG);
  const char *src = getenv("FLEETARC_SOURCE_DIR");
  const char *require = getenv("FLEETARC_REQUIRE_PG");
  bool required = require && strcmp(require, "1") == 0;
  if (!src) {
    fprintf(stderr, "FLEETARC_SOURCE_DIR not set\n");
    return required ? 1 : 77;
  }
  snprintf(cluster_dir, sizeof cluster_dir, "/tmp/fleetarc-pgr.XXXXXX");
  if (!mkdtemp(cluster_dir)) return 1;
  char cmd[700];
  snprintf(cmd, sizeof cmd, "bash '%s/scripts/pg-test-cluster' init '%s'", src, cluster_dir);
  if (system(cmd) != 0) {
    fprintf(stderr, "cannot start a private PostgreSQL cluster%s\n", required ? "" : ": skipped");
    teardown(NULL);
    return required ? 1 : 77;
  }
  char path[300];
  snprintf(path, sizeof path, "%s/conninfo", cluster_dir);
  FILE *f = fopen(path, "r");
  if (!f || !fgets(conninfo, sizeof conninfo, f)) return 1;
  fclose(f);
  conninfo[strcspn(conninfo, "\n")] = '\0';
  size_t applied;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) != 0) {
    fprintf(stderr, "migrate: %s\n", err);
    teardown(NULL);
    return 1;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_restart)};
  return cmocka_run_group_tests(tests, NULL, teardown);
}

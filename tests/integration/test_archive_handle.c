/* The archiver as a handle on the caller's loop (archiver.h): archiver_new, archiver_start,
 * archiver_close. Against a real PostgreSQL and fleetarc-sim: closing a running `run`
 * ends it cleanly (status 0, every handle closed, uv_loop_close == 0); a backfill that
 * stops by itself leaves the loop, and its close callback comes from the loop, never
 * from inside archiver_close; bad options and an unreachable database fail archiver_new
 * with nothing left behind. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "archive/archiver.h"
#include "config/config.h"
#include "db/migrate.h"
#include "harness.h"
#include "util/buf.h"

static harness_sim_t sim;
static const char *conninfo;
static char token_dir[64] = "/tmp/fleetarc-handle.XXXXXX";

typedef struct seen {
  int started, stopping, closed, status;
  size_t responses;
} seen_t;

static void on_started(void *arg, archiver_t *a, uv_loop_t *loop) {
  (void)a;
  (void)loop;
  ((seen_t *)arg)->started++;
}
static void on_stopping(void *arg) { ((seen_t *)arg)->stopping++; }
static void on_response(void *arg, const struct net_result *res) {
  (void)res;
  ((seen_t *)arg)->responses++;
}
static void on_closed(void *arg, int status) {
  seen_t *s = arg;
  s->closed++;
  s->status = status;
}

static config_t *load_config(const char *db) {
  char text[2048];
  snprintf(text, sizeof text,
           "api:\n  base_url: %s\n  token_dir: %s\n  timeout: 3s\n  max_in_flight: 8\n"
           "  retry: {max_attempts: 3, base_delay: 50ms, max_delay: 500ms}\n"
           "  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s,\n"
           "                alarm/list: 0s, device/list: 0s, user/list: 0s,\n"
           "                device/detail: 0s, device/mileage: 0s}\n"
           "accounts:\n  - account: %s\n    password: \"%s\"\n"
           "database:\n  conninfo: \"%s\"\n  flush_interval: 200ms\n",
           sim.base_url, token_dir, sim.account, sim.password, db);
  config_t *cfg = NULL;
  buf_t err = {0};
  int rc = config_load_string(text, strlen(text), "test", &cfg, &err);
  if (rc != 0) fail_msg("config: %s", err.data ? err.data : "?");
  buf_free(&err);
  return cfg;
}

static archiver_options_t options(const config_t *cfg, archiver_mode_t mode, seen_t *s,
                                  archiver_hooks_t *h) {
  *h = (archiver_hooks_t){.arg = s, .started = on_started, .stopping = on_stopping,
                          .response = on_response};
  return (archiver_options_t){.mode = mode, .cfg = cfg, .hooks = h};
}

typedef struct later {
  uv_timer_t timer;
  archiver_t *a;
  seen_t *seen;
  bool close_returned_before_cb; /* the callback had not run when archiver_close returned */
} later_t;

static void on_later(uv_timer_t *t) {
  later_t *l = t->data;
  archiver_close(l->a, on_closed, l->seen);
  l->close_returned_before_cb = l->seen->closed == 0;
  uv_close((uv_handle_t *)t, NULL);
}

/* run: closed from a timer while it works; status 0, hooks started and stopping once. */
static void test_close_a_running_run(void **state) {
  (void)state;
  config_t *cfg = load_config(conninfo);
  seen_t s = {0};
  archiver_hooks_t h;
  archiver_options_t opt = options(cfg, ARCHIVER_RUN, &s, &h);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  archiver_t *a = NULL;
  assert_int_equal(archiver_new(&loop, &opt, &a), 0);
  assert_non_null(a);
  assert_int_equal(s.started, 0); /* nothing before start */
  assert_int_equal(archiver_start(a), 0);
  assert_int_equal(archiver_start(a), -EALREADY);
  assert_int_equal(s.started, 1);
  later_t l = {.a = a, .seen = &s};
  uv_timer_init(&loop, &l.timer);
  l.timer.data = &l;
  uv_timer_start(&l.timer, on_later, 3000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(l.close_returned_before_cb);
  assert_int_equal(s.closed, 1);
  assert_int_equal(s.status, 0);
  assert_int_equal(s.stopping, 1);
  assert_true(s.responses > 0); /* it worked: discovery and polls were answered */
  assert_int_equal(uv_loop_close(&loop), 0);
  config_free(cfg);
}

/* backfill: it stops by itself (the loop's uv_run returns), and still needs its close;
 * the callback comes from the loop. */
static void test_backfill_stops_then_closes(void **state) {
  (void)state;
  config_t *cfg = load_config(conninfo);
  seen_t s = {0};
  archiver_hooks_t h;
  archiver_options_t opt = options(cfg, ARCHIVER_BACKFILL, &s, &h);
  opt.to = (int64_t)time(NULL);
  opt.from = opt.to - 3600;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  archiver_t *a = NULL;
  assert_int_equal(archiver_new(&loop, &opt, &a), 0);
  assert_int_equal(archiver_start(a), 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* until the range is archived */
  assert_int_equal(s.stopping, 1);
  assert_int_equal(s.closed, 0);
  archiver_close(a, on_closed, &s);
  assert_int_equal(s.closed, 0); /* never from inside the call */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(s.closed, 1);
  assert_int_equal(s.status, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  config_free(cfg);
}

/* Bad options and an unreachable database: archiver_new fails, *out NULL, the loop is
 * left with nothing to run. Closing an archiver never started ends without hooks. */
static void test_new_fails_cleanly(void **state) {
  (void)state;
  config_t *cfg = load_config(conninfo);
  seen_t s = {0};
  archiver_hooks_t h;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  archiver_t *a = (archiver_t *)&s;
  archiver_options_t opt = options(cfg, ARCHIVER_BACKFILL, &s, &h);
  opt.from = opt.to = 1000;
  assert_int_equal(archiver_new(&loop, &opt, &a), -EINVAL);
  assert_null(a);
  opt = options(cfg, ARCHIVER_RUN, &s, &h);
  opt.account = "nobody";
  assert_int_equal(archiver_new(&loop, &opt, &a), -EINVAL);
  config_t *bad = load_config("host=/nonexistent dbname=none connect_timeout=2");
  opt = options(bad, ARCHIVER_RUN, &s, &h);
  assert_int_equal(archiver_new(&loop, &opt, &a), -EIO);
  assert_null(a);
  /* created and closed without a start: no hook runs, every handle closes */
  opt = options(cfg, ARCHIVER_RUN, &s, &h);
  assert_int_equal(archiver_new(&loop, &opt, &a), 0);
  archiver_close(a, on_closed, &s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(s.closed, 1);
  assert_int_equal(s.started + s.stopping, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  config_free(bad);
  config_free(cfg);
}

int main(void) {
  conninfo = harness_pg_fresh_db("fleetarc_test_handle");
  char err[512];
  size_t applied = 0;
  if (db_migrate(conninfo, &applied, err, sizeof err) != 0) {
    fprintf(stderr, "migrate: %s\n", err);
    return 1;
  }
  if (!mkdtemp(token_dir)) return 1;
  const char *args[] = {"--devices", "20", NULL};
  if (harness_sim_start(&sim, args) != 0) {
    fprintf(stderr, "cannot start fleetarc-sim\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_close_a_running_run),
      cmocka_unit_test(test_backfill_stops_then_closes),
      cmocka_unit_test(test_new_fails_cleanly),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  harness_sim_stop(&sim);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", token_dir);
  if (system(cmd) != 0) rc = rc ? rc : 1;
  return rc;
}

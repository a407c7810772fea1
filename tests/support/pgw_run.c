/* The database writer in the integration tests; see pgw_run.h. Failures are cmocka
 * assertions, so these run inside a cmocka test. */
#include "pgw_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void on_tick(uv_timer_t *t) { (void)t; }

void pgw_loop_init(pgw_loop_t *lc) {
  memset(lc, 0, sizeof *lc);
  assert_int_equal(uv_loop_init(&lc->loop), 0);
  uv_timer_init(&lc->loop, &lc->tick);
  uv_timer_start(&lc->tick, on_tick, 50, 50);
}

void pgw_loop_run_until(pgw_loop_t *lc, const bool *flag, double seconds) {
  uint64_t deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
  while (!*flag) {
    if (uv_hrtime() > deadline) fail_msg("timed out after %.0f s", seconds);
    uv_run(&lc->loop, UV_RUN_ONCE);
  }
}

static void on_writer_closed(void *data) { ((pgw_loop_t *)data)->writer_closed = true; }

void pgw_loop_close(pgw_loop_t *lc, pgw_t *w) {
  pgw_close(w, 10000, on_writer_closed, lc);
  pgw_loop_run_until(lc, &lc->writer_closed, 30);
  uv_close((uv_handle_t *)&lc->tick, NULL);
  uv_run(&lc->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&lc->loop), 0);
}

static void on_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  pgw_run_t *r = data;
  int i = pgw_batch_name(batch)[0] - '0';
  assert_true(i >= 0 && i < PGW_RUN_MAX);
  r->calls[i]++;
  r->res[i] = *res;
  r->err[i][0] = '\0';
  if (res->error) snprintf(r->err[i], sizeof r->err[i], "%s", res->error);
  r->res[i].error = NULL;
  if (i == 0 && r->after_first) r->after_first(r, r->arg);
  if (++r->done == r->expected) r->all_done = true;
}

void pgw_run_batches(pgw_run_t *r, const char *conninfo, pgw_batch_t **b, int n,
                     pgw_run_hook_fn after_first, void *arg) {
  memset(r, 0, sizeof *r);
  assert_true(n <= PGW_RUN_MAX);
  r->after_first = after_first;
  r->arg = arg;
  pgw_loop_init(&r->lc);
  pgw_options_t opt = {.conninfo = conninfo};
  r->w = pgw_new(&r->lc.loop, &opt);
  assert_non_null(r->w);
  r->expected = n;
  /* With a hook, batch 1 onwards wait in the queue behind batch 0 (written one at a time). */
  for (int i = 0; i < n; i++) assert_int_equal(pgw_submit(r->w, b[i], on_done, r), 0);
  pgw_loop_run_until(&r->lc, &r->all_done, 60);
  for (int i = 0; i < n; i++) assert_int_equal(r->calls[i], 1);
  pgw_loop_close(&r->lc, r->w);
  /* Each batch was called back exactly once, even after the writer is gone. */
  for (int i = 0; i < n; i++) assert_int_equal(r->calls[i], 1);
}

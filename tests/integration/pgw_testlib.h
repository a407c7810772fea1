/* Shared by the pgw integration tests that write a few batches and look at each result:
 * run_batches() (one writer on a private loop, every callback once, the loop closed
 * cleanly), over pgw_testdb.h's database and checker. Include after cmocka.h,
 * libpq-fe.h, uv.h and db/pgw.h. */
#ifndef FLEETARC_TESTS_PGW_TESTLIB_H
#define FLEETARC_TESTS_PGW_TESTLIB_H

#include "pgw_testdb.h"

/* ---- a writer, a few batches, one result each ---- */

#define MAXB 8

typedef struct run {
  uv_loop_t loop;
  uv_timer_t tick;
  pgw_t *w;
  int calls[MAXB];
  pgw_result_t res[MAXB];
  char err[MAXB][512];
  int done, expected;
  bool all_done, closed;
  void (*after_first)(void); /* run in batch 0's callback, before batch 1 is written */
} run_t;

static void on_tick(uv_timer_t *t) { (void)t; }

static void on_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  run_t *r = data;
  int i = pgw_batch_name(batch)[0] - '0';
  assert_true(i >= 0 && i < MAXB);
  r->calls[i]++;
  r->res[i] = *res;
  r->err[i][0] = '\0';
  if (res->error) snprintf(r->err[i], sizeof r->err[i], "%s", res->error);
  r->res[i].error = NULL;
  if (i == 0 && r->after_first) r->after_first();
  if (++r->done == r->expected) r->all_done = true;
}

static void on_closed(void *data) { ((run_t *)data)->closed = true; }

static void run_until(run_t *r, const bool *flag, double seconds) {
  uint64_t deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
  while (!*flag) {
    if (uv_hrtime() > deadline) fail_msg("timed out after %.0f s", seconds);
    uv_run(&r->loop, UV_RUN_ONCE);
  }
}

/* Writes the batches (names start with their index digit) through one writer, in order,
 * and waits for every callback; then closes the writer and the loop. */
static void run_batches(run_t *r, pgw_batch_t **b, int n, void (*after_first)(void)) {
  memset(r, 0, sizeof *r);
  r->after_first = after_first;
  assert_int_equal(uv_loop_init(&r->loop), 0);
  uv_timer_init(&r->loop, &r->tick);
  uv_timer_start(&r->tick, on_tick, 50, 50);
  pgw_options_t opt = {.conninfo = conninfo};
  r->w = pgw_new(&r->loop, &opt);
  assert_non_null(r->w);
  r->expected = n;
  /* With a hook, batch 1 onwards wait in the queue behind batch 0 (written one at a time). */
  for (int i = 0; i < n; i++) assert_int_equal(pgw_submit(r->w, b[i], on_done, r), 0);
  run_until(r, &r->all_done, 60);
  for (int i = 0; i < n; i++) assert_int_equal(r->calls[i], 1);
  pgw_close(r->w, 10000, on_closed, r);
  run_until(r, &r->closed, 30);
  uv_close((uv_handle_t *)&r->tick, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  /* Each batch was called back exactly once, even after the writer is gone. */
  for (int i = 0; i < n; i++) assert_int_equal(r->calls[i], 1);

#endif

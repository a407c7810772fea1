/* The database writer in the integration tests: a private loop with a tick (so that
 * waits can check their deadline), closed cleanly (uv_loop_close() == 0), and
 * pgw_run_batches(): a few batches through one writer, each result kept. */
#ifndef FLEETARC_TESTS_PGW_RUN_H
#define FLEETARC_TESTS_PGW_RUN_H

#include <stdbool.h>
#include <uv.h>

#include "db/pgw.h"

typedef struct pgw_loop {
  uv_loop_t loop;
  uv_timer_t tick;  /* wakes uv_run(ONCE) so that pgw_loop_run_until can check its deadline */
  bool writer_closed;
} pgw_loop_t;

/* Initializes the loop and starts its 50 ms tick. */
void pgw_loop_init(pgw_loop_t *lc);
/* Runs the loop until *flag, failing the test after `seconds`. */
void pgw_loop_run_until(pgw_loop_t *lc, const bool *flag, double seconds);
/* Closes the writer (10 s to finish), the tick and the loop; uv_loop_close() must be 0. */
void pgw_loop_close(pgw_loop_t *lc, pgw_t *w);

#define PGW_RUN_MAX 8

typedef struct pgw_run pgw_run_t;
/* Called in batch 0's callback, before batch 1 is written. */
typedef void (*pgw_run_hook_fn)(pgw_run_t *r, void *arg);

struct pgw_run {
  pgw_loop_t lc;
  pgw_t *w;
  int calls[PGW_RUN_MAX];
  pgw_result_t res[PGW_RUN_MAX];  /* res[i].error is NULL: the text is in err[i] */
  char err[PGW_RUN_MAX][512];
  int done, expected;
  bool all_done;
  pgw_run_hook_fn after_first;
  void *arg;
};

/* Writes the batches (names start with their index digit; at most PGW_RUN_MAX; takes
 * ownership) through one writer on conninfo, in order, and waits for every callback
 * (60 s); then closes the writer and the loop. Each batch must be called back exactly
 * once. after_first (may be NULL) runs with arg in batch 0's callback. */
void pgw_run_batches(pgw_run_t *r, const char *conninfo, pgw_batch_t **b, int n,
                     pgw_run_hook_fn after_first, void *arg);

#endif

/* The archiver's batches to the writer (db/pgw.h): filling, submitting, backpressure,
 * and the commit callback that moves in-memory cursors and coverage only once the rows
 * are committed. Invariant: a move is applied in memory only after its batch's COMMIT. */
#include "archive/engine.h"

#include <errno.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/grow.h"

/* The batch being filled commits only while the lease of the device's account is held
 * at the generation in force now (pgw_batch_add_fence). */
int commit_fence(archiver_t *a, const devtab_device_t *d) {
  int64_t gen = 0;
  if (!a->lease || d->account >= a->n_accts) return 0;
  if (!lease_holds(a->lease, d->account, &gen)) gen = -1; /* lapsed: the batch must fail */
  char key[320];
  return pgw_batch_add_fence(a->commit.batch, lease_instance(a->lease),
                             arch_lease_key(a, d->account, key, sizeof key), gen);
}

/* Backfill coalesces: while the writers are busy, the next batch keeps filling past
 * batch_rows (up to commit_cap_rows) instead of queueing behind them in pieces of
 * batch_rows, and goes as soon as a writer is idle (on_batch). PostgreSQL then pays its
 * per-transaction costs (round trips, statement triggers, the staging tables' truncation
 * at COMMIT, the merges' planning) once per larger batch. The service keeps batches of
 * batch_rows: its rows are few and their latency counts. The streams of a held batch are
 * busy until its COMMIT, as they are while a batch waits in a writer's queue.
 *
 * Backfill also writes over two connections (a->db2): while one is in its COPY, the other
 * sends its rows, merges and commits, so that PostgreSQL is not left idle for fleetarc's
 * round trips and per-batch statements between two COPYs. The order in which two batches
 * commit does not matter: a stream is in one batch at a time (busy until that batch's
 * COMMIT), each batch carries the coverage and cursors of its own rows, and cursors only
 * move forward. */
static bool commit_coalescing(const archiver_t *a) { return arch_backfill(a) && a->db; }

/* The most rows a coalesced batch holds; also each backfill writer's queue bound
 * (archiver.c: the two share queue_rows). */
size_t commit_cap_rows(const archiver_t *a) {
  size_t batch = (size_t)a->cfg->database.batch_rows, half = (size_t)a->cfg->database.queue_rows / 2;
  return batch > half ? batch : half;
}

/* An idle writer (nothing queued, nothing being written), else NULL. */
static pgw_t *idle_writer(const archiver_t *a) {
  if (a->db && pgw_queue_batches(a->db) == 0) return a->db;
  if (a->db2 && pgw_queue_batches(a->db2) == 0) return a->db2;
  return NULL;
}

/* The writer for the next batch: an idle one, else the one holding fewer rows. */
static pgw_t *next_writer(const archiver_t *a) {
  pgw_t *w = idle_writer(a);
  if (w) return w;
  if (a->db2 && pgw_queue_rows(a->db2) < pgw_queue_rows(a->db)) return a->db2;
  return a->db;
}

static void on_batch(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  (void)w;
  bctx_t *c = data;
  archiver_t *a = c->a;
  a->commit.pending--;
  if (a->opt.hooks && a->opt.hooks->batch)
    a->opt.hooks->batch(a->opt.hooks->arg, res, pgw_batch_rows(batch), uv_now(a->loop) - c->submitted_ms);
  if (res->status == 0) {
    a->n_points += res->positions_new;
    a->n_alarms += res->alarms_new;
    a->n_mileage += res->mileage_days;
  } else if (res->status != -ECANCELED) {
    log_error("batch %s: %s", pgw_batch_name(batch), res->error ? res->error : "failed");
    a->n_errors++;
  }
  if (res->status != 0) poller_state_forget(a); /* its device_state rows were not written */
  for (size_t i = 0; i < c->n; i++) {
    move_t *m = &c->moves[i];
    devtab_device_t *d = devtab_at(a->dev, m->dev);
    if (!d) continue;
    if (m->cov_only) {
      if (res->status == 0 && coverage_add(a->cov, m->dev, m->stream, m->cov_from, m->cov_to) != 0)
        log_error_f(LOG_FIELDS(.imei = d->imei),
            "device %s: out of memory for its coverage", d->imei);
      continue;
    }
    if (res->status == 0) {
      if (m->has_cov && coverage_add(a->cov, m->dev, m->stream, m->cov_from, m->cov_to) != 0)
        log_error_f(LOG_FIELDS(.imei = d->imei, .stream = stream_name(m->stream)),
            "device %s: %s: out of memory for its coverage: asked again", d->imei,
                  stream_name(m->stream));
      sched_committed(a->sched, m->dev, m->stream, &m->cursor, m->more, m->done);
    } else {
      sched_stream_free(a->sched, m->dev, m->stream);
      if (res->status != -ECANCELED) sched_fail(a->sched, m->dev, m->stream, "its batch was not written");
    }
  }
  free(c->moves);
  free(c);
  if (a->commit.blocked) commit_submit(a);
  else if (commit_coalescing(a) && a->commit.batch && idle_writer(a))
    commit_submit(a); /* a writer is idle: it takes what came in meanwhile */
  sched_pump(a->sched);
  arch_check_shutdown(a);
}

void commit_submit(archiver_t *a) {
  if (!a->commit.batch) return;
  if (!a->db) {
    pgw_batch_free(a->commit.batch);
    free(a->commit.bctx->moves);
    free(a->commit.bctx);
    a->commit.batch = NULL;
    a->commit.bctx = NULL;
    return;
  }
  uv_timer_stop(&a->flush_timer);
  /* The batch leaves a->commit.batch before pgw_submit: a successful submit can report the
   * queue no longer full from inside (commit_on_pressure), and a submit_blocked still set then
   * submitted this same batch a second time (queued twice, freed once: heap corruption). */
  pgw_batch_t *b = a->commit.batch;
  bctx_t *c = a->commit.bctx;
  a->commit.batch = NULL;
  a->commit.bctx = NULL;
  a->commit.blocked = false;
  c->submitted_ms = uv_now(a->loop);
  int rc = pgw_submit(next_writer(a), b, on_batch, c);
  if (rc == 0) {
    a->commit.pending++;
    return;
  }
  a->commit.batch = b;
  a->commit.bctx = c;
  if (rc == -EAGAIN) {
    a->commit.blocked = true;
    return;
  }
  /* -ESHUTDOWN or worse: nothing of it counts as written; the streams stay due. */
  for (size_t i = 0; i < a->commit.bctx->n; i++)
    if (!a->commit.bctx->moves[i].cov_only)
      sched_stream_free(a->sched, a->commit.bctx->moves[i].dev, a->commit.bctx->moves[i].stream);
  pgw_batch_free(a->commit.batch);
  free(a->commit.bctx->moves);
  free(a->commit.bctx);
  a->commit.batch = NULL;
  a->commit.bctx = NULL;
}

/* While coalescing, a batch waits for an idle writer: a batch's commit submits it. */
static void on_flush(uv_timer_t *t) {
  archiver_t *a = t->data;
  if (commit_coalescing(a) && !idle_writer(a)) return;
  commit_submit(a);
}

/* The batch being filled, created on demand (NULL on out of memory). */
pgw_batch_t *commit_batch(archiver_t *a) {
  if (a->commit.batch) return a->commit.batch;
  a->commit.batch = pgw_batch_new(arch_backfill(a) ? "backfill" : "archive");
  a->commit.bctx = calloc(1, sizeof *a->commit.bctx);
  if (!a->commit.batch || !a->commit.bctx) {
    pgw_batch_free(a->commit.batch);
    free(a->commit.bctx);
    a->commit.batch = NULL;
    a->commit.bctx = NULL;
    return NULL;
  }
  a->commit.bctx->a = a;
  uv_timer_start(&a->flush_timer, on_flush, (uint64_t)a->cfg->database.flush_interval_ms, 0);
  return a->commit.batch;
}

int commit_move(archiver_t *a, uint32_t dev, int s, const paging_cursor_t *cur, bool done,
                      const move_t *page) {
  bctx_t *c = a->commit.bctx;
  if (GROW(c->moves, c->cap, c->n + 1) != 0) return -ENOMEM;
  devtab_device_t *d = devtab_at(a->dev, dev);
  move_t m = page ? *page : (move_t){0};
  m.dev = dev;
  m.stream = (uint8_t)s;
  m.done = done;
  m.cursor = *cur;
  int rc = commit_fence(a, d);
  if (rc) return rc;
  if (s == STREAM_MILEAGE)
    rc = pgw_batch_move_cursor_key(a->commit.batch, d->imei, a->stream_key[s], cur->begin);
  else if (m.cov_only && m.has_cov)
    rc = pgw_batch_add_coverage(a->commit.batch, d->imei, STREAM_PLAYBACK, m.cov_from, m.cov_to);
  else if (m.has_cov) /* playback and alarms: their coverage, no cursor row */
    rc = pgw_batch_add_coverage(a->commit.batch, d->imei,
                                s == STREAM_PLAYBACK ? STREAM_PLAYBACK : STREAM_ALARMS,
                                m.cov_from, m.cov_to);
  if (rc) return rc;
  c->moves[c->n++] = m;
  return 0;
}

void commit_maybe_submit(archiver_t *a) {
  if (!a->commit.batch) return;
  size_t rows = pgw_batch_rows(a->commit.batch);
  if (rows < (size_t)a->cfg->database.batch_rows) return;
  if (commit_coalescing(a) && !idle_writer(a) && rows < commit_cap_rows(a)) return;
  commit_submit(a);
}

/* Fetching pauses while every writer is full (a batch goes to the one that is not). */
void commit_on_pressure(pgw_t *w, bool full, void *data) {
  (void)w;
  archiver_t *a = data;
  a->commit.pressure = pgw_queue_full(a->db) && (!a->db2 || pgw_queue_full(a->db2));
  if (!full) {
    if (a->commit.blocked) commit_submit(a);
    sched_pump(a->sched);
  }
}


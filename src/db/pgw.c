/* The PostgreSQL writer (pgw.h): a libpq connection state machine on uv_poll/uv_timer that
 * writes each batch as BEGIN, binary COPY into temp staging tables, INSERT ... SELECT
 * merges, COMMIT. Positions and alarms (the bulk) take a fast path first: binary COPY straight
 * into their tables after a SAVEPOINT; a batch that overlaps stored rows (only after a
 * crash or retry) fails that COPY with unique_violation, rolls back to the savepoint and
 * is merged through staging + ON CONFLICT DO NOTHING like the rest.
 * A row the server refuses for its data (refused_kind) is isolated: the batch is rolled
 * back and retried with that kind merged by fleetarc.isolate_rows (075), which bisects
 * it and keeps each refused row in fleetarc.rejected; the rest commits. Each kind at most once
 * per batch, so a batch takes at most K_COUNT + 1 such attempts; the common path is
 * unchanged.
 * Invariant: a batch's callback runs once, and reports success only after the COMMIT's
 * result; a batch cut off by a lost connection goes back to the queue's head; no callback
 * runs from inside a pgw_* call but pgw_close's cancellations (see on_pressure_timer).
 * This file: the connection, the queue, the loop's events, the public API; the steps of a
 * batch are in pgw_step.c, its COPY data in pgw_copy.c, the SQL in pgw_sql.c. */
#include "db/pgw.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/pgw_int.h"
#include "util/buf.h"
#include "util/log.h"

static void drive(pgw_t *w);

/* ------------------------------------------------------------------ queue */

/* Backpressure is told from the loop, never from inside pgw_submit() or a batch's
 * completion: the producer's on_pressure(false) submits again, and a pgw_submit that
 * called back into pgw_submit once queued a batch twice (heap corruption). A change of
 * state starts a zero-timeout timer (libuv's way: no callback from inside a call); the
 * timer tells the state as it is then, when it differs from the last one told, so a
 * pause undone within one turn of the loop is not told at all. */
static void on_pressure_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  if (w->paused == w->paused_told) return;
  w->paused_told = w->paused;
  if (w->opt.on_pressure) w->opt.on_pressure(w, w->paused, w->opt.data);
}

static void pressure_set(pgw_t *w, bool paused) {
  w->paused = paused;
  if (w->opt.on_pressure && w->state != S_CLOSED)
    uv_timer_start(&w->pressure_timer, on_pressure_timer, 0, 0);
}

static void pressure_update(pgw_t *w) {
  if (!w->paused && w->queued_rows >= w->opt.max_queued_rows)
    pressure_set(w, true);
  else if (w->paused && w->queued_rows <= w->opt.max_queued_rows / 2)
    pressure_set(w, false);
}

pgw_batch_t *pgw__queue_pop(pgw_t *w) {
  pgw_batch_t *b = w->head;
  if (!b) return NULL;
  w->head = b->next;
  if (!w->head) w->tail = NULL;
  b->next = NULL;
  w->queued_batches--;
  return b; /* its rows stay counted in queued_rows while it is cur */
}

void pgw__queue_push_front(pgw_t *w, pgw_batch_t *b) {
  b->next = w->head;
  w->head = b;
  if (!w->tail) w->tail = b;
  w->queued_batches++;
}

/* Ends a batch: the callback, then the batch is freed and its rows released. */
void pgw__batch_finish(pgw_t *w, pgw_batch_t *b, int status, const char *error) {
  pgw_result_t res = w->result;
  /* Counts of a transaction that did not commit mean nothing. */
  if (b != w->cur || status != 0) memset(&res, 0, sizeof res);
  res.status = status;
  res.error = status == 0 ? NULL : error;
  res.attempts = b->attempts;
  if (status == 0) {
    w->stats.batches_committed++;
  } else if (status == -EIO) {
    w->stats.batches_failed++;
    log_error("pgw: %s", error);
  }
  w->queued_rows -= pgw_batch_rows(b);
  if (b == w->cur) w->cur = NULL;
  b->cb(w, b, &res, b->cb_data);
  pgw_batch_free(b);
  pressure_update(w);
}

static void cancel_all(pgw_t *w, const char *why) {
  char msg[512];
  if (w->cur) {
    pgw_batch_t *b = w->cur;
    snprintf(msg, sizeof msg, "batch %s: %s", b->name, why);
    pgw__batch_finish(w, b, -ECANCELED, msg);
  }
  pgw_batch_t *b;
  while ((b = pgw__queue_pop(w))) {
    snprintf(msg, sizeof msg, "batch %s: %s", b->name, why);
    pgw__batch_finish(w, b, -ECANCELED, msg);
  }
}

/* ------------------------------------------------------------------ handles */

static void on_close_handle(uv_handle_t *h) {
  pgw_t *w = h->data;
  if (h->type == UV_POLL) free(h);
  w->open_handles--;
  if (w->open_handles == 0 && w->state == S_CLOSED) {
    void (*cb)(void *) = w->close_cb;
    void *data = w->close_data;
    free(w->conninfo);
    free(w->known_months);
    free(w->pending_months);
    free(w->step_error);
    buf_free(&w->refused_log);
    free(w);
    if (cb) cb(data);
  }
}

static void unwatch(pgw_t *w) {
  if (!w->poll) return;
  uv_close((uv_handle_t *)&w->poll->handle, on_close_handle);
  w->poll = NULL;
  w->poll_events = 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Polls the connection's current socket for `events`; a new socket gets a new handle.
 * `fresh` forces a new handle (while connecting, libpq may have replaced the socket by
 * another with the same number, which the old registration would not see). */
static int watch(pgw_t *w, int events, bool fresh) {
  int fd = PQsocket(w->conn);
  if (fd < 0) return -EBADF;
  if (w->poll && (fresh || w->poll->fd != fd)) unwatch(w);
  if (!w->poll) {
    pgw_poll_t *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    int rc = uv_poll_init(w->loop, &p->handle, fd);
    if (rc < 0) {
      free(p);
      return rc;
    }
    p->handle.data = w;
    p->fd = fd;
    w->open_handles++;
    w->poll = p;
    w->poll_events = 0;
  }
  if (w->poll_events != events) {
    int rc = uv_poll_start(&w->poll->handle, events, on_poll);
    if (rc < 0) return rc;
    w->poll_events = events;
  }
  return 0;
}

/* ------------------------------------------------------------------ connection */

static uint64_t rng_next(pgw_t *w) {
  /* xorshift64*: jitter only, no need for quality. */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ULL;
}

static void drop_conn(pgw_t *w) {
  unwatch(w); /* before PQfinish, which closes the socket */
  uv_timer_stop(&w->timer);
  uv_timer_stop(&w->op_timer);
  if (w->conn) PQfinish(w->conn);
  w->conn = NULL;
  w->step = STEP_NONE;
  w->want_write = false;
}

static void on_timer(uv_timer_t *t);

static void schedule_reconnect(pgw_t *w) {
  w->state = S_BACKOFF;
  unsigned shift = w->failures > 16 ? 16 : w->failures;
  uint64_t delay = (uint64_t)w->opt.backoff_min_ms << shift;
  if (delay > w->opt.backoff_max_ms) delay = w->opt.backoff_max_ms;
  /* Equal jitter: [delay/2, delay], so that writers restarted together spread out. */
  delay = delay / 2 + rng_next(w) % (delay / 2 + 1);
  w->failures++;
  log_debug("pgw: next connection attempt in %llu ms", (unsigned long long)delay);
  uv_timer_start(&w->timer, on_timer, delay, 0);
}

/* A connection attempt failed (never established). */
static void conn_failed(pgw_t *w, const char *why) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", why ? why : "unknown error");
  msg[strcspn(msg, "\n")] = '\0';
  drop_conn(w);
  if (w->closing) {
    cancel_all(w, "writer closed while PostgreSQL was unreachable; not written");
    pgw__close_check(w);
    return;
  }
  if (!w->down_logged) {
    log_warn("pgw: cannot connect to PostgreSQL: %s; retrying with backoff", msg);
    w->down_logged = true;
  } else {
    log_debug("pgw: connection attempt %u failed: %s", w->failures, msg);
  }
  schedule_reconnect(w);
}

static void conn_start(pgw_t *w) {
  const char *keys[3] = {"fallback_application_name", NULL, NULL};
  const char *vals[3] = {"fleetarc", NULL, NULL};
  if (w->conninfo) {
    keys[1] = "dbname";
    vals[1] = w->conninfo;
  }
  w->state = S_CONNECTING;
  w->conn = PQconnectStartParams(keys, vals, 1);
  if (!w->conn) {
    conn_failed(w, "out of memory");
    return;
  }
  if (PQstatus(w->conn) == CONNECTION_BAD) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  /* connect_timeout is not applied by PQconnectPoll: our own timer does it. */
  uv_timer_start(&w->timer, on_timer, w->opt.connect_timeout_ms, 0);
  /* As if PQconnectPoll had answered PGRES_POLLING_WRITING (libpq's documented start). */
  int rc = watch(w, UV_WRITABLE, true);
  if (rc < 0) conn_failed(w, uv_strerror(rc));
}

static void cb_notice(void *arg, const char *message) {
  (void)arg;
  log_debug("pgw: server: %.*s", (int)strcspn(message, "\n"), message);
}

/* The connect timer keeps running through the setup step: a server that accepts but
 * never answers is a failed attempt too. */
static void connected(pgw_t *w) {
  if (PQsetnonblocking(w->conn, 1) != 0) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  PQsetNoticeProcessor(w->conn, cb_notice, NULL);
  w->state = S_SETUP;
  pgw__step_reset(w, STEP_SETUP); /* nothing of the last connection's errors carries over */
  if (!PQsendQuery(w->conn, pgw__setup_sql)) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  drive(w);
}

static void connect_poll(pgw_t *w) {
  /* Drop the registration first: PQconnectPoll may close this socket and open another. */
  unwatch(w);
  switch (PQconnectPoll(w->conn)) {
    case PGRES_POLLING_READING:
      if (watch(w, UV_READABLE, true) < 0) conn_failed(w, "cannot poll the socket");
      break;
    case PGRES_POLLING_WRITING:
      if (watch(w, UV_WRITABLE, true) < 0) conn_failed(w, "cannot poll the socket");
      break;
    case PGRES_POLLING_OK:
      connected(w);
      break;
    default:
      conn_failed(w, PQerrorMessage(w->conn));
      break;
  }
}

/* An established connection went away (or a batch timed out): the batch in flight goes
 * back to the head of the queue, nothing of it counts as written. */
void pgw__conn_lost(pgw_t *w, const char *why) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", why && *why ? why : "connection closed");
  msg[strcspn(msg, "\n")] = '\0';
  bool was_setup = w->state == S_SETUP;
  drop_conn(w);
  w->stats.connection_losses++;
  if (w->cur) {
    log_warn("pgw: batch %s interrupted (%s); it will be retried", w->cur->name, msg);
    w->stats.batches_retried++;
    pgw__queue_push_front(w, w->cur);
    w->cur = NULL;
  }
  if (w->closing) {
    cancel_all(w, "writer closed after the connection was lost; not written");
    pgw__close_check(w);
    return;
  }
  if (!w->down_logged) {
    log_warn("pgw: %s PostgreSQL: %s; reconnecting",
             was_setup ? "cannot set up the connection to" : "lost the connection to", msg);
    w->down_logged = true;
  } else {
    log_debug("pgw: connection lost again: %s", msg);
  }
  schedule_reconnect(w);
}

static void on_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  if (w->state == S_BACKOFF)
    conn_start(w);
  else if (w->state == S_CONNECTING)
    conn_failed(w, "connection attempt timed out");
  else if (w->state == S_SETUP)
    pgw__conn_lost(w, "connection set-up timed out");
}

/* Moves the connection as far as it can go without blocking, then polls for what it
 * waits for. Called on every readable/writable event and after every new step. */
static void drive(pgw_t *w) {
  for (;;) {
    if (!w->conn || w->state == S_CLOSED || w->state == S_BACKOFF) return;
    if (w->state == S_IDLE) {
      /* Nothing asked: anything readable is a notice, or the server going away. */
      PGresult *r;
      while (!PQisBusy(w->conn) && (r = PQgetResult(w->conn)) != NULL) PQclear(r);
      PGnotify *n;
      while ((n = PQnotifies(w->conn)) != NULL) PQfreemem(n);
      if (PQstatus(w->conn) == CONNECTION_BAD) {
        pgw__conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      if (watch(w, UV_READABLE, false) < 0) pgw__conn_lost(w, "cannot poll the socket");
      return;
    }
    bool blocked_on_write = false;
    if (w->step == STEP_COPY && w->copy_phase == COPY_SENDING) {
      int rc = pgw__copy_push(w);
      if (rc < 0) {
        pgw__conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      if (rc == 1) blocked_on_write = true;
      if (rc == 2) w->copy_phase = COPY_RESULT;
    }
    if (!blocked_on_write) {
      /* Also after PQputCopyEnd: the last slice and CopyDone may still sit in libpq. */
      int f = PQflush(w->conn);
      if (f < 0) {
        pgw__conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      blocked_on_write = f == 1;
    }
    bool stepped = false;
    bool sending = w->step == STEP_COPY && w->copy_phase == COPY_SENDING;
    while (!sending && !PQisBusy(w->conn)) {
      PGresult *r = PQgetResult(w->conn);
      if (!r) {
        pgw__step_finished(w);
        stepped = true;
        break;
      }
      pgw__handle_result(w, r);
      PQclear(r);
      if (w->step == STEP_COPY && w->copy_phase == COPY_SENDING) {
        stepped = true; /* COPY_IN arrived: go put the data */
        break;
      }
    }
    if (stepped) continue;
    int events = UV_READABLE | (blocked_on_write ? UV_WRITABLE : 0);
    if (watch(w, events, false) < 0) pgw__conn_lost(w, "cannot poll the socket");
    return;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  pgw_t *w = h->data;
  if (w->state == S_CONNECTING) {
    connect_poll(w);
    return;
  }
  if (status < 0) {
    pgw__conn_lost(w, uv_strerror(status));
    return;
  }
  if ((events & UV_READABLE) && !PQconsumeInput(w->conn)) {
    /* The socket is dead: what the server said last (a shutdown notice) is the reason. */
    pgw__conn_lost(w, PQerrorMessage(w->conn));
    return;
  }
  drive(w);
}

/* ------------------------------------------------------------------ public */

pgw_t *pgw_new(uv_loop_t *loop, const pgw_options_t *opt) {
  pgw_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->loop = loop;
  if (opt) w->opt = *opt;
  if (!w->opt.max_queued_rows) w->opt.max_queued_rows = 200000;
  if (!w->opt.connect_timeout_ms) w->opt.connect_timeout_ms = 10000;
  if (!w->opt.batch_timeout_ms) w->opt.batch_timeout_ms = 300000;
  if (!w->opt.backoff_min_ms) w->opt.backoff_min_ms = 200;
  if (!w->opt.backoff_max_ms) w->opt.backoff_max_ms = 30000;
  if (w->opt.backoff_max_ms < w->opt.backoff_min_ms) w->opt.backoff_max_ms = w->opt.backoff_min_ms;
  if (w->opt.conninfo && *w->opt.conninfo) {
    w->conninfo = strdup(w->opt.conninfo);
    if (!w->conninfo) {
      free(w);
      return NULL;
    }
  }
  w->opt.conninfo = NULL; /* never read again: w->conninfo is ours */
  w->rng = ((uint64_t)uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
  uv_timer_init(loop, &w->timer);
  uv_timer_init(loop, &w->op_timer);
  uv_timer_init(loop, &w->close_timer);
  uv_timer_init(loop, &w->pressure_timer);
  w->timer.data = w->op_timer.data = w->close_timer.data = w->pressure_timer.data = w;
  w->open_handles = 4;
  w->state = S_BACKOFF;
  conn_start(w);
  return w;
}

int pgw_submit(pgw_t *w, pgw_batch_t *b, pgw_batch_cb cb, void *data) {
  if (!b || !cb) return -EINVAL;
  if (w->closing) return -ESHUTDOWN;
  size_t rows = pgw_batch_rows(b);
  if (w->queued_rows > 0 && w->queued_rows + rows > w->opt.max_queued_rows) {
    /* Refused: from now on the producer should hold back until the queue is half empty. */
    if (!w->paused) pressure_set(w, true);
    return -EAGAIN;
  }
  b->cb = cb;
  b->cb_data = data;
  b->next = NULL;
  if (w->tail)
    w->tail->next = b;
  else
    w->head = b;
  w->tail = b;
  w->queued_batches++;
  w->queued_rows += rows;
  pressure_update(w);
  pgw__maybe_start_batch(w);
  return 0;
}

size_t pgw_queue_rows(const pgw_t *w) { return w->queued_rows; }
size_t pgw_queue_batches(const pgw_t *w) { return w->queued_batches + (w->cur ? 1 : 0); }
bool pgw_queue_full(const pgw_t *w) { return w->paused; }
bool pgw_connected(const pgw_t *w) { return w->state == S_IDLE || w->state == S_BUSY; }
void pgw_get_stats(const pgw_t *w, pgw_stats_t *out) { *out = w->stats; }

/* Final teardown: no batch is left; close the connection and every handle. */
static void shutdown_now(pgw_t *w) {
  if (w->state == S_CLOSED) return;
  cancel_all(w, "writer closed before it was written");
  drop_conn(w);
  w->state = S_CLOSED;
  uv_close((uv_handle_t *)&w->timer, on_close_handle);
  uv_close((uv_handle_t *)&w->op_timer, on_close_handle);
  uv_close((uv_handle_t *)&w->close_timer, on_close_handle);
  uv_close((uv_handle_t *)&w->pressure_timer, on_close_handle);
}

/* While closing: done when nothing is queued or in flight, or when not connected. */
void pgw__close_check(pgw_t *w) {
  if (!w->closing || w->state == S_CLOSED) return;
  bool busy = w->cur || w->head;
  bool connected = w->state == S_IDLE || w->state == S_BUSY || w->state == S_SETUP;
  if (!busy || !connected) shutdown_now(w);
}

static void on_close_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  if (w->cur || w->head)
    log_warn("pgw: closing with %zu batch(es) unwritten after the drain timeout",
             pgw_queue_batches(w));
  shutdown_now(w);
}

void pgw_close(pgw_t *w, unsigned drain_timeout_ms, void (*cb)(void *data), void *data) {
  if (w->closing) return;
  w->closing = true;
  w->close_cb = cb;
  w->close_data = data;
  if (w->state == S_CONNECTING || w->state == S_BACKOFF) {
    shutdown_now(w);
    return;
  }
  uv_timer_start(&w->close_timer, on_close_timer, drain_timeout_ms, 0);
  pgw__close_check(w);
}

/* The steps of a batch's transaction (pgw_int.h): PARTITIONS (outside the transaction),
 * BEGIN with the first COPY, a COPY per kind, the merges with the COMMIT, and the ROLLBACK
 * that ends a failed attempt; and how each step's results move the batch on. Invariant:
 * a batch is reported written only after its COMMIT's result; an attempt that cannot
 * finish goes back to the queue (pgw__conn_lost) or fails for its data, never both. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/pgw_int.h"
#include "util/log.h"

/* COPY data goes to libpq in slices of this size, each after the previous one was flushed
 * to the socket: libpq grows its output buffer without bound in non-blocking mode. */
#define COPY_SLICE (64 * 1024)


static void on_op_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  char msg[256];
  snprintf(msg, sizeof msg, "batch %s took longer than %u ms", w->cur ? w->cur->name : "?",
           w->opt.batch_timeout_ms);
  pgw__conn_lost(w, msg);
}

static int next_copy_kind(const pgw_batch_t *b, int after) {
  for (int k = after + 1; k < K_COUNT; k++)
    if (b->rows[k] > 0) return k;
  return -1;
}

void pgw__step_reset(pgw_t *w, pgw_step_t step) {
  w->step = step;
  free(w->step_error);
  w->step_error = NULL;
  w->sqlstate[0] = '\0';
  w->lost_in_step = false;
  w->retry_after_rollback = false;
  w->committed = false;
}

/* Sends `sql` for the step; false when the connection is gone (pgw__conn_lost was called). */
static bool send_query(pgw_t *w, pgw_step_t step, const char *sql) {
  pgw__step_reset(w, step);
  if (!PQsendQuery(w->conn, sql)) {
    pgw__conn_lost(w, PQerrorMessage(w->conn));
    return false;
  }
  return true;
}

/* The BEGIN of an attempt: with a savepoint to fall back to when the direct COPY meets a
 * stored key. */
static const char *begin_sql(const pgw_t *w) {
  return w->direct ? "BEGIN; SAVEPOINT pgw_direct" : "BEGIN";
}

/* COPY of `kind`; with_begin puts the BEGIN in front, in the same query string, which
 * saves a round trip per batch (the server runs the statements of a simple query one
 * after another, COPY included; on an error it skips the rest). */
static bool start_copy(pgw_t *w, int kind, bool with_begin) {
  char sql[224];
  const char *pre = with_begin ? begin_sql(w) : "";
  const char *sep = with_begin ? "; " : "";
  if (w->direct && pgw__direct_copy_sql[kind])
    snprintf(sql, sizeof sql, "%s%s%s", pre, sep, pgw__direct_copy_sql[kind]);
  else
    snprintf(sql, sizeof sql, "%s%sCOPY pg_temp.%s FROM STDIN (FORMAT binary)", pre, sep,
             pgw__kind_table[kind]);
  w->copy_kind = kind;
  w->copy_phase = COPY_WAIT_IN;
  w->copy_off = 0;
  w->copy_trailer_sent = false;
  return send_query(w, STEP_COPY, sql);
}

static bool start_merge(pgw_t *w) {
  buf_t sql = BUF_INIT;
  int rc = 0;
  w->nmerge = 0;
  w->merge_at = 0;
  w->fence_pending = w->cur->nfence > 0;
  if (w->fence_pending) rc = pgw__fence_sql(w->conn, w->cur, &sql);
  if (w->direct) {
    /* The direct COPYs went through: every row of them is new. */
    w->result.positions_new = w->cur->rows[K_POSITIONS];
  }
  for (int k = 0; k < K_COUNT && rc == 0; k++) {
    if (w->cur->rows[k] == 0 || (w->direct && pgw__direct_copy_sql[k])) continue;
    w->merge_kinds[w->nmerge++] = k;
    if (w->cur->isolate & (1u << k))
      rc = buf_printf(&sql,
                      "SELECT * FROM fleetarc.isolate_rows('%s', $pgw$%s$pgw$, '%s');",
                      pgw__kind_table[k], pgw__merge_sql[k], pgw__kind_source[k]);
    else
      rc = buf_puts(&sql, pgw__merge_sql[k]);
  }
  /* The staging tables filled are emptied for the next batch (pgw_sql.c). */
  w->truncate_pending = w->nmerge > 0;
  for (int i = 0; i < w->nmerge && rc == 0; i++)
    rc = buf_printf(&sql, "%s pg_temp.%s", i ? "," : "TRUNCATE",
                    pgw__kind_table[w->merge_kinds[i]]);
  if (rc == 0 && w->nmerge > 0) rc = buf_puts(&sql, ";");
  /* The COMMIT goes with the merges: one round trip less; its result comes last. */
  if (rc == 0) rc = buf_puts(&sql, "COMMIT;");
  bool ok;
  if (rc < 0) {
    pgw__conn_lost(w, "out of memory");
    ok = false;
  } else if (w->nmerge == 0 && !w->fence_pending) {
    ok = send_query(w, STEP_COMMIT, "COMMIT");
  } else {
    ok = send_query(w, STEP_MERGE, sql.data);
  }
  buf_free(&sql);
  return ok;
}

/* Opens the attempt's transaction: with its first COPY, or alone for a batch of no rows. */
static bool begin_batch(pgw_t *w) {
  int k = next_copy_kind(w->cur, -1);
  if (k >= 0) return start_copy(w, k, true);
  return send_query(w, STEP_BEGIN, begin_sql(w));
}

/* Takes the next batch if ready and idle. */
void pgw__maybe_start_batch(pgw_t *w) {
  if (w->state != S_IDLE || w->cur || !w->head) return;
  pgw_batch_t *b = pgw__queue_pop(w);
  w->cur = b;
  w->state = S_BUSY;
  b->attempts++;
  memset(&w->result, 0, sizeof w->result);
  memset(w->refused, 0, sizeof w->refused);
  pgw__buf_truncate(&w->refused_log, 0);
  uv_timer_start(&w->op_timer, on_op_timer, w->opt.batch_timeout_ms, 0);
  /* The fast path, unless the batch already met stored keys in an earlier attempt. */
  w->direct = !b->overlapped && !b->isolate && (b->rows[K_POSITIONS] > 0 || b->rows[K_ALARMS] > 0);
  char *sql = pgw__partitions_sql(w, b);
  bool ok = sql ? send_query(w, STEP_PARTITIONS, sql) : begin_batch(w);
  free(sql);
  (void)ok; /* on false, pgw__conn_lost has already requeued the batch */
}

/* The batch committed (or failed for its data): report it and take the next one. */
static void batch_done(pgw_t *w, int status, const char *error) {
  uv_timer_stop(&w->op_timer);
  if (status == 0) {
    for (int k = 0; k < K_COUNT; k++) w->stats.rows_rejected[k] += w->refused[k];
    for (char *line = w->refused_log.data, *end; line && (end = strchr(line, '\n')); line = end + 1) {
      *end = '\0';
      log_warn("%s", line);
    }
  }
  w->state = S_IDLE;
  w->step = STEP_NONE;
  pgw__batch_finish(w, w->cur, status, error);
  if (w->state != S_IDLE) return; /* the callback closed the writer */
  pgw__close_check(w);
  pgw__maybe_start_batch(w);
}

/* A class of SQLSTATE that says "try again on a fresh connection", not "bad data":
 * connection exceptions (08), transaction rollbacks (40: serialization, deadlock),
 * insufficient resources (53), operator intervention (57: shutdown, cancel), system (58). */
static bool sqlstate_transient(const char *s) {
  return strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 || strncmp(s, "53", 2) == 0 ||
         strncmp(s, "57", 2) == 0 || strncmp(s, "58", 2) == 0;
}

/* The kind of rows whose statement failed with an error that a single row's data can
 * cause (data exception 22, integrity constraint 23, program limit 54), or -1: the
 * error is of another kind, or came from a step that cannot be bisected (a
 * COPY into staging refuses only what no row of ours can hold). */
static int refused_kind(const pgw_t *w) {
  const char *s = w->sqlstate;
  if (strncmp(s, "22", 2) != 0 && strncmp(s, "23", 2) != 0 && strncmp(s, "54", 2) != 0)
    return -1;
  if (w->step == STEP_COPY && w->direct && pgw__direct_copy_sql[w->copy_kind]) return w->copy_kind;
  if (w->step == STEP_MERGE && w->merge_at < w->nmerge) return w->merge_kinds[w->merge_at];
  return -1;
}

/* SETUP is through: the connection is ready for batches. */
static void finished_setup(pgw_t *w) {
  if (w->step_error) {
    char msg[600];
    snprintf(msg, sizeof msg, "creating staging tables: %s", w->step_error);
    pgw__conn_lost(w, msg);
    return;
  }
  uv_timer_stop(&w->timer);
  w->step = STEP_NONE;
  w->stats.connects++;
  if (w->down_logged)
    log_info("pgw: connected to PostgreSQL after %u failed attempt%s", w->failures,
             w->failures == 1 ? "" : "s");
  else
    log_debug("pgw: connected to PostgreSQL");
  w->down_logged = false;
  w->failures = 0;
  w->state = S_IDLE;
  if (w->closing && !w->head) {
    pgw__close_check(w);
    return;
  }
  pgw__maybe_start_batch(w);
}

/* ROLLBACK is through: the batch is retried at once (retry_after_rollback), or dropped
 * with the error saved in step_error (bad data). */
static void finished_rollback(pgw_t *w) {
  pgw_batch_t *b = w->cur;
  char *err = w->step_error ? w->step_error : strdup("rollback");
  w->step_error = NULL;
  if (w->retry_after_rollback && (w->lost_in_step || PQstatus(w->conn) == CONNECTION_BAD)) {
    free(err);
    pgw__conn_lost(w, "connection lost during ROLLBACK"); /* the batch goes back to the queue */
    return;
  }
  if (w->lost_in_step || PQstatus(w->conn) == CONNECTION_BAD) {
    /* The rollback could not be confirmed, but the batch's fate is decided (bad data):
     * report it and reconnect for the next one. */
    uv_timer_stop(&w->op_timer);
    w->state = S_IDLE;
    pgw__batch_finish(w, b, -EIO, err ? err : "data error");
    free(err);
    pgw__conn_lost(w, "connection lost during ROLLBACK");
    return;
  }
  if (w->retry_after_rollback) {
    /* The partitions were gone, or a kind of rows is now isolated: retry at once. */
    free(err);
    uv_timer_stop(&w->op_timer);
    w->state = S_IDLE;
    w->cur = NULL;
    pgw__queue_push_front(w, b);
    pgw__maybe_start_batch(w);
    return;
  }
  batch_done(w, -EIO, err ? err : "data error");
  free(err);
}

/* Rolls the attempt back; the batch is retried once the ROLLBACK is through. */
static void rollback_and_retry(pgw_t *w) {
  if (!send_query(w, STEP_ROLLBACK, "ROLLBACK")) return; /* step_reset clears the flag */
  w->retry_after_rollback = true;
}

/* The step failed (step_error): reconnect, fall back to merging, retry the batch, or
 * drop it for its data. */
static void finished_with_error(pgw_t *w) {
  pgw_batch_t *b = w->cur;
  if (w->lost_in_step || sqlstate_transient(w->sqlstate) || PQstatus(w->conn) == CONNECTION_BAD) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s", w->step_error);
    pgw__conn_lost(w, msg);
    return;
  }
  if (w->step == STEP_COPY && w->direct && strcmp(w->sqlstate, "23505") == 0) {
    /* Overlap with stored rows (a retry after a crash): undo the direct COPYs and
     * take the staging + ON CONFLICT path for this batch; the unique keys absorb the
     * overlap there, exactly as before. */
    log_debug("pgw: batch %s overlaps stored rows; merging it", b->name);
    b->overlapped = true;
    w->direct = false;
    w->result.positions_new = w->result.alarms_new = 0;
    send_query(w, STEP_FALLBACK, "ROLLBACK TO SAVEPOINT pgw_direct");
    return;
  }
  bool in_tx = w->step != STEP_PARTITIONS;
  bool no_partition = strncmp(w->sqlstate, "23514", 5) == 0 &&
                      strstr(w->step_error, "no partition") != NULL;
  if (no_partition && !b->partitions_retried) {
    /* Someone dropped a partition this writer thought existed: forget what we know and
     * let the retry create it. */
    b->partitions_retried = true;
    w->nknown = 0;
    log_warn("pgw: batch %s: a partition is missing; retrying with ensure_partitions",
             b->name);
    rollback_and_retry(w);
    return;
  }
  int bad_kind = refused_kind(w);
  if (in_tx && bad_kind >= 0 && !(b->isolate & (1u << bad_kind))) {
    /* A row the server refuses for its data: roll back and retry the batch with that
     * kind bisected down to the refused rows, which go to fleetarc.rejected; the rest
     * (and the cursor moves) commit. Each kind is isolated at most once per batch. */
    log_info("pgw: batch %s: %s; retrying it, isolating the refused %s rows", b->name,
             w->step_error, pgw__kind_source[bad_kind]);
    b->isolate |= 1u << bad_kind;
    w->result.positions_new = w->result.alarms_new = 0;
    rollback_and_retry(w);
    return;
  }
  size_t len = strlen(b->name) + strlen(w->step_error) + 32;
  char *saved = malloc(len);
  if (saved) snprintf(saved, len, "batch %s: %s", b->name, w->step_error);
  if (!in_tx) {
    batch_done(w, -EIO, saved ? saved : w->step_error);
    free(saved);
    return;
  }
  if (!send_query(w, STEP_ROLLBACK, "ROLLBACK")) {
    free(saved);
    return;
  }
  w->step_error = saved; /* reported when the ROLLBACK is through */
}

/* BEGIN, the fallback to the savepoint, or a COPY is through: the next kind's COPY, or
 * the merges. */
static void finished_copy(pgw_t *w) {
  int k = next_copy_kind(w->cur, w->step == STEP_COPY ? w->copy_kind : -1);
  if (k >= 0)
    start_copy(w, k, false);
  else
    start_merge(w);
}

/* The merges and their COMMIT are through. */
static void finished_merge(pgw_t *w) {
  if (!w->committed) {
    /* Cannot happen (the COMMIT's result is the query's last): be safe, retry. */
    pgw__conn_lost(w, "the merge's COMMIT gave no result");
    return;
  }
  batch_done(w, 0, NULL);
}

void pgw__step_finished(pgw_t *w) {
  if (w->step == STEP_SETUP) {
    finished_setup(w);
    return;
  }
  if (w->step == STEP_ROLLBACK) {
    finished_rollback(w);
    return;
  }
  if (w->step_error) {
    finished_with_error(w);
    return;
  }
  switch (w->step) {
    case STEP_PARTITIONS:
      for (size_t i = 0; i < w->npending; i++) (void)pgw__remember_month(w, w->pending_months[i]);
      begin_batch(w);
      break;
    case STEP_BEGIN:
    case STEP_FALLBACK:
    case STEP_COPY:
      finished_copy(w);
      break;
    case STEP_MERGE:
      finished_merge(w);
      break;
    case STEP_COMMIT:
      batch_done(w, 0, NULL);
      break;
    default:
      break;
  }
}

static void note_error(pgw_t *w, const PGresult *r) {
  if (w->step_error) return; /* keep the first: later ones are "transaction aborted" */
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  snprintf(w->sqlstate, sizeof w->sqlstate, "%s", state ? state : "");
  if (!state) w->lost_in_step = true; /* libpq's own error: the connection broke */
  if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
    w->lost_in_step = true;
  char msg[512];
  snprintf(msg, sizeof msg, "%s (SQLSTATE %s)",
           primary ? primary : PQresultErrorMessage(r), state ? state : "none");
  msg[strcspn(msg, "\n")] = '\0';
  w->step_error = strdup(msg);
  if (!w->step_error) w->lost_in_step = true;
}

static size_t cmd_tuples(PGresult *r) {
  const char *s = PQcmdTuples(r);
  return s && *s ? (size_t)strtoull(s, NULL, 10) : 0;
}

/* The answer of fleetarc.isolate_rows for `kind`: one row (NULL, imei, error) per row the
 * server refused (now in fleetarc.rejected; logged here once each), then (merged, NULL,
 * NULL). Returns the merged count; *refused gets the number of refused rows. */
static size_t isolated_result(pgw_t *w, int kind, const PGresult *r, size_t *refused) {
  size_t merged = 0;
  *refused = 0;
  if (PQnfields(r) != 3) return 0;
  for (int i = 0; i < PQntuples(r); i++) {
    if (!PQgetisnull(r, i, 0)) {
      merged = (size_t)strtoull(PQgetvalue(r, i, 0), NULL, 10);
      continue;
    }
    (*refused)++;
    /* Logged at the COMMIT: an attempt rolled back later would log it twice. */
    if (buf_printf(&w->refused_log, "pgw: batch %s: %s row of IMEI %s refused, kept in"
                   " fleetarc.rejected: %s\n", w->cur->name, pgw__kind_source[kind],
                   PQgetisnull(r, i, 1) ? "?" : PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)) < 0)
      log_warn("pgw: batch %s: a %s row refused (see fleetarc.rejected)", w->cur->name,
               pgw__kind_source[kind]);
  }
  w->result.rows_rejected += *refused;
  w->refused[kind] += *refused;
  return merged;
}

/* One result of the current step. */
void pgw__handle_result(pgw_t *w, PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COPY_IN) {
    if (w->step == STEP_COPY && w->copy_phase == COPY_WAIT_IN) w->copy_phase = COPY_SENDING;
    return;
  }
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      w->lost_in_step = true; /* never asked for: the protocol state is unknown */
      return;
    }
    note_error(w, r);
    return;
  }
  if (w->step_error) return;
  pgw_batch_t *b = w->cur;
  switch (w->step) {
    case STEP_COPY:
      /* The BEGIN (and SAVEPOINT) sent with a first COPY answer first. */
      if (strncmp(PQcmdStatus(r), "COPY", 4) != 0) break;
      if (cmd_tuples(r) != b->rows[w->copy_kind]) {
        /* Every tuple the batch holds must have been staged: the counts say so. */
        char msg[128];
        snprintf(msg, sizeof msg, "COPY staged %zu rows of %zu", cmd_tuples(r),
                 b->rows[w->copy_kind]);
        w->step_error = strdup(msg);
        snprintf(w->sqlstate, sizeof w->sqlstate, "XX000");
      }
      break;
    case STEP_MERGE:
      if (w->fence_pending) { /* the fence's SELECT comes first */
        w->fence_pending = false;
        break;
      }
      if (w->merge_at < w->nmerge) {
        int kind = w->merge_kinds[w->merge_at++];
        size_t refused = 0;
        size_t n = (b->isolate & (1u << kind)) ? isolated_result(w, kind, r, &refused)
                                               : cmd_tuples(r);
        switch (kind) {
          case K_POSITIONS:
            w->result.positions_new = n;
            w->result.positions_dup = b->rows[K_POSITIONS] - refused - n;
            break;
          case K_ALARMS:
            w->result.alarms_new = n;
            w->result.alarms_dup = b->rows[K_ALARMS] - refused - n;
            break;
          case K_DEVICE_STATE: w->result.device_states = n; break;
          case K_DEVICES: w->result.devices = n; break;
          case K_MILEAGE: w->result.mileage_days = n; break;
          case K_CURSORS: w->result.cursors_moved = n; break;
          case K_COVERAGE: w->result.coverage_added = b->rows[K_COVERAGE]; break;
          case K_GAPS: w->result.gaps_written = b->rows[K_GAPS]; break;
        }
        break;
      }
      if (w->truncate_pending) { /* then the staging tables' TRUNCATE */
        w->truncate_pending = false;
        break;
      }
      /* The result after the merges' (and the TRUNCATE's) is the COMMIT's. */
      __attribute__((fallthrough));
    case STEP_COMMIT:
      /* COMMIT of an aborted transaction answers COMMAND_OK with the tag ROLLBACK. */
      if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        w->step_error = strdup("COMMIT answered ROLLBACK");
        snprintf(w->sqlstate, sizeof w->sqlstate, "40000");
      } else {
        w->committed = true;
      }
      break;
    default:
      break;
  }
}

/* Puts the current COPY's data, a slice at a time, each after the last was flushed.
 * 1: blocked, wait for writable; 0: data and end sent; -1: connection lost; 2: the
 * server ended the COPY (an error is waiting among the results). */
int pgw__copy_push(pgw_t *w) {
  buf_t *d = &w->cur->copy[w->copy_kind];
  for (;;) {
    int f = PQflush(w->conn);
    if (f < 0) return -1;
    if (f == 1) return 1;
    int r;
    if (w->copy_off < d->len) {
      size_t n = d->len - w->copy_off;
      if (n > COPY_SLICE) n = COPY_SLICE;
      r = PQputCopyData(w->conn, d->data + w->copy_off, (int)n);
      if (r == 1) w->copy_off += n;
    } else if (!w->copy_trailer_sent) {
      r = PQputCopyData(w->conn, pgw__copy_trailer, sizeof pgw__copy_trailer);
      if (r == 1) w->copy_trailer_sent = true;
    } else {
      r = PQputCopyEnd(w->conn, NULL);
      if (r == 1) {
        w->copy_phase = COPY_RESULT;
        return 0;
      }
    }
    if (r == 0) return 1;
    if (r < 0) return PQstatus(w->conn) == CONNECTION_OK ? 2 : -1;
  }
}

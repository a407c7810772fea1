/* The writer's private parts, shared by its files and by nothing else: pgw.c (the
 * connection state machine and the public API), pgw_step.c (the steps of a batch's
 * transaction), pgw_copy.c (building a batch: binary COPY encoding) and pgw_sql.c (the
 * SQL text: staging tables, merges, fences, month partitions). Functions named pgw__*
 * are internal to them; every one runs on the loop's thread. */
#ifndef FLEETARC_DB_PGW_INT_H
#define FLEETARC_DB_PGW_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "db/pgw.h"
#include "util/buf.h"

/* Kinds of rows, in the order they are copied and merged (cursors last, although in one
 * transaction the order does not change what commits). */
enum {
  K_POSITIONS,
  K_ALARMS,
  K_DEVICE_STATE,
  K_DEVICES,
  K_MILEAGE,
  K_REMOVED, /* devices no longer listed: after K_DEVICES, which clears removed_at */
  K_CURSORS,
  K_COVERAGE, /* covered intervals of playback and alarms (070_coverage.sql) */
  K_GAPS,     /* gaps asked again for late uploads (072_gaps.sql) */
  K_COUNT,
};
_Static_assert(K_COUNT == PGW_KINDS, "pgw.h's PGW_KINDS counts the kinds");

/* Months since 1970-01 (UTC) of a UNIX time. */
typedef int32_t month_t;

struct pgw_batch {
  char *name;
  buf_t copy[K_COUNT];       /* binary COPY data per kind (header and tuples) */
  size_t rows[K_COUNT];
  uint32_t seq;              /* upsert order within the batch */
  month_t *months;           /* distinct months of positions and alarms */
  size_t nmonths, capmonths;
  int64_t month_lo, month_hi; /* [lo, hi) of months[nmonths-1]: skips the search per row */

  /* Owned by the writer once submitted. */
  pgw_batch_t *next;
  pgw_batch_cb cb;
  void *cb_data;
  unsigned attempts;
  bool partitions_retried;   /* "no partition" already retried once */
  bool overlapped;           /* its direct COPY met a stored key: retries merge at once */
  unsigned isolate;          /* kinds (1 << K_*) bisected by isolate_rows: a row was refused */

  /* Leases checked in the transaction (pgw_batch_add_fence), before the merges. */
  char *fence_holder;
  struct pgw_fence {
    char *account;
    int64_t generation;
  } *fences;
  size_t nfence, capfence;
};

typedef enum {
  S_BACKOFF,    /* no connection; the timer starts the next attempt */
  S_CONNECTING, /* PQconnectPoll in progress */
  S_SETUP,      /* connected, creating the staging tables */
  S_IDLE,       /* ready, no batch */
  S_BUSY,       /* writing w->cur */
  S_CLOSED,     /* pgw_close finished its work; handles closing */
} pgw_state_t;

typedef enum {
  STEP_NONE,
  STEP_SETUP,
  STEP_PARTITIONS,
  STEP_BEGIN,
  STEP_COPY,
  STEP_FALLBACK, /* ROLLBACK TO SAVEPOINT after the direct COPY met a stored key */
  STEP_MERGE,
  STEP_COMMIT,
  STEP_ROLLBACK,
} pgw_step_t;

typedef enum {
  COPY_WAIT_IN, /* COPY sent, waiting for PGRES_COPY_IN */
  COPY_SENDING, /* putting data; PQgetResult must not be called */
  COPY_RESULT,  /* end sent, waiting for the command's result */
} copy_phase_t;

/* A poll handle lives on the heap: the socket can change while connecting, and a closing
 * handle must outlive its replacement until its close callback. */
typedef struct pgw_poll {
  uv_poll_t handle;
  int fd;
} pgw_poll_t;

struct pgw {
  uv_loop_t *loop;
  pgw_options_t opt;
  char *conninfo;
  PGconn *conn;
  pgw_state_t state;
  pgw_poll_t *poll;
  int poll_events;

  uv_timer_t timer;          /* backoff delay, or connect timeout */
  uv_timer_t op_timer;       /* batch attempt timeout */
  uv_timer_t close_timer;    /* drain deadline of pgw_close */
  uv_timer_t pressure_timer; /* zero timeout: tells on_pressure from the loop */
  int open_handles;

  /* The queue, FIFO; cur is the batch being written (not in the list). */
  pgw_batch_t *head, *tail, *cur;
  size_t queued_rows, queued_batches;
  bool paused;
  bool paused_told;       /* the state on_pressure last reported */

  /* The step of cur (or of the setup) in progress. */
  pgw_step_t step;
  int copy_kind;
  copy_phase_t copy_phase;
  size_t copy_off;
  bool copy_trailer_sent;
  bool direct;            /* this attempt COPYs positions/alarms straight into their tables */
  int merge_kinds[K_COUNT];
  int nmerge, merge_at;
  bool fence_pending;     /* the merge step's first result is the fence's */
  bool truncate_pending;  /* the result before the COMMIT's is the staging TRUNCATE's */
  bool want_write;
  char *step_error;       /* first error result of the step; malloc'd */
  char sqlstate[6];
  bool lost_in_step;      /* an error result said the connection is going away */
  bool retry_after_rollback; /* the ROLLBACK step ends in a retry, not a failure */
  bool committed;         /* the step's COMMIT answered COMMIT */
  pgw_result_t result;
  size_t refused[K_COUNT]; /* this attempt's refused rows by kind: counted at its COMMIT */
  buf_t refused_log;       /* and their log lines, logged at its COMMIT */

  month_t *known_months;  /* partitions known to exist (this writer created or saw them) */
  size_t nknown, capknown;
  month_t *pending_months; /* the months the PARTITIONS step is creating */
  size_t npending;

  unsigned failures;      /* consecutive failed connection attempts */
  bool down_logged;       /* "cannot connect"/"lost" was logged; next success says so */
  uint64_t rng;
  pgw_stats_t stats;

  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
};

/* ---- pgw_sql.c: the SQL text */

/* Each kind's staging table, and the table it goes to (fleetarc.rejected's source). */
extern const char *const pgw__kind_table[K_COUNT];
extern const char *const pgw__kind_source[K_COUNT];
/* Creates the staging tables; sent once per connection. */
extern const char pgw__setup_sql[];
/* The COPY straight into the real table (positions only), NULL for the other kinds. */
extern const char *const pgw__direct_copy_sql[K_COUNT];
/* Staging to real table, one statement per kind. */
extern const char *const pgw__merge_sql[K_COUNT];
/* Appends the batch's fence statement (096_leases.sql), escaped for `conn`: 0, -ENOMEM. */
int pgw__fence_sql(PGconn *conn, const pgw_batch_t *b, buf_t *sql)
    __attribute__((warn_unused_result));
/* The SQL that creates the batch's partitions that the writer does not know of (they
 * become w->pending_months), NULL when none is missing or on out of memory. */
char *pgw__partitions_sql(pgw_t *w, const pgw_batch_t *b);
/* Notes that the partitions of month m exist. 0, -ENOMEM (then asked again next time). */
int pgw__remember_month(pgw_t *w, month_t m);

/* ---- pgw_copy.c: a batch's COPY data */

/* The end of every binary COPY stream (a -1 field count). */
extern const char pgw__copy_trailer[2];
/* Cuts a buffer back to len bytes (an undone tuple, or an emptied log). */
void pgw__buf_truncate(buf_t *o, size_t len);

/* ---- pgw.c: the connection and the queue */

/* An established connection went away (or a batch timed out): cur back to the queue's
 * head, reconnect with backoff (or finish closing). */
void pgw__conn_lost(pgw_t *w, const char *why);
/* Ends a batch: its callback, then it is freed and its rows released. */
void pgw__batch_finish(pgw_t *w, pgw_batch_t *b, int status, const char *error);
pgw_batch_t *pgw__queue_pop(pgw_t *w);
void pgw__queue_push_front(pgw_t *w, pgw_batch_t *b);
/* While closing: finishes the close when nothing is left to write, or no connection. */
void pgw__close_check(pgw_t *w);

/* ---- pgw_step.c: the steps of a batch (and of the connection's setup) */

/* Starts a step: forgets the last one's error and flags. */
void pgw__step_reset(pgw_t *w, pgw_step_t step);
/* Takes the next batch if the connection is idle. */
void pgw__maybe_start_batch(pgw_t *w);
/* One result of the current step. */
void pgw__handle_result(pgw_t *w, PGresult *r);
/* The step's results are all in (PQgetResult returned NULL): goes on, or handles its
 * error. */
void pgw__step_finished(pgw_t *w);
/* Puts the current COPY's data: 1 blocked (wait for writable), 0 all sent, -1 connection
 * lost, 2 the server ended the COPY (an error is waiting among the results). */
int pgw__copy_push(pgw_t *w);

#endif

/* dbq: one non-blocking libpq connection driven by uv_poll (aquery.h). States: down (no
 * connection), connecting (PQconnectPoll), setup (the read-only SETs), ready, busy (one
 * statement in flight). A kick timer (0 ms) starts work so that callbacks never run from
 * inside dbq_submit; a deadline timer bounds connecting and every statement. */
#include "db/aquery.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
  char *sql;
  size_t n;
  char **params;
  dbq_cb cb;
  void *arg;
  struct job *next;
} job_t;

typedef enum { ST_DOWN, ST_CONNECTING, ST_SETUP, ST_READY, ST_BUSY } state_t;

struct dbq {
  uv_loop_t *loop;
  char *conninfo;
  int timeout_ms;
  PGconn *pg;
  uv_poll_t *poll;
  int poll_fd;
  uv_timer_t kick, deadline;
  state_t st;
  job_t *head, *tail, *cur;
  size_t n;
  PGresult *res;      /* the statement's rows, once seen */
  char err[512];      /* the statement's error, once seen */
  bool closing;
  int handles;        /* open: kick, deadline, poll */
};

static void job_free(job_t *j) {
  if (!j) return;
  for (size_t i = 0; i < j->n; i++) free(j->params[i]);
  free(j->params);
  free(j->sql);
  free(j);
}

static void trim_msg(char *dst, size_t len, const char *prefix, const char *msg) {
  snprintf(dst, len, "%s%s", prefix, msg && *msg ? msg : "unknown error");
  size_t n = strlen(dst);
  while (n && (dst[n - 1] == '\n' || dst[n - 1] == ' ')) dst[--n] = '\0';
  for (char *p = dst; *p; p++)
    if (*p == '\n') *p = ' ';
}

static void maybe_free(dbq_t *q) {
  if (!q->closing || q->handles) return;
  free(q->conninfo);
  free(q);
}

static void on_handle_closed(uv_handle_t *h) {
  dbq_t *q = h->data;
  if (h->type == UV_POLL) free(h);
  q->handles--;
  maybe_free(q);
}

static void poll_drop(dbq_t *q) {
  if (!q->poll) return;
  uv_poll_stop(q->poll);
  uv_close((uv_handle_t *)q->poll, on_handle_closed);
  q->poll = NULL;
}

static void on_poll(uv_poll_t *p, int status, int events);

static int poll_want(dbq_t *q, int events) {
  int fd = PQsocket(q->pg);
  if (fd < 0) return -EIO;
  if (q->poll && q->poll_fd != fd) poll_drop(q); /* libpq moved to another address */
  if (!q->poll) {
    uv_poll_t *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    if (uv_poll_init_socket(q->loop, p, fd) != 0) {
      free(p);
      return -EIO;
    }
    p->data = q;
    q->poll = p;
    q->poll_fd = fd;
    q->handles++;
  }
  return uv_poll_start(q->poll, events, on_poll) == 0 ? 0 : -EIO;
}

/* The connection goes away; the state is down. */
static void conn_drop(dbq_t *q) {
  poll_drop(q);
  if (q->pg) PQfinish(q->pg);
  q->pg = NULL;
  if (q->res) PQclear(q->res);
  q->res = NULL;
  q->st = ST_DOWN;
  uv_timer_stop(&q->deadline);
}

static void job_finish(dbq_t *q, job_t *j, int status, PGresult *res, const char *err) {
  db_result_t *r = NULL;
  if (status == 0 && !(r = db_result_adopt(res))) {
    PQclear(res);
    status = -ENOMEM;
    err = "out of memory";
  }
  (void)q;
  j->cb(j->arg, status, r, err);
  job_free(j);
}

/* Every queued statement (and the one in flight) ends with status and err. */
static void fail_all(dbq_t *q, int status, const char *err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", err);
  conn_drop(q);
  job_t *list = q->cur;
  if (list) list->next = q->head;
  else list = q->head;
  q->cur = q->head = q->tail = NULL;
  q->n = 0;
  while (list) {
    job_t *next = list->next;
    job_finish(q, list, status, NULL, msg);
    list = next;
  }
}

static void on_kick(uv_timer_t *t);

static void kick_soon(dbq_t *q) {
  if (!q->closing && q->head && (q->st == ST_DOWN || q->st == ST_READY))
    uv_timer_start(&q->kick, on_kick, 0, 0);
}

static void on_deadline(uv_timer_t *t) {
  dbq_t *q = t->data;
  fail_all(q, -EIO, q->st == ST_CONNECTING ? "PostgreSQL: connecting timed out"
                                           : "PostgreSQL: no answer in time");
}

static void arm_deadline(dbq_t *q) {
  uv_timer_start(&q->deadline, on_deadline, (uint64_t)q->timeout_ms + 5000, 0);
}

static void flush_and_poll(dbq_t *q) {
  int f = PQflush(q->pg);
  if (f < 0 || poll_want(q, UV_READABLE | (f == 1 ? UV_WRITABLE : 0)) != 0) {
    char msg[512];
    trim_msg(msg, sizeof msg, "PostgreSQL: ", PQerrorMessage(q->pg));
    fail_all(q, -EIO, msg);
  }
}

static void send_next(dbq_t *q) {
  job_t *j = q->head;
  q->head = j->next;
  if (!q->head) q->tail = NULL;
  q->n--;
  j->next = NULL;
  q->cur = j;
  q->err[0] = '\0';
  if (!PQsendQueryParams(q->pg, j->sql, (int)j->n, NULL, (const char *const *)j->params, NULL,
                         NULL, 0)) {
    char msg[512];
    trim_msg(msg, sizeof msg, "PostgreSQL: ", PQerrorMessage(q->pg));
    fail_all(q, -EIO, msg);
    return;
  }
  q->st = ST_BUSY;
  arm_deadline(q);
  flush_and_poll(q);
}

static void cb_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static void connect_step(dbq_t *q) {
  PostgresPollingStatusType ps = PQconnectPoll(q->pg);
  int rc = 0;
  if (ps == PGRES_POLLING_READING) rc = poll_want(q, UV_READABLE);
  else if (ps == PGRES_POLLING_WRITING) rc = poll_want(q, UV_WRITABLE);
  else if (ps == PGRES_POLLING_OK) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET statement_timeout = %d; "
             "SET lock_timeout = %d",
             q->timeout_ms, q->timeout_ms);
    PQsetNoticeProcessor(q->pg, cb_notice, NULL);
    if (PQsetnonblocking(q->pg, 1) != 0 || !PQsendQuery(q->pg, sql)) rc = -EIO;
    else {
      q->st = ST_SETUP;
      q->err[0] = '\0';
      flush_and_poll(q);
      return;
    }
  } else rc = -EIO;
  if (rc) {
    char msg[512];
    trim_msg(msg, sizeof msg, "cannot connect to PostgreSQL: ", PQerrorMessage(q->pg));
    fail_all(q, -EIO, msg);
  }
}

static void start_connect(dbq_t *q) {
  const char *kw[4], *val[4];
  int k = 0;
  if (q->conninfo && q->conninfo[0]) {
    kw[k] = "dbname";
    val[k++] = q->conninfo;
  }
  kw[k] = "application_name";
  val[k++] = "fleetarc-console";
  kw[k] = NULL;
  val[k] = NULL;
  q->pg = PQconnectStartParams(kw, val, 1);
  if (!q->pg || PQstatus(q->pg) == CONNECTION_BAD) {
    char msg[512];
    trim_msg(msg, sizeof msg, "cannot connect to PostgreSQL: ",
             q->pg ? PQerrorMessage(q->pg) : "out of memory");
    fail_all(q, -EIO, msg);
    return;
  }
  q->st = ST_CONNECTING;
  arm_deadline(q);
  if (poll_want(q, UV_WRITABLE) != 0) fail_all(q, -EIO, "cannot connect to PostgreSQL: no socket");
}

static void on_kick(uv_timer_t *t) {
  dbq_t *q = t->data;
  if (q->closing || !q->head) return;
  if (q->st == ST_DOWN) start_connect(q);
  else if (q->st == ST_READY) send_next(q);
}

/* Reads what arrived; at the end of a statement's results, finishes it. */
static void read_results(dbq_t *q) {
  if (!PQconsumeInput(q->pg)) {
    char msg[512];
    trim_msg(msg, sizeof msg, "PostgreSQL: ", PQerrorMessage(q->pg));
    fail_all(q, -EIO, msg);
    return;
  }
  if (q->st == ST_READY) { /* nothing expected: a notice or the server going away */
    PGresult *r;
    while (!PQisBusy(q->pg) && (r = PQgetResult(q->pg))) PQclear(r);
    if (PQstatus(q->pg) == CONNECTION_BAD) conn_drop(q);
    return;
  }
  while (!PQisBusy(q->pg)) {
    PGresult *r = PQgetResult(q->pg);
    if (!r) break;
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_TUPLES_OK && !q->res && q->st == ST_BUSY) {
      q->res = r;
      continue;
    }
    if ((s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE) && !q->err[0])
      trim_msg(q->err, sizeof q->err, "PostgreSQL: ", PQresultErrorMessage(r));
    PQclear(r);
  }
  if (PQisBusy(q->pg)) return;
  /* the statement's results are all in */
  uv_timer_stop(&q->deadline);
  if (q->st == ST_SETUP) {
    if (q->err[0]) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", q->err);
      fail_all(q, -EIO, msg);
      return;
    }
    q->st = ST_READY;
    if (poll_want(q, UV_READABLE) != 0) conn_drop(q);
    kick_soon(q);
    return;
  }
  job_t *j = q->cur;
  PGresult *res = q->res;
  char err[512];
  snprintf(err, sizeof err, "%s", q->err[0] ? q->err : "PostgreSQL: the statement returned no rows");
  q->cur = NULL;
  q->res = NULL;
  q->st = ST_READY;
  if (PQstatus(q->pg) == CONNECTION_BAD) conn_drop(q);
  else if (poll_want(q, UV_READABLE) != 0) conn_drop(q);
  if (res && !q->err[0]) job_finish(q, j, 0, res, NULL);
  else {
    if (res) PQclear(res);
    job_finish(q, j, -EIO, NULL, err);
  }
  kick_soon(q);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  dbq_t *q = p->data;
  if (q->closing || q->poll != p) return;
  if (status < 0) {
    fail_all(q, -EIO, "PostgreSQL: socket error");
    return;
  }
  if (q->st == ST_CONNECTING) {
    connect_step(q);
    return;
  }
  if (events & UV_WRITABLE) {
    int f = PQflush(q->pg);
    if (f < 0) {
      fail_all(q, -EIO, "PostgreSQL: cannot send");
      return;
    }
    if (f == 0 && poll_want(q, UV_READABLE) != 0) {
      fail_all(q, -EIO, "PostgreSQL: socket error");
      return;
    }
  }
  if (events & UV_READABLE) read_results(q);
}

dbq_t *dbq_new(uv_loop_t *loop, const char *conninfo, int statement_timeout_ms) {
  dbq_t *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->loop = loop;
  q->timeout_ms = statement_timeout_ms > 0 ? statement_timeout_ms : 5000;
  q->conninfo = strdup(conninfo ? conninfo : "");
  if (!q->conninfo) {
    free(q);
    return NULL;
  }
  uv_timer_init(loop, &q->kick);
  uv_timer_init(loop, &q->deadline);
  q->kick.data = q->deadline.data = q;
  q->handles = 2;
  return q;
}

int dbq_submit(dbq_t *q, const char *sql, size_t nparams, const char *const *params, dbq_cb cb,
               void *arg) {
  if (q->closing) return -ESHUTDOWN;
  if (q->n >= DBQ_MAX_QUEUE) return -EBUSY;
  job_t *j = calloc(1, sizeof *j);
  if (!j) return -ENOMEM;
  j->cb = cb;
  j->arg = arg;
  j->sql = strdup(sql);
  j->params = calloc(nparams ? nparams : 1, sizeof *j->params);
  if (!j->sql || !j->params) {
    job_free(j);
    return -ENOMEM;
  }
  j->n = nparams;
  for (size_t i = 0; i < nparams; i++)
    if (params[i] && !(j->params[i] = strdup(params[i]))) {
      job_free(j);
      return -ENOMEM;
    }
  if (q->tail) q->tail->next = j;
  else q->head = j;
  q->tail = j;
  q->n++;
  if (q->st == ST_DOWN || q->st == ST_READY) uv_timer_start(&q->kick, on_kick, 0, 0);
  return 0;
}

void dbq_close(dbq_t *q) {
  if (!q || q->closing) return;
  fail_all(q, -ECANCELED, "closing");
  q->closing = true;
  uv_close((uv_handle_t *)&q->kick, on_handle_closed);
  uv_close((uv_handle_t *)&q->deadline, on_handle_closed);
  maybe_free(q);
}

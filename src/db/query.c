/* db_query: PQconnectdbParams + PQexecParams in text mode; the PGresult is the result's
 * storage, so values are borrowed straight from it. */
#include "db/query.h"

#include "db/aquery.h"
#include "db/conn.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db_result {
  PGresult *res;
};

/* type OIDs of pg_type.h (stable across releases) */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_FLOAT4 = 700,
       OID_FLOAT8 = 701, OID_NUMERIC = 1700 };

static void set_error(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  /* libpq messages end in a newline: the caller adds its own */
  size_t n = strlen(err);
  while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
}

static void cb_notice(void *arg, const char *message) {
  (void)arg;
  (void)message; /* NOTICEs of the report functions are not for the terminal */
}

int db_canceller_init(db_canceller_t *c) {
  c->cancel = NULL;
  c->cancelled = false;
  return uv_mutex_init(&c->mu);
}

void db_canceller_destroy(db_canceller_t *c) { uv_mutex_destroy(&c->mu); }

void db_cancel(db_canceller_t *c) {
  uv_mutex_lock(&c->mu);
  c->cancelled = true;
  if (c->cancel) {
    char buf[256];
    (void)PQcancel(c->cancel, buf, sizeof buf); /* best effort: the statement may end first */
  }
  uv_mutex_unlock(&c->mu);
}

/* Publishes (or withdraws, conn NULL) the connection's cancel handle; false when a
 * cancel already came. */
static bool canceller_set(db_canceller_t *c, PGconn *conn) {
  if (!c) return true;
  uv_mutex_lock(&c->mu);
  if (c->cancel) PQfreeCancel(c->cancel);
  c->cancel = conn && !c->cancelled ? PQgetCancel(conn) : NULL;
  bool ok = !c->cancelled;
  uv_mutex_unlock(&c->mu);
  return ok;
}

int db_query(const char *conninfo, const char *sql, size_t nparams, const char *const *params,
             db_result_t **out, char *err, size_t errlen) {
  return db_query_cancellable(conninfo, sql, nparams, params, out, err, errlen, NULL);
}

int db_query_cancellable(const char *conninfo, const char *sql, size_t nparams,
                         const char *const *params, db_result_t **out, char *err, size_t errlen,
                         db_canceller_t *c) {
  int rc = 0;
  PGconn *conn = NULL;
  PGresult *res = NULL;
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  if (nparams > 64) return -EINVAL;

  conn = db_connect(conninfo, "fleetarc", err, errlen);
  if (!conn) {
    rc = -EIO;
    goto fail;
  }
  PQsetNoticeProcessor(conn, cb_notice, NULL);
  if (!canceller_set(c, conn)) {
    set_error(err, errlen, "cancelled");
    rc = -ECANCELED;
    goto fail;
  }
  res = PQexecParams(conn, sql, (int)nparams, NULL, params, NULL, NULL, 0);
  if (!canceller_set(c, NULL)) {
    set_error(err, errlen, "cancelled");
    rc = -ECANCELED;
    goto fail;
  }
  if (!res) {
    set_error(err, errlen, "query failed: %s", PQerrorMessage(conn));
    rc = -EIO;
    goto fail;
  }
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    set_error(err, errlen, "query failed: %s", PQresultErrorMessage(res));
    rc = -EIO;
    goto fail;
  }
  db_result_t *r = calloc(1, sizeof *r);
  if (!r) {
    rc = -ENOMEM;
    goto fail;
  }
  r->res = res;
  *out = r;
  PQfinish(conn);
  return 0;

fail:
  PQclear(res);
  PQfinish(conn);
  return rc;
}

size_t db_result_rows(const db_result_t *r) { return (size_t)PQntuples(r->res); }
size_t db_result_cols(const db_result_t *r) { return (size_t)PQnfields(r->res); }
const char *db_result_name(const db_result_t *r, size_t col) { return PQfname(r->res, (int)col); }

db_col_kind_t db_result_kind(const db_result_t *r, size_t col) {
  switch (PQftype(r->res, (int)col)) {
    case OID_BOOL: return DB_COL_BOOL;
    case OID_INT8: case OID_INT2: case OID_INT4: case OID_FLOAT4: case OID_FLOAT8:
    case OID_NUMERIC: return DB_COL_NUMBER;
    default: return DB_COL_TEXT;
  }
}

const char *db_result_value(const db_result_t *r, size_t row, size_t col) {
  if (PQgetisnull(r->res, (int)row, (int)col)) return NULL;
  return PQgetvalue(r->res, (int)row, (int)col);
}

void db_result_free(db_result_t *r) {
  if (!r) return;
  PQclear(r->res);
  free(r);
}

db_result_t *db_result_adopt(void *pgresult) {
  db_result_t *r = calloc(1, sizeof *r);
  if (r) r->res = pgresult;
  return r;
}

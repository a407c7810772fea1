/* One blocking query for the one-shot commands (report, export): connect, run a
 * parameterized statement, keep the whole result as text. libpq stays behind this header. */
#ifndef FLEETARC_DB_QUERY_H
#define FLEETARC_DB_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct db_result db_result_t;

typedef enum {
  DB_COL_TEXT = 0,
  DB_COL_NUMBER, /* integer, float or numeric: JSON may print it bare */
  DB_COL_BOOL,   /* "t" / "f" */
} db_col_kind_t;

/* Connects with conninfo (a libpq conninfo or postgresql:// URI; NULL or "" = the PG*
 * environment), runs sql with nparams text parameters ($1..; a NULL entry is SQL NULL),
 * and closes the connection. On success returns 0 and *out (free with db_result_free).
 * On failure returns -EIO (connection or query error) or -ENOMEM, *out is NULL and err
 * gets the server's message (a conninfo password is never part of libpq's messages). */
int db_query(const char *conninfo, const char *sql, size_t nparams, const char *const *params,
             db_result_t **out, char *err, size_t errlen) __attribute__((warn_unused_result));

/* A way to stop a db_query_cancellable running in another thread (a worker of libuv's
 * pool): db_cancel from any thread sends the server a cancel request for the statement
 * in progress (PQcancel) and makes a later call fail at once. Init before the first
 * use; the slot outlives the queries that use it. */
typedef struct db_canceller {
  uv_mutex_t mu;
  void *cancel; /* PGcancel of the statement in progress, or NULL */
  bool cancelled;
} db_canceller_t;

int db_canceller_init(db_canceller_t *c);
void db_canceller_destroy(db_canceller_t *c);
void db_cancel(db_canceller_t *c);

/* db_query that db_cancel(c) can stop: then -ECANCELED with err set. */
int db_query_cancellable(const char *conninfo, const char *sql, size_t nparams,
                         const char *const *params, db_result_t **out, char *err, size_t errlen,
                         db_canceller_t *c) __attribute__((warn_unused_result));

size_t db_result_rows(const db_result_t *r);
size_t db_result_cols(const db_result_t *r);
/* Column name; borrowed until db_result_free. */
const char *db_result_name(const db_result_t *r, size_t col);
db_col_kind_t db_result_kind(const db_result_t *r, size_t col);
/* The value as text, or NULL for SQL NULL; borrowed until db_result_free. */
const char *db_result_value(const db_result_t *r, size_t row, size_t col);

/* NULL is a no-op. */
void db_result_free(db_result_t *r);

#endif

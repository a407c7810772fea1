/* Read-only queries on the service's libuv loop: one non-blocking libpq connection
 * (PQconnectStartParams + uv_poll), a FIFO of statements run one at a time. The loop
 * never waits on the database: a query's answer comes back through its callback. The
 * session is read-only (default_transaction_read_only) with a statement_timeout, so a
 * console query can neither write nor run long. libpq stays behind this header. */
#ifndef FLEETARC_DB_AQUERY_H
#define FLEETARC_DB_AQUERY_H

#include <stddef.h>
#include <uv.h>

#include "db/query.h"

typedef struct dbq dbq_t;

#define DBQ_MAX_QUEUE 32 /* statements waiting at once; more are refused (-EBUSY) */

/* status 0: res holds the rows (owned by the callback: db_result_free it). Otherwise
 * res is NULL and err says why (the server's message, no password): -EIO (connection or
 * statement failed, a timeout included), -ECANCELED (dbq_close). Runs from the loop,
 * never from inside dbq_submit. */
typedef void (*dbq_cb)(void *arg, int status, db_result_t *res, const char *err);

/* conninfo (NULL or "": PG* environment) is copied; statement_timeout_ms bounds every
 * statement on the server, and connecting or a statement's answer is also bounded on
 * the loop (timeout + 5 s). The connection is made at the first submit and again after
 * a failure. NULL on ENOMEM. */
dbq_t *dbq_new(uv_loop_t *loop, const char *conninfo, int statement_timeout_ms)
    __attribute__((warn_unused_result));

/* Queues sql with nparams text parameters (copied; NULL entry: SQL NULL). 0, -EBUSY
 * (queue full), -ENOMEM, -ESHUTDOWN (closing). cb runs exactly once on 0. */
int dbq_submit(dbq_t *q, const char *sql, size_t nparams, const char *const *params, dbq_cb cb,
               void *arg) __attribute__((warn_unused_result));

/* Fails every queued statement with -ECANCELED, closes the connection and the handles;
 * q is freed once they are closed. NULL is a no-op. */
void dbq_close(dbq_t *q);

/* For src/db: wraps a PGresult (void * to keep libpq out of query.h's users). */
db_result_t *db_result_adopt(void *pgresult);

#endif

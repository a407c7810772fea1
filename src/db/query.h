/* One blocking query for the one-shot commands (report, export): connect, run a
 * parameterized statement, keep the whole result as text. libpq stays behind this header. */
#ifndef FLEETARC_DB_QUERY_H
#define FLEETARC_DB_QUERY_H

#include <stddef.h>

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

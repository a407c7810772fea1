/* The command line's one printer of results (API one-offs, report, export's CSV): rows of
 * named columns written at the end as an aligned table (for people), JSON (an array of
 * objects) or CSV (RFC 4180). Cells are text; a column's kind says how JSON shows it. */
#ifndef FLEETARC_CLI_OUTPUT_H
#define FLEETARC_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

typedef enum { OUTPUT_TABLE = 0, OUTPUT_JSON, OUTPUT_CSV } output_format_t;

typedef enum {
  OUTPUT_STR = 0, /* JSON string */
  OUTPUT_NUM,     /* JSON number, right-aligned in a table; a cell that is not a JSON
                     number (PostgreSQL's NaN, Infinity) is written as a JSON string */
  OUTPUT_BOOL,    /* JSON true when the cell starts with 't' ("t", "true"), else false */
} output_kind_t;

typedef struct output_column {
  const char *name;
  output_kind_t kind;
} output_column_t;

typedef struct output output_t;

/* "table", "json", "csv" -> 0 and *out; else -EINVAL. */
int output_format_parse(const char *s, output_format_t *out) __attribute__((warn_unused_result));

/* cols (and the names in it) are borrowed for the output's life. NULL on ENOMEM. */
output_t *output_new(const output_column_t *cols, size_t ncols);
void output_free(output_t *o); /* NULL is a no-op */

/* Appends a row of ncols cells (copied; a NULL cell is "no value": empty in a table or
 * CSV, null in JSON). Returns 0 or -ENOMEM. */
int output_row(output_t *o, const char *const *cells) __attribute__((warn_unused_result));

/* Writes everything in format f. Returns 0 or -EIO (a write failed). */
int output_write(const output_t *o, output_format_t f, FILE *out)
    __attribute__((warn_unused_result));

/* The same writers over cells someone else holds (a query result): cell(src, row, col)
 * returns row's text in col, or NULL for no value; cols, src and the cells are borrowed
 * while the call runs. Returns 0 or -EIO. */
typedef const char *(*output_cell_fn)(const void *src, size_t row, size_t col);
int output_write_cells(const output_column_t *cols, size_t ncols, size_t nrows,
                       output_cell_fn cell, const void *src, output_format_t f, FILE *out)
    __attribute__((warn_unused_result));

/* s as a JSON string: escaped, bytes that are not UTF-8 as U+FFFD. */
void output_json_string(const char *s, FILE *out);

/* Columns a terminal gives to the UTF-8 text s: wide East Asian characters and emoji
 * count 2, combining marks 0, control bytes and invalid bytes 1 (they are shown as '?'). */
size_t output_text_width(const char *s);

#endif

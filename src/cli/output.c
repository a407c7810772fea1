/* Table, JSON and CSV writers for the command line's results. Rows are kept until the
 * end so that a table can size its columns; every format sees the same cells, read
 * through a view whether the output holds them or a query result does. */
#include "cli/output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

struct output {
  const output_column_t *cols;
  size_t ncols;
  char **cells; /* nrows * ncols, NULL for no value */
  size_t nrows, cap;
};

int output_format_parse(const char *s, output_format_t *out) {
  if (!strcmp(s, "table")) *out = OUTPUT_TABLE;
  else if (!strcmp(s, "json")) *out = OUTPUT_JSON;
  else if (!strcmp(s, "csv")) *out = OUTPUT_CSV;
  else return -EINVAL;
  return 0;
}

output_t *output_new(const output_column_t *cols, size_t ncols) {
  output_t *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->cols = cols;
  o->ncols = ncols;
  return o;
}

void output_free(output_t *o) {
  if (!o) return;
  for (size_t i = 0; i < o->nrows * o->ncols; i++) free(o->cells[i]);
  free(o->cells);
  free(o);
}


/* What the writers see: columns, a row count and a way to read a cell. */
typedef struct view {
  const output_column_t *cols;
  size_t ncols, nrows;
  output_cell_fn cell;
  const void *src;
} view_t;

static const char *view_cell(const view_t *v, size_t row, size_t col) {
  return v->cell(v->src, row, col);
}

static const char *stored_cell(const void *src, size_t row, size_t col) {
  const output_t *o = src;
  return o->cells[row * o->ncols + col];
}

int output_row(output_t *o, const char *const *cells) {
  /* A row of ncols cells is one element. */
  if (grow_array(&o->cells, &o->cap, o->nrows + 1, o->ncols * sizeof *o->cells) != 0)
    return -ENOMEM;
  char **row = o->cells + o->nrows * o->ncols;
  for (size_t c = 0; c < o->ncols; c++) {
    row[c] = NULL;
    if (cells[c] && !(row[c] = strdup(cells[c]))) {
      while (c--) free(row[c]);
      return -ENOMEM;
    }
  }
  o->nrows++;
  return 0;
}

/* One UTF-8 sequence at s: its code point and length, or -1 (invalid: 1 byte). */
static int32_t utf8_next(const unsigned char *s, size_t *len) {
  unsigned char c = s[0];
  int32_t cp;
  size_t n;
  *len = 1;
  if (c < 0x80) return c;
  if (c >= 0xc2 && c <= 0xdf) cp = c & 0x1f, n = 2;
  else if (c >= 0xe0 && c <= 0xef) cp = c & 0x0f, n = 3;
  else if (c >= 0xf0 && c <= 0xf4) cp = c & 0x07, n = 4;
  else return -1;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return -1;
  *len = n;
  return cp;
}

static int cp_width(int32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return 1; /* shown as '?' */
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
      (cp >= 0xfe00 && cp <= 0xfe0f))
    return 0;
  if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
      (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
      (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
    return 2;
  return 1;
}

size_t output_text_width(const char *s) {
  size_t w = 0, len;
  for (const unsigned char *p = (const unsigned char *)s; *p; p += len) {
    int32_t cp = utf8_next(p, &len);
    w += cp < 0 ? 1 : (size_t)cp_width(cp);
  }
  return w;
}

/* A cell for a terminal: control and invalid bytes become '?' so that a name from the
 * server cannot move the cursor or break the row. */
static void put_cell_text(const char *s, FILE *out) {
  size_t len;
  for (const unsigned char *p = (const unsigned char *)s; *p; p += len) {
    int32_t cp = utf8_next(p, &len);
    if (cp < 0 || cp < 0x20 || cp == 0x7f) fputc('?', out);
    else fwrite(p, 1, len, out);
  }
}

static void put_spaces(size_t n, FILE *out) {
  while (n--) fputc(' ', out);
}

/* Copies text to out without the spaces that end its lines (padding of empty cells). */
static void put_trimmed(const char *text, size_t len, FILE *out) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '\n') continue;
    size_t end = i;
    while (end > start && text[end - 1] == ' ') end--;
    fwrite(text + start, 1, end - start, out);
    fputc('\n', out);
    start = i + 1;
  }
}

static void write_table_padded(const view_t *o, FILE *out);

static void write_table(const view_t *o, FILE *out) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) {
    write_table_padded(o, out);
    return;
  }
  write_table_padded(o, m);
  if (fclose(m) == 0) put_trimmed(text, len, out);
  free(text);
}

static void write_table_padded(const view_t *o, FILE *out) {
  size_t *w = calloc(o->ncols, sizeof *w);
  if (!w) return;
  for (size_t c = 0; c < o->ncols; c++) w[c] = output_text_width(o->cols[c].name);
  for (size_t r = 0; r < o->nrows; r++)
    for (size_t c = 0; c < o->ncols; c++) {
      const char *s = view_cell(o, r, c);
      size_t cw = s ? output_text_width(s) : 0;
      if (cw > w[c]) w[c] = cw;
    }
  for (size_t r = 0; r <= o->nrows + 1; r++) {
    for (size_t c = 0; c < o->ncols; c++) {
      bool last = c + 1 == o->ncols;
      if (r == 1) { /* the rule under the header */
        for (size_t i = 0; i < w[c]; i++) fputc('-', out);
        if (!last) fputs("  ", out);
        continue;
      }
      const char *s = r == 0 ? o->cols[c].name : view_cell(o, r - 2, c);
      if (!s) s = "";
      size_t pad = w[c] - output_text_width(s);
      bool right = r > 0 && o->cols[c].kind == OUTPUT_NUM;
      if (right) put_spaces(pad, out);
      put_cell_text(s, out);
      if (!right && !last) put_spaces(pad, out);
      if (!last) fputs("  ", out);
    }
    fputc('\n', out);
  }
  free(w);
}

/* A JSON string: escapes, and U+FFFD for bytes that are not UTF-8 (the output stays
 * valid JSON whatever the server sent). */
void output_json_string(const char *s, FILE *out) {
  fputc('"', out);
  size_t len;
  for (const unsigned char *p = (const unsigned char *)s; *p; p += len) {
    int32_t cp = utf8_next(p, &len);
    if (cp < 0) fputs("\xef\xbf\xbd", out);
    else if (cp == '"') fputs("\\\"", out);
    else if (cp == '\\') fputs("\\\\", out);
    else if (cp == '\n') fputs("\\n", out);
    else if (cp == '\r') fputs("\\r", out);
    else if (cp == '\t') fputs("\\t", out);
    else if (cp < 0x20 || cp == 0x7f) fprintf(out, "\\u%04x", (unsigned)cp);
    else fwrite(p, 1, len, out);
  }
  fputc('"', out);
}

/* A number PostgreSQL or the API printed that JSON can hold as is (not NaN or Infinity). */
static bool json_number_ok(const char *s) {
  if (*s == '-') s++;
  return *s >= '0' && *s <= '9';
}

static void write_json(const view_t *o, FILE *out) {
  fputc('[', out);
  for (size_t r = 0; r < o->nrows; r++) {
    fputs(r ? ",\n  {" : "\n  {", out);
    for (size_t c = 0; c < o->ncols; c++) {
      const char *s = view_cell(o, r, c);
      if (c) fputs(", ", out);
      output_json_string(o->cols[c].name, out);
      fputs(": ", out);
      if (!s) fputs("null", out);
      else if (o->cols[c].kind == OUTPUT_NUM && json_number_ok(s)) fputs(s, out);
      else if (o->cols[c].kind == OUTPUT_BOOL) fputs(s[0] == 't' ? "true" : "false", out);
      else output_json_string(s, out);
    }
    fputc('}', out);
  }
  fputs(o->nrows ? "\n]\n" : "]\n", out);
}

static void put_csv_field(const char *s, FILE *out) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void write_csv(const view_t *o, FILE *out) {
  for (size_t r = 0; r <= o->nrows; r++) {
    for (size_t c = 0; c < o->ncols; c++) {
      const char *s = r == 0 ? o->cols[c].name : view_cell(o, r - 1, c);
      if (c) fputc(',', out);
      if (s) put_csv_field(s, out);
    }
    fputs("\r\n", out); /* RFC 4180 line ends */
  }
}

int output_write_cells(const output_column_t *cols, size_t ncols, size_t nrows,
                       output_cell_fn cell, const void *src, output_format_t f, FILE *out) {
  const view_t v = {cols, ncols, nrows, cell, src};
  switch (f) {
    case OUTPUT_TABLE: write_table(&v, out); break;
    case OUTPUT_JSON: write_json(&v, out); break;
    case OUTPUT_CSV: write_csv(&v, out); break;
  }
  return fflush(out) != 0 || ferror(out) ? -EIO : 0;
}

int output_write(const output_t *o, output_format_t f, FILE *out) {
  return output_write_cells(o->cols, o->ncols, o->nrows, stored_cell, o, f, out);
}

/* A growable byte buffer, always NUL-terminated after its length, with a size cap so
 * that untrusted input (an HTTP body) fails cleanly instead of exhausting memory. */
#ifndef FLEETARC_UTIL_BUF_H
#define FLEETARC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
  char *data;   /* owned; NULL until the first append */
  size_t len;
  size_t cap;
  size_t limit; /* 0: no limit; else appends past it fail with -EFBIG */
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

/* Appends n bytes. 0, -ENOMEM or -EFBIG (limit reached, nothing appended). */
int buf_append(buf_t *b, const void *data, size_t n) __attribute__((warn_unused_result));
int buf_puts(buf_t *b, const char *s) __attribute__((warn_unused_result));
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3), warn_unused_result));
int buf_putc(buf_t *b, char c) __attribute__((warn_unused_result));
/* Keeps the allocation, empties the content. */
void buf_reset(buf_t *b);
/* Frees the allocation; the buffer is empty and reusable after. */
void buf_free(buf_t *b);
/* Hands the content over to the caller (free() it); the buffer is empty after. */
char *buf_steal(buf_t *b);

#endif

/* libFuzzer target: the metrics endpoint's request parser (httpd_parse_request) on bytes
 * as they arrive from a socket. The first two input bytes choose where the stream is
 * split into two reads; the rest is the stream. Input and output buffers are exact-size
 * heap blocks, so ASan catches a read past what has arrived or a write past the caller's
 * room. Invariants: a verdict other than -EAGAIN never changes with more bytes, the same
 * bytes give the same answer, and a too-small output buffer means -EFBIG, nothing else. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server's own sizes (handle_request in httpd.c), and deliberately tight ones. */
#define METHOD_ROOM 16
#define PATH_ROOM 512
#define TIGHT_METHOD_ROOM 4
#define TIGHT_PATH_ROOM 8

typedef struct parsed {
  int rc;
  char *method, *path;
} parsed_t;

static void parsed_free(parsed_t *p) {
  free(p->method);
  free(p->path);
}

static parsed_t parse_exact(const uint8_t *stream, size_t n, size_t method_room,
                            size_t path_room) {
  parsed_t p = {0};
  char *copy = malloc(n ? n : 1);
  p.method = malloc(method_room);
  p.path = malloc(path_room);
  if (!copy || !p.method || !p.path) abort();
  if (n) memcpy(copy, stream, n);
  p.rc = httpd_parse_request(copy, n, p.method, method_room, p.path, path_room);
  free(copy);
  if (p.rc == 0) {
    size_t ml = strnlen(p.method, method_room), pl = strnlen(p.path, path_room);
    if (ml == 0 || ml >= method_room || pl == 0 || pl >= path_room) abort();
    if (p.path[0] != '/' || strchr(p.path, '?')) abort();
    for (size_t i = 0; i < ml; i++)
      if ((unsigned char)p.method[i] <= 32 || (unsigned char)p.method[i] >= 127) abort();
    for (size_t i = 0; i < pl; i++)
      if ((unsigned char)p.path[i] <= 32 || (unsigned char)p.path[i] >= 127) abort();
  } else if (p.rc != -EAGAIN && p.rc != -EINVAL && p.rc != -EFBIG) {
    abort();
  }
  return p;
}

static int same(const parsed_t *a, const parsed_t *b) {
  if (a->rc != b->rc) return 0;
  return a->rc != 0 || (strcmp(a->method, b->method) == 0 && strcmp(a->path, b->path) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t n = size - 2;
  const uint8_t *stream = data + 2;
  size_t split = (((size_t)data[0] << 8) | data[1]) % (n + 1);

  parsed_t whole = parse_exact(stream, n, METHOD_ROOM, PATH_ROOM);
  parsed_t again = parse_exact(stream, n, METHOD_ROOM, PATH_ROOM);
  parsed_t first = parse_exact(stream, split, METHOD_ROOM, PATH_ROOM);
  if (!same(&whole, &again)) abort();
  if (first.rc != -EAGAIN && !same(&first, &whole)) abort();

  /* With less room the same request either still fits, identically, or is -EFBIG. */
  parsed_t tight = parse_exact(stream, n, TIGHT_METHOD_ROOM, TIGHT_PATH_ROOM);
  if (whole.rc == 0) {
    int fits = strlen(whole.method) < TIGHT_METHOD_ROOM && strlen(whole.path) < TIGHT_PATH_ROOM;
    if (fits ? !same(&tight, &whole) : tight.rc != -EFBIG) abort();
  } else if (whole.rc != -EFBIG && tight.rc != whole.rc) {
    abort();
  }
  parsed_free(&tight);
  parsed_free(&first);
  parsed_free(&again);
  parsed_free(&whole);
  return 0;
}

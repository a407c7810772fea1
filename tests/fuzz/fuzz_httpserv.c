/* libFuzzer target: the one HTTP request parser (net/httpserv.h, httpserv_parse) on bytes
 * as they arrive from a socket. The first two input bytes choose where the stream is
 * split into two reads; the rest is the stream. Each read is parsed from an exact-size
 * heap copy, so ASan catches a read past what has arrived. Invariants: the same bytes
 * give the same answer; a verdict other than -EAGAIN never changes with more bytes, and
 * a whole request is never -EAGAIN; views stay inside the input and are sane; tighter
 * limits give the same request or -EFBIG / -E2BIG; header lookups stay inside the head;
 * pipelined requests parse one after another. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpserv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The operations listener's limits, and deliberately tight ones. */
#define MAX_HEAD 8192
#define MAX_BODY 65536
#define TIGHT_HEAD 48
#define TIGHT_BODY 4
#define MAX_PIPELINED 64

typedef struct parsed {
  int rc;
  size_t consumed;
  httpserv_request_t r;
  size_t target_off, head_off, body_off; /* offsets into the stream */
} parsed_t;

static bool inside(const char *p, size_t len, const char *base, size_t n) {
  return p >= base && (size_t)(p - base) <= n && len <= n - (size_t)(p - base);
}

static bool tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A parsed request's views must lie inside data[0..n) and obey the grammar. */
static void check(const httpserv_request_t *r, size_t consumed, const char *data, size_t n) {
  if (consumed == 0 || consumed > n) abort();
  size_t ml = strnlen(r->method, sizeof r->method);
  if (ml == 0 || ml > HTTPSERV_METHOD_MAX) abort();
  for (size_t i = 0; i < ml; i++)
    if (!tchar((unsigned char)r->method[i])) abort();
  if (!inside(r->target, r->target_len, data, consumed) || r->target_len == 0 ||
      r->target[0] != '/' || r->path_len > r->target_len)
    abort();
  for (size_t i = 0; i < r->target_len; i++)
    if ((unsigned char)r->target[i] <= 32 || (unsigned char)r->target[i] >= 127) abort();
  if (memchr(r->target, '?', r->path_len)) abort();
  if (r->path_len < r->target_len && r->target[r->path_len] != '?') abort();
  if (!inside(r->head, r->head_len, data, consumed) || !inside(r->body, r->body_len, data, consumed))
    abort();
  if (r->body != r->head + r->head_len || r->body + r->body_len != data + consumed) abort();
  if (r->keep_alive && !r->http11) {
    const char *v;
    size_t vl;
    if (httpserv_header(r, "connection", &v, &vl) != 0) abort();
  }
  static const char *names[] = {"host", "content-length", "connection", "authorization", "x"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const char *v = NULL;
    size_t vl = 0;
    int rc = httpserv_header(r, names[k], &v, &vl);
    if (rc == 0 && !inside(v, vl, r->head, r->head_len)) abort();
    if (rc != 0 && rc != -ENOENT) abort();
  }
}

static parsed_t parse_exact(const uint8_t *stream, size_t n, size_t max_head, size_t max_body) {
  parsed_t p;
  memset(&p, 0, sizeof p);
  char *copy = malloc(n ? n : 1);
  if (!copy) abort();
  if (n) memcpy(copy, stream, n);
  p.rc = httpserv_parse(copy, n, max_head, max_body, &p.r, &p.consumed);
  if (p.rc == 0) {
    check(&p.r, p.consumed, copy, n);
    p.target_off = (size_t)(p.r.target - copy);
    p.head_off = (size_t)(p.r.head - copy);
    p.body_off = (size_t)(p.r.body - copy);
  } else if (p.rc != -EAGAIN && p.rc != -EINVAL && p.rc != -EFBIG && p.rc != -E2BIG) {
    abort();
  }
  free(copy); /* the views are dangling now: only offsets and lengths are compared */
  return p;
}

static bool same(const parsed_t *a, const parsed_t *b) {
  if (a->rc != b->rc) return false;
  if (a->rc) return true;
  return a->consumed == b->consumed && strcmp(a->r.method, b->r.method) == 0 &&
         a->target_off == b->target_off && a->r.target_len == b->r.target_len &&
         a->r.path_len == b->r.path_len && a->head_off == b->head_off &&
         a->r.head_len == b->r.head_len && a->body_off == b->body_off &&
         a->r.body_len == b->r.body_len && a->r.http11 == b->r.http11 &&
         a->r.keep_alive == b->r.keep_alive;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t n = size - 2;
  const uint8_t *stream = data + 2;
  size_t split = (((size_t)data[0] << 8) | data[1]) % (n + 1);

  parsed_t whole = parse_exact(stream, n, MAX_HEAD, MAX_BODY);
  parsed_t again = parse_exact(stream, n, MAX_HEAD, MAX_BODY);
  if (!same(&whole, &again)) abort();
  parsed_t first = parse_exact(stream, split, MAX_HEAD, MAX_BODY);
  if (first.rc != -EAGAIN && !same(&first, &whole)) abort();
  if (first.rc == -EAGAIN && whole.rc == 0 && split >= whole.consumed) abort();

  /* With tighter limits the same request either still fits, identically, or is refused
   * as too large. */
  parsed_t tight = parse_exact(stream, n, TIGHT_HEAD, TIGHT_BODY);
  if (whole.rc == 0) {
    bool fits = whole.head_off + whole.r.head_len <= TIGHT_HEAD && whole.r.body_len <= TIGHT_BODY;
    if (fits ? !same(&tight, &whole) : (tight.rc != -EFBIG && tight.rc != -E2BIG && !same(&tight, &whole)))
      abort();
  }

  /* Pipelining: what follows a request is the next one. data + size ends the fuzzer's
   * own exact allocation: no copy is needed. */
  size_t off = whole.rc == 0 ? whole.consumed : n;
  for (int k = 0; k < MAX_PIPELINED && off < n; k++) {
    httpserv_request_t r;
    size_t used = 0;
    const char *s = (const char *)stream + off;
    if (httpserv_parse(s, n - off, MAX_HEAD, MAX_BODY, &r, &used) != 0) break;
    check(&r, used, s, n - off);
    off += used;
  }
  return 0;
}

/* libFuzzer target: the simulator's request parser (sim_http_request_parse: the shared
 * net/httpserv parser, then the simulator's percent- and form-decoding) on bytes as
 * they arrive from a socket. The first two input bytes choose where the stream is split
 * into two reads; the rest is the stream. Each read is parsed from an exact-size heap
 * copy, so ASan catches any read past what has arrived. Invariants checked: a prefix of
 * a request is -EAGAIN until the request is whole, then every longer input gives the same
 * answer; parsing again (with a reused store) gives the same result; parsed strings are
 * sane; pipelined requests parse one after another. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIPELINED 64

/* Parses the stream's first n bytes from a heap block of exactly n bytes. */
static int parse_exact(sim_http_request_t *req, const uint8_t *stream, size_t n,
                       size_t *consumed) {
  char *copy = malloc(n ? n : 1);
  if (!copy) abort();
  if (n) memcpy(copy, stream, n);
  int rc = sim_http_request_parse(req, copy, n, consumed);
  free(copy);
  return rc;
}

/* Borrowed strings of a parsed request must be NUL-terminated UTF-8 inside the store. */
static void check_request(const sim_http_request_t *req, size_t consumed, size_t n) {
  if (consumed == 0 || consumed > n) abort();
  size_t ml = strnlen(req->method, sizeof req->method);
  if (ml == 0 || ml >= sizeof req->method) abort();
  for (size_t i = 0; i < ml; i++)
    if ((unsigned char)req->method[i] <= 32 || (unsigned char)req->method[i] >= 127) abort();
  if (!req->path || req->path[0] != '/') abort();
  if (!sim_http_utf8_valid(req->path, strlen(req->path))) abort();
  if (req->nparams > SIM_HTTP_MAX_PARAMS) abort();
  for (size_t i = 0; i < req->nparams; i++) {
    const sim_http_param_t *p = &req->params[i];
    if (!p->name || !p->value || p->name[0] == '\0') abort();
    if (!sim_http_utf8_valid(p->name, strlen(p->name))) abort();
    if (!sim_http_utf8_valid(p->value, strlen(p->value))) abort();
    /* The first value of a name is what the lookup answers. */
    const char *v = sim_http_request_param(req, p->name);
    if (!v) abort();
    size_t first = 0;
    while (strcmp(req->params[first].name, p->name) != 0) first++;
    if (first > i || v != req->params[first].value) abort();
  }
}

static bool same_request(const sim_http_request_t *a, const sim_http_request_t *b) {
  if (strcmp(a->method, b->method) != 0 || strcmp(a->path, b->path) != 0) return false;
  if (a->keep_alive != b->keep_alive || a->nparams != b->nparams) return false;
  for (size_t i = 0; i < a->nparams; i++)
    if (strcmp(a->params[i].name, b->params[i].name) != 0 ||
        strcmp(a->params[i].value, b->params[i].value) != 0)
      return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t n = size - 2;
  const uint8_t *stream = data + 2;
  size_t split = (((size_t)data[0] << 8) | data[1]) % (n + 1);

  sim_http_request_t whole = {0}, pieces = {0};
  size_t c_whole = 0, c_first = 0, c_again = 0;
  int rc = parse_exact(&whole, stream, n, &c_whole);
  if (rc != 0 && rc != -EAGAIN && rc != -EINVAL && rc != -EFBIG && rc != -ENOMEM) abort();

  /* The first read: the same parser state (pieces) then sees the whole stream. */
  int rc_first = parse_exact(&pieces, stream, split, &c_first);
  if (rc_first == 0) {
    check_request(&pieces, c_first, split);
    if (rc != 0 || c_first != c_whole || !same_request(&pieces, &whole)) abort();
  } else if (rc_first != -EAGAIN) {
    if (rc_first != rc) abort(); /* a verdict on a prefix never changes with more bytes */
  } else if (rc == 0 && split >= c_whole) {
    abort(); /* the whole request had arrived yet more was asked for */
  }
  int rc_again = parse_exact(&pieces, stream, n, &c_again);
  if (rc_again != rc) abort();
  if (rc == 0) {
    check_request(&whole, c_whole, n);
    if (c_again != c_whole || !same_request(&pieces, &whole)) abort();
  }

  /* Pipelining: what follows a request is the next one, parsed with the reused store. */
  size_t off = rc == 0 ? c_whole : n;
  for (int k = 0; k < MAX_PIPELINED && off < n; k++) {
    size_t used = 0;
    /* data + size ends the fuzzer's own exact allocation: no copy is needed. */
    int prc = sim_http_request_parse(&pieces, (const char *)stream + off, n - off, &used);
    if (prc != 0) break;
    check_request(&pieces, used, n - off);
    off += used;
  }
  sim_http_request_free(&whole);
  sim_http_request_free(&pieces);
  return 0;
}

/* The simulator's view of a request: percent-decoding (strict: a bad escape, a NUL or
 * bad UTF-8 is answered 400, never guessed at) of the path, the query and a form body.
 * The HTTP syntax itself is net/httpserv's. */
#include "sim/http_request.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool sim_http_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

long sim_http_decode(const char *in, size_t n, bool plus_space, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '%') {
      if (n - i < 3) return -EINVAL;
      int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
      if (hi < 0 || lo < 0) return -EINVAL;
      c = (char)(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    /* A NUL, escaped or raw (a form body is any bytes), would cut the string short:
     * "a\0b=1" must not be taken for a parameter named "a" (or one with no name). */
    if (c == '\0') return -EINVAL;
    out[o++] = c;
  }
  out[o] = '\0';
  if (!sim_http_utf8_valid(out, o)) return -EINVAL;
  return (long)o;
}

void sim_http_request_free(sim_http_request_t *req) {
  free(req->store);
  req->store = NULL;
  req->store_cap = 0;
  req->nparams = 0;
  req->path = NULL;
}

const char *sim_http_request_param(const sim_http_request_t *req, const char *name) {
  for (size_t i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0) return req->params[i].value;
  return NULL;
}

/* Splits a&b=c pairs of s[0..n) into req->params, decoding into the store at *w. */
static int parse_pairs(sim_http_request_t *req, const char *s, size_t n, char **w) {
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && s[i] != '&') i++;
    size_t end = i++;
    const char *eq = memchr(s + start, '=', end - start);
    size_t name_end = eq ? (size_t)(eq - s) : end;
    if (name_end == start) continue; /* "&&" or "=x": nothing to name */
    if (req->nparams == SIM_HTTP_MAX_PARAMS) return -EFBIG;
    char *name = *w;
    long len = sim_http_decode(s + start, name_end - start, true, name);
    if (len < 0) return (int)len;
    *w += len + 1;
    char *value = *w;
    if (eq) {
      len = sim_http_decode(eq + 1, end - name_end - 1, true, value);
      if (len < 0) return (int)len;
    } else {
      value[0] = '\0';
      len = 0;
    }
    *w += len + 1;
    req->params[req->nparams].name = name;
    req->params[req->nparams].value = value;
    req->nparams++;
  }
  return 0;
}

/* Case-insensitive: is the header value v[0..n) the media type mt (parameters after ';')? */
static bool media_type_is(const char *v, size_t n, const char *mt) {
  size_t len = 0;
  while (len < n && v[len] != ';' && v[len] != ' ' && v[len] != '\t') len++;
  return len == strlen(mt) && strncasecmp(v, mt, len) == 0;
}

int sim_http_request_decode(sim_http_request_t *req, const httpserv_request_t *r) {
  req->nparams = 0;
  req->path = NULL;
  snprintf(req->method, sizeof req->method, "%s", r->method);
  req->keep_alive = r->keep_alive;
  const char *ctype;
  size_t ctype_len;
  bool form = httpserv_header(r, "content-type", &ctype, &ctype_len) == 0 &&
              media_type_is(ctype, ctype_len, "application/x-www-form-urlencoded");

  /* The store holds every decoded string; decoding never grows, so 3x the input bounds
   * it (each piece plus its NUL), and nothing reallocates while pointers are handed out. */
  size_t need = 3 * (r->target_len + r->body_len) + 16;
  if (need > req->store_cap) {
    char *p = realloc(req->store, need);
    if (!p) return -ENOMEM;
    req->store = p;
    req->store_cap = need;
  }
  char *w = req->store;
  long plen = sim_http_decode(r->target, r->path_len, false, w);
  if (plen < 0) return (int)plen;
  req->path = w;
  w += plen + 1;
  int rc;
  if (r->path_len < r->target_len &&
      (rc = parse_pairs(req, r->target + r->path_len + 1, r->target_len - r->path_len - 1, &w)) != 0)
    return rc;
  if (form && r->body_len > 0 && (rc = parse_pairs(req, r->body, r->body_len, &w)) != 0) return rc;
  return 0;
}

int sim_http_request_parse(sim_http_request_t *req, const char *data, size_t n,
                           size_t *consumed) {
  httpserv_request_t r;
  req->nparams = 0;
  req->path = NULL;
  req->method[0] = '\0';
  int rc = httpserv_parse(data, n, SIM_HTTP_MAX_HEADER, SIM_HTTP_MAX_BODY, &r, consumed);
  if (rc == -E2BIG) return -EFBIG;
  return rc ? rc : sim_http_request_decode(req, &r);
}

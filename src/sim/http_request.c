/* HTTP/1.1 request parsing for the simulator: strict about syntax and sizes (a bad
 * request is answered 400/413, never guessed at), lenient only where RFC 9112 allows
 * (leading empty lines, bare LF line ends). */
#include "sim/http_request.h"

#include <errno.h>
#include <stdint.h>
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

static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Case-insensitive: does the comma-separated header value v[0..n) hold token tok? */
static bool header_has_token(const char *v, size_t n, const char *tok) {
  size_t tl = strlen(tok), i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < n && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e - s == tl && strncasecmp(v + s, tok, tl) == 0) return true;
  }
  return false;
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

int sim_http_request_parse(sim_http_request_t *req, const char *data, size_t n,
                           size_t *consumed) {
  req->nparams = 0;
  req->path = NULL;
  req->method[0] = '\0';
  size_t pos = 0;
  while (pos < n && (data[pos] == '\r' || data[pos] == '\n')) pos++;
  size_t scan_end = n < pos + SIM_HTTP_MAX_HEADER ? n : pos + SIM_HTTP_MAX_HEADER;

  /* Find the empty line that ends the header block; lines are [ls, le). */
  const char *line_s[256];
  size_t line_n[256];
  size_t nlines = 0, cur = pos, hdr_end = 0;
  for (;;) {
    const char *nl = memchr(data + cur, '\n', scan_end - cur);
    if (!nl) return n >= pos + SIM_HTTP_MAX_HEADER ? -EFBIG : -EAGAIN;
    size_t le = (size_t)(nl - data);
    size_t len = le - cur;
    if (len && data[le - 1] == '\r') len--;
    if (len == 0) {
      hdr_end = le + 1;
      break;
    }
    if (nlines == sizeof line_n / sizeof line_n[0]) return -EFBIG;
    line_s[nlines] = data + cur;
    line_n[nlines++] = len;
    cur = le + 1;
  }

  /* Request line: METHOD SP target SP HTTP/1.x */
  const char *l = line_s[0];
  size_t ln = line_n[0], i = 0;
  while (i < ln && l[i] >= 'A' && l[i] <= 'Z') i++;
  if (i == 0 || i >= sizeof req->method || i >= ln || l[i] != ' ') return -EINVAL;
  memcpy(req->method, l, i);
  req->method[i] = '\0';
  size_t ts = ++i;
  while (i < ln && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f) i++;
  size_t te = i;
  if (te == ts || l[ts] != '/' || i >= ln || l[i] != ' ') return -EINVAL;
  i++;
  if (ln - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || (l[i + 7] != '0' && l[i + 7] != '1'))
    return -EINVAL;
  bool http11 = l[i + 7] == '1';

  /* Headers. */
  long long content_length = -1;
  bool ka_tok = false, close_tok = false, form = false;
  for (size_t k = 1; k < nlines; k++) {
    const char *h = line_s[k];
    size_t hn = line_n[k], c = 0;
    while (c < hn && is_tchar((unsigned char)h[c])) c++;
    if (c == 0 || c >= hn || h[c] != ':') return -EINVAL;
    size_t name_len = c++;
    while (c < hn && (h[c] == ' ' || h[c] == '\t')) c++;
    size_t ve = hn;
    while (ve > c && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) ve--;
    for (size_t v = c; v < ve; v++) {
      unsigned char ch = (unsigned char)h[v];
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return -EINVAL;
    }
    const char *v = h + c;
    size_t vn = ve - c;
    if (name_len == 14 && strncasecmp(h, "content-length", 14) == 0) {
      if (vn == 0 || vn > 12) return vn > 12 ? -EFBIG : -EINVAL;
      long long cl = 0;
      for (size_t d = 0; d < vn; d++) {
        if (v[d] < '0' || v[d] > '9') return -EINVAL;
        cl = cl * 10 + (v[d] - '0');
      }
      if (content_length >= 0 && content_length != cl) return -EINVAL;
      content_length = cl;
    } else if (name_len == 17 && strncasecmp(h, "transfer-encoding", 17) == 0) {
      return -EINVAL; /* chunked bodies are not spoken here: refuse, never guess a length */
    } else if (name_len == 10 && strncasecmp(h, "connection", 10) == 0) {
      if (header_has_token(v, vn, "close")) close_tok = true;
      if (header_has_token(v, vn, "keep-alive")) ka_tok = true;
    } else if (name_len == 12 && strncasecmp(h, "content-type", 12) == 0) {
      size_t mt = 0;
      while (mt < vn && v[mt] != ';' && v[mt] != ' ' && v[mt] != '\t') mt++;
      form = mt == 33 && strncasecmp(v, "application/x-www-form-urlencoded", 33) == 0;
    }
  }
  if (content_length < 0) content_length = 0;
  if (content_length > SIM_HTTP_MAX_BODY) return -EFBIG;
  if (n - hdr_end < (size_t)content_length) return -EAGAIN;
  req->keep_alive = close_tok ? false : (http11 || ka_tok);

  /* The store holds every decoded string; decoding never grows, so 3x the input bounds
   * it (each piece plus its NUL), and nothing reallocates while pointers are handed out. */
  size_t need = 3 * ((te - ts) + (size_t)content_length) + 16;
  if (need > req->store_cap) {
    char *p = realloc(req->store, need);
    if (!p) return -ENOMEM;
    req->store = p;
    req->store_cap = need;
  }
  char *w = req->store;
  const char *target = l + ts;
  size_t tn = te - ts;
  const char *q = memchr(target, '?', tn);
  size_t pn = q ? (size_t)(q - target) : tn;
  long plen = sim_http_decode(target, pn, false, w);
  if (plen < 0) return (int)plen;
  req->path = w;
  w += plen + 1;
  int rc;
  if (q && (rc = parse_pairs(req, q + 1, tn - pn - 1, &w)) != 0) return rc;
  if (form && content_length > 0 &&
      (rc = parse_pairs(req, data + hdr_end, (size_t)content_length, &w)) != 0)
    return rc;
  *consumed = hdr_end + (size_t)content_length;
  return 0;
}

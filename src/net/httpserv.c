/* The HTTP/1.1 server (httpserv.h). A connection is in one state at a time (conn_state_t)
 * and embeds its socket and its one timer, whose meaning follows the state; it is freed
 * when both handles have closed, and the server when its listener and every connection
 * have. A request handle outlives its connection when the answer comes later. */
#include "net/httpserv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/grow.h"

#define DEFAULT_MAX_HEAD 8192
#define DEFAULT_BACKLOG 128
#define LINGER_MS 2000  /* after a last answer: drain what the peer still sends */
#define READ_CHUNK 4096

typedef enum {
  CONN_WAITING,   /* reading a request; timer: idle, then request timeout */
  CONN_BUSY,      /* the handler has the request; no timer */
  CONN_DELAYED,   /* the answer is ready; timer: its delay */
  CONN_HANGING,   /* never answers; timer: hang_timeout_ms, if any */
  CONN_WRITING,   /* the answer is being written */
  CONN_LINGER,    /* FIN sent after the last answer; reads are discarded; timer: LINGER_MS */
} conn_state_t;

typedef struct conn {
  httpserv_t *s;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  uv_shutdown_t shutdown;
  int open_handles;           /* 2 until both tcp and timer are closed */
  conn_state_t state;
  bool closing, reading, eof; /* eof: the peer finished sending; close after the answer */
  bool head_request;          /* the request being answered is a HEAD */
  bool close_after;           /* the answer being sent is the last */
  httpserv_fault_t fault;     /* of the answer being sent */
  struct sockaddr_storage peer; /* the client's address (its port not compared) */
  char *in;                   /* received bytes not yet answered */
  size_t in_len, in_cap;
  buf_t out;                  /* the answer */
  httpserv_req_t *req;        /* the request waiting for its answer */
  struct conn *prev, *next;
} conn_t;

struct httpserv_req {
  conn_t *c; /* NULL once the connection has gone */
};

struct httpserv {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t closer;          /* never started: closed last, so that on_closed always
                               * runs from the loop, even with the listener long closed */
  int open_handles;           /* the listener and the closer */
  bool listener_closing, closing;
  httpserv_options_t opt;
  size_t in_limit;            /* max_head + max_body: a whole request always fits */
  httpserv_handler_cb handler;
  void *arg;
  conn_t *conns;              /* newest first */
  size_t n_conns;             /* listed: open and not closing */
  size_t n_alive;             /* allocated: listed or with handles still closing */
  uint64_t accepted, requests;
  int port;
  time_t date_at;             /* the second date[] shows */
  char date[40];
  void (*on_closed)(void *arg);
  void *closed_arg;
};

/* ---- parsing ---- */

static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Case-insensitive: does the comma-separated header value v[0..n) hold token tok? */
static bool has_token(const char *v, size_t n, const char *tok) {
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

/* The next line of data[*cur..end) without its CR LF or LF: its start and length, or
 * false when no LF ends it. */
static bool next_line(const char *data, size_t end, size_t *cur, const char **line, size_t *len) {
  const char *nl = memchr(data + *cur, '\n', end - *cur);
  if (!nl) return false;
  size_t le = (size_t)(nl - data);
  *line = data + *cur;
  *len = le - *cur;
  if (*len && data[le - 1] == '\r') (*len)--;
  *cur = le + 1;
  return true;
}

/* One header line h[0..hn): its name length and trimmed value, or -EINVAL. */
static int split_header(const char *h, size_t hn, size_t *name_len, const char **v, size_t *vn) {
  size_t c = 0;
  while (c < hn && is_tchar((unsigned char)h[c])) c++;
  if (c == 0 || c >= hn || h[c] != ':') return -EINVAL;
  *name_len = c++;
  while (c < hn && (h[c] == ' ' || h[c] == '\t')) c++;
  size_t ve = hn;
  while (ve > c && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) ve--;
  *v = h + c;
  *vn = ve - c;
  return 0;
}

static int parse_request_line(const char *l, size_t ln, httpserv_request_t *out) {
  size_t i = 0;
  while (i < ln && is_tchar((unsigned char)l[i])) i++;
  if (i == 0 || i >= ln || l[i] != ' ') return -EINVAL;
  if (i > HTTPSERV_METHOD_MAX) return -EFBIG;
  memcpy(out->method, l, i);
  out->method[i] = '\0';
  size_t ts = ++i;
  while (i < ln && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f) i++;
  if (i == ts || l[ts] != '/' || i >= ln || l[i] != ' ') return -EINVAL; /* origin-form only */
  out->target = l + ts;
  out->target_len = i - ts;
  const char *q = memchr(out->target, '?', out->target_len);
  out->path_len = q ? (size_t)(q - out->target) : out->target_len;
  i++;
  if (ln - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || (l[i + 7] != '0' && l[i + 7] != '1'))
    return -EINVAL;
  out->http11 = l[i + 7] == '1';
  return 0;
}

int httpserv_parse(const char *data, size_t n, size_t max_head, size_t max_body,
                   httpserv_request_t *out, size_t *consumed) {
  if (!out || !consumed || (!data && n)) return -EINVAL;
  memset(out, 0, sizeof *out);
  if (n == 0) return -EAGAIN;
  size_t pos = 0;
  if (n && data[0] == '\n') pos = 1;
  else if (n > 1 && data[0] == '\r' && data[1] == '\n') pos = 2;

  /* The head ends at the first empty line, which must come within max_head bytes. */
  size_t scan_end = n < max_head ? n : max_head, cur = pos, len;
  const char *line;
  size_t nlines = 0;
  do {
    if (!next_line(data, scan_end, &cur, &line, &len)) return n >= max_head ? -EFBIG : -EAGAIN;
    nlines++;
  } while (len);
  size_t hdr_end = cur;
  if (nlines == 1) return -EINVAL; /* an empty request line */

  cur = pos;
  (void)next_line(data, hdr_end, &cur, &line, &len);
  int rc = parse_request_line(line, len, out);
  if (rc) return rc;

  long long content_length = -1;
  bool ka_tok = false, close_tok = false;
  while (next_line(data, hdr_end, &cur, &line, &len) && len) {
    size_t name_len, vn;
    const char *v;
    if (split_header(line, len, &name_len, &v, &vn) != 0) return -EINVAL;
    for (size_t k = 0; k < vn; k++) {
      unsigned char ch = (unsigned char)v[k];
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return -EINVAL;
    }
    if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
      if (vn == 0) return -EINVAL;
      if (vn > 12) return -E2BIG;
      long long cl = 0;
      for (size_t d = 0; d < vn; d++) {
        if (v[d] < '0' || v[d] > '9') return -EINVAL;
        cl = cl * 10 + (v[d] - '0');
      }
      if (content_length >= 0 && content_length != cl) return -EINVAL;
      content_length = cl;
    } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
      return -EINVAL; /* chunked bodies are not spoken here: refuse, never guess a length */
    } else if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
      if (has_token(v, vn, "close")) close_tok = true;
      if (has_token(v, vn, "keep-alive")) ka_tok = true;
    }
  }
  if (content_length < 0) content_length = 0;
  if ((unsigned long long)content_length > max_body) return -E2BIG;
  if (n - hdr_end < (size_t)content_length) return -EAGAIN;
  out->keep_alive = !close_tok && (out->http11 || ka_tok);
  out->head = data + pos;
  out->head_len = hdr_end - pos;
  out->body = data + hdr_end;
  out->body_len = (size_t)content_length;
  *consumed = hdr_end + (size_t)content_length;
  return 0;
}

int httpserv_header(const httpserv_request_t *r, const char *name, const char **value,
                    size_t *len) {
  size_t nlen = strlen(name), cur = 0, ln;
  const char *line;
  (void)next_line(r->head, r->head_len, &cur, &line, &ln); /* the request line */
  while (next_line(r->head, r->head_len, &cur, &line, &ln) && ln) {
    size_t name_len;
    if (split_header(line, ln, &name_len, value, len) == 0 && name_len == nlen &&
        strncasecmp(line, name, nlen) == 0)
      return 0;
  }
  return -ENOENT;
}

/* ---- answers ---- */

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

/* The Date header's value, formatted once a second per offset seen last. */
static const char *http_date(httpserv_t *s, long offset) {
  time_t now = time(NULL) + offset;
  if (now != s->date_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    s->date_at = now;
  }
  return s->date;
}

static void conn_close(conn_t *c, bool reset);
static void conn_wait(conn_t *c);
static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static void conn_arm(conn_t *c, unsigned ms) {
  if (ms) uv_timer_start(&c->timer, on_timer, ms, 0);
  else uv_timer_stop(&c->timer);
}

static void conn_read(conn_t *c) {
  if (c->reading || c->closing) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c, false);
  else c->reading = true;
}

/* Closing a socket with unread input makes the kernel send a reset, which can destroy
 * the answer before the peer reads it (an oversized request is answered before it is
 * all read). So: send FIN, then read and discard until the peer closes, for a while. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = req->data;
  if (c->closing) return;
  if (status < 0 || c->eof) {
    conn_close(c, false);
    return;
  }
  c->in_len = 0;
  conn_arm(c, LINGER_MS);
  conn_read(c);
}

static void on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;
  if (c->closing) return;
  buf_reset(&c->out);
  if (status < 0) {
    conn_close(c, false);
    return;
  }
  if (!c->close_after) {
    conn_wait(c); /* keep-alive: the next request, perhaps already buffered */
    return;
  }
  c->state = CONN_LINGER;
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c, false);
}

/* Sends the answer in c->out, or misbehaves as c->fault says. */
static void conn_deliver(conn_t *c) {
  switch (c->fault) {
    case HTTPSERV_FAULT_RESET: conn_close(c, true); return;
    case HTTPSERV_FAULT_CLOSE: conn_close(c, false); return;
    case HTTPSERV_FAULT_HANG:
      c->state = CONN_HANGING; /* reads go on, so that the peer's close is seen */
      conn_arm(c, c->s->opt.hang_timeout_ms);
      return;
    default: break;
  }
  c->state = CONN_WRITING;
  uv_timer_stop(&c->timer);
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) conn_close(c, false);
}

/* Formats the answer into c->out and delivers it (now or after its delay). */
static void conn_answer(conn_t *c, const httpserv_response_t *r, bool keep_alive) {
  httpserv_t *s = c->s;
  int status = r->status ? r->status : 200;
  size_t blen = r->body ? r->body_len : 0;
  c->fault = r->fault;
  c->close_after = r->close || !keep_alive || c->eof || r->fault == HTTPSERV_FAULT_TRUNCATE;
  buf_reset(&c->out);
  int rc = buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s", status, reason(status),
                      http_date(s, r->date_offset), s->opt.headers ? s->opt.headers : "",
                      r->headers ? r->headers : "");
  if (rc == 0 && r->content_type) rc = buf_printf(&c->out, "Content-Type: %s\r\n", r->content_type);
  if (rc == 0)
    rc = buf_printf(&c->out, "Content-Length: %zu\r\nConnection: %s\r\n\r\n", blen,
                    c->close_after ? "close" : "keep-alive");
  size_t sent = r->fault == HTTPSERV_FAULT_TRUNCATE ? blen / 2 : blen;
  if (rc == 0 && sent && !c->head_request) rc = buf_append(&c->out, r->body, sent);
  if (rc) {
    conn_close(c, false);
    return;
  }
  if (r->delay_ms) {
    c->state = CONN_DELAYED;
    conn_arm(c, r->delay_ms);
    return;
  }
  conn_deliver(c);
}

/* An answer of the server's own (a refused request, a timeout): plain text, then close. */
static void conn_refuse(conn_t *c, int status) {
  char text[64];
  int n = snprintf(text, sizeof text, "%d %s\n", status, reason(status));
  httpserv_response_t r = {.status = status, .content_type = "text/plain; charset=utf-8",
                           .body = text, .body_len = (size_t)n, .close = true};
  c->head_request = false;
  conn_answer(c, &r, false);
}

void httpserv_respond(httpserv_req_t *req, const httpserv_response_t *resp) {
  if (!req) return;
  conn_t *c = req->c;
  free(req);
  if (!c || c->closing) return;
  c->req = NULL;
  conn_answer(c, resp, !c->close_after);
}

/* Parses what has arrived; hands a whole request to the handler. */
static void conn_process(conn_t *c) {
  httpserv_t *s = c->s;
  if (c->state != CONN_WAITING || c->closing || c->in_len == 0) return;
  httpserv_request_t r;
  size_t used = 0;
  int rc = httpserv_parse(c->in, c->in_len, s->opt.max_head, s->opt.max_body, &r, &used);
  if (rc == -EAGAIN) return;
  if (rc) {
    conn_refuse(c, rc == -EFBIG ? s->opt.head_too_large_status : rc == -E2BIG ? 413 : 400);
    return;
  }
  httpserv_req_t *req = calloc(1, sizeof *req);
  if (!req) {
    conn_refuse(c, 503);
    return;
  }
  s->requests++;
  uv_timer_stop(&c->timer);
  c->state = CONN_BUSY;
  c->close_after = !r.keep_alive; /* read by httpserv_respond */
  c->head_request = strcmp(r.method, "HEAD") == 0;
  req->c = c;
  c->req = req;
  s->handler(s->arg, req, &r);
  /* The handler is done with the views: drop the request's bytes. The connection itself
   * is still allocated (handles close through the loop). */
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
}

/* Waits for the next request of a keep-alive connection. */
static void conn_wait(conn_t *c) {
  httpserv_t *s = c->s;
  c->state = CONN_WAITING;
  c->fault = HTTPSERV_FAULT_NONE;
  if (c->eof) {
    conn_close(c, false);
    return;
  }
  conn_arm(c, c->in_len ? s->opt.request_timeout_ms : s->opt.idle_timeout_ms);
  conn_read(c);
  conn_process(c);
}

static void on_timer(uv_timer_t *t) {
  conn_t *c = t->data;
  switch (c->state) {
    case CONN_DELAYED: conn_deliver(c); break;
    case CONN_WAITING:
      if (c->in_len == 0) conn_close(c, false); /* said nothing: no answer owed */
      else conn_refuse(c, 408);
      break;
    default: conn_close(c, false); /* a hang given up, a linger over */
  }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  conn_t *c = handle->data;
  size_t limit = c->s->in_limit;
  if (c->state == CONN_LINGER) c->in_len = 0; /* draining: discard */
  size_t need = c->in_len + READ_CHUNK < limit ? c->in_len + READ_CHUNK : limit;
  if (c->in_cap < need && GROW(c->in, c->in_cap, need) != 0) {
    /* out of memory: read into what room there is (none: UV_ENOBUFS) */
  }
  size_t room = (c->in_cap < limit ? c->in_cap : limit) - c->in_len;
  *b = uv_buf_init(c->in ? c->in + c->in_len : NULL, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  (void)b;
  conn_t *c = st->data;
  if (c->closing || nread == 0) return;
  if (nread == UV_ENOBUFS) { /* full while an answer is pending: resume after it */
    uv_read_stop(st);
    c->reading = false;
    if (c->state == CONN_WAITING) conn_close(c, false); /* out of memory */
    return;
  }
  if (nread < 0) {
    /* The peer is done. With an answer owed (not a hang), send it first. */
    bool owed = c->state == CONN_BUSY || c->state == CONN_DELAYED || c->state == CONN_WRITING;
    if (nread != UV_EOF || !owed) {
      conn_close(c, false);
      return;
    }
    c->eof = true;
    c->close_after = true;
    c->reading = false;
    return;
  }
  if (c->state == CONN_LINGER) {
    c->in_len = 0;
    return;
  }
  bool first = c->in_len == 0;
  c->in_len += (size_t)nread;
  if (c->state != CONN_WAITING) return;
  if (first) conn_arm(c, c->s->opt.request_timeout_ms);
  conn_process(c);
}

/* ---- connections ---- */

static void server_maybe_done(httpserv_t *s);

static void on_conn_handle_closed(uv_handle_t *handle) {
  conn_t *c = handle->data;
  if (--c->open_handles > 0) return;
  httpserv_t *s = c->s;
  free(c->in);
  buf_free(&c->out);
  free(c);
  s->n_alive--;
  server_maybe_done(s);
}

static void conn_close(conn_t *c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  if (c->req) c->req->c = NULL; /* its owner still answers: then it is freed */
  c->req = NULL;
  httpserv_t *s = c->s;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  if (reset && uv_tcp_close_reset(&c->tcp, on_conn_handle_closed) == 0) return;
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static bool same_peer(const conn_t *a, const conn_t *b) {
  if (a->peer.ss_family != b->peer.ss_family) return false;
  if (a->peer.ss_family == AF_INET)
    return ((const struct sockaddr_in *)&a->peer)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)&b->peer)->sin_addr.s_addr;
  if (a->peer.ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)&a->peer)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->peer)->sin6_addr, sizeof(struct in6_addr)) == 0;
  return false;
}

/* Closes the oldest connection (other than c) waiting for a request, of c's client only
 * when same_client. New connections go to the head: the oldest is last. */
static bool drop_oldest_idle(httpserv_t *s, conn_t *c, bool same_client) {
  conn_t *oldest = NULL;
  for (conn_t *o = s->conns; o; o = o->next)
    if (o != c && o->state == CONN_WAITING && (!same_client || same_peer(o, c))) oldest = o;
  if (!oldest) return false;
  conn_close(oldest, false);
  return true;
}

/* Full: the oldest idle connection (of this client first) makes room, so that idle
 * connections cannot lock a health probe out; only busy ones refuse the new one. */
static bool admit(httpserv_t *s, conn_t *c) {
  if (s->opt.max_per_peer) {
    size_t same = 0;
    for (conn_t *o = c->next; o; o = o->next)
      if (same_peer(o, c)) same++;
    if (same >= s->opt.max_per_peer && !drop_oldest_idle(s, c, true)) return false;
  }
  return !s->opt.max_connections || s->n_conns <= s->opt.max_connections ||
         drop_oldest_idle(s, c, false);
}

static void on_connection(uv_stream_t *server, int status) {
  httpserv_t *s = server->data;
  if (status < 0 || s->closing) return;
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->state = CONN_WAITING;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  s->n_alive++;
  int plen = sizeof c->peer;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) != 0 || !admit(s, c)) {
    conn_close(c, false);
    return;
  }
  s->accepted++;
  uv_tcp_nodelay(&c->tcp, 1);
  conn_wait(c);
}

/* ---- the server ---- */

static void on_server_handle_closed(uv_handle_t *handle) {
  httpserv_t *s = handle->data;
  s->open_handles--;
  server_maybe_done(s);
}

static void server_maybe_done(httpserv_t *s) {
  /* A closed connection's handles may still be closing: they hold s until then. */
  if (!s->closing || s->open_handles || s->n_alive) return;
  void (*cb)(void *) = s->on_closed;
  void *arg = s->closed_arg;
  free(s);
  if (cb) cb(arg);
}

int httpserv_addr(const char *host, int port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (!host) return -EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0 ? 0 : -EINVAL;
}

httpserv_t *httpserv_new(uv_loop_t *loop, const struct sockaddr *addr,
                         const httpserv_options_t *opt, httpserv_handler_cb handler, void *arg,
                         int *err) {
  int rc;
  httpserv_t *s = NULL;
  if (!loop || !addr || !opt || !handler) {
    rc = -EINVAL;
    goto fail;
  }
  s = calloc(1, sizeof *s);
  if (!s) {
    rc = -ENOMEM;
    goto fail;
  }
  s->loop = loop;
  s->opt = *opt;
  if (!s->opt.max_head) s->opt.max_head = DEFAULT_MAX_HEAD;
  if (!s->opt.head_too_large_status) s->opt.head_too_large_status = 431;
  if (!s->opt.backlog) s->opt.backlog = DEFAULT_BACKLOG;
  s->in_limit = s->opt.max_head + s->opt.max_body;
  s->handler = handler;
  s->arg = arg;
  s->date_at = -1;
  if ((rc = uv_tcp_init(loop, &s->listener)) != 0) goto fail;
  uv_timer_init(loop, &s->closer);
  s->listener.data = s->closer.data = s;
  s->open_handles = 2;
  rc = uv_tcp_bind(&s->listener, addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, s->opt.backlog, on_connection);
  if (rc) {
    /* The handles were initialised: they close through the loop, which frees s. */
    httpserv_close(s, NULL, NULL);
    s = NULL;
    goto fail;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0)
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  if (err) *err = 0;
  return s;
fail:
  free(s);
  if (err) *err = rc;
  return NULL;
}

int httpserv_port(const httpserv_t *s) { return s ? s->port : 0; }

httpserv_stats_t httpserv_stats(const httpserv_t *s) {
  httpserv_stats_t st = {0};
  if (s) {
    st.open = s->n_conns;
    st.accepted = s->accepted;
    st.requests = s->requests;
  }
  return st;
}

void httpserv_stop_listening(httpserv_t *s) {
  if (!s || s->listener_closing) return;
  s->listener_closing = true;
  uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
}

void httpserv_close(httpserv_t *s, void (*on_closed)(void *arg), void *arg) {
  if (!s || s->closing) return;
  s->closing = true;
  s->on_closed = on_closed;
  s->closed_arg = arg;
  while (s->conns) conn_close(s->conns, false);
  httpserv_stop_listening(s);
  uv_close((uv_handle_t *)&s->closer, on_server_handle_closed);
}

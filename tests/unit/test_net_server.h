/* A tiny HTTP/1.1 server on a libuv loop for the net tests (keep-alive, one request at a
 * time per connection): a handler decides each reply, or to reset, hang, delay or cut
 * the body short. Header-only so each test executable carries its own copy. */
#ifndef FLEETARC_TEST_NET_SERVER_H
#define FLEETARC_TEST_NET_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* TS_RESET: RST once the request is read; TS_CLOSE: a clean close (FIN) without a byte
 * of answer, the dead keep-alive connection on which curl resends a request by itself. */
typedef enum { TS_REPLY = 0, TS_RESET, TS_HANG, TS_TRUNCATE, TS_CLOSE } ts_action_t;

typedef struct ts_reply {
  ts_action_t action;
  int status;            /* 0: 200 */
  const char *content_type;
  char *body;            /* malloc'd by the handler; the server frees it */
  size_t body_len;       /* 0: strlen(body) */
  uint64_t delay_ms;
  int64_t date_offset;   /* seconds added to the Date header */
} ts_reply_t;

/* target is the request target ("/api/track?imeis=1"); method "GET" or "POST". */
typedef void (*ts_handler_t)(void *arg, const char *method, const char *target, ts_reply_t *out);

typedef struct ts_conn ts_conn_t;

typedef struct testsrv {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  ts_handler_t handler;
  void *arg;
  ts_conn_t *conns;
  int connections;       /* accepted so far */
  int requests;          /* parsed so far */
  char last_head[4096];  /* the request line and headers of the last request */
  bool closing;
  bool deaf;             /* the listener is closed: new connections are refused */
} testsrv_t;

struct ts_conn {
  uv_tcp_t tcp;
  uv_timer_t delay;
  testsrv_t *srv;
  char in[16384];
  size_t in_len;
  bool busy;             /* a reply is pending (delayed or hanging) */
  bool closing;
  int closes_left;
  ts_reply_t reply;
  ts_conn_t *next;
};

static char *ts_strdup(const char *s) {
  char *p = strdup(s);
  if (!p) abort();
  return p;
}

static void ts_on_conn_closed(uv_handle_t *h) {
  ts_conn_t *c = h->data;
  if (--c->closes_left == 0) {
    free(c->reply.body);
    free(c);
  }
}

static void ts_conn_close(ts_conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  testsrv_t *s = c->srv;
  for (ts_conn_t **pp = &s->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  c->closes_left = 2;
  uv_close((uv_handle_t *)&c->delay, ts_on_conn_closed);
  uv_close((uv_handle_t *)&c->tcp, ts_on_conn_closed);
}

static void ts_on_write(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void ts_write(ts_conn_t *c, char *data, size_t len) {
  uv_write_t *w = malloc(sizeof *w);
  if (!w) abort();
  w->data = data;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, ts_on_write) != 0) {
    free(data);
    free(w);
  }
}

static void ts_process(ts_conn_t *c);

static void ts_send_reply(ts_conn_t *c) {
  ts_reply_t *r = &c->reply;
  c->busy = false;
  if (r->action == TS_RESET) {
    uv_tcp_close_reset(&c->tcp, ts_on_conn_closed); /* RST: the client sees "connection reset" */
    c->closing = true;
    testsrv_t *s = c->srv;
    for (ts_conn_t **pp = &s->conns; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
    c->closes_left = 2;
    uv_close((uv_handle_t *)&c->delay, ts_on_conn_closed);
    return;
  }
  if (r->action == TS_CLOSE) {
    ts_conn_close(c);
    return;
  }
  const char *body = r->body ? r->body : "";
  size_t len = r->body_len ? r->body_len : strlen(body);
  char date[64];
  time_t now = time(NULL) + (time_t)r->date_offset;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  size_t sent = r->action == TS_TRUNCATE ? len / 2 : len;
  size_t cap = len + 512;
  char *out = malloc(cap);
  if (!out) abort();
  int n = snprintf(out, cap,
                   "HTTP/1.1 %d X\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: keep-alive\r\n\r\n",
                   r->status ? r->status : 200, date,
                   r->content_type ? r->content_type : "application/json; charset=UTF-8", len);
  memcpy(out + n, body, sent);
  ts_write(c, out, (size_t)n + sent);
  free(r->body);
  r->body = NULL;
  if (r->action == TS_TRUNCATE) {
    ts_conn_close(c); /* a clean close before Content-Length bytes: a partial body */
    return;
  }
  ts_process(c); /* the next request may already be buffered */
}

static void ts_on_delay(uv_timer_t *t) { ts_send_reply(t->data); }

/* Parses one complete request from c->in, if there is one, and answers it. */
static void ts_process(ts_conn_t *c) {
  if (c->busy || c->closing) return;
  char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end) return;
  size_t head_len = (size_t)(end - c->in) + 4;
  /* an empty POST body is all the client sends; Content-Length bytes are skipped */
  size_t body_len = 0;
  char *cl = memmem(c->in, head_len, "Content-Length:", 15);
  if (cl) body_len = strtoul(cl + 15, NULL, 10);
  if (c->in_len < head_len + body_len) return;
  char method[8] = "", target[8192] = "";
  if (sscanf(c->in, "%7s %8191s", method, target) != 2) {
    ts_conn_close(c);
    return;
  }
  snprintf(c->srv->last_head, sizeof c->srv->last_head, "%.*s", (int)head_len, c->in);
  memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
  c->in_len -= head_len + body_len;
  c->srv->requests++;
  memset(&c->reply, 0, sizeof c->reply);
  c->srv->handler(c->srv->arg, method, target, &c->reply);
  c->busy = true;
  if (c->reply.action == TS_HANG) return; /* until the client gives up and closes */
  if (c->reply.delay_ms) uv_timer_start(&c->delay, ts_on_delay, c->reply.delay_ms, 0);
  else ts_send_reply(c);
}

static void ts_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  ts_conn_t *c = h->data;
  b->base = c->in + c->in_len;
  b->len = sizeof c->in - c->in_len;
}

static void ts_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b) {
  (void)b;
  ts_conn_t *c = stream->data;
  if (nread < 0 || c->in_len + (size_t)nread >= sizeof c->in) {
    ts_conn_close(c);
    return;
  }
  c->in_len += (size_t)nread;
  ts_process(c);
}

static void ts_on_connection(uv_stream_t *listener, int status) {
  testsrv_t *s = listener->data;
  if (status < 0 || s->closing) return;
  ts_conn_t *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->delay);
  c->tcp.data = c;
  c->delay.data = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    c->closing = true;
    c->closes_left = 2;
    uv_close((uv_handle_t *)&c->delay, ts_on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, ts_on_conn_closed);
    return;
  }
  c->next = s->conns;
  s->conns = c;
  s->connections++;
  uv_read_start((uv_stream_t *)&c->tcp, ts_alloc, ts_on_read);
}

/* Listens on 127.0.0.1 at a free port (s->port). Returns 0 or a libuv error. */
static int testsrv_start(testsrv_t *s, uv_loop_t *loop, ts_handler_t handler, void *arg) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->handler = handler;
  s->arg = arg;
  int rc = uv_tcp_init(loop, &s->listener);
  if (rc) return rc;
  s->listener.data = s;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 128, ts_on_connection);
  if (rc) return rc;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

/* Closes the listener only: connections to the port are refused from the next loop turn
 * on, open ones go on. testsrv_close() is still needed. */
__attribute__((unused)) static void testsrv_stop_listening(testsrv_t *s) {
  if (s->deaf) return;
  s->deaf = true;
  uv_close((uv_handle_t *)&s->listener, NULL);
}

/* Closes the listener and every connection; run the loop afterwards. */
static void testsrv_close(testsrv_t *s) {
  s->closing = true;
  while (s->conns) ts_conn_close(s->conns);
  if (!s->deaf) uv_close((uv_handle_t *)&s->listener, NULL);
  s->deaf = true;
}

/* The value of query parameter name in target, copied into out; false when absent. */
__attribute__((unused)) static bool ts_param(const char *target, const char *name, char *out, size_t n) {
  const char *q = strchr(target, '?');
  size_t nl = strlen(name);
  while (q && *q) {
    q++;
    if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
      size_t len = strcspn(q + nl + 1, "&");
      if (len >= n) len = n - 1;
      memcpy(out, q + nl + 1, len);
      out[len] = '\0';
      return true;
    }
    q = strchr(q, '&');
  }
  return false;
}

#endif

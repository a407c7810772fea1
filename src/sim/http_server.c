/* HTTP/1.1 server of the simulator; see http_server.h for why it is hand-written.
 * One request is handled at a time per connection (pipelined bytes wait in the input
 * buffer), so a connection owns at most one response and one write in flight. */
#include "sim/http_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define MAX_CONNECTIONS 20000
#define IDLE_TIMEOUT_MS 120000       /* a keep-alive connection with nothing to say */
#define NEVER_TIMEOUT_MS 600000      /* a "never answered" request gives up after this */
#define IN_LIMIT (SIM_HTTP_MAX_HEADER + SIM_HTTP_MAX_BODY + 65536)

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;  /* idle timeout, or the delay of a slow answer */
  uv_write_t wreq;
  sim_http_server_t *srv;
  struct conn *prev, *next;
  char *in;          /* received bytes [in_off, in_len) not yet parsed */
  size_t in_off, in_len, in_cap;
  sim_http_request_t req;
  buf_t head, body;
  int status;        /* the pending answer (slow delivery) */
  const char *content_type;
  int open_handles;
  bool closing, busy, close_after, keep_alive, truncate, slow_pending;
} conn_t;

struct sim_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  bool listener_open, closed;
  sim_http_handler_fn handler;
  void *arg;
  conn_t *conns;
  size_t nconns;
  time_t date_at;
  char date[40];
  long clock_skew;
};

static void conn_process(conn_t *c);

static const char *status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

/* The Date header, formatted once a second. */
static const char *http_date(sim_http_server_t *s) {
  time_t now = time(NULL) + s->clock_skew;
  if (now != s->date_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    s->date_at = now;
  }
  return s->date;
}

void sim_http_server_set_clock_skew(sim_http_server_t *s, long seconds) { s->clock_skew = seconds; }

static void on_conn_close(uv_handle_t *h) {
  conn_t *c = h->data;
  if (--c->open_handles > 0) return;
  sim_http_server_t *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  free(c->in);
  sim_http_request_free(&c->req);
  buf_free(&c->head);
  buf_free(&c->body);
  free(c);
}

static void conn_close(conn_t *c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_close);
  if (reset && uv_tcp_close_reset(&c->tcp, on_conn_close) == 0) return;
  uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void on_timer(uv_timer_t *t);

static void conn_arm(conn_t *c, uint64_t ms) {
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_write(uv_write_t *w, int status) {
  conn_t *c = w->data;
  if (c->closing) return;
  c->busy = false;
  if (status < 0 || c->close_after) {
    conn_close(c, false);
    return;
  }
  conn_arm(c, IDLE_TIMEOUT_MS);
  conn_process(c);
}

static void conn_write(conn_t *c) {
  size_t body_len = c->body.len;
  if (c->truncate) c->close_after = true;
  if (!c->keep_alive) c->close_after = true;
  buf_reset(&c->head);
  int rc = buf_printf(&c->head,
                      "HTTP/1.1 %d %s\r\nServer: fleetarc-sim\r\nDate: %s\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                      c->status, status_text(c->status), http_date(c->srv), c->content_type,
                      body_len, c->close_after ? "close" : "keep-alive");
  if (rc) {
    conn_close(c, false);
    return;
  }
  uv_buf_t bufs[2] = {uv_buf_init(c->head.data, (unsigned)c->head.len),
                      uv_buf_init(c->body.data ? c->body.data : c->head.data,
                                  (unsigned)(c->truncate ? body_len / 2 : body_len))};
  c->busy = true;
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, 2, on_write) != 0) conn_close(c, false);
}

static void on_timer(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->slow_pending) {
    c->slow_pending = false;
    conn_write(c);
    return;
  }
  conn_close(c, false); /* idle, or a never-answered request given up */
}

/* A request we refuse before any handler sees it: plain text, then close. */
static void conn_refuse(conn_t *c, int status) {
  buf_reset(&c->body);
  if (buf_printf(&c->body, "%d %s\n", status, status_text(status)) != 0) {
    conn_close(c, false);
    return;
  }
  c->status = status;
  c->content_type = "text/plain; charset=UTF-8";
  c->keep_alive = false;
  c->truncate = false;
  conn_write(c);
}

static void conn_handle(conn_t *c) {
  buf_reset(&c->body);
  sim_http_response_t r = {.status = 200, .content_type = SIM_HTTP_JSON, .body = &c->body};
  c->srv->handler(c->srv->arg, &c->req, &r);
  c->status = r.status;
  c->content_type = r.content_type ? r.content_type : SIM_HTTP_JSON;
  c->keep_alive = c->req.keep_alive;
  c->truncate = r.delivery == SIM_HTTP_DELIVER_TRUNCATE;
  uv_timer_stop(&c->timer);
  switch (r.delivery) {
    case SIM_HTTP_DELIVER_NEVER:
      c->busy = true; /* nothing more is read from this connection */
      conn_arm(c, NEVER_TIMEOUT_MS);
      break;
    case SIM_HTTP_DELIVER_RESET:
      conn_close(c, true);
      break;
    case SIM_HTTP_DELIVER_SLOW:
      c->busy = true;
      c->slow_pending = true;
      conn_arm(c, r.delay_ms);
      break;
    default:
      conn_write(c);
  }
}

static void conn_process(conn_t *c) {
  while (!c->busy && !c->closing && c->in_off < c->in_len) {
    size_t used = 0;
    int rc = sim_http_request_parse(&c->req, c->in + c->in_off, c->in_len - c->in_off, &used);
    if (rc == -EAGAIN) break;
    if (rc) {
      conn_refuse(c, rc == -EFBIG ? 413 : rc == -ENOMEM ? 500 : 400);
      break;
    }
    c->in_off += used;
    conn_handle(c);
  }
  if (c->in_off && !c->closing) { /* the handler is done with the bytes: compact */
    memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
    c->in_len -= c->in_off;
    c->in_off = 0;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
  conn_t *c = h->data;
  (void)suggested;
  if (c->in_cap - c->in_len < 4096 && c->in_cap < IN_LIMIT) {
    size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
    if (cap > IN_LIMIT) cap = IN_LIMIT;
    char *p = realloc(c->in, cap);
    if (p) {
      c->in = p;
      c->in_cap = cap;
    }
  }
  *out = uv_buf_init(c->in ? c->in + c->in_len : NULL, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  conn_t *c = st->data;
  (void)b;
  if (nread < 0) { /* EOF, error, or no room left (UV_ENOBUFS): the peer is done */
    conn_close(c, false);
    return;
  }
  if (nread == 0 || c->closing) return;
  c->in_len += (size_t)nread;
  if (!c->busy) conn_process(c);
}

static void on_connection(uv_stream_t *l, int status) {
  sim_http_server_t *s = l->data;
  if (status < 0) {
    log_warn("sim http: accept failed: %s", uv_strerror(status));
    return;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || s->nconns > MAX_CONNECTIONS || s->closed) {
    conn_close(c, false);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  conn_arm(c, IDLE_TIMEOUT_MS);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c, false);
}

sim_http_server_t *sim_http_server_new(uv_loop_t *loop, sim_http_handler_fn handler, void *arg) {
  sim_http_server_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->handler = handler;
  s->arg = arg;
  s->date_at = -1;
  return s;
}

int sim_http_server_listen(sim_http_server_t *s, const char *host, int port, int *bound_port) {
  struct sockaddr_storage ss;
  int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  if (rc) return rc;
  if ((rc = uv_tcp_init(s->loop, &s->listener)) != 0) return rc;
  s->listener.data = s;
  s->listener_open = true;
  if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) != 0) return rc;
  if ((rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) != 0) return rc;
  struct sockaddr_storage got;
  int len = sizeof got;
  if ((rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len)) != 0) return rc;
  if (bound_port)
    *bound_port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&got)->sin_port);
  return 0;
}

void sim_http_server_close(sim_http_server_t *s) {
  if (s->closed) return;
  s->closed = true;
  if (s->listener_open) uv_close((uv_handle_t *)&s->listener, NULL);
  for (conn_t *c = s->conns; c; c = c->next) conn_close(c, false);
}

void sim_http_server_free(sim_http_server_t *s) { free(s); }

size_t sim_http_server_connections(const sim_http_server_t *s) { return s->nconns; }

/* The operations HTTP endpoint (httpd.h). Each connection embeds its socket and its
 * timer; it is freed when both have closed, and the server when its listener and every
 * connection have. */
#include "ops/httpd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

typedef struct conn {
  httpd_t *h;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  uv_shutdown_t shutdown;
  int open_handles;         /* 2 until both tcp and timer are closed */
  bool closing, responded;
  struct sockaddr_storage peer; /* the client's address (the port not compared) */
  size_t n;
  char req[HTTPD_MAX_REQUEST];
  buf_t resp;
  struct httpd_req *pending; /* an async request not answered yet */
  struct conn *prev, *next;
} conn_t;

struct httpd_req {
  conn_t *c; /* NULL once the connection has gone */
  bool head;
};

struct httpd {
  uv_loop_t *loop;
  uv_tcp_t listener;
  bool listener_open, closing;
  httpd_handler_cb handler;
  void *arg;
  httpd_async_cb async;
  void *async_arg;
  conn_t *conns;
  size_t n_conns;           /* on the list: reading or writing */
  size_t n_alive;           /* allocated: listed or with handles still closing */
  int port;
  char *auth;               /* the Authorization value required, NULL: none */
  void (*on_closed)(void *arg);
  void *closed_arg;
};

static bool token_char(char c) {
  return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

int httpd_parse_request(const char *data, size_t n, char *method, size_t method_len,
                        char *path, size_t path_len) {
  if (!data || !method || !path || method_len == 0 || path_len == 0) return -EINVAL;
  /* The header block ends at the first empty line; bare LF line ends are tolerated. */
  const char *end = NULL;
  for (size_t i = 0; i + 1 < n; i++) {
    if (data[i] == '\n' && data[i + 1] == '\n') { end = data + i; break; }
    if (i + 3 < n && memcmp(data + i, "\r\n\r\n", 4) == 0) { end = data + i; break; }
  }
  if (!end) return n >= HTTPD_MAX_REQUEST ? -EFBIG : -EAGAIN;
  if ((size_t)(end - data) >= HTTPD_MAX_REQUEST) return -EFBIG;
  /* Request line: METHOD SP TARGET SP HTTP/1.x */
  const char *line_end = memchr(data, '\n', n); /* at or before the blank line's */
  if (!line_end || line_end == data || (line_end == data + 1 && data[0] == '\r')) return -EINVAL;
  size_t len = (size_t)(line_end - data);
  if (len > 0 && data[len - 1] == '\r') len--;
  const char *sp1 = memchr(data, ' ', len);
  if (!sp1 || sp1 == data) return -EINVAL;
  const char *target = sp1 + 1;
  const char *sp2 = memchr(target, ' ', len - (size_t)(target - data));
  if (!sp2 || sp2 == target) return -EINVAL;
  const char *version = sp2 + 1;
  size_t vlen = len - (size_t)(version - data);
  if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
    return -EINVAL;
  size_t mlen = (size_t)(sp1 - data);
  for (size_t i = 0; i < mlen; i++)
    if (!token_char(data[i])) return -EINVAL;
  size_t tlen = (size_t)(sp2 - target);
  for (size_t i = 0; i < tlen; i++)
    if ((unsigned char)target[i] <= 32 || (unsigned char)target[i] >= 127) return -EINVAL;
  if (target[0] != '/') return -EINVAL; /* origin-form only */
  const char *q = memchr(target, '?', tlen);
  if (q) tlen = (size_t)(q - target);
  if (mlen >= method_len || tlen >= path_len) return -EFBIG;
  memcpy(method, data, mlen);
  method[mlen] = '\0';
  memcpy(path, target, tlen);
  path[tlen] = '\0';
  return 0;
}

/* ---- connections ---- */

static void server_maybe_done(httpd_t *h);

static void on_conn_handle_closed(uv_handle_t *handle) {
  conn_t *c = handle->data;
  if (--c->open_handles > 0) return;
  httpd_t *h = c->h;
  buf_free(&c->resp);
  free(c);
  h->n_alive--;
  server_maybe_done(h);
}

static void conn_close(conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  if (c->pending) c->pending->c = NULL; /* its owner still replies: then it is freed */
  c->pending = NULL;
  httpd_t *h = c->h;
  if (c->prev) c->prev->next = c->next;
  else h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  h->n_conns--;
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

#define HTTPD_LINGER_MS 2000 /* after the response: drain what the peer still sends */

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b);

static void on_linger_timeout(uv_timer_t *t) { conn_close(t->data); }

/* Closing a socket with unread input makes the kernel send a reset, which can destroy
 * the response before the peer reads it (an oversized request is answered before it is
 * all read). So: send FIN, then read and discard until the peer closes, for a while. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = req->data;
  if (c->closing) return;
  if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_linger_timeout, HTTPD_LINGER_MS, 0);
}

static void on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;
  if (c->closing) return;
  c->shutdown.data = c;
  if (status < 0 || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c);
}

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

/* Sends one response and closes after it: the simplest HTTP/1.1 a scraper accepts. */
static void respond(conn_t *c, int status, const char *content_type, const buf_t *body, bool head) {
  if (c->responded) return;
  c->responded = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->timer);
  size_t blen = body ? body->len : 0;
  int rc = buf_printf(&c->resp,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                      status, reason(status), content_type, blen,
                      status == 401 ? "WWW-Authenticate: Bearer realm=\"fleetarc\", Basic realm=\"fleetarc\"\r\n" : "");
  if (rc == 0 && blen && !head) rc = buf_append(&c->resp, body->data, blen);
  if (rc) {
    conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init(c->resp.data, (unsigned)c->resp.len);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) conn_close(c);
}

static void respond_text(conn_t *c, int status, const char *text) {
  buf_t body = BUF_INIT;
  if (buf_printf(&body, "%s\n", text) != 0) {
    buf_free(&body);
    conn_close(c);
    return;
  }
  respond(c, status, "text/plain; charset=utf-8", &body, false);
  buf_free(&body);
}

int httpd_header_value(const char *data, size_t n, const char *name, char *out, size_t out_len) {
  size_t nlen = strlen(name);
  const char *p = memchr(data, '\n', n); /* skip the request line */
  const char *end = data + n;
  while (p && p + 1 < end) {
    const char *line = p + 1;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    size_t llen = (size_t)(eol - line);
    if (llen && line[llen - 1] == '\r') llen--;
    if (llen == 0) break; /* the blank line: end of the head */
    if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1, *ve = line + llen;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if ((size_t)(ve - v) >= out_len) return -EFBIG;
      memcpy(out, v, (size_t)(ve - v));
      out[ve - v] = '\0';
      return 0;
    }
    p = eol < end ? eol : NULL;
  }
  return -ENOENT;
}

/* The request's Authorization is the one required; constant time in its content. */
static bool auth_ok(conn_t *c) {
  char got[1024];
  if (httpd_header_value(c->req, c->n, "authorization", got, sizeof got) != 0) return false;
  size_t want_len = strlen(c->h->auth), got_len = strlen(got);
  unsigned char diff = want_len != got_len;
  for (size_t i = 0; i < got_len; i++)
    diff |= (unsigned char)(got[i] ^ c->h->auth[i < want_len ? i : 0]);
  explicit_bzero(got, sizeof got);
  return diff == 0;
}

static void handle_request(conn_t *c) {
  char method[16], path[512];
  int rc = httpd_parse_request(c->req, c->n, method, sizeof method, path, sizeof path);
  if (rc == -EAGAIN) {
    if (c->n < sizeof c->req) return;
    rc = -EFBIG;
  }
  if (rc == -EFBIG) {
    respond_text(c, 431, "request too large");
    return;
  }
  if (rc) {
    respond_text(c, 400, "bad request");
    return;
  }
  bool head = strcmp(method, "HEAD") == 0;
  if (strcmp(method, "GET") != 0 && !head) {
    respond_text(c, 405, "only GET");
    return;
  }
  if (c->h->auth && strcmp(path, "/healthz") != 0 && !auth_ok(c)) {
    respond_text(c, 401, "authentication required (metrics.auth)");
    return;
  }
  if (c->h->async) {
    char query[1024] = "";
    const char *sp = memchr(c->req, ' ', c->n), *q = NULL, *qe = NULL;
    if (sp) qe = memchr(sp + 1, ' ', c->n - (size_t)(sp + 1 - c->req));
    if (qe) q = memchr(sp + 1, '?', (size_t)(qe - sp - 1));
    if (q && (size_t)(qe - q - 1) < sizeof query) {
      memcpy(query, q + 1, (size_t)(qe - q - 1));
      query[qe - q - 1] = '\0';
    }
    httpd_req_t *req = calloc(1, sizeof *req);
    if (!req) {
      respond_text(c, 503, "out of memory");
      return;
    }
    req->c = c;
    req->head = head;
    c->pending = req;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    if (c->h->async(c->h->async_arg, req, path, query)) return;
    c->pending = NULL;
    free(req);
  }
  int status = 404;
  const char *ctype = "text/plain; charset=utf-8";
  buf_t body = BUF_INIT;
  body.limit = 64u << 20;
  c->h->handler(c->h->arg, path, &status, &ctype, &body);
  respond(c, status, ctype, &body, head);
  buf_free(&body);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  conn_t *c = handle->data;
  if (c->responded) *b = uv_buf_init(c->req, sizeof c->req); /* draining: discard */
  else *b = uv_buf_init(c->req + c->n, (unsigned)(sizeof c->req - c->n));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  (void)b;
  conn_t *c = s->data;
  if (c->closing) return;
  if (c->responded) {
    if (nread < 0) conn_close(c); /* the peer's EOF (or an error) after our response */
    return;
  }
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->n += (size_t)nread;
  handle_request(c);
}

static void on_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->n == 0) conn_close(c); /* said nothing: no answer owed */
  else respond_text(c, 408, "request timeout");
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

/* Closes the oldest connection (other than c) still waiting for its request, of c's
 * client only when same_client. New connections go to the head: the oldest is last. */
static bool drop_oldest_idle(httpd_t *h, conn_t *c, bool same_client) {
  conn_t *oldest = NULL;
  for (conn_t *o = h->conns; o; o = o->next)
    if (o != c && !o->closing && !o->responded && !o->pending && (!same_client || same_peer(o, c))) oldest = o;
  if (!oldest) return false;
  conn_close(oldest);
  return true;
}

static void on_connection(uv_stream_t *server, int status) {
  httpd_t *h = server->data;
  if (status < 0 || h->closing) return;
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->h = h;
  uv_tcp_init(h->loop, &c->tcp);
  uv_timer_init(h->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->next = h->conns;
  if (h->conns) h->conns->prev = c;
  h->conns = c;
  h->n_conns++;
  h->n_alive++;
  int plen = sizeof c->peer;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) != 0) {
    conn_close(c);
    return;
  }
  /* Full: the oldest idle connection (of this client first) makes room, so that idle
   * connections cannot lock a health probe out; only busy ones refuse the new one. */
  size_t same = 0;
  for (conn_t *o = c->next; o; o = o->next)
    if (!o->closing && same_peer(o, c)) same++;
  if ((same >= HTTPD_MAX_PER_PEER && !drop_oldest_idle(h, c, true)) ||
      (h->n_conns > HTTPD_MAX_CLIENTS && !drop_oldest_idle(h, c, false))) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, HTTPD_TIMEOUT_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_close(c);
}

/* ---- server ---- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss) {
  if (!listen) return -EINVAL;
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen || !colon[1]) return -EINVAL;
  char *endp;
  long port = strtol(colon + 1, &endp, 10);
  if (*endp || port < 0 || port > 65535) return -EINVAL;
  char host[64];
  size_t hlen = (size_t)(colon - listen);
  if (listen[0] == '[') {
    if (hlen < 3 || listen[hlen - 1] != ']' || hlen - 2 >= sizeof host) return -EINVAL;
    memcpy(host, listen + 1, hlen - 2);
    host[hlen - 2] = '\0';
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) ? -EINVAL : 0;
  }
  if (hlen >= sizeof host) return -EINVAL;
  memcpy(host, listen, hlen);
  host[hlen] = '\0';
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? -EINVAL : 0;
}

static void on_listener_closed(uv_handle_t *handle) {
  httpd_t *h = handle->data;
  h->listener_open = false;
  server_maybe_done(h);
}

static void server_maybe_done(httpd_t *h) {
  /* A closed connection's handles may still be closing: they hold h until then. */
  if (!h->closing || h->listener_open || h->n_alive) return;
  void (*cb)(void *) = h->on_closed;
  void *arg = h->closed_arg;
  if (h->auth) explicit_bzero(h->auth, strlen(h->auth));
  free(h->auth);
  free(h);
  if (cb) cb(arg);
}

httpd_t *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler_cb handler, void *arg,
                   int *err) {
  int rc;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (!loop || !handler) {
    rc = -EINVAL;
    goto fail;
  }
  rc = parse_listen(listen, &ss);
  if (rc) goto fail;
  httpd_t *h = calloc(1, sizeof *h);
  if (!h) {
    rc = -ENOMEM;
    goto fail;
  }
  h->loop = loop;
  h->handler = handler;
  h->arg = arg;
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  h->listener_open = true;
  rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
  if (rc) {
    /* The handle was initialised: it must be closed through the loop. */
    h->closing = true;
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
    goto fail;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen) == 0)
    h->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  if (err) *err = 0;
  return h;
fail:
  if (err) *err = rc;
  return NULL;
}

void httpd_set_async(httpd_t *h, httpd_async_cb cb, void *arg) {
  h->async = cb;
  h->async_arg = arg;
}

void httpd_reply(httpd_req_t *req, int status, const char *content_type, const buf_t *body) {
  if (!req) return;
  conn_t *c = req->c;
  if (c) {
    c->pending = NULL;
    respond(c, status, content_type, body, req->head);
  }
  free(req);
}

int httpd_port(const httpd_t *h) { return h ? h->port : 0; }

int httpd_set_auth(httpd_t *h, const char *authorization) {
  char *copy = NULL;
  if (authorization && authorization[0] && !(copy = strdup(authorization))) return -ENOMEM;
  if (h->auth) explicit_bzero(h->auth, strlen(h->auth));
  free(h->auth);
  h->auth = copy;
  return 0;
}

bool httpd_listen_is_loopback(const char *listen) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (parse_listen(listen, &ss) != 0) return false;
  if (ss.ss_family == AF_INET)
    return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a);
  }
  return false;
}

void httpd_close(httpd_t *h, void (*on_closed)(void *arg), void *arg) {
  if (!h || h->closing) return;
  h->closing = true;
  h->on_closed = on_closed;
  h->closed_arg = arg;
  while (h->conns) conn_close(h->conns);
  uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}

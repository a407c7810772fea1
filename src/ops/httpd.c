/* The operations HTTP endpoint (httpd.h): the policy of the listener (methods, the
 * Authorization check, the console's async taker, one answer per connection) over
 * net/httpserv, which does the HTTP. */
#include "ops/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct httpd {
  httpserv_t *srv;
  httpd_handler_cb handler;
  void *arg;
  httpd_async_cb async;
  void *async_arg;
  char *auth; /* the Authorization value required, NULL: none */
  bool closing;
  void (*on_closed)(void *arg);
  void *closed_arg;
};

#define PATH_ROOM 512
#define QUERY_ROOM 1024
#define MAX_BODY 65536 /* a body is read (and dropped: only GET is served) up to this */
#define ALWAYS_HEADERS "Cache-Control: no-store\r\n"
#define AUTH_CHALLENGE "WWW-Authenticate: Bearer realm=\"fleetarc\", Basic realm=\"fleetarc\"\r\n"

/* Every answer closes its connection: the simplest HTTP/1.1 a scraper accepts. */
static void reply(httpserv_req_t *req, int status, const char *content_type, const char *body,
                  size_t len) {
  httpserv_response_t r = {.status = status, .content_type = content_type, .body = body,
                           .body_len = len, .close = true,
                           .headers = status == 401 ? AUTH_CHALLENGE : NULL};
  httpserv_respond(req, &r);
}

static void reply_text(httpserv_req_t *req, int status, const char *text) {
  char line[128];
  int n = snprintf(line, sizeof line, "%s\n", text);
  reply(req, status, "text/plain; charset=utf-8", line, (size_t)n);
}

void httpd_reply(httpd_req_t *req, int status, const char *content_type, const buf_t *body) {
  reply(req, status, content_type, body ? body->data : NULL, body ? body->len : 0);
}

/* The request's Authorization is the one required; constant time in its content. */
static bool auth_ok(const httpd_t *h, const httpserv_request_t *r) {
  const char *got;
  size_t got_len;
  if (httpserv_header(r, "authorization", &got, &got_len) != 0) return false;
  size_t want_len = strlen(h->auth);
  unsigned char diff = want_len != got_len;
  for (size_t i = 0; i < got_len; i++)
    diff |= (unsigned char)(got[i] ^ h->auth[i < want_len ? i : 0]);
  return diff == 0;
}

static void on_request(void *arg, httpserv_req_t *req, const httpserv_request_t *r) {
  httpd_t *h = arg;
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
    reply_text(req, 405, "only GET");
    return;
  }
  if (r->path_len >= PATH_ROOM) {
    reply_text(req, 431, "request too large");
    return;
  }
  char path[PATH_ROOM];
  memcpy(path, r->target, r->path_len);
  path[r->path_len] = '\0';
  if (h->auth && strcmp(path, "/healthz") != 0 && !auth_ok(h, r)) {
    reply_text(req, 401, "authentication required (metrics.auth)");
    return;
  }
  if (h->async) {
    char query[QUERY_ROOM] = ""; /* a longer one is ignored */
    size_t qlen = r->target_len - r->path_len;
    if (qlen > 0 && qlen - 1 < sizeof query) {
      memcpy(query, r->target + r->path_len + 1, qlen - 1);
      query[qlen - 1] = '\0';
    }
    if (h->async(h->async_arg, req, path, query)) return;
  }
  int status = 404;
  const char *ctype = "text/plain; charset=utf-8";
  buf_t body = BUF_INIT;
  body.limit = 64u << 20;
  h->handler(h->arg, path, &status, &ctype, &body);
  httpd_reply(req, status, ctype, &body);
  buf_free(&body);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss) {
  if (!listen) return -EINVAL;
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen || !colon[1]) return -EINVAL;
  char *endp;
  long port = strtol(colon + 1, &endp, 10);
  if (*endp || port < 0 || port > 65535) return -EINVAL;
  char host[64];
  size_t hlen = (size_t)(colon - listen);
  bool bracketed = listen[0] == '[';
  if (bracketed && (hlen < 3 || listen[hlen - 1] != ']')) return -EINVAL;
  if (bracketed) hlen -= 2;
  if (hlen >= sizeof host) return -EINVAL;
  memcpy(host, listen + bracketed, hlen);
  host[hlen] = '\0';
  /* a bare IPv6 literal would be ambiguous with the port: brackets are required */
  if (!bracketed && strchr(host, ':')) return -EINVAL;
  int rc = httpserv_addr(host, (int)port, ss);
  if (rc == 0 && bracketed != (ss->ss_family == AF_INET6)) rc = -EINVAL;
  return rc;
}

httpd_t *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler_cb handler, void *arg,
                   int *err) {
  int rc;
  struct sockaddr_storage ss;
  httpd_t *h = NULL;
  if (!loop || !handler) {
    rc = -EINVAL;
    goto fail;
  }
  if ((rc = parse_listen(listen, &ss)) != 0) goto fail;
  if (!(h = calloc(1, sizeof *h))) {
    rc = -ENOMEM;
    goto fail;
  }
  h->handler = handler;
  h->arg = arg;
  httpserv_options_t opt = {
      .max_head = HTTPD_MAX_REQUEST,
      .max_body = MAX_BODY,
      .max_connections = HTTPD_MAX_CLIENTS,
      .max_per_peer = HTTPD_MAX_PER_PEER,
      .idle_timeout_ms = HTTPD_TIMEOUT_MS,
      .request_timeout_ms = HTTPD_TIMEOUT_MS,
      .headers = ALWAYS_HEADERS,
      .backlog = 64,
  };
  h->srv = httpserv_new(loop, (const struct sockaddr *)&ss, &opt, on_request, h, &rc);
  if (!h->srv) goto fail;
  if (err) *err = 0;
  return h;
fail:
  free(h);
  if (err) *err = rc;
  return NULL;
}

void httpd_set_async(httpd_t *h, httpd_async_cb cb, void *arg) {
  h->async = cb;
  h->async_arg = arg;
}

int httpd_port(const httpd_t *h) { return h ? httpserv_port(h->srv) : 0; }

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
  if (parse_listen(listen, &ss) != 0) return false;
  if (ss.ss_family == AF_INET)
    return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a);
  }
  return false;
}

static void on_server_closed(void *arg) {
  httpd_t *h = arg;
  void (*cb)(void *) = h->on_closed;
  void *cb_arg = h->closed_arg;
  if (h->auth) explicit_bzero(h->auth, strlen(h->auth));
  free(h->auth);
  free(h);
  if (cb) cb(cb_arg);
}

void httpd_close(httpd_t *h, void (*on_closed)(void *arg), void *arg) {
  if (!h || h->closing) return;
  h->closing = true;
  h->on_closed = on_closed;
  h->closed_arg = arg;
  httpserv_close(h->srv, on_server_closed, h);
}

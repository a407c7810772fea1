/* The net tests' HTTP server: net/httpserv on the test's loop (keep-alive, one request at
 * a time per connection) with a handler that decides each reply, or to reset, hang,
 * delay, close or cut the body short (httpserv's fault hooks). State lives in testsrv_t. */
#ifndef FLEETARC_TEST_NET_SERVER_H
#define FLEETARC_TEST_NET_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "net/httpserv.h"

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

typedef struct testsrv {
  httpserv_t *srv;
  int port;
  ts_handler_t handler;
  void *arg;
  char last_head[4096];  /* the request line and headers of the last request */
} testsrv_t;

static char *ts_strdup(const char *s) {
  char *p = strdup(s);
  if (!p) abort();
  return p;
}

static void ts_on_request(void *arg, httpserv_req_t *req, const httpserv_request_t *r) {
  testsrv_t *s = arg;
  char target[8192];
  snprintf(s->last_head, sizeof s->last_head, "%.*s", (int)r->head_len, r->head);
  snprintf(target, sizeof target, "%.*s", (int)r->target_len, r->target);
  ts_reply_t reply = {0};
  s->handler(s->arg, r->method, target, &reply);
  static const httpserv_fault_t faults[] = {
      [TS_REPLY] = HTTPSERV_FAULT_NONE, [TS_RESET] = HTTPSERV_FAULT_RESET,
      [TS_HANG] = HTTPSERV_FAULT_HANG, [TS_TRUNCATE] = HTTPSERV_FAULT_TRUNCATE,
      [TS_CLOSE] = HTTPSERV_FAULT_CLOSE};
  httpserv_response_t out = {
      .status = reply.status,
      .content_type = reply.content_type ? reply.content_type : "application/json; charset=UTF-8",
      .body = reply.body ? reply.body : "",
      .body_len = reply.body_len ? reply.body_len : reply.body ? strlen(reply.body) : 0,
      .date_offset = (long)reply.date_offset,
      .delay_ms = (unsigned)reply.delay_ms,
      .fault = faults[reply.action]};
  httpserv_respond(req, &out);
  free(reply.body);
}

/* Listens on 127.0.0.1 at a free port (s->port). Returns 0 or a libuv error. */
static int testsrv_start(testsrv_t *s, uv_loop_t *loop, ts_handler_t handler, void *arg) {
  memset(s, 0, sizeof *s);
  s->handler = handler;
  s->arg = arg;
  struct sockaddr_storage addr;
  if (httpserv_addr("127.0.0.1", 0, &addr) != 0) return UV_EINVAL;
  httpserv_options_t opt = {.max_head = 16384, .max_body = 1 << 20};
  int rc;
  s->srv = httpserv_new(loop, (const struct sockaddr *)&addr, &opt, ts_on_request, s, &rc);
  if (!s->srv) return rc;
  s->port = httpserv_port(s->srv);
  return 0;
}

/* Connections accepted and requests parsed so far. */
__attribute__((unused)) static int testsrv_connections(const testsrv_t *s) {
  return (int)httpserv_stats(s->srv).accepted;
}
__attribute__((unused)) static int testsrv_requests(const testsrv_t *s) {
  return (int)httpserv_stats(s->srv).requests;
}

/* Closes the listener only: connections to the port are refused from the next loop turn
 * on, open ones go on. testsrv_close() is still needed. */
__attribute__((unused)) static void testsrv_stop_listening(testsrv_t *s) {
  httpserv_stop_listening(s->srv);
}

/* Closes the listener and every connection; run the loop afterwards. */
static void testsrv_close(testsrv_t *s) {
  httpserv_close(s->srv, NULL, NULL);
  s->srv = NULL;
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

/* The simulator's server (http_server.h): net/httpserv does the HTTP; this file sets the
 * simulator's limits, decodes each request (sim/http_request.h) for the handler and maps
 * its delivery onto httpserv's fault hooks. Handlers answer synchronously, so one
 * decoded request and one body buffer serve every connection. */
#include "sim/http_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/httpserv.h"

#define MAX_CONNECTIONS 20000
#define IDLE_TIMEOUT_MS 120000       /* a keep-alive connection with nothing to say */
#define REQUEST_TIMEOUT_MS 120000    /* a request begun and never finished */
#define NEVER_TIMEOUT_MS 600000      /* a "never answered" request gives up after this */

struct sim_http_server {
  uv_loop_t *loop;
  httpserv_t *srv;
  sim_http_handler_fn handler;
  void *arg;
  sim_http_request_t req; /* the request being handled */
  buf_t body;             /* its answer's body */
  long clock_skew;
};

static void on_request(void *arg, httpserv_req_t *hreq, const httpserv_request_t *r) {
  sim_http_server_t *s = arg;
  httpserv_response_t out = {.date_offset = s->clock_skew};
  buf_reset(&s->body);
  int rc = sim_http_request_decode(&s->req, r);
  if (rc) { /* refused before any handler sees it: plain text, then close */
    out.status = rc == -EFBIG ? 413 : rc == -ENOMEM ? 500 : 400;
    if (buf_printf(&s->body, "%d %s\n", out.status,
                   out.status == 413 ? "Content Too Large" : out.status == 500 ? "Internal Server Error"
                                                                              : "Bad Request") != 0)
      out.fault = HTTPSERV_FAULT_CLOSE;
    out.content_type = "text/plain; charset=UTF-8";
    out.close = true;
  } else {
    sim_http_response_t resp = {.status = 200, .content_type = SIM_HTTP_JSON, .body = &s->body};
    s->handler(s->arg, &s->req, &resp);
    out.status = resp.status;
    out.content_type = resp.content_type ? resp.content_type : SIM_HTTP_JSON;
    switch (resp.delivery) {
      case SIM_HTTP_DELIVER_SLOW: out.delay_ms = resp.delay_ms; break;
      case SIM_HTTP_DELIVER_NEVER: out.fault = HTTPSERV_FAULT_HANG; break;
      case SIM_HTTP_DELIVER_RESET: out.fault = HTTPSERV_FAULT_RESET; break;
      case SIM_HTTP_DELIVER_TRUNCATE: out.fault = HTTPSERV_FAULT_TRUNCATE; break;
      default: break;
    }
  }
  out.body = s->body.data;
  out.body_len = s->body.len;
  httpserv_respond(hreq, &out);
}

sim_http_server_t *sim_http_server_new(uv_loop_t *loop, sim_http_handler_fn handler, void *arg) {
  sim_http_server_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->handler = handler;
  s->arg = arg;
  return s;
}

int sim_http_server_listen(sim_http_server_t *s, const char *host, int port, int *bound_port) {
  struct sockaddr_storage ss;
  if (s->srv || httpserv_addr(host, port, &ss) != 0) return UV_EINVAL;
  httpserv_options_t opt = {
      .max_head = SIM_HTTP_MAX_HEADER,
      .max_body = SIM_HTTP_MAX_BODY,
      .max_connections = MAX_CONNECTIONS,
      .idle_timeout_ms = IDLE_TIMEOUT_MS,
      .request_timeout_ms = REQUEST_TIMEOUT_MS,
      .hang_timeout_ms = NEVER_TIMEOUT_MS,
      .head_too_large_status = 413,
      .headers = "Server: fleetarc-sim\r\n",
      .backlog = 1024,
  };
  int rc;
  s->srv = httpserv_new(s->loop, (const struct sockaddr *)&ss, &opt, on_request, s, &rc);
  if (!s->srv) return rc;
  if (bound_port) *bound_port = httpserv_port(s->srv);
  return 0;
}

void sim_http_server_close(sim_http_server_t *s) {
  httpserv_close(s->srv, NULL, NULL);
  s->srv = NULL;
}

void sim_http_server_free(sim_http_server_t *s) {
  if (!s) return;
  sim_http_request_free(&s->req);
  buf_free(&s->body);
  free(s);
}

void sim_http_server_set_clock_skew(sim_http_server_t *s, long seconds) { s->clock_skew = seconds; }

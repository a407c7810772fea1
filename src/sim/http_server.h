/* The simulator's HTTP/1.1 server: net/httpserv (keep-alive, bounded requests) with the
 * simulator's limits and request decoding, and the misbehaviours a real platform shows
 * (slow answers, answers that never come, TCP resets, truncated bodies) mapped onto
 * httpserv's fault hooks. */
#ifndef FLEETARC_SIM_HTTP_SERVER_H
#define FLEETARC_SIM_HTTP_SERVER_H

#include <uv.h>

#include "sim/http_request.h"
#include "util/buf.h"

typedef struct sim_http_server sim_http_server_t;

typedef enum {
  SIM_HTTP_DELIVER_NORMAL = 0,
  SIM_HTTP_DELIVER_SLOW,      /* after delay_ms */
  SIM_HTTP_DELIVER_NEVER,     /* keep the connection open, never answer */
  SIM_HTTP_DELIVER_RESET,     /* TCP RST instead of an answer */
  SIM_HTTP_DELIVER_TRUNCATE,  /* full headers and Content-Length, half the body, close */
} sim_http_delivery_t;

typedef struct sim_http_response {
  int status;                 /* 200 unless set */
  const char *content_type;   /* static string; JSON unless set */
  buf_t *body;                /* borrowed from the connection; the handler appends */
  sim_http_delivery_t delivery;
  unsigned delay_ms;          /* SIM_HTTP_DELIVER_SLOW */
} sim_http_response_t;

#define SIM_HTTP_JSON "application/json; charset=UTF-8"

/* Called once per request, synchronously; req is borrowed until it returns. */
typedef void (*sim_http_handler_fn)(void *arg, const sim_http_request_t *req,
                                    sim_http_response_t *resp);

/* loop and arg are borrowed for the server's life. NULL on allocation failure. */
sim_http_server_t *sim_http_server_new(uv_loop_t *loop, sim_http_handler_fn handler, void *arg);
/* Binds host:port (port 0: a free one, reported in *bound_port) and listens.
 * Returns 0 or a negative libuv error. */
int sim_http_server_listen(sim_http_server_t *s, const char *host, int port, int *bound_port)
    __attribute__((warn_unused_result));
/* Closes the listener and every connection; the handles finish closing when the loop
 * runs next. Idempotent. */
void sim_http_server_close(sim_http_server_t *s);
/* Frees the server: only after close and after the loop ran the close callbacks
 * (uv_run returned). NULL is a no-op. */
void sim_http_server_free(sim_http_server_t *s);
/* The Date header shows the real clock plus this many seconds (--clock-skew), so
 * that a client can measure the offset the 10014 check uses. */
void sim_http_server_set_clock_skew(sim_http_server_t *s, long seconds);

#endif

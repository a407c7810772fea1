/* HTTP client: libcurl's multi interface driven by one libuv loop. One multi handle
 * (keep-alive connection reuse for GET; every POST on a connection of its own, so curl
 * never resends one), a cap on transfers in flight (the rest wait in FIFO order), a cap
 * on body size; every request ends in exactly one completion callback. */
#ifndef FLEETARC_NET_HTTP_H
#define FLEETARC_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/endpoints.h"

typedef struct http http_t;

typedef struct http_options {
  const char *ca_file;        /* optional PEM bundle; TLS peer and host are always verified */
  long timeout_ms;            /* whole request; 0: 30 s */
  long connect_timeout_ms;    /* 0: 10 s */
  size_t max_in_flight;       /* transfers at once; 0: 16. More requests wait in a queue. */
  size_t max_body;            /* bytes; 0: 16 MiB. Past it: HTTP_ERR_TOO_LARGE, no OOM. */
  const char *user_agent;     /* NULL: "fleetarc/VERSION" */
} http_options_t;

typedef enum {
  HTTP_OK = 0,          /* a response arrived with status < 400 */
  HTTP_ERR_NETWORK,     /* resolve, connect, reset, TLS, truncated transfer: curl's message */
  HTTP_ERR_TIMEOUT,     /* the per-request timeout passed */
  HTTP_ERR_STATUS,      /* status >= 400; message holds a sanitized excerpt of the body */
  HTTP_ERR_TOO_LARGE,   /* "body larger than N bytes" */
  HTTP_ERR_CANCELLED,   /* http_close() before the request ended */
} http_error_t;

typedef struct http_response {
  http_error_t error;
  long status;          /* HTTP status, 0 when none arrived */
  int64_t date;         /* the response's Date header as UNIX seconds, 0 when absent */
  const char *body;     /* NUL-terminated after body_len; "" when none */
  size_t body_len;
  const char *message;  /* error text without secrets; "" on HTTP_OK */
  bool unsent;          /* certain the request never reached the server: the name did not
                         * resolve, the connection was refused, or the timeout passed before
                         * the connection (TLS included) was up. False whenever in doubt. */
} http_response_t;

/* All pointers in *res are borrowed until the callback returns. The callback may start
 * new requests and may call http_close(). */
typedef void (*http_done_cb)(void *arg, const http_response_t *res);

/* libcurl's process-wide state (TLS, resolver): http_global_init() once in main, before
 * any http_new() and before any other thread exists; http_global_cleanup() at the end,
 * after every http_t is closed. Nowhere else: curl's global init is not for libraries to
 * call (it is not thread-safe on every build). http_global_init: 0 or -EIO. */
int http_global_init(void) __attribute__((warn_unused_result));
void http_global_cleanup(void);

/* NULL on failure (allocation, curl). The loop is borrowed and must outlive it. */
http_t *http_new(uv_loop_t *loop, const http_options_t *opt);

/* Starts (or queues) a request. url is copied. GET sends url as is; POST sends it with an
 * empty application/x-www-form-urlencoded body (the spec puts parameters in the query).
 * A POST is sent at most once: on a fresh connection that is closed after it
 * (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE), because curl silently resends a
 * request whose reused keep-alive connection died before any answer byte, and a POST
 * (a message, a geofence) must not happen twice. GETs reuse connections and may be
 * resent that way.
 * Returns 0 (cb will be called exactly once, never from inside this call), -ENOMEM,
 * -EIO (curl refused the transfer) or -ESHUTDOWN after http_close(). */
int http_request(http_t *h, api_method_t method, const char *url, http_done_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Requests queued or in flight right now. */
size_t http_pending(const http_t *h);

/* Fails every pending request with HTTP_ERR_CANCELLED, cleans up curl while the loop
 * still runs, closes every handle; on_closed(arg) runs from the loop once all are
 * closed, then h is freed. Safe to call from a completion callback. */
void http_close(http_t *h, void (*on_closed)(void *arg), void *arg);

/* Copies url into out (size n, always terminated) with the values of access_token,
 * signature, password and password_md5 replaced by "***": the only form of a URL that
 * may be logged. */
void http_url_mask(const char *url, char *out, size_t n);

#endif

/* The operations endpoint: the metrics/health/console listener on the service's own
 * libuv loop, served by net/httpserv (GET and HEAD only, one request per connection,
 * bounded sizes and waits, optional Authorization), answering from callbacks. It never
 * blocks the loop and never trusts the peer: garbage gets a 400 and a close. */
#ifndef FLEETARC_OPS_HTTPD_H
#define FLEETARC_OPS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "net/httpserv.h"
#include "util/buf.h"

typedef struct httpd httpd_t;

#define HTTPD_MAX_REQUEST 8192 /* request line + headers; more is answered 431 */
#define HTTPD_MAX_CLIENTS 64   /* connections at once; when full, the oldest idle one goes */
#define HTTPD_MAX_PER_PEER 8   /* connections at once from one address; the same rule */
#define HTTPD_TIMEOUT_MS 3000  /* a client has this long to start its request, and as long
                                * again to finish it: a scraper sends it at once */

/* Answers GET `path` (the target without its query string; borrowed for the call): sets
 * *status (200, 404, 503...), *content_type (a static string) and appends the body to
 * body. Runs on the loop's thread. */
typedef void (*httpd_handler_cb)(void *arg, const char *path, int *status,
                                 const char **content_type, buf_t *body);

/* A request answered later (the console's database-backed pages). */
typedef httpserv_req_t httpd_req_t;

/* Tried before the handler for every authorised GET/HEAD: returns true when it takes the
 * request, which it must then answer exactly once with httpd_reply (from the loop, later
 * or at once). path as for the handler; query is the text after '?' ("" if none), both
 * borrowed for the call. While a request waits, its connection is busy (never dropped as
 * idle) and its request timeout is off. */
typedef bool (*httpd_async_cb)(void *arg, httpd_req_t *req, const char *path, const char *query);

/* Sends the answer of an async request and frees req. When the client has gone (or the
 * server closed) meanwhile, only frees it. body may be NULL. */
void httpd_reply(httpd_req_t *req, int status, const char *content_type, const buf_t *body);

/* Starts listening on "HOST:PORT" (IPv4 literal, or [IPv6]; port 0 picks one: see
 * httpd_port). loop is borrowed and must outlive the server. Returns NULL and sets *err
 * (a negative errno or libuv code) when the address is bad or cannot be bound. */
httpd_t *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler_cb handler, void *arg,
                   int *err) __attribute__((warn_unused_result));

/* Requires every request but GET /healthz to carry "Authorization: <authorization>"
 * (e.g. "Bearer TOKEN" or "Basic dXNlcjpwdw=="; compared in constant time); others get
 * 401. /healthz stays open: orchestrators probe it without credentials and it tells only
 * ok or not. NULL or "": no authentication. The string is copied (and wiped on close). */
int httpd_set_auth(httpd_t *h, const char *authorization) __attribute__((warn_unused_result));

/* True when the listen address "HOST:PORT" is a loopback one (127.0.0.0/8, [::1]). */
bool httpd_listen_is_loopback(const char *listen);

/* Sets the async taker (NULL: none). */
void httpd_set_async(httpd_t *h, httpd_async_cb cb, void *arg);

/* The bound port (useful after port 0). */
int httpd_port(const httpd_t *h);

/* Closes the listener and every open connection; on_closed(arg) (may be NULL) runs from
 * the loop once every handle is closed, then h is freed. NULL h: on_closed is not run. */
void httpd_close(httpd_t *h, void (*on_closed)(void *arg), void *arg);

#endif

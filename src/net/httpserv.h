/* The one HTTP/1.1 server of the tree, on a libuv loop (one thread): the operations
 * listener (ops/httpd), the simulator (sim/http_server) and the tests' server all answer
 * through it. It parses requests (method, target, headers, Content-Length bodies), keeps
 * connections alive, bounds sizes, connections and waits, and can misbehave on purpose
 * (reset, truncate, hang, close, delay) so that the simulator and the tests can show a
 * client what a real platform does. It is hand-written because Debian ships no llhttp and
 * libmicrohttpd cannot inject resets or truncations. One request is handled at a time per
 * connection (pipelined bytes wait), so a connection owns at most one answer. */
#ifndef FLEETARC_NET_HTTPSERV_H
#define FLEETARC_NET_HTTPSERV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct httpserv httpserv_t;
/* A request waiting for its answer: answered exactly once with httpserv_respond. */
typedef struct httpserv_req httpserv_req_t;

#define HTTPSERV_METHOD_MAX 15 /* longer methods are refused as too large */

/* A parsed request: views into the connection's input, borrowed until the handler
 * returns (an answer given later must copy what it needs). */
typedef struct httpserv_request {
  char method[HTTPSERV_METHOD_MAX + 1]; /* an RFC 9110 token, e.g. "GET" */
  const char *target;      /* as sent, origin-form ("/a/b?c=d"), not decoded */
  size_t target_len;
  size_t path_len;         /* target[0..path_len) is the path, before any '?' */
  const char *head;        /* the request line and headers, up to and with the blank line */
  size_t head_len;
  const char *body;        /* Content-Length bytes (none: body_len 0) */
  size_t body_len;
  bool http11;             /* HTTP/1.1 (else 1.0) */
  bool keep_alive;         /* 1.1 without "Connection: close", or 1.0 with keep-alive */
} httpserv_request_t;

/* Parses the request at the start of data[0..n): one leading empty line is skipped
 * (RFC 9112 2.2), bare LF line ends are accepted, header names and values are checked,
 * Transfer-Encoding is refused (never guess a length). Returns 0 with *out and the
 * request's size in *consumed once the head and body are whole; -EAGAIN when more bytes
 * are needed; -EINVAL for a malformed request (answer 400); -EFBIG when the head is
 * longer than max_head or the method than HTTPSERV_METHOD_MAX; -E2BIG when the
 * Content-Length exceeds max_body (413). A verdict other than -EAGAIN never changes with
 * more bytes. Pure. */
int httpserv_parse(const char *data, size_t n, size_t max_head, size_t max_body,
                   httpserv_request_t *out, size_t *consumed) __attribute__((warn_unused_result));

/* The value of header name (case-insensitive) of a parsed request, blanks around it cut:
 * 0 with *value (borrowed like the request) and *len, or -ENOENT. The first one wins. */
int httpserv_header(const httpserv_request_t *r, const char *name, const char **value,
                    size_t *len) __attribute__((warn_unused_result));

/* Misbehaviour of one answer, for the simulator and the tests. */
typedef enum {
  HTTPSERV_FAULT_NONE = 0,
  HTTPSERV_FAULT_RESET,     /* a TCP reset instead of the answer */
  HTTPSERV_FAULT_TRUNCATE,  /* the whole head and Content-Length, half the body, close */
  HTTPSERV_FAULT_HANG,      /* never answer; close when the peer does (or hang_timeout_ms) */
  HTTPSERV_FAULT_CLOSE,     /* a clean close (FIN) without a byte of answer */
} httpserv_fault_t;

typedef struct httpserv_response {
  int status;               /* 0: 200 */
  const char *content_type; /* NULL: no Content-Type header */
  const char *headers;      /* more header lines, each ending in "\r\n"; NULL: none */
  const char *body;         /* copied; NULL: empty (not sent to a HEAD request) */
  size_t body_len;
  bool close;               /* "Connection: close" and close after this answer */
  long date_offset;         /* seconds added to the Date header (a skewed clock) */
  unsigned delay_ms;        /* answer (or misbehave) this much later */
  httpserv_fault_t fault;
} httpserv_response_t;

/* Sends the answer to req and frees req: from inside the handler or later, from the
 * loop's thread. When the connection has gone meanwhile (or the server was closed), only
 * frees req. Every field of resp is copied. */
void httpserv_respond(httpserv_req_t *req, const httpserv_response_t *resp);

/* Called once per request; must see to it that httpserv_respond(req) is called exactly
 * once, now or later. While a request waits for its answer, its connection is busy:
 * never dropped as idle and without a request timeout. */
typedef void (*httpserv_handler_cb)(void *arg, httpserv_req_t *req, const httpserv_request_t *r);

typedef struct httpserv_options {
  size_t max_head;             /* request line + headers, bytes; 0: 8192 */
  size_t max_body;             /* Content-Length cap; 0: no body */
  size_t max_connections;      /* at once; 0: no cap. When full, the oldest idle one
                                * (waiting for a request) makes room, else the new one is
                                * closed: idle connections cannot lock a probe out */
  size_t max_per_peer;         /* at once from one address; 0: no cap; the same rule */
  unsigned idle_timeout_ms;    /* no byte of a next request for this long: closed without
                                * a word; 0: never */
  unsigned request_timeout_ms; /* from a request's first byte until it is whole: 408 and
                                * close; 0: never */
  unsigned hang_timeout_ms;    /* HTTPSERV_FAULT_HANG gives up after this; 0: never */
  int head_too_large_status;   /* the answer to -EFBIG; 0: 431 */
  const char *headers;         /* static header lines added to every answer, each ending
                                * in "\r\n" (e.g. "Server: x\r\n"); NULL: none */
  int backlog;                 /* listen(2) backlog; 0: 128 */
} httpserv_options_t;

/* Binds addr (port 0: a free one, see httpserv_port) and listens. loop, opt->headers and
 * arg are borrowed for the server's life; opt is copied. NULL with *err (a negative
 * errno or libuv code) on failure; the loop must then run once to close the handle. */
httpserv_t *httpserv_new(uv_loop_t *loop, const struct sockaddr *addr,
                         const httpserv_options_t *opt, httpserv_handler_cb handler, void *arg,
                         int *err) __attribute__((warn_unused_result));

/* "HOST" (an IPv4 or IPv6 literal, without brackets) and port to an address: 0 or
 * -EINVAL. */
int httpserv_addr(const char *host, int port, struct sockaddr_storage *out)
    __attribute__((warn_unused_result));

/* The bound port (useful after port 0); 0 for NULL. */
int httpserv_port(const httpserv_t *s);

typedef struct httpserv_stats {
  size_t open;        /* connections open now */
  uint64_t accepted;  /* connections accepted so far */
  uint64_t requests;  /* requests parsed so far */
} httpserv_stats_t;
httpserv_stats_t httpserv_stats(const httpserv_t *s);

/* Closes the listener only: new connections are refused from the next loop turn on;
 * open ones go on. */
void httpserv_stop_listening(httpserv_t *s);

/* Closes the listener and every connection; on_closed(arg) (may be NULL) runs from the
 * loop once every handle is closed, then s is freed. Requests still waiting stay valid
 * until answered (the answer is then dropped). NULL s: on_closed is not run. */
void httpserv_close(httpserv_t *s, void (*on_closed)(void *arg), void *arg);

#endif

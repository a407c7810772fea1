/* One HTTP/1.1 request as the simulator sees it: the method, the decoded path and the
 * parameters from the query string and a form body, over net/httpserv's parse. Pure code
 * (no I/O), so the server and the tests share it and garbage can never crash it.
 * '+' decodes as a space in the query string too, as Java servlet containers (what such
 * platforms run on) do: a client must send a literal plus as %2B. */
#ifndef FLEETARC_SIM_HTTP_REQUEST_H
#define FLEETARC_SIM_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "net/httpserv.h"

#define SIM_HTTP_MAX_HEADER 16384   /* request line + headers, bytes */
#define SIM_HTTP_MAX_BODY (1 << 20) /* Content-Length cap */
#define SIM_HTTP_MAX_PARAMS 128

typedef struct sim_http_param {
  const char *name;  /* decoded, NUL-terminated, valid UTF-8 without NUL */
  const char *value;
} sim_http_param_t;

typedef struct sim_http_request {
  char method[HTTPSERV_METHOD_MAX + 1]; /* "GET", "POST", ... */
  const char *path;        /* decoded path without the query string */
  sim_http_param_t params[SIM_HTTP_MAX_PARAMS]; /* query first, then form body */
  size_t nparams;
  bool keep_alive;         /* HTTP/1.1 default, or "Connection: keep-alive" on 1.0 */
  char *store;             /* owns the strings above; reused from request to request */
  size_t store_cap;
} sim_http_request_t;

/* Decodes a request httpserv has parsed: 0, -EINVAL for a bad escape or bad UTF-8
 * (answer 400), -EFBIG past SIM_HTTP_MAX_PARAMS (413), -ENOMEM. req keeps its store
 * between calls; its strings are valid until the next decode or sim_http_request_free. */
int sim_http_request_decode(sim_http_request_t *req, const httpserv_request_t *r)
    __attribute__((warn_unused_result));

/* httpserv_parse with the limits above, then sim_http_request_decode: 0 when a whole
 * request was parsed (its size in *consumed), -EAGAIN when more bytes are needed,
 * -EINVAL for a malformed request (400), -EFBIG when it exceeds a limit (413), -ENOMEM. */
int sim_http_request_parse(sim_http_request_t *req, const char *data, size_t n,
                           size_t *consumed) __attribute__((warn_unused_result));
void sim_http_request_free(sim_http_request_t *req);

/* The first value of parameter name (query before body), or NULL. */
const char *sim_http_request_param(const sim_http_request_t *req, const char *name);

/* Percent-decodes in[0..n) into out (room for n+1 bytes), '+' as a space when
 * plus_space. Returns the decoded length, or -EINVAL on a bad escape, a NUL byte or
 * invalid UTF-8. out is NUL-terminated. */
long sim_http_decode(const char *in, size_t n, bool plus_space, char *out);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool sim_http_utf8_valid(const char *s, size_t n);

#endif

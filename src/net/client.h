/* The network half of the runtime core, as the archiver sees it: API calls per account
 * on one libuv loop, with login (single flight, shared with the other processes of the
 * host through a token store; token reuse and refresh, replay after a token error),
 * pacing per account and endpoint, and bounded retries. Every call ends in exactly one
 * callback.
 *
 * Retries, and why writes are at most once. Reads (GET, and command/query, a POST that
 * only reads) are retried with backoff on network errors, timeouts, HTTP 5xx, bodies
 * that are not JSON or cut short, and 10000, up to retry_max_attempts; curl may also
 * resend one by itself on a dead keep-alive connection. Writes (every other POST:
 * command/send, geofence/create, message/send, user/block, user/unblock,
 * user/password/set) are not idempotent: a message sent twice is two messages. So a
 * write goes on a connection of its own (net/http.h: curl has nothing to resend on), and
 * netc sends it again only when it is certain the server did not act:
 *   - the request never left: the name did not resolve, the connection was refused, or
 *     the timeout passed before the connection was up (bounded by retry_max_attempts);
 *   - the server refused it before acting: 10009 or HTTP 429 (paced, as for reads), and
 *     the token errors 10010/10011/10012 (replayed after a login). Refusals as too
 *     frequent are capped by write_max_attempts and write_max_ms: past either, the call
 *     ends with the last answer (10009 or HTTP 429), never acted on.
 * Any other failure of a write (reset or timeout once connected, 5xx, a bad or cut body,
 * 10000) ends the call at once with its error (attempts == 1 if it was the first send),
 * logged once, and message saying it was not retried: the server may or may not have
 * acted, and the operator, not the client, decides whether to send it again. */
#ifndef FLEETARC_NET_CLIENT_H
#define FLEETARC_NET_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "api/endpoints.h"
#include "net/http.h"
#include "net/pacer.h"

typedef struct netc netc_t;
typedef struct account netc_account_t; /* owned by its netc_t */

typedef struct netc_options {
  const char *base_url;          /* "https://api.mygps.mu" (scheme://host[:port]); copied */
  http_options_t http;           /* timeouts, in-flight cap, body cap, CA file */
  pacer_options_t pacing;        /* api.rate_limits per endpoint, global rate, 10009 policy */
  uint64_t retry_base_ms;        /* 0: 500 */
  uint64_t retry_max_ms;         /* 0: 30000 */
  unsigned retry_max_attempts;   /* HTTP attempts per call for transient errors; 0: 5. A
                                  * write is retried only while it surely never left (see
                                  * the top of this file). */
  unsigned write_max_attempts;   /* sends of one write answered 10009/429 before it ends
                                  * with that answer; 0: 10 */
  uint64_t write_max_ms;         /* nor past this long after its first send; 0: 300000 */
  double token_refresh_fraction; /* re-login after this part of expires_in; 0: 0.75 */
  unsigned max_fruitless_logins; /* logins in a row whose token was refused before any call
                                  * succeeded: past it, token errors fail their calls (a
                                  * login loop, e.g. another process sharing the account);
                                  * 0: 5. From the second such login on, logins back off. */
  unsigned max_time_errors;      /* 10014 answers to logins before the account stops; 0: 3 */
  const char *token_dir;         /* the token store shared by the processes of the host
                                  * (net/tokenstore.h): a login takes the account's lock
                                  * there first and adopts a fresh token another process
                                  * wrote instead of logging in; NULL or "": off (single
                                  * flight within this process only); copied */
} netc_options_t;

typedef enum {
  NET_OK = 0,         /* envelope code 0: body holds the record; or "no data" in any of
                       * its forms, 20023 included (no_data set: api_check_response) */
  NET_ERR_API,        /* envelope code != 0 that is the caller's to judge (10004, 10013,
                       * 20023 of an endpoint that has no "no data" answer...); code and
                       * body are set */
  NET_ERR_ACCOUNT,    /* the account is stopped (20001 bad credentials, 10016 blocked,
                       * clock never accepted, or its login kept failing); code set */
  NET_ERR_NETWORK,    /* retries ended on a network error (a write: at once, unless the
                       * request never left) */
  NET_ERR_TIMEOUT,    /* retries ended on timeouts (a write: the same) */
  NET_ERR_HTTP,       /* retries ended on (or no retry for) HTTP status >= 400; a write
                       * gets no retry for 5xx */
  NET_ERR_BAD_BODY,   /* retries ended on an HTML page / truncated or invalid JSON (a
                       * write: no retry) */
  NET_ERR_TOO_LARGE,  /* the body passed http_options_t.max_body */
  NET_ERR_CANCELLED,  /* netc_close() */
} net_error_t;

typedef struct net_result {
  net_error_t error;
  int code;                 /* envelope code (0 on NET_OK); 10000 if retries ended on it
                             * (a write: at the first 10000, as NET_ERR_API) */
  long http_status;         /* of the last attempt, 0 if none */
  const char *body;         /* borrowed until the callback returns; NUL-terminated; set for
                             * NET_OK and NET_ERR_API, "" otherwise */
  size_t body_len;
  const char *message;      /* why it failed, without secrets; "" on NET_OK */
  api_endpoint_t endpoint;
  const char *account;      /* borrowed */
  unsigned attempts;        /* HTTP requests this call took (replays included) */
  bool no_data;             /* NET_OK with "no data" (api.h API_NO_DATA); code is 0 even
                             * when the server said it as 20023. The endpoint's parser
                             * reads the body as an empty result. */
  int decoded;              /* netc_call_decode, NET_OK: what the decoder returned (0: the
                             * caller's result holds the answer; else its record was bad or
                             * memory ran out); 0 otherwise */
  const char *decode_message; /* the decoder's error message when decoded != 0, else "" */
} net_result_t;

typedef void (*netc_response_cb)(void *arg, const net_result_t *res);

/* A decoder for netc_call_decode: one of api.h's parsers of the call's endpoint, into the
 * caller's result (found through arg, the call's arg). netc runs it on each answer's body
 * instead of its own envelope check and classifies the answer by err->envelope, so that
 * the body goes through cJSON once. It must start with the envelope (every api_parse_*
 * does). */
typedef int (*netc_decode_fn)(void *arg, const char *body, size_t len, api_error_t *err);

/* Counters for metrics; read with netc_stats(). */
typedef struct netc_stats {
  uint64_t sent[API_EP_COUNT];      /* HTTP requests sent, logins under authorization */
  uint64_t succeeded[API_EP_COUNT]; /* calls ended with NET_OK and data */
  uint64_t empty[API_EP_COUNT];     /* calls ended with NET_OK and "no data" */
  uint64_t failed[API_EP_COUNT];    /* calls ended with an error (NET_ERR_API included) */
  uint64_t retries;                 /* transient errors retried after a backoff */
  uint64_t throttled;               /* 10009 (or HTTP 429) answers: the call waited */
  uint64_t token_replays;           /* calls replayed after a token error */
  uint64_t logins;                  /* successful logins */
  uint64_t login_failures;          /* login attempts that did not give a token */
  uint64_t tokens_adopted;          /* tokens taken from the store instead of a login */
} netc_stats_t;

struct config;
/* Fills opt from the loaded configuration (api.*: base_url, ca_file, timeout, in-flight
 * and body caps, global rate, retries, rate_limits, token_dir). Pointers into cfg are borrowed: cfg
 * must outlive netc_new(), which copies what it keeps. */
void netc_options_from_config(netc_options_t *opt, const struct config *cfg);

/* NULL on failure. loop is borrowed and must outlive the client; opt is copied. */
netc_t *netc_new(uv_loop_t *loop, const netc_options_t *opt);

/* Adds an account; name and password_md5 (32 hex digits, secret) are copied. The first
 * call logs in. Returns the account (owned by n) or NULL (-EINVAL md5, -ENOMEM). */
netc_account_t *netc_account_add(netc_t *n, const char *name, const char *password_md5);
/* Tokens shared between instances through the database (issue 19; archive/lease.h).
 * cb(arg, a, token, credential, expires_at) runs after each successful login of ours with
 * the new token (a secret: never log it), the fingerprint of the credentials (no secret)
 * and its expiry (UNIX seconds). NULL cb: none. */
typedef void (*netc_token_cb)(void *arg, const netc_account_t *a, const char *token,
                              const char *credential, int64_t expires_at);
void netc_on_token(netc_t *n, netc_token_cb cb, void *arg);
/* Adopts a token another instance obtained (copied), so that a takes over without a
 * login: only for the same credentials, with a minute or more to live, while a has no
 * usable token and no login in flight, and is not stopped. 1 adopted, 0 not, -ENOMEM. */
int netc_account_adopt(netc_t *n, netc_account_t *a, const char *token, const char *credential,
                       int64_t expires_at);
/* 0 while the account works; else the code that stopped it: 20001, 10016, 10014 (its
 * logins kept being refused for their time), or -EINVAL (the codec refused its name). */
int netc_account_stopped(const netc_account_t *a);

/* Calls req (built by an api_request_* builder, without token) for account a. On 0 the
 * client takes ownership of req's content and leaves *req empty (api_request_free() on
 * it is a harmless no-op); on error *req is untouched. cb(arg, result) runs exactly once,
 * from the loop, never from inside netc_call. Returns 0, -ENOMEM, -EINVAL (the
 * authorization endpoint: logins are the client's business) or -ESHUTDOWN. */
int netc_call(netc_t *n, netc_account_t *a, api_request_t *req, netc_response_cb cb, void *arg)
    __attribute__((warn_unused_result));
/* netc_call with a decoder (see netc_decode_fn): by the time cb runs with NET_OK, the
 * answer is parsed (res->decoded says how it went); the body is still given. */
int netc_call_decode(netc_t *n, netc_account_t *a, api_request_t *req, netc_decode_fn decode,
                     netc_response_cb cb, void *arg) __attribute__((warn_unused_result));

/* Server time minus local time, seconds, as last learned. */
int64_t netc_clock_offset(const netc_t *n);

const netc_stats_t *netc_stats(const netc_t *n);
/* The HTTP requests sent for the account named name, by endpoint (API_EP_COUNT counters,
 * logins under authorization): the per-account use of the platform's quota. NULL when no
 * such account was added. */
const uint64_t *netc_account_sent(const netc_t *n, const char *name);
/* The calls of a's lane to ep that wait to be sent (for their pacing, a token or a
 * retry's backoff): the archiver starts a call on a lane only while few wait there, so
 * that a paced lane's backlog does not hold the slots other lanes could use. */
size_t netc_lane_waiting(const netc_account_t *a, api_endpoint_t ep);
/* The pacer's current spacing for a's lane to ep (ms), for tests and metrics. */
uint64_t netc_spacing(const netc_t *n, const netc_account_t *a, api_endpoint_t ep);

/* A reload's api.rate_limits and api.global_rate (opt->pacing's spacing_ms and
 * global_rate; the rest of opt is ignored: it needs a new client). Waiting calls are
 * paced by the new values from the next pass, which runs at once. */
void netc_set_pacing(netc_t *n, const netc_options_t *opt);

/* Fails every pending call with NET_ERR_CANCELLED, closes curl and every handle;
 * on_closed(arg) runs from the loop when all are closed, then n and its accounts are
 * freed. Safe to call from a response callback. */
void netc_close(netc_t *n, void (*on_closed)(void *arg), void *arg);

#endif

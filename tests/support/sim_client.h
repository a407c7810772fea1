/* A small blocking client of fleetarc-sim for the integration tests: libcurl easy
 * requests, cJSON answers, login with the spec's signature, raw sockets for the HTTP
 * tests. Each sc_t is one simulator and one connection; the tests own it. */
#ifndef FLEETARC_TESTS_SIM_CLIENT_H
#define FLEETARC_TESTS_SIM_CLIENT_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stddef.h>

#include "harness.h"

typedef struct sc {
  harness_sim_t sim;
  CURL *curl;
  char token[64];
  long http_status;
  char *body;       /* the last answer's raw body (owned) */
  size_t body_len;
  CURLcode curl_rc;
  long timeout_ms;  /* per request; 0: 20 s */
} sc_t;

/* Starts the simulator with extra args (NULL-ended). 0 or -1. */
int sc_start(sc_t *c, const char *const *args);
/* SIGTERM and wait; returns the simulator's exit status (-1 if it did not exit). */
int sc_stop(sc_t *c);

/* One request: method "GET" or "POST", path with query string (already encoded), an
 * optional form body. Returns the parsed JSON (caller frees) or NULL (transport error,
 * not JSON); c->http_status, c->body, c->curl_rc hold the details. */
cJSON *sc_call(sc_t *c, const char *method, const char *path, const char *form);
/* GET with a printf-formatted path; the access token is appended when set. */
cJSON *sc_getf(sc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The answer's `code`, or -1. */
int sc_code(const cJSON *j);
/* The code of a GET (see sc_getf), freeing the answer; -1 when no JSON came back. */
int sc_get_code(sc_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The spec's login signature of password at time t (32 hex digits and NUL). 0 or -1. */
int sc_signature_at(const char *password, long long t, char out[33]);
/* Logs in as account with password at time now+offset; on success the token is kept.
 * Returns the answer's code. */
int sc_login_at(sc_t *c, const char *account, const char *password, long offset);
/* Logs in as the simulator's own account (sc_login_at, offset 0). */
int sc_login(sc_t *c);

/* /sim/stats, parsed (caller frees). */
cJSON *sc_stats(sc_t *c);
/* A number inside /sim/stats: sc_stat(stats, "faults", "reset"); -1 when absent. */
double sc_stat(const cJSON *stats, const char *group, const char *key);

/* The `record` array of an answer: its size, or -1. */
int sc_record_count(const cJSON *j);
/* The `record` string of playback/alarm answers (borrowed), or NULL. */
const char *sc_record_string(const cJSON *j);
/* Number of ';'-separated groups in a record string. */
int sc_groups(const char *s);

/* Walks the account tree from `account` (user/list, then device/list of each),
 * appending every device's IMEI to imeis (and its owner to owners, when not NULL).
 * Returns the number of accounts seen, -1 on an error answer or a list over 500 rows. */
int sc_walk_tree(sc_t *c, const char *account, char (*imeis)[16], char (*owners)[64], int *n,
                 int cap);

/* A raw TCP connection to the simulator (10 s receive timeout): -1 on failure. */
int sc_connect(const sc_t *c);
/* Reads until the peer closes, the buffer is full, or `until` appears. Returns bytes. */
size_t sc_read_all(int fd, char *buf, size_t cap, const char *until);

#endif

/* One account's login state: its token, the generation that token belongs to (so that a
 * token error re-logs in only when the failed token is still the current one), when it
 * must be refreshed, and whether the account was stopped (bad credentials, blocked).
 * Pure state, no I/O: the client (client.c) drives it from the loop. */
#ifndef FLEETARC_NET_ACCOUNT_H
#define FLEETARC_NET_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/endpoints.h"


typedef enum {
  ACCOUNT_NO_TOKEN = 0, /* a request needs a login first */
  ACCOUNT_LOGGING_IN,   /* the one login in flight (single flight); requests wait */
  ACCOUNT_READY,        /* token usable until refresh_at */
  ACCOUNT_STOPPED,      /* 20001 / 10016 / repeated 10014: every request fails */
} account_state_t;

typedef struct account {
  char *name;                 /* owned */
  char password_md5[33];      /* secret: never logged */
  char *token;                /* owned, secret; NULL when none */
  uint64_t gen;               /* bumped by every successful login */
  uint64_t refresh_at;        /* monotonic ms: log in again from then on */
  account_state_t state;
  int stop_code;              /* the API code that stopped it, or a negative errno */
  char stop_message[256];
  unsigned time_errors;       /* 10014 answers to consecutive logins */
  unsigned fruitless_logins;  /* logins since the last call that was not refused for its token */
  int lane;                   /* the pacer's account index */
  uint64_t sent[API_EP_COUNT]; /* HTTP requests sent for it, logins under authorization */
  uint32_t waiting[API_EP_COUNT]; /* its calls on netc's ready list, not sent (pacing,
                                   * token, backoff): netc_lane_waiting */
  char credential[33];        /* md5 of a salt, the base URL and password_md5: tells a shared
                               * token of the same credentials (no secret by itself) */
  struct tokenstore *store;   /* the host-wide token file of the account, opened, driven
                               * and freed by client.c; NULL: in-process single flight only */
} account_t;

/* NULL on allocation failure or when password_md5 is not 32 hex digits (it is copied,
 * folded to lower case). */
account_t *account_new(const char *name, const char *password_md5);
void account_free(account_t *a);

/* True when a request may be sent with a->token now. */
bool account_token_usable(const account_t *a, uint64_t now_ms);

/* A login succeeded: the new token (copied) is used until refresh_fraction of
 * expires_in has passed. Returns 0 or -ENOMEM. */
int account_logged_in(account_t *a, const char *token, int64_t expires_in, double refresh_fraction,
                      uint64_t now_ms) __attribute__((warn_unused_result));

/* Another process's login (read from the token store) gives the token (copied), usable
 * until refresh_at (monotonic ms). Counts like a login of ours: a new generation, and a
 * fruitless one until a call gets through with it. Returns 0 or -ENOMEM. */
int account_adopted(account_t *a, const char *token, uint64_t refresh_at)
    __attribute__((warn_unused_result));

/* A request sent with token generation gen got a token error. Returns true when that
 * token is still the current one, i.e. the caller must start the (single) login; false
 * when a login is already under way or has already replaced it. */
bool account_token_failed(account_t *a, uint64_t gen);

/* Stops the account for good (until restart) with code and a message (no secrets). */
void account_stop(account_t *a, int code, const char *message);

#endif

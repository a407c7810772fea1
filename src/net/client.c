/* The API client: calls wait on one ready list until their account has a usable token
 * and their pacing lane allows a send; a pump timer walks that list. A call is either
 * on the ready list or in flight in http, never both; logins are calls too (one per
 * account at a time), paced on the authorization lane. */
#include "net/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "config/config.h"
#include "net/account.h"
#include "net/backoff.h"
#include "net/tokenstore.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/md5.h"

typedef struct net_call {
  netc_t *n;
  account_t *acct;
  api_endpoint_t ep;
  api_request_t req;       /* owned (params); empty for a login, built at each send */
  netc_response_cb cb;     /* NULL for a login */
  netc_decode_fn decode;   /* NULL: classified by api_check_response */
  void *arg;
  bool is_login;
  unsigned attempts;       /* HTTP requests sent */
  unsigned transient;      /* transient failures so far */
  unsigned token_replays;
  uint64_t not_before;     /* monotonic ms: backoff */
  uint64_t sent_at;
  uint64_t first_sent_at;  /* monotonic ms of the first send: a write's retry budget */
  int64_t sent_wall;       /* UNIX seconds of the send: a login's token counts from then */
  uint64_t token_gen;      /* the generation of the token it was sent with */
  struct net_call *prev, *next;
} net_call_t;

typedef struct account_node {
  account_t *acct;
  struct account_node *next;
} account_node_t;

struct netc {
  uv_loop_t *loop;
  http_t *http;
  pacer_t *pacer;
  netc_options_t opt;
  char *base_url;
  netc_token_cb on_token; /* netc_on_token */
  void *on_token_arg;
  char *token_dir;         /* the shared token store, NULL: off or unusable */
  uv_timer_t pump;
  account_node_t *accounts;
  net_call_t *ready_head, *ready_tail;
  size_t in_flight;
  int64_t clock_offset;
  netc_stats_t stats;
  bool in_pump, pump_again;
  bool closing;
  int closes_left;         /* http + pump timer */
  void (*on_closed)(void *arg);
  void *closed_arg;
};

/* ---- lists and small helpers ---- */

static void ready_push(netc_t *n, net_call_t *c, bool front) {
  c->prev = c->next = NULL;
  c->acct->waiting[c->ep]++;
  if (!n->ready_head) {
    n->ready_head = n->ready_tail = c;
  } else if (front) {
    c->next = n->ready_head;
    n->ready_head->prev = c;
    n->ready_head = c;
  } else {
    c->prev = n->ready_tail;
    n->ready_tail->next = c;
    n->ready_tail = c;
  }
}

static void ready_unlink(netc_t *n, net_call_t *c) {
  if (c->acct->waiting[c->ep]) c->acct->waiting[c->ep]--;
  if (c->prev) c->prev->next = c->next;
  else n->ready_head = c->next;
  if (c->next) c->next->prev = c->prev;
  else n->ready_tail = c->prev;
  c->prev = c->next = NULL;
}

static void call_free(net_call_t *c) {
  if (!c) return;
  api_request_free(&c->req);
  free(c);
}

static void on_pump(uv_timer_t *t);

static void pump_soon(netc_t *n) {
  if (n->closing) return;
  if (n->in_pump) n->pump_again = true;
  else uv_timer_start(&n->pump, on_pump, 0, 0);
}

/* The IMEIs a call is about, for log lines: the value of imeis= or imei=, cut short. */
static void call_imeis(const net_call_t *c, char *out, size_t n) {
  snprintf(out, n, "-");
  const char *p = c->req.params;
  while (p && *p) {
    size_t len = strcspn(p, "&");
    if (strncmp(p, "imeis=", 6) == 0 || strncmp(p, "imei=", 5) == 0) {
      const char *v = strchr(p, '=') + 1;
      size_t vl = len - (size_t)(v - p);
      size_t o = 0;
      for (size_t i = 0; i < vl && o + 4 < n; i++) {
        if (o >= 120) {
          memcpy(out + o, "...", 3);
          o += 3;
          break;
        }
        if (v[i] == '%' && i + 2 < vl && v[i + 1] == '2' && (v[i + 2] == 'C' || v[i + 2] == 'c')) {
          out[o++] = ','; /* the codec encodes the list's commas */
          i += 2;
        } else {
          out[o++] = v[i];
        }
      }
      out[o] = '\0';
      return;
    }
    p += len;
    if (*p == '&') p++;
  }
}

/* Ends a user call: one callback, then the call is freed. no_data: a NET_OK answer that
 * says "no data" (api_check_response); decoded and decode_message: the decoder's verdict
 * on a NET_OK answer. */
static void call_end(netc_t *n, net_call_t *c, net_error_t error, int code, long status,
                     const char *body, size_t body_len, const char *message, bool no_data,
                     int decoded, const char *decode_message) {
  net_result_t res = {
    .error = error,
    .code = code,
    .http_status = status,
    .body = body ? body : "",
    .body_len = body ? body_len : 0,
    .message = message ? message : "",
    .endpoint = c->ep,
    .account = c->acct->name,
    .attempts = c->attempts,
    .no_data = no_data,
    .decoded = decoded,
    .decode_message = decoded && decode_message ? decode_message : "",
  };
  if (error != NET_OK) n->stats.failed[c->ep]++;
  else if (no_data) n->stats.empty[c->ep]++;
  else n->stats.succeeded[c->ep]++;
  c->cb(c->arg, &res);
  call_free(c);
}

static void call_finish(netc_t *n, net_call_t *c, net_error_t error, int code, long status,
                        const char *body, size_t body_len, const char *message) {
  call_end(n, c, error, code, status, body, body_len, message, false, 0, NULL);
}

static void call_fail_account(netc_t *n, net_call_t *c) {
  char message[320];
  snprintf(message, sizeof message, "account %s stopped: %s", c->acct->name, c->acct->stop_message);
  call_finish(n, c, NET_ERR_ACCOUNT, c->acct->stop_code, 0, NULL, 0, message);
}

/* ---- login ---- */

static void login_start(netc_t *n, account_t *a) {
  net_call_t *c = calloc(1, sizeof *c);
  if (!c) {
    /* Nothing to log in with: the account's waiting calls retry on the next pump. */
    log_error_f(LOG_FIELDS(.account = a->name),
        "net: account %s: out of memory starting a login", a->name);
    return;
  }
  c->n = n;
  c->acct = a;
  c->ep = API_EP_AUTHORIZATION;
  c->is_login = true;
  if (a->fruitless_logins >= 2) /* tokens die as soon as they come: slow down */
    c->not_before = uv_now(n->loop) + backoff_delay_ms(n->opt.retry_base_ms, n->opt.retry_max_ms,
                                                       a->fruitless_logins - 2, backoff_random());
  a->state = ACCOUNT_LOGGING_IN;
  ready_push(n, c, true);
  log_debug_f(LOG_FIELDS(.account = a->name), "net: account %s: logging in", a->name);
}

/* The login ended without a token: every call waiting for this account fails with the
 * same reason (the work stays due: its owner decides), and the next call logs in anew. */
static void login_give_up(netc_t *n, account_t *a, net_error_t error, int code, const char *why) {
  a->state = ACCOUNT_NO_TOKEN;
  char message[400];
  snprintf(message, sizeof message, "login of account %s failed: %s", a->name, why);
  log_error("net: %s", message);
  net_call_t *failed = NULL;
  for (net_call_t *c = n->ready_head, *next; c; c = next) {
    next = c->next;
    if (c->acct != a || c->is_login) continue;
    ready_unlink(n, c);
    c->next = failed;
    failed = c;
  }
  while (failed) {
    net_call_t *c = failed;
    failed = c->next;
    call_finish(n, c, error, code, 0, NULL, 0, message);
  }
}

/* ---- the token store shared with other processes ---- */

#define STORE_RETRY_MS 50 /* how often a login waiting for another process's lock looks again */

enum { STORE_SEND, STORE_ADOPTED, STORE_BUSY };

/* Run when a's login could be sent now. With a store: takes its lock without waiting
 * (STORE_BUSY: another process is logging in; look again soon), then adopts the token
 * there if it is fresh, was obtained with the same password, and is not the one this
 * process holds (the one that just failed or is due for refresh): STORE_ADOPTED, lock
 * released. Else STORE_SEND with the lock held
 * until the login's answer has been written (cb_http releases it). A store that cannot
 * be used is dropped with one warning: the account goes on with in-process single flight. */
static int login_store_step(netc_t *n, account_t *a, uint64_t now) {
  tokenstore_t *ts = a->store;
  if (!ts) return STORE_SEND;
  int rc = tokenstore_lock_try(ts);
  if (rc == -EWOULDBLOCK) return STORE_BUSY;
  if (rc) {
    log_warn_f(LOG_FIELDS(.account = a->name),
        "net: account %s: token store %s: cannot open its lock file (%s): logins of this "
             "account are coordinated within this process only", a->name, n->token_dir, strerror(-rc));
    tokenstore_free(ts);
    a->store = NULL;
    return STORE_SEND;
  }
  tokenstore_entry_t e;
  int result = STORE_SEND;
  rc = tokenstore_read(ts, &e);
  if (rc == 0) {
    int64_t wall = (int64_t)time(NULL);
    int64_t refresh = tokenstore_refresh_at(&e, n->opt.token_refresh_fraction);
    bool ours = a->token && strcmp(a->token, e.token) == 0;
    if (refresh > wall && !ours && e.same_credentials) {
      if (account_adopted(a, e.token, now + (uint64_t)(refresh - wall) * 1000) == 0) {
        tokenstore_unlock(ts);
        n->stats.tokens_adopted++;
        log_info_f(LOG_FIELDS(.account = a->name),
            "net: account %s: took the token another process obtained (store generation %" PRIu64
                 ", refresh in %" PRId64 " s)", a->name, e.generation, refresh - wall);
        result = STORE_ADOPTED;
      }
    }
  } else if (rc != -ENOENT && rc != -EBADMSG) {
    log_warn_f(LOG_FIELDS(.account = a->name),
        "net: account %s: token store: cannot read %s (%s): logging in", a->name,
             tokenstore_token_path(ts), strerror(-rc));
  }
  explicit_bzero(&e, sizeof e);
  return result;
}

/* The login of a (sent at sent_wall) gave a's current token: publish it for the other
 * processes. The lock is held (login_store_step). A failure costs the others a login. */
static void login_store_publish(netc_t *n, account_t *a, int64_t sent_wall, int64_t expires_in) {
  if (!a->store || !tokenstore_locked(a->store)) return;
  if (expires_in <= 0) expires_in = 3600; /* what account_logged_in assumes */
  uint64_t gen = 0;
  int rc = tokenstore_write(a->store, a->token, sent_wall, sent_wall + expires_in, &gen);
  if (rc) log_warn_f(LOG_FIELDS(.account = a->name),
      "net: account %s: token store: cannot write %s (%s)", a->name,
                   tokenstore_token_path(a->store), strerror(-rc));
  else log_debug_f(LOG_FIELDS(.account = a->name),
      "net: account %s: token stored (generation %" PRIu64 ")", a->name, gen);
  (void)n;
}

/* ---- sending ---- */

static void cb_http(void *arg, const http_response_t *res);

static int call_send(netc_t *n, net_call_t *c, uint64_t now) {
  buf_t url = BUF_INIT;
  api_request_t login = {0};
  int rc;
  if (c->is_login) {
    rc = api_request_authorization(&login, c->acct->name, c->acct->password_md5,
                                   (int64_t)time(NULL) + n->clock_offset);
    if (!rc) rc = api_request_url(&login, n->base_url, NULL, &url);
  } else {
    rc = api_request_url(&c->req, n->base_url, c->acct->token, &url);
    c->token_gen = c->acct->gen;
  }
  if (rc) goto out;
  rc = http_request(n->http, c->is_login ? login.method : c->req.method, url.data, cb_http, c);
  if (rc) goto out;
  c->sent_at = now;
  if (!c->attempts) c->first_sent_at = now;
  c->sent_wall = (int64_t)time(NULL);
  c->attempts++;
  n->in_flight++;
  n->stats.sent[c->ep]++;
  c->acct->sent[c->ep]++;
  pacer_sent(n->pacer, c->acct->lane, c->ep, now);
out:
  if (url.data) explicit_bzero(url.data, url.len); /* it held a token or a signature */
  buf_free(&url);
  if (login.params) explicit_bzero(login.params, login.params_len);
  api_request_free(&login);
  return rc;
}

/* Walks the ready list once: fails calls of stopped accounts, starts logins that are
 * needed, and sends what its account and lane allow; re-arms itself for the earliest
 * call that must wait. */
static void on_pump(uv_timer_t *t) {
  netc_t *n = t->data;
  if (n->closing) return;
  n->in_pump = true;
  n->pump_again = false;
  uint64_t now = uv_now(n->loop);
  uint64_t wake = UINT64_MAX;
  size_t cap = n->opt.http.max_in_flight ? n->opt.http.max_in_flight : 16;
  net_call_t *failed = NULL;
  for (net_call_t *c = n->ready_head, *next; c; c = next) {
    next = c->next;
    account_t *a = c->acct;
    if (a->state == ACCOUNT_STOPPED) {
      ready_unlink(n, c);
      if (c->is_login) {
        call_free(c);
      } else {
        c->next = failed;
        failed = c;
      }
      continue;
    }
    if (!c->is_login && !account_token_usable(a, now)) {
      if (a->state == ACCOUNT_READY || a->state == ACCOUNT_NO_TOKEN) {
        /* Refresh due or no token: one login, at the front so it goes first. */
        login_start(n, a);
        n->pump_again = true;
      }
      continue;
    }
    if (c->not_before > now) {
      if (c->not_before < wake) wake = c->not_before;
      continue;
    }
    if (c->is_login) {
      /* Before the pacer: taking another process's token costs no request. */
      int step = login_store_step(n, a, now);
      if (step == STORE_BUSY) {
        log_debug_f(LOG_FIELDS(.account = a->name),
            "net: account %s: another process is logging in: waiting for its token", a->name);
        c->not_before = now + STORE_RETRY_MS;
        if (c->not_before < wake) wake = c->not_before;
        continue;
      }
      if (step == STORE_ADOPTED) {
        ready_unlink(n, c);
        call_free(c);
        n->pump_again = true; /* its waiting calls go on the next pass */
        continue;
      }
    }
    uint64_t at = pacer_next(n->pacer, a->lane, c->ep, now);
    if (at > now || n->in_flight >= cap) {
      /* The lock is held only while the login is in flight: others must not wait on
       * our pacing or on our other requests. */
      if (c->is_login) tokenstore_unlock(a->store);
      if (at > now) {
        if (at < wake) wake = at;
        continue;
      }
      break; /* a completion pumps again */
    }
    ready_unlink(n, c);
    int rc = call_send(n, c, now);
    if (rc && c->is_login) tokenstore_unlock(a->store); /* no login in flight holds it */
    if (rc == -EINVAL && c->is_login) {
      /* The codec refused the account name: no login can ever be built for it. */
      log_error_f(LOG_FIELDS(.account = a->name),
          "net: account %s: cannot build a login request: stopped", a->name);
      account_stop(a, -EINVAL, "the account name cannot be sent (codec refused it)");
      call_free(c);
      n->pump_again = true; /* its waiting calls fail on the next pass */
    } else if (rc) {
      log_warn_f(LOG_FIELDS(.account = a->name),
          "net: account %s: %s: cannot start the request (%s), retrying in 1 s", a->name,
               api_endpoint_path(c->ep), strerror(-rc));
      c->not_before = now + 1000;
      ready_push(n, c, false);
      if (c->not_before < wake) wake = c->not_before;
    }
  }
  /* Callbacks last, with the list consistent: they may call netc_call or netc_close. */
  while (failed) {
    net_call_t *c = failed;
    failed = c->next;
    call_fail_account(n, c);
  }
  n->in_pump = false;
  if (n->closing) return;
  if (n->pump_again) uv_timer_start(&n->pump, on_pump, 0, 0);
  else if (wake != UINT64_MAX) uv_timer_start(&n->pump, on_pump, wake - now, 0);
}

/* ---- responses ---- */

static void clock_learn(netc_t *n, int64_t server_time) {
  if (server_time <= 0) return;
  int64_t offset = server_time - (int64_t)time(NULL);
  if (offset != n->clock_offset && (offset - n->clock_offset > 2 || n->clock_offset - offset > 2))
    log_info("net: server clock is %+" PRId64 " s from ours", offset);
  n->clock_offset = offset;
}

/* A write (a POST that acts: sends a message, creates a geofence, blocks a user...) is
 * sent at most once: command/query is a POST by the spec but only reads. */
static bool call_is_write(const net_call_t *c) {
  return !c->is_login && c->req.method == API_METHOD_POST && c->ep != API_EP_COMMAND_QUERY;
}

/* A write failed after its request may have reached the server (reset, timeout, 5xx, a
 * body cut short, 10000): the server may have acted, so no retry; the operator decides.
 * Logged here, once. */
static void call_write_failed(netc_t *n, net_call_t *c, net_error_t error, int code, long status,
                              const char *why) {
  char imeis[160];
  call_imeis(c, imeis, sizeof imeis);
  log_error_f(LOG_FIELDS(.account = c->acct->name, .endpoint = api_endpoint_key(c->ep), .imei = imeis, .code = code),
      "net: account %s: %s imeis %s: %s; not retried: the server may have acted on it", c->acct->name,
            api_endpoint_path(c->ep), imeis, why);
  char message[400];
  snprintf(message, sizeof message, "%s (not retried: the server may have acted on it)", why);
  call_finish(n, c, error, code, status, NULL, 0, message);
}

/* A write refused as too frequent (10009 or HTTP 429) may go again: it was not acted on.
 * But not forever: past write_max_attempts sends or write_max_ms since the first, it ends
 * with that answer (true returned; the call is finished). A CLI command must end. */
static bool write_refusal_final(netc_t *n, net_call_t *c, net_error_t error, int code, long status,
                                const char *why, uint64_t now) {
  if (!call_is_write(c)) return false;
  uint64_t spent = now - c->first_sent_at;
  if (c->attempts < n->opt.write_max_attempts && spent < n->opt.write_max_ms) return false;
  char imeis[160];
  call_imeis(c, imeis, sizeof imeis);
  char message[400];
  snprintf(message, sizeof message, "%s: refused as too frequent %u times over %" PRIu64 " s; "
           "given up (api.retry.write_max_attempts, write_max_time); it was not acted on",
           why, c->attempts, spent / 1000);
  log_error_f(LOG_FIELDS(.account = c->acct->name, .endpoint = api_endpoint_key(c->ep), .imei = imeis, .code = code),
      "net: account %s: %s imeis %s: %s", c->acct->name, api_endpoint_path(c->ep), imeis, message);
  call_finish(n, c, error, code, status, NULL, 0, message);
  return true;
}

/* A transient failure: back off and try again, or end the call when attempts are up. */
static void call_transient(netc_t *n, net_call_t *c, net_error_t error, int code, long status,
                           const char *why) {
  c->transient++;
  char imeis[160];
  call_imeis(c, imeis, sizeof imeis);
  if (c->transient >= n->opt.retry_max_attempts) {
    if (c->is_login) {
      login_give_up(n, c->acct, error, code, why);
      call_free(c);
      return;
    }
    log_error_f(LOG_FIELDS(.account = c->acct->name, .endpoint = api_endpoint_key(c->ep), .imei = imeis, .code = code),
        "net: account %s: %s imeis %s: giving up after %u attempts: %s", c->acct->name,
              api_endpoint_path(c->ep), imeis, c->attempts, why);
    char message[400];
    snprintf(message, sizeof message, "%s (after %u attempts)", why, c->attempts);
    call_finish(n, c, error, code, status, NULL, 0, message);
    return;
  }
  uint64_t delay = backoff_delay_ms(n->opt.retry_base_ms, n->opt.retry_max_ms, c->transient - 1,
                                    backoff_random());
  log_warn_f(LOG_FIELDS(.account = c->acct->name, .endpoint = api_endpoint_key(c->ep), .imei = imeis, .code = code),
      "net: account %s: %s imeis %s: %s; retry %u in %" PRIu64 " ms", c->acct->name,
           api_endpoint_path(c->ep), imeis, why, c->transient, delay);
  n->stats.retries++;
  c->not_before = uv_now(n->loop) + delay;
  ready_push(n, c, c->is_login);
}

/* The answer to a login: a token, or the reason there is none (parse_rc and err from
 * api_parse_authorization). */
static void login_done(netc_t *n, net_call_t *c, const http_response_t *res) {
  account_t *a = c->acct;
  uint64_t now = uv_now(n->loop);
  api_auth_t auth = {0};
  api_error_t err = {0};
  int rc = api_parse_authorization(res->body, res->body_len, &auth, &err);
  if (rc == 0) {
    rc = account_logged_in(a, auth.access_token, auth.expires_in, n->opt.token_refresh_fraction, now);
    int64_t expires_in = auth.expires_in;
    api_auth_free(&auth);
    if (rc != 0) {
      n->stats.login_failures++;
      call_transient(n, c, NET_ERR_ACCOUNT, rc, res->status, "out of memory");
      return;
    }
    n->stats.logins++;
    login_store_publish(n, a, c->sent_wall, expires_in);
    if (n->on_token)
      n->on_token(n->on_token_arg, a, a->token, a->credential,
                  c->sent_wall + (expires_in > 0 ? expires_in : 3600));
    pacer_succeeded(n->pacer, a->lane, API_EP_AUTHORIZATION);
    log_info_f(LOG_FIELDS(.account = a->name),
        "net: account %s: logged in (token for %" PRId64 " s)", a->name, expires_in);
    call_free(c);
    return;
  }
  api_auth_free(&auth);
  n->stats.login_failures++;
  char why[300];
  if (rc != -EREMOTEIO) {
    snprintf(why, sizeof why, "login answer not understood (%s: %s)", api_error_kind_name(err.kind),
             err.message);
    call_transient(n, c, NET_ERR_BAD_BODY, 0, res->status, why);
    return;
  }
  const api_error_t *env = &err;
  snprintf(why, sizeof why, "%d %s", env->code,
           api_code_text(env->code) ? api_code_text(env->code) : "(unknown code)");
  if (env->code == API_CODE_TOO_FREQUENT) {
    n->stats.throttled++;
    pacer_throttled(n->pacer, a->lane, API_EP_AUTHORIZATION, c->sent_at, now);
    ready_push(n, c, true);
  } else if (env->code == API_CODE_TIME_ERROR) {
    /* The Date header of this very answer has already corrected the offset. */
    if (++a->time_errors >= n->opt.max_time_errors) {
      log_error_f(LOG_FIELDS(.account = a->name),
          "net: account %s: login refused for its time %u times (offset %+" PRId64 " s): stopped",
                a->name, a->time_errors, n->clock_offset);
      account_stop(a, env->code, why);
      call_free(c);
    } else {
      log_warn_f(LOG_FIELDS(.account = a->name),
          "net: account %s: login time refused, retrying with offset %+" PRId64 " s", a->name,
               n->clock_offset);
      ready_push(n, c, true);
    }
  } else if (env->code == API_CODE_BAD_CREDENTIALS || env->code == API_CODE_ACCOUNT_BLOCKED) {
    log_error_f(LOG_FIELDS(.account = a->name),
        "net: account %s: %s: stopped; other accounts go on", a->name, why);
    account_stop(a, env->code, why);
    call_free(c);
  } else if (env->code == API_CODE_SYSTEM_ERROR) {
    call_transient(n, c, NET_ERR_API, env->code, res->status, why);
    return;
  } else {
    login_give_up(n, a, NET_ERR_API, env->code, why);
    call_free(c);
  }
}

/* An HTTP failure that is not retried: a login's ends the account's login attempt, a
 * call's is its result. */
static void call_end_failed(netc_t *n, net_call_t *c, net_error_t error, long status, const char *why) {
  if (c->is_login) {
    login_give_up(n, c->acct, error, 0, why);
    call_free(c);
  } else {
    call_finish(n, c, error, 0, status, NULL, 0, why);
  }
}

static void cb_http(void *arg, const http_response_t *res) {
  net_call_t *c = arg;
  netc_t *n = c->n;
  account_t *a = c->acct;
  bool login = c->is_login;
  n->in_flight--;
  if (res->error == HTTP_ERR_CANCELLED) {
    if (login) tokenstore_unlock(a->store);
    if (c->is_login) call_free(c);
    else call_finish(n, c, NET_ERR_CANCELLED, 0, 0, NULL, 0, res->message);
    return;
  }
  clock_learn(n, res->date);
  uint64_t now = uv_now(n->loop);
  switch (res->error) {
  case HTTP_ERR_NETWORK:
    if (call_is_write(c) && !res->unsent) call_write_failed(n, c, NET_ERR_NETWORK, 0, 0, res->message);
    else call_transient(n, c, NET_ERR_NETWORK, 0, 0, res->message);
    goto out;
  case HTTP_ERR_TIMEOUT:
    if (call_is_write(c) && !res->unsent) call_write_failed(n, c, NET_ERR_TIMEOUT, 0, 0, res->message);
    else call_transient(n, c, NET_ERR_TIMEOUT, 0, 0, res->message);
    goto out;
  case HTTP_ERR_TOO_LARGE:
    call_end_failed(n, c, NET_ERR_TOO_LARGE, res->status, res->message);
    goto out;
  case HTTP_ERR_STATUS:
    if (res->status == 429) { /* refused before acting, like 10009: writes go again too */
      n->stats.throttled++;
      pacer_throttled(n->pacer, a->lane, c->ep, c->sent_at, now);
      if (!write_refusal_final(n, c, NET_ERR_HTTP, 0, res->status, "HTTP 429", now))
        ready_push(n, c, c->is_login);
    } else if (res->status >= 500 && call_is_write(c)) {
      call_write_failed(n, c, NET_ERR_HTTP, 0, res->status, res->message);
    } else if (res->status >= 500) {
      call_transient(n, c, NET_ERR_HTTP, 0, res->status, res->message);
    } else {
      call_end_failed(n, c, NET_ERR_HTTP, res->status, res->message);
    }
    goto out;
  case HTTP_OK:
  case HTTP_ERR_CANCELLED:
    break;
  }
  if (c->is_login) {
    login_done(n, c, res);
    goto out;
  }
  api_error_t env = {0};
  /* The codec decides what the answer says, "no data" included (in every form a host
   * sends it: 20023, or code 0 with an empty, missing or null record): a success. With
   * the caller's decoder, the same verdict comes from the one parse of the body. */
  int drc = 0, prc;
  if (c->decode) {
    drc = c->decode(c->arg, res->body, res->body_len, &env);
    prc = env.envelope;
  } else {
    prc = api_check_response(c->ep, res->body, res->body_len, &env);
  }
  bool no_data = prc == API_NO_DATA;
  if (no_data) prc = 0;
  if (prc != 0 && prc != -EREMOTEIO) {
    /* An HTML page from a proxy, a body cut short: worth another try. */
    char why[360];
    snprintf(why, sizeof why, "body not understood (%s: %s; %zu bytes, HTTP %ld)",
             api_error_kind_name(env.kind), env.message, res->body_len, res->status);
    if (call_is_write(c)) call_write_failed(n, c, NET_ERR_BAD_BODY, 0, res->status, why);
    else call_transient(n, c, NET_ERR_BAD_BODY, 0, res->status, why);
    goto out;
  }
  if (prc == 0) env.code = 0;
  char why[256];
  snprintf(why, sizeof why, "%d %s", env.code,
           api_code_text(env.code) ? api_code_text(env.code) : "(unknown code)");
  if (!api_code_is_token_error(env.code) && env.code != API_CODE_TOO_FREQUENT)
    a->fruitless_logins = 0; /* the token worked */
  if (env.code == 0) {
    pacer_succeeded(n->pacer, a->lane, c->ep);
    call_end(n, c, NET_OK, 0, res->status, res->body, res->body_len, NULL, no_data, drc,
             env.message);
  } else if (env.code == API_CODE_TOO_FREQUENT) {
    /* Never a failure: the lane widens and the call goes again later (a write: within
     * its budget). */
    n->stats.throttled++;
    pacer_throttled(n->pacer, a->lane, c->ep, c->sent_at, now);
    if (!write_refusal_final(n, c, NET_ERR_API, env.code, res->status, why, now)) ready_push(n, c, false);
  } else if (api_code_is_token_error(env.code)) {
    c->token_replays++;
    bool current = account_token_failed(a, c->token_gen); /* the next call logs in anew */
    if (a->fruitless_logins > n->opt.max_fruitless_logins) {
      /* Fresh tokens keep dying before any call gets through: a login loop. */
      char imeis[160];
      call_imeis(c, imeis, sizeof imeis);
      log_error_f(LOG_FIELDS(.account = a->name, .endpoint = api_endpoint_key(c->ep), .imei = imeis, .code = env.code),
          "net: account %s: %s imeis %s: %u fresh tokens refused in a row: %s", a->name,
                api_endpoint_path(c->ep), imeis, a->fruitless_logins, why);
      call_finish(n, c, NET_ERR_API, env.code, res->status, res->body, res->body_len, why);
      goto out;
    }
    n->stats.token_replays++;
    if (current)
      log_info_f(LOG_FIELDS(.account = a->name, .code = env.code),
          "net: account %s: token refused (%s): logging in again", a->name, why);
    ready_push(n, c, false);
  } else if (env.code == API_CODE_SYSTEM_ERROR && call_is_write(c)) {
    call_write_failed(n, c, NET_ERR_API, env.code, res->status, why);
  } else if (env.code == API_CODE_SYSTEM_ERROR) {
    call_transient(n, c, NET_ERR_API, env.code, res->status, why);
  } else if (env.code == API_CODE_ACCOUNT_BLOCKED) {
    log_error_f(LOG_FIELDS(.account = a->name, .code = env.code),
        "net: account %s: %s: stopped; other accounts go on", a->name, why);
    account_stop(a, env.code, why);
    call_fail_account(n, c);
  } else {
    call_finish(n, c, NET_ERR_API, env.code, res->status, res->body, res->body_len, why);
  }
out:
  /* The login's answer has been handled (its token written): the next process may look.
   * A login that goes again later (backoff, 10009) takes the lock anew then. */
  if (login) tokenstore_unlock(a->store);
  pump_soon(n);
}

/* ---- public ---- */

void netc_options_from_config(netc_options_t *opt, const config_t *cfg) {
  memset(opt, 0, sizeof *opt);
  opt->base_url = cfg->api.base_url;
  opt->http.ca_file = cfg->api.ca_file;
  opt->http.timeout_ms = (long)cfg->api.timeout_ms;
  opt->http.max_in_flight = cfg->api.max_in_flight > 0 ? (size_t)cfg->api.max_in_flight : 0;
  opt->http.max_body = cfg->api.max_body_bytes > 0 ? (size_t)cfg->api.max_body_bytes : 0;
  opt->pacing.global_rate = cfg->api.global_rate;
  for (int ep = 0; ep < API_EP_COUNT; ep++) {
    int64_t ms = config_rate_limit_ms(cfg, (api_endpoint_t)ep);
    opt->pacing.spacing_ms[ep] = ms > 0 ? (uint64_t)ms : 0;
  }
  opt->retry_base_ms = cfg->api.retry_base_delay_ms > 0 ? (uint64_t)cfg->api.retry_base_delay_ms : 0;
  opt->retry_max_ms = cfg->api.retry_max_delay_ms > 0 ? (uint64_t)cfg->api.retry_max_delay_ms : 0;
  opt->retry_max_attempts = cfg->api.retry_max_attempts > 0 ? (unsigned)cfg->api.retry_max_attempts : 0;
  opt->write_max_attempts = cfg->api.retry_write_max_attempts > 0 ? (unsigned)cfg->api.retry_write_max_attempts : 0;
  opt->write_max_ms = cfg->api.retry_write_max_time_ms > 0 ? (uint64_t)cfg->api.retry_write_max_time_ms : 0;
  opt->token_dir = cfg->api.token_dir;
}

netc_t *netc_new(uv_loop_t *loop, const netc_options_t *opt) {
  netc_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->loop = loop;
  if (opt) n->opt = *opt;
  if (!n->opt.retry_base_ms) n->opt.retry_base_ms = 500;
  if (!n->opt.retry_max_ms) n->opt.retry_max_ms = 30000;
  if (!n->opt.retry_max_attempts) n->opt.retry_max_attempts = 5;
  if (!n->opt.write_max_attempts) n->opt.write_max_attempts = 10;
  if (!n->opt.write_max_ms) n->opt.write_max_ms = 300000;
  if (n->opt.token_refresh_fraction <= 0.0 || n->opt.token_refresh_fraction > 1.0)
    n->opt.token_refresh_fraction = 0.75;
  if (!n->opt.max_fruitless_logins) n->opt.max_fruitless_logins = 5;
  if (!n->opt.max_time_errors) n->opt.max_time_errors = 3;
  const char *base = n->opt.base_url ? n->opt.base_url : "";
  size_t len = strlen(base);
  while (len && base[len - 1] == '/') len--;
  if (!len || !(n->base_url = strndup(base, len))) goto fail;
  n->opt.base_url = n->base_url;
  if (n->opt.token_dir && n->opt.token_dir[0]) {
    char why[200];
    int rc = tokenstore_dir_check(n->opt.token_dir, why, sizeof why);
    if (rc) {
      log_warn("net: token store %s refused: %s: logins are coordinated within this "
               "process only (api.token_dir)", n->opt.token_dir, why[0] ? why : strerror(-rc));
    } else if (!(n->token_dir = strdup(n->opt.token_dir))) {
      goto fail;
    }
  }
  n->opt.token_dir = n->token_dir;
  if (!(n->pacer = pacer_new(&n->opt.pacing))) goto fail;
  if (!(n->http = http_new(loop, &n->opt.http))) goto fail;
  if (uv_timer_init(loop, &n->pump) != 0) goto fail_http;
  n->pump.data = n;
  return n;
fail_http:
  /* http holds a timer handle: it must close through the loop. */
  http_close(n->http, NULL, NULL);
  n->http = NULL;
fail:
  pacer_free(n->pacer);
  free(n->token_dir);
  free(n->base_url);
  free(n);
  return NULL;
}

netc_account_t *netc_account_add(netc_t *n, const char *name, const char *password_md5) {
  account_t *a = account_new(name, password_md5);
  account_node_t *node = calloc(1, sizeof *node);
  if (!a || !node) goto fail;
  int lane = pacer_account_add(n->pacer);
  if (lane < 0) goto fail;
  if (n->token_dir && !(a->store = tokenstore_new(n->token_dir, n->base_url, name, a->password_md5)))
    goto fail;
  char salted[256 + MD5_HEX_LEN];
  int len = snprintf(salted, sizeof salted, "fleetarc shared token\n%s\n%s", n->base_url, a->password_md5);
  int crc = len > 0 && (size_t)len < sizeof salted ? md5_hex(salted, (size_t)len, a->credential) : -EINVAL;
  explicit_bzero(salted, sizeof salted);
  if (crc) a->credential[0] = '\0'; /* a long base URL: never shares tokens */
  a->lane = lane;
  node->acct = a;
  node->next = n->accounts;
  n->accounts = node;
  return a;
fail:
  free(node);
  if (a) tokenstore_free(a->store);
  account_free(a);
  return NULL;
}


void netc_on_token(netc_t *n, netc_token_cb cb, void *arg) {
  n->on_token = cb;
  n->on_token_arg = arg;
}

int netc_account_adopt(netc_t *n, netc_account_t *a, const char *token, const char *credential,
                       int64_t expires_at) {
  uint64_t now = uv_now(n->loop);
  int64_t left = expires_at - (int64_t)time(NULL);
  if (!token || !credential || !a->credential[0] || strcmp(credential, a->credential) != 0 ||
      left < 60 || a->state == ACCOUNT_STOPPED || a->state == ACCOUNT_LOGGING_IN ||
      account_token_usable(a, now) || (a->token && strcmp(a->token, token) == 0))
    return 0;
  /* netc_new settled the fraction (0.75 when unset) */
  if (account_adopted(a, token, now + (uint64_t)((double)left * n->opt.token_refresh_fraction * 1000)) != 0)
    return -ENOMEM;
  n->stats.tokens_adopted++;
  log_info_f(LOG_FIELDS(.account = a->name),
             "net: account %s: took the token another instance stored in the database "
             "(expires in %" PRId64 " s)", a->name, left);
  return 1;
}

const uint64_t *netc_account_sent(const netc_t *n, const char *name) {
  for (account_node_t *node = n->accounts; node && name; node = node->next)
    if (strcmp(node->acct->name, name) == 0) return node->acct->sent;
  return NULL;
}

int netc_account_stopped(const netc_account_t *a) {
  return a->state == ACCOUNT_STOPPED ? a->stop_code : 0;
}

int netc_call(netc_t *n, netc_account_t *a, api_request_t *req, netc_response_cb cb, void *arg) {
  return netc_call_decode(n, a, req, NULL, cb, arg);
}

int netc_call_decode(netc_t *n, netc_account_t *a, api_request_t *req, netc_decode_fn decode,
                     netc_response_cb cb, void *arg) {
  if (n->closing) return -ESHUTDOWN;
  api_endpoint_t ep = req->endpoint;
  if ((unsigned)ep >= API_EP_COUNT || ep == API_EP_AUTHORIZATION || !cb) return -EINVAL;
  net_call_t *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  c->n = n;
  c->acct = a;
  c->ep = ep;
  c->req = *req;
  memset(req, 0, sizeof *req); /* ours now: the caller's api_request_free() is a no-op */
  c->cb = cb;
  c->decode = decode;
  c->arg = arg;
  ready_push(n, c, false);
  pump_soon(n);
  return 0;
}

int64_t netc_clock_offset(const netc_t *n) { return n->clock_offset; }

void netc_set_pacing(netc_t *n, const netc_options_t *opt) {
  if (n->closing) return;
  memcpy(n->opt.pacing.spacing_ms, opt->pacing.spacing_ms, sizeof n->opt.pacing.spacing_ms);
  n->opt.pacing.global_rate = opt->pacing.global_rate;
  pacer_set_limits(n->pacer, &n->opt.pacing);
  pump_soon(n); /* a call waiting for an old, longer spacing may go now */
}

const netc_stats_t *netc_stats(const netc_t *n) { return &n->stats; }

size_t netc_lane_waiting(const netc_account_t *a, api_endpoint_t ep) {
  return a && (unsigned)ep < API_EP_COUNT ? a->waiting[ep] : 0;
}

uint64_t netc_spacing(const netc_t *n, const netc_account_t *a, api_endpoint_t ep) {
  return pacer_spacing(n->pacer, a->lane, ep);
}

static void netc_free(netc_t *n) {
  void (*on_closed)(void *) = n->on_closed;
  void *arg = n->closed_arg;
  while (n->accounts) {
    account_node_t *node = n->accounts;
    n->accounts = node->next;
    tokenstore_free(node->acct->store); /* closing its lock file releases the lock */
    account_free(node->acct);
    free(node);
  }
  pacer_free(n->pacer);
  free(n->token_dir);
  free(n->base_url);
  free(n);
  if (on_closed) on_closed(arg);
}

static void on_part_closed(netc_t *n) {
  if (--n->closes_left == 0) netc_free(n);
}

static void on_http_closed(void *arg) { on_part_closed(arg); }
static void on_pump_closed(uv_handle_t *h) { on_part_closed(h->data); }

void netc_close(netc_t *n, void (*on_closed)(void *arg), void *arg) {
  if (!n || n->closing) return;
  n->closing = true;
  n->on_closed = on_closed;
  n->closed_arg = arg;
  n->closes_left = 2;
  while (n->ready_head) {
    net_call_t *c = n->ready_head;
    ready_unlink(n, c);
    if (c->is_login) call_free(c);
    else call_finish(n, c, NET_ERR_CANCELLED, 0, 0, NULL, 0, "cancelled: the client is closing");
  }
  /* In-flight calls end through cb_http with HTTP_ERR_CANCELLED. */
  http_close(n->http, on_http_closed, n);
  uv_timer_stop(&n->pump);
  uv_close((uv_handle_t *)&n->pump, on_pump_closed);
}

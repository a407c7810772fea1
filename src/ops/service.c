/* The operations side of `fleetarc run` (service.h). Counters that other modules keep
 * (netc_stats, pgw_get_stats, the archiver's status) are copied into the registry at
 * scrape time; what only passes by (API error codes, batch sizes and latencies) is
 * counted from the archiver's hooks into series registered up front. */
#include "ops/service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "api/endpoints.h"
#include "config/config.h"
#include "db/pgw.h"
#include "db/query.h"
#include "domain/stream.h"
#include "net/client.h"
#include "ops/console.h"
#include "ops/httpd.h"
#include "ops/metrics.h"
#include "ops/notify.h"
#include "ops/retention.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/version.h"

#define OPS_TICK_MS 1000          /* health sampling, STATUS, watchdog (at most) */
#define OPS_RETENTION_FIRST_MS 30000 /* the first retention pass, after startup settles */

static const int known_codes[] = {
  API_CODE_SYSTEM_ERROR, API_CODE_UNKNOWN_REQUEST, API_CODE_LOGIN_TIMEOUT, API_CODE_NOT_LOGIN,
  API_CODE_PARAMETER_ERROR, API_CODE_MISSING_PARAMETER, API_CODE_OUT_OF_RANGE,
  API_CODE_PERMISSION_DENIED, API_CODE_TOO_FREQUENT, API_CODE_TOKEN_NOT_EXIST,
  API_CODE_TOKEN_INVALID, API_CODE_TOKEN_EXPIRED, API_CODE_IMEI_NOT_AUTHORIZED,
  API_CODE_TIME_ERROR, API_CODE_ACCOUNT_BLOCKED, API_CODE_BAD_CREDENTIALS,
  API_CODE_TARGET_NOT_EXIST, API_CODE_DEVICE_OFFLINE, API_CODE_SEND_COMMAND_FAIL,
  API_CODE_NO_DATA, API_CODE_TARGET_EXPIRED, API_CODE_UNSUPPORTED_COMMAND,
  API_CODE_DEVICE_BLOCKED,
};
#define N_CODES (sizeof known_codes / sizeof known_codes[0])

/* net_error_t, in order, as label values */
static const char *const failure_kinds[] = {"ok", "api", "account", "network", "timeout",
                                            "http", "bad_body", "too_large", "cancelled"};
#define N_KINDS (sizeof failure_kinds / sizeof failure_kinds[0])

typedef struct acct_health {
  const char *name;       /* borrowed from the archiver (archiver_account_name) */
  uint64_t failing_since; /* loop ms of the first failure since the last success; 0: fine */
  int stopped;            /* netc_account_stopped's code, once seen */
  bool answered;          /* the platform has answered it once (a login at least) */
  char last_error[256];   /* the console's "last error" (no secret: net_result.message) */
  int64_t last_error_at;  /* UNIX seconds; 0: none */
  bool logged_in;         /* a call of it succeeded (so a login did); false once stopped */
  metric_t *up;
} acct_health_t;

struct ops {
  const config_t *cfg;
  char *config_path;
  uv_loop_t *loop;
  archiver_t *arch;
  httpd_t *httpd;
  console_t *console;
  uv_timer_t tick, retention_timer;
  uv_signal_t sighup;
  bool handles_up, stopping, ready_sent;
  uint64_t watchdog_ms, last_watchdog, last_status_ms;
  char last_status[256];
  char reason[256];

  /* health */
  uint64_t started_ms;
  uint64_t db_down_since; /* loop ms; 0 while connected */
  acct_health_t *accts;
  size_t n_accts;
  int64_t unhealthy_after_ms;
  int64_t retention_ms[3];       /* positions, alarms, rejected (reloadable) */
  int64_t store_ahead_ms;        /* reports.store_ahead (reloadable) */
  char tz[128];                  /* reports.timezone (reloadable) */

  /* retention in a worker thread */
  uv_work_t work;
  bool work_busy;
  retention_report_t work_report;
  int work_rc;
  int64_t work_now, work_keep_ms[3];
  char work_err[512];
  /* and the reports' finished days stored ahead, after it (stopped by cancel) */
  int64_t work_ahead_ms;
  char work_tz[128];
  reports_ahead_t work_ahead;
  int work_ahead_rc;
  uint64_t work_ahead_ns;
  char work_ahead_err[512];
  db_canceller_t cancel;
  bool cancel_ready;

  metrics_t *m;
  metric_t *req[API_EP_COUNT][4]; /* [0] unused (sent is per account); ok, empty, error */
  metric_family_t *sent;          /* {account, endpoint}: series made on first request */
  metric_t *codes[N_CODES + 1]; /* + "other" */
  metric_t *kinds[N_KINDS];
  metric_t *kind_empty;   /* NET_OK calls that said "no data" (not in kinds[NET_OK]) */
  metric_t *logins, *login_failures, *retries, *throttled, *token_replays;
  metric_t *points, *alarms, *mileage, *dup_points, *dup_alarms;
  metric_t *batches[3]; /* committed, failed, cancelled */
  metric_t *batch_rows, *batch_seconds;
  metric_t *queue_rows, *queue_batches, *db_connected, *db_connects, *db_losses, *backpressure;
  metric_t *devices[4]; /* active, removed; failing, without a position (of the active) */
  metric_t *streams[5]; /* complete, due, later, blocked, given_up */
  metric_t *lag[STREAM_COUNT];
  metric_t *healthy, *retention_dropped, *retention_runs[2], *reloads[2];
  metrics_process_t process; /* process_* (metrics.h) */
  metric_family_t *account_up;
  metric_family_t *rejected; /* {endpoint, field}: series made on first use */
  metric_t *rows_rejected[PGW_KINDS]; /* {table}: rows the database refused */
};

/* ------------------------------------------------------------------ registry */

static metric_t *one(metrics_t *m, const char *name, const char *help, metric_type_t type) {
  return metrics_series(metrics_family(m, name, help, type, NULL, 0, NULL, 0), NULL);
}

static metric_t *labelled(metric_family_t *f, const char *value) {
  return metrics_series(f, (const char *[]){value});
}

static int register_metrics(ops_t *o) {
  metrics_t *m = o->m;
  const char *ep_out[] = {"endpoint", "outcome"};
  /* Calls by how they ended (the outcomes are parts: their sum is every call ended), and
   * apart from them the HTTP requests sent (retries and logins included): no total is
   * mixed with its parts, so sum() over a family means something. */
  /* By account too: the platform's limits and quota are per account. */
  metric_family_t *sent = metrics_family(m, "fleetarc_api_http_requests_total",
                                         "HTTP requests sent to the API by account and endpoint "
                                         "(retries and logins included)", METRIC_COUNTER,
                                         (const char *[]){"account", "endpoint"}, 2, NULL, 0);
  o->sent = sent;
  metric_family_t *f = metrics_family(m, "fleetarc_api_requests_total",
                                      "API calls by endpoint and how they ended: ok, empty (no "
                                      "data: 20023 or an empty record) and error",
                                      METRIC_COUNTER, ep_out, 2, NULL, 0);
  if (!sent || !f) return -ENOMEM;
  for (int e = 0; e < API_EP_COUNT; e++) {
    static const char *const outs[] = {"sent", "ok", "empty", "error"};
    const char *key = api_endpoint_key((api_endpoint_t)e);
    for (int k = 1; k < 4; k++)
      if (!(o->req[e][k] = metrics_series(f, (const char *[]){key, outs[k]}))) return -ENOMEM;
  }
  f = metrics_family(m, "fleetarc_api_error_codes_total",
                     "Calls of the archiver that ended on an API error code (spec chapter 3)",
                     METRIC_COUNTER, (const char *[]){"code"}, 1, NULL, 0);
  for (size_t i = 0; i < N_CODES; i++) {
    char code[16];
    snprintf(code, sizeof code, "%d", known_codes[i]);
    if (!(o->codes[i] = labelled(f, code))) return -ENOMEM;
  }
  if (!(o->codes[N_CODES] = labelled(f, "other"))) return -ENOMEM;
  f = metrics_family(m, "fleetarc_api_calls_total", "Calls of the archiver by how they ended",
                     METRIC_COUNTER, (const char *[]){"result"}, 1, NULL, 0);
  for (size_t i = 0; i < N_KINDS; i++)
    if (!(o->kinds[i] = labelled(f, failure_kinds[i]))) return -ENOMEM;
  if (!(o->kind_empty = labelled(f, "empty"))) return -ENOMEM;
  o->logins = one(m, "fleetarc_api_logins_total", "Successful logins", METRIC_COUNTER);
  o->login_failures = one(m, "fleetarc_api_login_failures_total", "Login attempts without a token", METRIC_COUNTER);
  o->retries = one(m, "fleetarc_api_retries_total", "Transient errors retried after a backoff", METRIC_COUNTER);
  o->throttled = one(m, "fleetarc_api_rate_limit_waits_total",
                     "10009 (or HTTP 429) answers: the call waited and the spacing widened", METRIC_COUNTER);
  o->token_replays = one(m, "fleetarc_api_token_replays_total", "Calls replayed after a token error", METRIC_COUNTER);
  o->points = one(m, "fleetarc_points_written_total", "Positions inserted (committed)", METRIC_COUNTER);
  o->alarms = one(m, "fleetarc_alarms_written_total", "Alarms inserted (committed)", METRIC_COUNTER);
  o->mileage = one(m, "fleetarc_mileage_days_written_total", "Daily mileage rows written", METRIC_COUNTER);
  f = metrics_family(m, "fleetarc_rows_duplicate_total", "Rows skipped as already stored",
                     METRIC_COUNTER, (const char *[]){"table"}, 1, NULL, 0);
  o->dup_points = labelled(f, "positions");
  o->dup_alarms = labelled(f, "alarms");
  f = metrics_family(m, "fleetarc_batches_total", "Write batches by outcome", METRIC_COUNTER,
                     (const char *[]){"outcome"}, 1, NULL, 0);
  o->batches[0] = labelled(f, "committed");
  o->batches[1] = labelled(f, "failed");
  o->batches[2] = labelled(f, "cancelled");
  static const double rows_b[] = {1, 10, 100, 1000, 5000, 10000, 50000, 100000};
  o->batch_rows = metrics_series(metrics_family(m, "fleetarc_batch_rows", "Rows per write batch (one COPY)",
                                                METRIC_HISTOGRAM, NULL, 0, rows_b, 8), NULL);
  static const double sec_b[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  o->batch_seconds = metrics_series(metrics_family(m, "fleetarc_batch_write_seconds",
                                                   "Time from submit to COMMIT (queueing included)",
                                                   METRIC_HISTOGRAM, NULL, 0, sec_b, 13), NULL);
  o->queue_rows = one(m, "fleetarc_db_queue_rows", "Rows held by the writer (queued and in flight)", METRIC_GAUGE);
  o->queue_batches = one(m, "fleetarc_db_queue_batches", "Batches held by the writer", METRIC_GAUGE);
  o->db_connected = one(m, "fleetarc_db_connected", "1 while the writer's connection is up", METRIC_GAUGE);
  o->db_connects = one(m, "fleetarc_db_connects_total", "Database connections established", METRIC_COUNTER);
  o->db_losses = one(m, "fleetarc_db_connection_losses_total", "Established connections that went away", METRIC_COUNTER);
  o->backpressure = one(m, "fleetarc_backpressure", "1 while the writer's queue is full (fetching paused)", METRIC_GAUGE);
  /* states that add up; the subsets of the active ones in families of their own */
  f = metrics_family(m, "fleetarc_devices", "Devices by state: active (listed by an account) or removed",
                     METRIC_GAUGE, (const char *[]){"state"}, 1, NULL, 0);
  o->devices[0] = labelled(f, "active");
  o->devices[1] = labelled(f, "removed");
  o->devices[2] = one(m, "fleetarc_devices_failing", "Active devices with a stream whose last try failed",
                      METRIC_GAUGE);
  o->devices[3] = one(m, "fleetarc_devices_without_position",
                      "Active devices without a position from /api/track yet (never reported, or "
                      "not polled yet): left out of fleetarc_stream_lag_seconds", METRIC_GAUGE);
  f = metrics_family(m, "fleetarc_streams", "Device streams by state", METRIC_GAUGE,
                     (const char *[]){"state"}, 1, NULL, 0);
  static const char *const st[] = {"complete", "due", "later", "blocked", "given_up"};
  for (int i = 0; i < 5; i++) o->streams[i] = labelled(f, st[i]);
  f = metrics_family(m, "fleetarc_stream_lag_seconds",
                     "Per stream, the largest distance of a device's archive behind the last data "
                     "/api/track reported of it (devices with a position only)",
                     METRIC_GAUGE, (const char *[]){"stream"}, 1, NULL, 0);
  for (int s = 0; s < STREAM_COUNT; s++) o->lag[s] = labelled(f, stream_name(s));
  o->account_up = metrics_family(m, "fleetarc_account_up",
                                 "1 while the account works; 0 once stopped or failing",
                                 METRIC_GAUGE, (const char *[]){"account"}, 1, NULL, 0);
  o->healthy = one(m, "fleetarc_healthy", "1 when /healthz answers 200", METRIC_GAUGE);
  o->retention_dropped = one(m, "fleetarc_retention_partitions_dropped_total",
                             "Monthly partitions dropped by retention", METRIC_COUNTER);
  f = metrics_family(m, "fleetarc_retention_runs_total", "Retention passes by outcome", METRIC_COUNTER,
                     (const char *[]){"outcome"}, 1, NULL, 0);
  o->retention_runs[0] = labelled(f, "ok");
  o->retention_runs[1] = labelled(f, "error");
  f = metrics_family(m, "fleetarc_config_reloads_total", "SIGHUP reloads by outcome", METRIC_COUNTER,
                     (const char *[]){"outcome"}, 1, NULL, 0);
  o->reloads[0] = labelled(f, "applied");
  o->reloads[1] = labelled(f, "rejected");
  f = metrics_family(m, "fleetarc_build_info", "The running version", METRIC_GAUGE,
                     (const char *[]){"version"}, 1, NULL, 0);
  metric_set(labelled(f, fleetarc_version), 1);
  if (metrics_process_register(m, &o->process) != 0) return -ENOMEM;
  o->rejected = metrics_family(m, "fleetarc_records_rejected_total",
                               "Records (or fields, stored NULL) refused by validation",
                               METRIC_COUNTER, (const char *[]){"endpoint", "field"}, 2, NULL, 0);
  f = metrics_family(m, "fleetarc_rows_rejected_total",
                     "Rows the database refused, kept in fleetarc.rejected, by target table",
                     METRIC_COUNTER, (const char *[]){"table"}, 1, NULL, 0);
  for (int k = 0; k < PGW_KINDS; k++) {
    o->rows_rejected[k] = labelled(f, pgw_kind_name(k));
    if (!o->rows_rejected[k]) return -ENOMEM;
  }
  if (!o->reloads[1] || !o->account_up || !o->lag[STREAM_COUNT - 1] || !o->batch_seconds || !o->rejected)
    return -ENOMEM;
  return 0;
}

/* ------------------------------------------------------------------ health */

/* True while no account is logged in: every one stopped, or none has had a successful
 * call yet. Not ready and not healthy then, at once: nothing can be archived. */
static bool no_account_up(const ops_t *o) {
  for (size_t i = 0; i < o->n_accts; i++)
    if (o->accts[i].logged_in && !o->accts[i].stopped) return false;
  return true;
}

const char *ops_unhealthy_reason(ops_t *o, uint64_t now_ms) {
  uint64_t limit = (uint64_t)o->unhealthy_after_ms;
  if (o->n_accts && no_account_up(o)) {
    const acct_health_t *h = &o->accts[0];
    if (h->stopped)
      snprintf(o->reason, sizeof o->reason, "account %s stopped (code %d) for %llus%s", h->name,
               h->stopped, (unsigned long long)((now_ms - h->failing_since) / 1000),
               o->n_accts > 1 ? "; no account logged in" : "");
    else
      snprintf(o->reason, sizeof o->reason, "no account logged in yet");
    return o->reason;
  }
  if (o->db_down_since && now_ms - o->db_down_since >= limit) {
    snprintf(o->reason, sizeof o->reason, "database unreachable for %llus",
             (unsigned long long)((now_ms - o->db_down_since) / 1000));
    return o->reason;
  }
  for (size_t i = 0; i < o->n_accts; i++) {
    acct_health_t *h = &o->accts[i];
    if (!h->failing_since || now_ms - h->failing_since < limit) continue;
    if (h->stopped)
      snprintf(o->reason, sizeof o->reason, "account %s stopped (code %d) for %llus", h->name,
               h->stopped, (unsigned long long)((now_ms - h->failing_since) / 1000));
    else
      snprintf(o->reason, sizeof o->reason, "account %s failing for %llus", h->name,
               (unsigned long long)((now_ms - h->failing_since) / 1000));
    return o->reason;
  }
  return NULL;
}

static acct_health_t *acct_find(ops_t *o, const char *name) {
  for (size_t i = 0; name && i < o->n_accts; i++)
    if (strcmp(o->accts[i].name, name) == 0) return &o->accts[i];
  return NULL;
}

/* Samples what can only be polled: the writer's connection. */
static void health_sample(ops_t *o, uint64_t now) {
  const pgw_t *db = archiver_db(o->arch);
  bool up = db && pgw_connected(db);
  if (up) o->db_down_since = 0;
  else if (!o->db_down_since) o->db_down_since = now;
}

/* ------------------------------------------------------------------ scrape */

static void refresh(ops_t *o) {
  const netc_t *net = archiver_net(o->arch);
  if (net) {
    const netc_stats_t *ns = netc_stats(net);
    for (int e = 0; e < API_EP_COUNT; e++) {
      metric_set(o->req[e][1], (double)ns->succeeded[e]);
      metric_set(o->req[e][2], (double)ns->empty[e]);
      metric_set(o->req[e][3], (double)ns->failed[e]);
    }
    metric_set(o->logins, (double)ns->logins);
    metric_set(o->login_failures, (double)ns->login_failures);
    metric_set(o->retries, (double)ns->retries);
    metric_set(o->throttled, (double)ns->throttled);
    metric_set(o->token_replays, (double)ns->token_replays);
    for (size_t i = 0; i < archiver_account_count(o->arch); i++) {
      const char *name = archiver_account_name(o->arch, i);
      const uint64_t *sent = netc_account_sent(net, name);
      for (int e = 0; sent && e < API_EP_COUNT; e++)
        if (sent[e]) /* a failed series allocation leaves that one out of this scrape */
          metric_set(metrics_series(o->sent, (const char *[]){name, api_endpoint_key((api_endpoint_t)e)}),
                     (double)sent[e]);
    }
  }
  const pgw_t *db = archiver_db(o->arch);
  if (db) {
    pgw_stats_t ps;
    pgw_get_stats(db, &ps);
    metric_set(o->queue_rows, (double)pgw_queue_rows(db));
    metric_set(o->queue_batches, (double)pgw_queue_batches(db));
    metric_set(o->db_connected, pgw_connected(db) ? 1 : 0);
    metric_set(o->db_connects, (double)ps.connects);
    metric_set(o->db_losses, (double)ps.connection_losses);
    for (int k = 0; k < PGW_KINDS; k++)
      metric_set(o->rows_rejected[k], (double)ps.rows_rejected[k]);
  }
  archiver_status_t st;
  archiver_status(o->arch, &st);
  metric_set(o->devices[0], (double)st.devices_active);
  metric_set(o->devices[1], (double)st.devices_removed);
  metric_set(o->devices[2], (double)st.devices_failing);
  metric_set(o->devices[3], (double)st.devices_without_position);
  metric_set(o->streams[0], (double)st.streams_complete);
  metric_set(o->streams[1], (double)st.streams_due);
  metric_set(o->streams[2], (double)st.streams_later);
  metric_set(o->streams[3], (double)st.streams_blocked);
  metric_set(o->streams[4], (double)st.streams_given_up);
  for (int s = 0; s < STREAM_COUNT; s++) metric_set(o->lag[s], (double)st.lag_s[s]);
  metric_set(o->backpressure, st.backpressure ? 1 : 0);
  uint64_t now = uv_now(o->loop);
  for (size_t i = 0; i < o->n_accts; i++) {
    acct_health_t *h = &o->accts[i];
    metric_set(h->up, h->stopped || (h->failing_since && now - h->failing_since >=
                                     (uint64_t)o->unhealthy_after_ms) ? 0 : 1);
  }
  metric_set(o->healthy, ops_unhealthy_reason(o, now) ? 0 : 1);
  metrics_process_update(&o->process);
}

static void cb_http(void *arg, const char *path, int *status, const char **ctype, buf_t *body) {
  ops_t *o = arg;
  if (strcmp(path, "/metrics") == 0) {
    refresh(o);
    *status = metrics_render(o->m, body) == 0 ? 200 : 500;
    *ctype = METRICS_CONTENT_TYPE;
    return;
  }
  if (strcmp(path, "/healthz") == 0) {
    uint64_t now = uv_now(o->loop);
    health_sample(o, now);
    const char *why = ops_unhealthy_reason(o, now);
    *status = why ? 503 : 200;
    if (buf_printf(body, "%s\n", why ? why : "ok") != 0) *status = 500;
    return;
  }
  *status = 404;
  if (buf_puts(body, "not found: try /metrics or /healthz\n") != 0) *status = 500;
}

/* ------------------------------------------------------------------ console */

/* The loop's part of the console's status (console_state_cb). */
static void console_state(void *arg, cJSON *out) {
  ops_t *o = arg;
  uint64_t now = uv_now(o->loop);
  health_sample(o, now);
  refresh(o);
  const char *why = ops_unhealthy_reason(o, now);
  if (why) cJSON_AddStringToObject(out, "unhealthy", why);
  cJSON_AddStringToObject(out, "version", fleetarc_version);
  cJSON_AddNumberToObject(out, "uptime_s", (double)(now - o->started_ms) / 1000.0);
  cJSON *accts = cJSON_AddArrayToObject(out, "accounts");
  for (size_t i = 0; accts && i < o->n_accts; i++) {
    const acct_health_t *h = &o->accts[i];
    cJSON *a = cJSON_CreateObject();
    if (!a) break;
    char state[96];
    if (h->stopped)
      snprintf(state, sizeof state, "stopped (code %d)", h->stopped);
    else if (h->failing_since)
      snprintf(state, sizeof state, "failing for %llus",
               (unsigned long long)((now - h->failing_since) / 1000));
    else snprintf(state, sizeof state, "%s", h->answered ? "ok" : "logging in");
    cJSON_AddStringToObject(a, "name", h->name);
    cJSON_AddStringToObject(a, "state", state);
    if (h->last_error_at) {
      cJSON_AddStringToObject(a, "last_error", h->last_error);
      cJSON_AddNumberToObject(a, "last_error_at", (double)h->last_error_at);
    }
    cJSON_AddItemToArray(accts, a);
  }
  const pgw_t *db = archiver_db(o->arch);
  cJSON *w = cJSON_AddObjectToObject(out, "writer");
  archiver_status_t st;
  archiver_status(o->arch, &st);
  if (w) {
    pgw_stats_t ps = {0};
    if (db) pgw_get_stats(db, &ps);
    cJSON_AddNumberToObject(w, "connected", db && pgw_connected(db) ? 1 : 0);
    cJSON_AddNumberToObject(w, "queue_rows", db ? (double)pgw_queue_rows(db) : 0);
    cJSON_AddNumberToObject(w, "queue_batches", db ? (double)pgw_queue_batches(db) : 0);
    cJSON_AddNumberToObject(w, "backpressure", st.backpressure ? 1 : 0);
    cJSON_AddNumberToObject(w, "batches_committed", metric_value(o->batches[0]));
    cJSON_AddNumberToObject(w, "batches_failed", metric_value(o->batches[1]));
    cJSON_AddNumberToObject(w, "points", (double)st.points);
    cJSON_AddNumberToObject(w, "alarms", (double)st.alarms);
  }
  const netc_t *net = archiver_net(o->arch);
  const netc_stats_t *ns = net ? netc_stats(net) : NULL;
  cJSON_AddNumberToObject(out, "rate_limit_waits", ns ? (double)ns->throttled : 0);
  cJSON_AddNumberToObject(out, "api_retries", ns ? (double)ns->retries : 0);
  cJSON *s = cJSON_AddObjectToObject(out, "streams");
  if (s) {
    cJSON_AddNumberToObject(s, "complete", (double)st.streams_complete);
    cJSON_AddNumberToObject(s, "due", (double)st.streams_due);
    cJSON_AddNumberToObject(s, "later", (double)st.streams_later);
    cJSON_AddNumberToObject(s, "blocked", (double)st.streams_blocked);
    cJSON_AddNumberToObject(s, "given_up", (double)st.streams_given_up);
    cJSON_AddNumberToObject(s, "devices_active", (double)st.devices_active);
    cJSON_AddNumberToObject(s, "devices_failing", (double)st.devices_failing);
    cJSON *lag = cJSON_AddObjectToObject(s, "lag_s");
    for (int k = 0; lag && k < STREAM_COUNT; k++)
      cJSON_AddNumberToObject(lag, stream_name(k), (double)st.lag_s[k]);
  }
}

/* ------------------------------------------------------------------ hooks */

static void hook_response(void *arg, const struct net_result *res) {
  ops_t *o = arg;
  if (res->error == NET_OK && res->no_data) metric_inc(o->kind_empty);
  else if ((size_t)res->error < N_KINDS) metric_inc(o->kinds[res->error]);
  if (res->code != 0 && res->error != NET_ERR_CANCELLED) {
    size_t i = 0;
    while (i < N_CODES && known_codes[i] != res->code) i++;
    metric_inc(o->codes[i]);
  }
  acct_health_t *h = acct_find(o, res->account);
  if (!h) return;
  switch (res->error) {
    case NET_OK:
    case NET_ERR_API: /* the platform answered this account: it works */
      h->failing_since = 0;
      h->answered = true;
      h->logged_in = true;
      break;
    case NET_ERR_CANCELLED:
    case NET_ERR_TOO_LARGE: /* one oversized answer says nothing of the account */
      break;
    default:
      if (!h->failing_since) h->failing_since = uv_now(o->loop);
      if (res->error == NET_ERR_ACCOUNT) {
        h->stopped = res->code ? res->code : -1;
        h->logged_in = false;
        metric_set(h->up, 0); /* at the first failed login, not unhealthy_after later */
      }
      break;
  }
  /* 20023 "no data" is an answer, not an error */
  if (res->error != NET_OK && res->error != NET_ERR_CANCELLED &&
      !(res->error == NET_ERR_API && res->code == API_CODE_NO_DATA)) {
    char code[24] = "";
    if (res->code) snprintf(code, sizeof code, " code %d", res->code);
    snprintf(h->last_error, sizeof h->last_error, "%s: %s%s%s%s", api_endpoint_key(res->endpoint),
             (size_t)res->error < N_KINDS ? failure_kinds[res->error] : "error", code,
             res->message && res->message[0] ? ": " : "", res->message ? res->message : "");
    h->last_error_at = (int64_t)time(NULL);
  }
}

static void hook_batch(void *arg, const struct pgw_result *res, size_t rows, uint64_t elapsed_ms) {
  ops_t *o = arg;
  if (res->status == 0) {
    metric_inc(o->batches[0]);
    metric_add(o->points, (double)res->positions_new);
    metric_add(o->alarms, (double)res->alarms_new);
    metric_add(o->mileage, (double)res->mileage_days);
    metric_add(o->dup_points, (double)res->positions_dup);
    metric_add(o->dup_alarms, (double)res->alarms_dup);
    metric_observe(o->batch_rows, (double)rows);
    metric_observe(o->batch_seconds, (double)elapsed_ms / 1000.0);
  } else {
    metric_inc(o->batches[res->status == -ECANCELED ? 2 : 1]);
  }
}

/* Rare (a bad record): the series is found or made here. */
static void hook_reject(void *arg, const char *endpoint, const char *field) {
  ops_t *o = arg;
  metric_inc(metrics_series(o->rejected, (const char *[]){endpoint, field}));
}

/* ------------------------------------------------------------------ tick */

static void status_line(ops_t *o, uint64_t now, char *out, size_t n) {
  archiver_status_t st;
  archiver_status(o->arch, &st);
  const char *why = ops_unhealthy_reason(o, now);
  size_t ok = 0;
  for (size_t i = 0; i < o->n_accts; i++) ok += o->accts[i].failing_since == 0;
  snprintf(out, n, "%s; %zu devices, %llu points, %llu alarms; database %s; accounts %zu/%zu ok; "
           "playback lag %llds",
           why ? why : "archiving", st.devices_active, (unsigned long long)st.points,
           (unsigned long long)st.alarms, o->db_down_since ? "down" : "up", ok, o->n_accts,
           (long long)st.lag_s[STREAM_PLAYBACK]);
}

static void on_tick(uv_timer_t *t) {
  ops_t *o = t->data;
  uint64_t now = uv_now(o->loop);
  health_sample(o, now);
  const netc_t *net = archiver_net(o->arch);
  if (!o->ready_sent && !o->db_down_since) {
    /* Ready: the database is up and every account has had a successful call (a login
     * at least), or the wait has exceeded unhealthy_after (then /healthz says why). */
    const netc_stats_t *ns = net ? netc_stats(net) : NULL;
    bool accounts_up = ns && ns->logins >= o->n_accts;
    /* Never ready while no account is logged in (a wrong password: systemd must see a
     * start that did not succeed, not READY with 0 accounts). */
    if (!no_account_up(o) &&
        (accounts_up || now - o->started_ms >= (uint64_t)o->unhealthy_after_ms)) {
      char line[256];
      status_line(o, now, line, sizeof line);
      notify_ready(line);
      o->ready_sent = true;
      log_info("ops: ready (%s)", line);
    }
  }
  if (o->watchdog_ms && now - o->last_watchdog >= o->watchdog_ms / 2) {
    notify_watchdog();
    o->last_watchdog = now;
  }
  if (o->ready_sent && now - o->last_status_ms >= 10000) {
    o->last_status_ms = now;
    char line[256];
    status_line(o, now, line, sizeof line);
    if (strcmp(line, o->last_status) != 0) {
      notify_status(line);
      snprintf(o->last_status, sizeof o->last_status, "%s", line);
    }
  }
}

/* ------------------------------------------------------------------ retention */

static void work_retention(uv_work_t *req) {
  ops_t *o = req->data;
  /* A thread of libuv's pool: only db_query (its own connection) and this struct. */
  config_t view = *o->cfg; /* read-only here; the loop never changes it */
  view.retention.positions_ms = o->work_keep_ms[0];
  view.retention.alarms_ms = o->work_keep_ms[1];
  view.retention.rejected_ms = o->work_keep_ms[2];
  o->work_rc = retention_apply(&view, NULL, o->work_now, false, &o->work_report, o->work_err,
                               sizeof o->work_err);
  view.reports.store_ahead_ms = o->work_ahead_ms;
  view.reports.timezone = o->work_tz;
  uint64_t t0 = uv_hrtime();
  o->work_ahead_rc = reports_store_ahead(&view, &o->cancel, &o->work_ahead, o->work_ahead_err,
                                         sizeof o->work_ahead_err);
  o->work_ahead_ns = uv_hrtime() - t0;
}

static void after_store_ahead(ops_t *o) {
  const reports_ahead_t *a = &o->work_ahead;
  if (o->work_ahead_ms <= 0) return;
  if (o->work_ahead_rc == -ECANCELED) {
    log_info("reports: storing the finished days ahead stopped by the shutdown (the next start "
             "takes it up)");
  } else if (o->work_ahead_rc) {
    log_warn("reports: storing the finished days ahead failed: %s (tried again in the next "
             "pass; reports compute those days when they ask)", o->work_ahead_err);
  } else if (!a->stored) {
    log_warn("reports: the database did not let this role store the finished days ahead "
             "(read-only?); reports compute them when they ask");
  } else {
    log_info("reports: %d finished days (%s) stored ahead: %lld device-days in %.1f s", a->days,
             o->work_tz, a->device_days, (double)o->work_ahead_ns / 1e9);
  }
}

static void after_retention(uv_work_t *req, int status) {
  ops_t *o = req->data;
  o->work_busy = false;
  if (status == UV_ECANCELED) return;
  after_store_ahead(o);
  if (o->work_rc) {
    metric_inc(o->retention_runs[1]);
    log_warn("retention: %s (tried again in the next pass)", o->work_err);
    return;
  }
  metric_inc(o->retention_runs[0]);
  for (size_t i = 0; i < o->work_report.n; i++) {
    const retention_drop_t *d = &o->work_report.drops[i];
    log_info("retention: dropped %s partition %s [%s, %s)", d->table, d->partition, d->range_start,
             d->range_end);
  }
  metric_add(o->retention_dropped, (double)o->work_report.n);
  if (o->work_report.rejected)
    log_info("retention: deleted %lld rows of fleetarc.rejected last refused before the cutoff",
             o->work_report.rejected);
  if (o->work_report.created)
    log_info("retention: created %d partitions ahead", o->work_report.created);
  retention_report_free(&o->work_report);
}

static void on_retention_timer(uv_timer_t *t) {
  ops_t *o = t->data;
  if (o->work_busy || o->stopping) return;
  o->work_busy = true;
  o->work_now = (int64_t)time(NULL);
  o->work_keep_ms[0] = o->retention_ms[0]; /* SIGHUP may change these meanwhile */
  o->work_keep_ms[1] = o->retention_ms[1];
  o->work_keep_ms[2] = o->retention_ms[2];
  o->work_ahead_ms = o->cancel_ready ? o->store_ahead_ms : 0;
  snprintf(o->work_tz, sizeof o->work_tz, "%s", o->tz);
  o->work.data = o;
  if (uv_queue_work(o->loop, &o->work, work_retention, after_retention) != 0) o->work_busy = false;
}

/* ------------------------------------------------------------------ reload */

/* The health of the accounts in force: after startup and after every reload (an added
 * account starts fine, a removed one is no longer watched and shows 0). */
static void accounts_sync(ops_t *o) {
  size_t n = archiver_account_count(o->arch), k = 0;
  acct_health_t *v = calloc(n ? n : 1, sizeof *v);
  if (!v) return; /* the old list stays: it still names only real accounts */
  for (size_t i = 0; i < n; i++) {
    const char *name = archiver_account_name(o->arch, i);
    if (!name) continue;
    acct_health_t *old = acct_find(o, name);
    v[k] = old ? *old : (acct_health_t){.name = name, .up = labelled(o->account_up, name)};
    v[k++].name = name;
  }
  for (size_t i = 0; i < o->n_accts; i++) {
    bool kept = false;
    for (size_t j = 0; j < k && !kept; j++) kept = strcmp(v[j].name, o->accts[i].name) == 0;
    if (!kept) metric_set(o->accts[i].up, 0);
  }
  free(o->accts);
  o->accts = v;
  o->n_accts = k;
}

/* SIGHUP: what can change without a restart does (archiver_reconfigure for the engine's
 * part); the rest is named, not silently kept. */
static void on_sighup(uv_signal_t *s, int signum) {
  (void)signum;
  ops_t *o = s->data;
  if (o->stopping) return;
  notify_reloading(true);
  config_t *n = NULL;
  buf_t errors = BUF_INIT;
  int rc = config_load_file(o->config_path, &n, &errors);
  if (rc == 0 && config_credentials_check(n, NULL, &errors) != 0) { /* the service logs in */
    config_free(n);
    n = NULL;
    rc = -EINVAL;
  }
  if (rc) {
    /* one line per error, as the file names them; the running configuration stays */
    char *line = errors.data, *next;
    for (; line && *line; line = next) {
      next = strchr(line, '\n');
      if (next) *next++ = '\0';
      log_error("reload: %s", line);
    }
    log_error("reload: %s rejected (%s); the running configuration is kept", o->config_path,
              rc == -EINVAL ? "invalid" : strerror(-rc));
    metric_inc(o->reloads[1]);
    buf_free(&errors);
    notify_reloading(false);
    return;
  }
  buf_free(&errors);
  log_set_level(n->log.level);
  log_set_format(n->log.format);
  o->unhealthy_after_ms = n->metrics.unhealthy_after_ms;
  o->retention_ms[0] = n->retention.positions_ms;
  o->retention_ms[1] = n->retention.alarms_ms;
  o->retention_ms[2] = n->retention.rejected_ms;
  o->store_ahead_ms = n->reports.store_ahead_ms;
  snprintf(o->tz, sizeof o->tz, "%s", n->reports.timezone ? n->reports.timezone : "UTC");
  buf_t applied = BUF_INIT, restart = BUF_INIT;
  int brc = 0;
  /* What needs a restart (metrics.listen and auth, retention.interval, the clients'
   * settings) the archiver lists from the key table, with its own. */
  brc |= buf_printf(&applied, "log.level=%s, log.format=%s, metrics.unhealthy_after, "
                    "retention.positions, retention.alarms, retention.rejected, reports.store_ahead, "
                    "reports.timezone",
                    log_level_name(n->log.level), n->log.format == LOG_FORMAT_JSON ? "json" : "text");
  rc = archiver_reconfigure(o->arch, n, &applied, &restart); /* n is the archiver's now */
  if (rc && rc != -ENOMEM)
    log_warn("reload: the archiver took no change (%s)", strerror(-rc));
  accounts_sync(o);
  if (brc == 0 && rc != -ENOMEM) {
    log_info("reload: applied %s", applied.data);
    if (restart.len) log_warn("reload: changed but NOT applied until a restart: %s", restart.data);
  } else {
    log_warn("reload: applied, but out of memory listing what");
  }
  buf_free(&applied);
  buf_free(&restart);
  metric_inc(o->reloads[0]);
  notify_reloading(false);
}

/* ------------------------------------------------------------------ lifecycle */

static void hook_started(void *arg, archiver_t *a, uv_loop_t *loop) {
  ops_t *o = arg;
  o->arch = a;
  o->loop = loop;
  o->started_ms = uv_now(loop);
  o->db_down_since = o->started_ms;
  accounts_sync(o);
  uv_timer_init(loop, &o->tick);
  uv_timer_init(loop, &o->retention_timer);
  uv_signal_init(loop, &o->sighup);
  o->tick.data = o->retention_timer.data = o->sighup.data = o;
  o->handles_up = true;
  o->watchdog_ms = notify_watchdog_usec() / 1000;
  uint64_t every = OPS_TICK_MS;
  if (o->watchdog_ms && o->watchdog_ms / 2 < every) every = o->watchdog_ms / 2 ? o->watchdog_ms / 2 : 1;
  uv_timer_start(&o->tick, on_tick, every, every);
  uv_timer_start(&o->retention_timer, on_retention_timer, OPS_RETENTION_FIRST_MS,
                 (uint64_t)o->cfg->retention.interval_ms);
  uv_signal_start(&o->sighup, on_sighup, SIGHUP);
  if (o->cfg->metrics.listen) {
    int err = 0;
    o->httpd = httpd_new(loop, o->cfg->metrics.listen, cb_http, o, &err);
    if (o->httpd && httpd_set_auth(o->httpd, o->cfg->metrics.auth_header) != 0) {
      log_error("ops: out of memory setting metrics.auth: the endpoint is closed");
      httpd_close(o->httpd, NULL, NULL);
      o->httpd = NULL;
    }
    if (o->httpd) {
      o->console = console_new(loop, o->cfg, console_state, o);
      if (o->console) httpd_set_async(o->httpd, console_take, o->console);
      else log_error("ops: out of memory starting the console: /metrics and /healthz only");
      log_info("ops: listening on %s port %d: GET /metrics and /healthz, the console at / and /map",
               o->cfg->metrics.listen, httpd_port(o->httpd));
    }
    else
      log_error("ops: cannot listen on metrics.listen %s: %s (archiving goes on without it)",
                o->cfg->metrics.listen, err < 0 && err > -4096 ? uv_strerror(err) : "bad address");
  }
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void hook_stopping(void *arg) {
  ops_t *o = arg;
  if (o->stopping) return;
  o->stopping = true;
  notify_stopping();
  console_close(o->console); /* its waiting requests are answered 503 */
  o->console = NULL;
  httpd_close(o->httpd, NULL, NULL);
  o->httpd = NULL;
  if (o->handles_up) {
    o->handles_up = false;
    uv_close((uv_handle_t *)&o->tick, on_closed);
    uv_close((uv_handle_t *)&o->retention_timer, on_closed);
    uv_close((uv_handle_t *)&o->sighup, on_closed);
  }
  /* a running retention pass ends on its own (lock_timeout bounds it); the loop waits;
   * storing the reports' days ahead can take minutes on a large fleet: cancelled */
  if (o->work_busy && o->cancel_ready) db_cancel(&o->cancel);
}

ops_t *ops_new(const config_t *cfg, const char *config_path) {
  ops_t *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->cfg = cfg;
  o->unhealthy_after_ms = cfg->metrics.unhealthy_after_ms;
  o->retention_ms[0] = cfg->retention.positions_ms;
  o->retention_ms[1] = cfg->retention.alarms_ms;
  o->retention_ms[2] = cfg->retention.rejected_ms;
  o->store_ahead_ms = cfg->reports.store_ahead_ms;
  snprintf(o->tz, sizeof o->tz, "%s", cfg->reports.timezone ? cfg->reports.timezone : "UTC");
  o->cancel_ready = db_canceller_init(&o->cancel) == 0;
  o->config_path = strdup(config_path ? config_path : "");
  o->m = metrics_new();
  if (!o->config_path || !o->m || register_metrics(o) != 0) {
    ops_free(o);
    return NULL;
  }
  return o;
}

void ops_free(ops_t *o) {
  if (!o) return;
  metrics_free(o->m);
  retention_report_free(&o->work_report);
  if (o->cancel_ready) db_canceller_destroy(&o->cancel);
  free(o->accts);
  free(o->config_path);
  free(o);
}

void ops_hooks(ops_t *o, archiver_hooks_t *hooks) {
  *hooks = (archiver_hooks_t){.arg = o, .started = hook_started, .stopping = hook_stopping,
                              .response = hook_response, .batch = hook_batch,
                              .reject = hook_reject};
}

/* What the key table gives besides loading: the resolved configuration printed as YAML
 * (`check --offline`), the reload diff and the reference of every key. Invariant: a
 * secret (K_SECRET) is never printed, only "***" or a conninfo with its password masked. */
#include "config/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/conn.h"
#include "util/timeparse.h"

/* ---- the table ---- */

#define AT(field) offsetof(config_t, field)
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
_Static_assert(sizeof(log_level_t) == sizeof(int) && sizeof(log_format_t) == sizeof(int),
               "T_ENUM fields are stored as int");

/* Every key, one row; the order of a section's rows is that of its "expected one of". */
const row_t config_rows[] = {
  {"api.base_url", T_STRING, AT(api.base_url), NULL, 0, 0, K_REQUIRED | K_RESTART,
   "a URL (https://host[:port])", NULL, CHECK_URL,
   "required key is missing (e.g. base_url: https://api.mygps.mu)",
   "the Open API host: http(s)://host[:port], no path"},
  {"api.rate_limits", T_RATES, 0, "1s", 0, HOUR_MS, 0, NULL, NULL, 0, NULL,
   "least spacing of two calls of one account to one endpoint"},
  {"api.timeout", T_DURATION, AT(api.timeout_ms), "30s", SEC_MS, HOUR_MS, K_RESTART, NULL, NULL,
   0, NULL, "time limit of one HTTP request, connect to last byte"},
  {"api.ca_file", T_STRING, AT(api.ca_file), NULL, 0, 0, K_RESTART, "a file name", NULL,
   CHECK_CA_FILE, NULL, "CA certificates (PEM) to verify the host with; empty: the system's"},
  {"api.max_in_flight", T_INT, AT(api.max_in_flight), "16", 1, 1024, K_RESTART, NULL, NULL, 0,
   NULL, "most HTTP requests in flight at once, over all accounts"},
  {"api.max_body_bytes", T_BYTES, AT(api.max_body_bytes), "16MiB", 1024, (int64_t)1 << 30,
   K_RESTART, NULL, NULL, 0, NULL, "a larger response body fails its request"},
  {"api.global_rate", T_INT, AT(api.global_rate), "0", 0, 100000, 0, NULL, NULL, 0, NULL,
   "most requests per second over all accounts; 0: no global limit"},
  {"api.retry.max_attempts", T_INT, AT(api.retry_max_attempts), "8", 1, 100, K_RESTART, NULL,
   NULL, 0, NULL, "tries of a request failed for a passing reason, the first included"},
  {"api.retry.base_delay", T_DURATION, AT(api.retry_base_delay_ms), "1s", 1, HOUR_MS, K_RESTART,
   NULL, NULL, 0, NULL, "first back-off, doubled per retry"},
  {"api.retry.max_delay", T_DURATION, AT(api.retry_max_delay_ms), "5m", 1, DAY_MS, K_RESTART,
   NULL, NULL, 0, NULL, "back-off cap, at least base_delay"},
  {"api.retry.write_max_attempts", T_INT, AT(api.retry_write_max_attempts), "10", 1, 1000,
   K_RESTART, NULL, NULL, 0, NULL, "sends of a write refused as too frequent"},
  {"api.retry.write_max_time", T_DURATION, AT(api.retry_write_max_time_ms), "5m", SEC_MS, DAY_MS,
   K_RESTART, NULL, NULL, 0, NULL, "nor later than this after its first send"},
  {"api.token_dir", T_STRING, AT(api.token_dir), NULL, 0, 0, K_RESTART, "a directory (\"\": off)",
   NULL, CHECK_TOKEN_DIR, NULL,
   "the access tokens shared by the processes of the host; empty: computed; \"\": off"},
  {"accounts", T_ACCOUNTS, 0, NULL, 0, 0, K_REQUIRED, NULL, NULL, 0,
   "required: a list of at least one account", "the platform accounts to archive"},
  {"database.conninfo", T_STRING, AT(database.conninfo), "postgresql:///fleetarc", 0, 0,
   K_SECRET | K_CONNINFO | K_RESTART, NULL, NULL, 0, NULL, "libpq connection string"},
  {"database.batch_rows", T_INT, AT(database.batch_rows), "10000", 1, 1000000, 0, NULL, NULL,
   0, NULL, "rows per write"},
  {"database.flush_interval", T_DURATION, AT(database.flush_interval_ms), "1s", 1, HOUR_MS, 0,
   NULL, NULL, 0, NULL, "a partial batch is written after this"},
  {"database.queue_rows", T_INT, AT(database.queue_rows), "100000", 1, 100000000, K_RESTART, NULL,
   NULL, 0, NULL,
   "rows waiting for the writer before fetching pauses (backfill: shared by its two "
   "connections); at least batch_rows"},
  {"archive.track_interval", T_DURATION, AT(archive.track_interval_ms), "60s", 100, DAY_MS, 0,
   NULL, NULL, 0, NULL, "how often every device's latest position is polled"},
  {"archive.discovery_interval", T_DURATION, AT(archive.discovery_interval_ms), "1h", MIN_MS,
   30 * DAY_MS, 0, NULL, NULL, 0, NULL, "how often the device lists are read again"},
  {"archive.lookback", T_DURATION, AT(archive.lookback_ms), "7d", 0, 3650 * DAY_MS, 0, NULL, NULL,
   0, NULL, "history fetched for a device seen for the first time"},
  {"archive.streams", T_STREAMS, AT(archive.streams), "[playback, alarms, mileage]", 0, 0, 0,
   NULL, NULL, 0, NULL, "the history streams to archive"},
  {"archive.give_up_after", T_DURATION, AT(archive.give_up_after_ms), "2m", SEC_MS, DAY_MS, 0,
   NULL, NULL, 0, NULL, "backfill: exit 1 when no API call succeeded for this long"},
  {"archive.alarm_interval", T_DURATION, AT(archive.alarm_interval_ms), "10m", SEC_MS, DAY_MS, 0,
   NULL, NULL, 0, NULL, "alarms of a device whose track record changed, at most once per this"},
  {"archive.alarm_idle_interval", T_DURATION, AT(archive.alarm_idle_interval_ms), "6h", MIN_MS,
   30 * DAY_MS, 0, NULL, NULL, 0, NULL, "alarms of a silent device, once per this"},
  {"archive.gap_settle", T_DURATION, AT(archive.gap_settle_ms), "30m", SEC_MS, DAY_MS, 0, NULL,
   NULL, 0, NULL, "a gap is asked again this long after it ended, and after each empty ask"},
  {"archive.gap_min", T_DURATION, AT(archive.gap_min_ms), "5m", SEC_MS, DAY_MS, 0, NULL, NULL,
   0, NULL, "a silence of a moving device longer than this is a gap"},
  {"archive.gap_max_attempts", T_INT, AT(archive.gap_max_attempts), "3", 0, 100, 0, NULL, NULL,
   0, NULL, "empty asks of one gap before it counts as healed; 0: off"},
  {"archive.max_subaccounts", T_INT, AT(archive.max_subaccounts), "10000", 0, 10000000, 0, NULL,
   NULL, 0, NULL, "sub-accounts one discovery lists at most"},
  {"archive.max_subaccount_depth", T_INT, AT(archive.max_subaccount_depth), "16", 1, 1000, 0,
   NULL, NULL, 0, NULL, "levels of sub-accounts below a configured account"},
  {"log.level", T_ENUM, AT(log.level), "info", 0, 0, 0, "a level", log_levels, 0, NULL,
   "error, warn, info or debug"},
  {"log.format", T_ENUM, AT(log.format), "text", 0, 0, 0, "a format", log_formats, 0, NULL,
   "text (one line per event) or json (one object per line)"},
  {"metrics.listen", T_STRING, AT(metrics.listen), NULL, 0, 0, K_RESTART, NULL, NULL, CHECK_LISTEN,
   NULL, "HOST:PORT of GET /metrics, /healthz and the console; empty: none"},
  {"metrics.unhealthy_after", T_DURATION, AT(metrics.unhealthy_after_ms), "60s", SEC_MS, DAY_MS,
   0, NULL, NULL, 0, NULL, "/healthz fails once the database or an account failed this long"},
  {"metrics.auth", T_STRING, AT(metrics.auth_header), NULL, 0, 0, K_SECRET | K_RESTART,
   "a bearer token or file:PATH", NULL, CHECK_AUTH, NULL,
   "a bearer token, or file:PATH of USER:PASSWORD for basic auth; empty: none"},
  {"retention.positions", T_DURATION, AT(retention.positions_ms), NULL, 32 * DAY_MS,
   36500 * DAY_MS, K_ZERO_OFF, NULL, NULL, 0, NULL,
   "monthly partitions of positions older than this are dropped; empty: keep all"},
  {"retention.alarms", T_DURATION, AT(retention.alarms_ms), NULL, 32 * DAY_MS, 36500 * DAY_MS,
   K_ZERO_OFF, NULL, NULL, 0, NULL, "the same for alarms"},
  {"retention.rejected", T_DURATION, AT(retention.rejected_ms), "90d", DAY_MS, 36500 * DAY_MS, 0,
   NULL, NULL, 0, NULL, "rows of fleetarc.rejected last refused longer ago are deleted"},
  {"retention.interval", T_DURATION, AT(retention.interval_ms), "6h", MIN_MS, 7 * DAY_MS,
   K_RESTART, NULL, NULL, 0, NULL, "how often `run` applies retention"},
  {"reports.timezone", T_STRING, AT(reports.timezone), "UTC", 0, 0, 0, NULL, NULL, CHECK_TIMEZONE,
   NULL, "IANA time zone of report and export"},
  {"reports.store_ahead", T_DURATION, AT(reports.store_ahead_ms), "3d", 0, 366 * DAY_MS,
   K_ZERO_OFF, NULL, NULL, 0, NULL,
   "finished days whose report summaries `run` stores ahead each retention pass (whole days); 0d: none"},
  {"console.tiles", T_STRING, AT(console.tiles), CONFIG_CONSOLE_TILES_DEFAULT, 0, 0, K_RESTART,
   NULL, NULL, 0, NULL, "the map's tile URL template; \"none\": no tiles"},
  {"console.attribution", T_STRING, AT(console.attribution), CONFIG_CONSOLE_ATTRIBUTION_DEFAULT, 0,
   0, K_RESTART, NULL, NULL, 0, NULL, "the credit shown under the tiles (HTML)"},
  {"console.conninfo", T_STRING, AT(console.conninfo), NULL, 0, 0,
   K_SECRET | K_CONNINFO | K_RESTART, NULL, NULL, 0, NULL,
   "the console's database login; empty: database.conninfo"},
  {"cluster.enabled", T_BOOL, AT(cluster.enabled), "false", 0, 0, K_RESTART, NULL, NULL, 0,
   NULL, "accounts held through leases, shared by several instances"},
  {"cluster.lease_ttl", T_DURATION, AT(cluster.lease_ttl_ms), "15s", 3 * SEC_MS, HOUR_MS,
   K_RESTART, NULL, NULL, 0, NULL, "a lease not renewed for this long is free"},
  {"cluster.instance", T_STRING, AT(cluster.instance), NULL, 0, 0, K_RESTART, NULL, NULL, 0,
   NULL, "this instance's name in fleetarc.leases; empty: host:pid"},
};
const size_t config_n_rows = sizeof config_rows / sizeof config_rows[0];

/* The keys of one account. account and the three passwords are read by load_account
 * (exactly one password); subaccounts by the table. */
const row_t account_rows[] = {
  {"account", T_STRING, offsetof(config_account_t, account), NULL, 0, 0, K_REQUIRED,
   "an account name", NULL, 0, NULL, "the login name"},
  {"password", T_STRING, 0, NULL, 0, 0, K_SECRET, "a password", NULL, 0, NULL,
   "the password (hashed at once, then wiped)"},
  {"password_md5", T_STRING, 0, NULL, 0, 0, K_SECRET, "32 hex digits", NULL, 0, NULL,
   "md5 of the password"},
  {"password_file", T_STRING, 0, NULL, 0, 0, 0, "a file name", NULL, 0, NULL,
   "a file holding the password, or a list of them (the first readable wins)"},
  {"subaccounts", T_BOOL, offsetof(config_account_t, subaccounts), "true", 0, 0, 0, NULL, NULL,
   0, NULL, "archive the devices of sub-accounts too"},
};
const size_t account_n_rows = sizeof account_rows / sizeof account_rows[0];

const builtin_rate_t config_builtin_rates[] = {
  {API_EP_AUTHORIZATION, "12s"}, {API_EP_TRACK, "10s"},       {API_EP_PLAYBACK, "12s"},
  {API_EP_ALARM_LIST, "12s"},    {API_EP_DEVICE_LIST, "6s"},  {API_EP_USER_LIST, "6s"},
  {API_EP_DEVICE_DETAIL, "6s"},  {API_EP_DEVICE_MILEAGE, "10s"},
};
const size_t config_n_builtin_rates = sizeof config_builtin_rates / sizeof config_builtin_rates[0];

/* ---- printing ---- */

/* A double-quoted YAML string that reads back as s (with ${ written $${). */
static void print_string(FILE *out, const char *s) {
  if (!s) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c == '$' && s[1] == '{') fputs("$$", out);
    else if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

static void print_duration(FILE *out, int64_t ms) {
  char d[48];
  fputs(timeparse_format_duration(ms, d, sizeof d), out);
}

static void print_accounts(const config_t *cfg, FILE *out) {
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    fputs("  - account: ", out);
    print_string(out, cfg->accounts[i].account);
    fprintf(out, "\n    password_md5: \"%s\"\n", LOG_MASK);
    fprintf(out, "    subaccounts: %s\n", cfg->accounts[i].subaccounts ? "true" : "false");
  }
}

/* One key's value, after "name: " (a whole block for rates and accounts). */
static void print_value(const config_t *cfg, const row_t *r, int depth, FILE *out) {
  switch (r->type) {
  case T_STRING: {
    const char *s = *ROW_CFIELD(cfg, r, char *);
    char *masked = NULL;
    if (!(r->flags & K_SECRET)) print_string(out, s);
    else if ((r->flags & K_CONNINFO) && (masked = db_conninfo_masked(s))) print_string(out, masked);
    else fprintf(out, "\"%s\"", LOG_MASK);
    free(masked);
    break;
  }
  case T_DURATION: {
    int64_t ms = *ROW_CFIELD(cfg, r, int64_t);
    if (ms || !(r->flags & K_ZERO_OFF)) print_duration(out, ms);
    break;
  }
  case T_INT: fprintf(out, "%d", *ROW_CFIELD(cfg, r, int)); break;
  case T_BYTES: fprintf(out, "%lld", (long long)*ROW_CFIELD(cfg, r, int64_t)); break;
  case T_BOOL: fputs(*ROW_CFIELD(cfg, r, bool) ? "true" : "false", out); break;
  case T_ENUM: fputs(r->names[*ROW_CFIELD(cfg, r, int)], out); break;
  case T_STREAMS:
    fputc('[', out);
    for (int s = 0, first = 1; s < STREAM_COUNT; s++) {
      if (!(*ROW_CFIELD(cfg, r, unsigned) & STREAM_BIT(s))) continue;
      fprintf(out, "%s%s", first ? "" : ", ", stream_name(s));
      first = 0;
    }
    fputc(']', out);
    break;
  case T_RATES:
    fprintf(out, "\n%*sdefault: ", 2 * depth + 2, "");
    print_duration(out, cfg->api.rate_limit_default_ms);
    for (int i = 0; i < API_EP_COUNT; i++) {
      fprintf(out, "\n%*s%s: ", 2 * depth + 2, "", api_endpoint_key((api_endpoint_t)i));
      print_duration(out, cfg->api.rate_limit_ms[i]);
    }
    break;
  case T_ACCOUNTS: break; /* print_accounts, after the newline */
  }
}

void config_print(const config_t *cfg, FILE *out) {
  fprintf(out, "# fleetarc configuration from %s, defaults filled in, secrets masked\n", cfg->source);
  const char *prev = "";
  for (size_t i = 0; i < config_n_rows; i++) {
    const row_t *r = &config_rows[i];
    if ((r->flags & K_SECRET) && r->type == T_STRING && !*ROW_CFIELD(cfg, r, char *))
      continue; /* an optional secret that is not set: not shown at all */
    /* the sections this row opens: the parts of its path not shared with prev's */
    int depth = 0;
    const char *p = r->path, *q = prev;
    for (;;) {
      size_t len = strcspn(p, ".");
      if (!p[len]) break; /* the key itself */
      bool same = q && strncmp(p, q, len) == 0 && q[len] == '.';
      if (!same) fprintf(out, "%*s%.*s:\n", 2 * depth, "", (int)len, p);
      q = same ? q + len + 1 : NULL;
      p += len + 1;
      depth++;
    }
    fprintf(out, "%*s%s:%s", 2 * depth, "", p, r->type == T_ACCOUNTS || r->type == T_RATES ? "" : " ");
    print_value(cfg, r, depth, out);
    fputc('\n', out);
    if (r->type == T_ACCOUNTS) print_accounts(cfg, out);
    prev = r->path;
  }
}

/* ---- the reload diff ---- */

static bool str_differs(const char *a, const char *b) {
  return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static bool accounts_differ(const config_t *a, const config_t *b) {
  if (a->n_accounts != b->n_accounts) return true;
  for (size_t i = 0; i < a->n_accounts; i++) {
    const config_account_t *x = &a->accounts[i], *y = config_account_find(b, x->account);
    if (!y || strcmp(x->password_md5, y->password_md5) != 0 || x->subaccounts != y->subaccounts) return true;
  }
  return false;
}

void config_diff(const config_t *o, const config_t *n, void (*cb)(void *ud, const char *path, bool needs_restart),
                 void *ud) {
  for (size_t i = 0; i < config_n_rows; i++) {
    const row_t *r = &config_rows[i];
    bool restart = (r->flags & K_RESTART) != 0, differs = false;
    switch (r->type) {
    case T_STRING: differs = str_differs(*ROW_CFIELD(o, r, char *), *ROW_CFIELD(n, r, char *)); break;
    case T_DURATION:
    case T_BYTES: differs = *ROW_CFIELD(o, r, int64_t) != *ROW_CFIELD(n, r, int64_t); break;
    case T_INT:
    case T_ENUM: differs = *ROW_CFIELD(o, r, int) != *ROW_CFIELD(n, r, int); break;
    case T_BOOL: differs = *ROW_CFIELD(o, r, bool) != *ROW_CFIELD(n, r, bool); break;
    case T_STREAMS: differs = *ROW_CFIELD(o, r, unsigned) != *ROW_CFIELD(n, r, unsigned); break;
    case T_ACCOUNTS: differs = accounts_differ(o, n); break;
    case T_RATES: {
      char path[64];
      if (o->api.rate_limit_default_ms != n->api.rate_limit_default_ms) cb(ud, "api.rate_limits.default", restart);
      for (int ep = 0; ep < API_EP_COUNT; ep++) {
        if (o->api.rate_limit_ms[ep] == n->api.rate_limit_ms[ep]) continue;
        snprintf(path, sizeof path, "%s.%s", r->path, api_endpoint_key((api_endpoint_t)ep));
        cb(ud, path, restart);
      }
      break;
    }
    }
    if (differs) cb(ud, r->path, restart);
  }
}

/* ---- the reference ---- */

static void type_name(const row_t *r, char *out, size_t n) {
  static const char *const names[] = {[T_STRING] = "string", [T_DURATION] = "duration", [T_INT] = "integer",
                                      [T_BYTES] = "bytes", [T_BOOL] = "boolean", [T_ENUM] = "one of:",
                                      [T_STREAMS] = "list of: playback, alarms, mileage",
                                      [T_RATES] = "duration", [T_ACCOUNTS] = "list"};
  size_t o = (size_t)snprintf(out, n, "%s", names[r->type]);
  for (size_t i = 0; r->type == T_ENUM && r->names[i] && o < n; i++)
    o += (size_t)snprintf(out + o, n - o, "%s %s", i ? "," : "", r->names[i]);
}

static void key_fill(config_key_t *out, const row_t *r, const char *prefix, const char *name) {
  snprintf(out->path, sizeof out->path, "%s%s", prefix, name);
  type_name(r, out->type, sizeof out->type);
  out->def = r->def;
  out->restart = (r->flags & K_RESTART) != 0;
  out->secret = (r->flags & K_SECRET) != 0;
  out->doc = r->doc;
}

int config_key_at(size_t i, config_key_t *out) {
  for (size_t k = 0; k < config_n_rows; k++) {
    const row_t *r = &config_rows[k];
    if (r->type == T_RATES) { /* default, then one key per endpoint */
      if (i == 0) {
        key_fill(out, r, r->path, ".default");
        out->doc = "the spacing of an endpoint without a key of its own or a built-in value";
        return 0;
      }
      if (i <= API_EP_COUNT) {
        api_endpoint_t ep = (api_endpoint_t)(i - 1);
        key_fill(out, r, "api.rate_limits.", api_endpoint_key(ep));
        out->def = NULL; /* api.rate_limits.default */
        for (size_t b = 0; b < config_n_builtin_rates; b++)
          if (config_builtin_rates[b].ep == ep) out->def = config_builtin_rates[b].def;
        out->doc = "least spacing of two calls of one account to this endpoint";
        return 0;
      }
      i -= API_EP_COUNT + 1;
    } else if (r->type == T_ACCOUNTS) { /* the list, then the keys of an item */
      if (i == 0) {
        key_fill(out, r, "", r->path);
        return 0;
      }
      if (i <= account_n_rows) {
        key_fill(out, &account_rows[i - 1], "accounts[].", account_rows[i - 1].path);
        return 0;
      }
      i -= account_n_rows + 1;
    } else if (i-- == 0) {
      key_fill(out, r, "", r->path);
      return 0;
    }
  }
  return -ENOENT;
}

/* The configuration: YAML (conf/fleetarc.yaml, fleetarc.yaml(5)) loaded once into an
 * immutable config_t with every default filled in; every error names FILE:LINE:COLUMN and
 * the key. One table (config_rows in keys.c) holds every key: its type, default, bounds,
 * reload or restart, secret or not and doc line; loading, defaults, printing, the reload
 * diff and the key reference all read it. */
#ifndef FLEETARC_CONFIG_CONFIG_H
#define FLEETARC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "domain/endpoint.h"
#include "domain/stream.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/md5.h"


typedef struct config_account {
  char *account;                            /* the login name, as configured */
  char password_md5[MD5_HEX_LEN + 1];   /* lower-case hex; a SECRET: never log it */
  bool subaccounts;                         /* archive the devices of sub-accounts too */
  /* "" when password_md5 is set. Else why the password cannot be had in this process
   * (an unset ${VAR} in password or password_md5, no readable password_file), as
   * "FILE:LINE:COLUMN: key '...': reason": the load succeeds all the same, for the
   * commands that never log in (config_credentials_check is for those that do). */
  char credential_error[384];
} config_account_t;

#define CONFIG_CONSOLE_TILES_DEFAULT "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
#define CONFIG_CONSOLE_ATTRIBUTION_DEFAULT \
  "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors"

/* The resolved configuration. Read it through a const pointer: it never changes after
 * loading, so any part of the program may keep pointers into it until config_free.
 * Durations are milliseconds. Defaults are those of conf/fleetarc.yaml. */
typedef struct config {
  char *source; /* the file name (or the name given to config_load_string) */
  struct {
    char *base_url;          /* "https://host[:port]", no trailing slash; /api/... appended */
    char *ca_file;           /* NULL: the system's CA store */
    char *token_dir;         /* the token store shared with the other fleetarc processes
                              * of the host (net/tokenstore.h); never NULL; "": off.
                              * Default: config_token_dir_default() */
    int64_t timeout_ms;      /* whole request, 30s */
    int max_in_flight;       /* concurrent HTTP requests, 16 */
    int64_t max_body_bytes;  /* a larger response body fails its request, 16 MiB */
    int global_rate;         /* requests per second over all accounts, 0 = unlimited */
    int retry_max_attempts;  /* tries of one request, first included, 8 */
    int64_t retry_base_delay_ms; /* first back-off, doubled per retry, 1s */
    int64_t retry_max_delay_ms;  /* back-off cap, 5m */
    int retry_write_max_attempts;     /* sends of a write refused as too frequent (10009,
                                       * HTTP 429) before it ends with that answer, 10 */
    int64_t retry_write_max_time_ms;  /* nor later than this after its first send, 5m */
    /* least spacing of two calls of one account to each endpoint; see
     * config_rate_limit_ms(). rate_limit_default_ms is the `default` key. */
    int64_t rate_limit_ms[API_EP_COUNT];
    int64_t rate_limit_default_ms;
  } api;
  config_account_t *accounts; /* n_accounts >= 1, names unique */
  size_t n_accounts;
  struct {
    char *conninfo;            /* libpq conninfo: may hold a password, print it masked */
    int batch_rows;            /* rows per COPY batch, 10000 */
    int64_t flush_interval_ms; /* a partial batch is written after this, 1s */
    int queue_rows;            /* rows waiting for the writer before backpressure, 100000 */
  } database;
  struct {
    int64_t track_interval_ms;     /* /api/track poll of every device, 60s */
    int64_t discovery_interval_ms; /* device list refresh, 1h */
    int64_t lookback_ms;           /* history fetched for a device seen first, 7d */
    unsigned streams;              /* STREAM_BIT() bits, all by default */
    int64_t give_up_after_ms;      /* backfill: exit 1 when no API call succeeded for so
                                    * long; 2m (`run` retries forever) */
    int64_t alarm_interval_ms;     /* run: alarms of a device whose track record changed,
                                    * at most once per this, 10m */
    int64_t alarm_idle_interval_ms; /* run: alarms of a silent device, once per this, 6h */
    int64_t gap_settle_ms;         /* run: a gap of the stored track is asked again this
                                    * long after it ended, and after each empty ask, 30m */
    int64_t gap_min_ms;            /* a silence of a moving device longer than this is a
                                    * gap, 5m */
    int gap_max_attempts;          /* empty asks of one gap before it counts as healed, 3;
                                    * 0 turns gap healing off */
    int max_subaccounts;           /* sub-accounts one discovery lists at most, 10000 */
    int max_subaccount_depth;      /* levels below a configured account, 16 */
  } archive;
  struct {
    char *listen;                /* metrics.listen "HOST:PORT" of GET /metrics and /healthz
                                  * (IPv4 literal or [IPv6]); NULL: no endpoint (default) */
    int64_t unhealthy_after_ms;  /* /healthz fails once the database or an account has
                                  * been failing this long, 60s */
    char *auth_header;           /* metrics.auth as the Authorization value every request
                                  * but /healthz must carry: "Bearer TOKEN" or "Basic
                                  * base64(user:password)" (from "file:PATH"). A secret:
                                  * printed masked. NULL: none (default) */
  } metrics;
  struct {
    char *tiles;         /* console.tiles: the map's tile URL template ({z}/{x}/{y}, {s});
                          * "none": no tiles. Default OpenStreetMap's */
    char *attribution;   /* console.attribution: shown on the map under the tiles */
    char *conninfo;      /* console.conninfo: the console's database login (e.g. one of
                          * the read-only fleetarc_reporter role); may hold a password,
                          * print it masked. NULL: database.conninfo */
  } console;
  struct {
    int64_t positions_ms;  /* drop whole months of positions older than this; 0: keep all */
    int64_t alarms_ms;     /* the same for alarms; 0: keep all (default) */
    int64_t interval_ms;   /* how often `run` applies retention and creates partitions
                            * ahead, 6h */
    int64_t rejected_ms;   /* delete fleetarc.rejected rows last refused longer ago, 90d */
  } retention;
  struct {
    char *timezone; /* reports.timezone: IANA name of report days and times, "UTC" */
    int64_t store_ahead_ms; /* reports.store_ahead: finished days `run` stores ahead; 0 off */
  } reports;
  struct {
    bool enabled;          /* run: accounts are held through leases in PostgreSQL
                            * (archive/lease.h), so that several instances share them;
                            * false (default): this instance works every account */
    int64_t lease_ttl_ms;  /* a lease not renewed for this long is free, 15s */
    char *instance;        /* this instance's name in fleetarc.leases; NULL: host:pid */
  } cluster;
  struct {
    log_level_t level;   /* info */
    log_format_t format; /* text */
  } log;
} config_t;

/* Loads the YAML file at path. On success returns 0 and *out (free with config_free).
 * On failure returns -EINVAL (bad configuration) or -errno (unreadable file, -ENOMEM),
 * *out is NULL and errors (if not NULL) gets one line per problem, each ending in '\n':
 *   FILE:LINE:COLUMN: key 'api.rate_limits.playbak': unknown key (expected one of ...)
 * Errors never hold a secret. Relative password_file and ca_file paths are resolved
 * against the directory of path. Plain passwords are hashed and wiped at once. */
int config_load_file(const char *path, config_t **out, buf_t *errors)
    __attribute__((warn_unused_result));

/* The same from len bytes of text (borrowed for the call, need not be NUL-terminated);
 * name stands for the file in messages. Relative paths are resolved against the working
 * directory. For tests and fuzzing; the program loads files. */
int config_load_string(const char *text, size_t len, const char *name, config_t **out,
                       buf_t *errors) __attribute__((warn_unused_result));

/* Frees cfg and wipes its secrets; NULL is a no-op. */
void config_free(config_t *cfg);

/* The spacing to keep between two calls of one account to ep, in ms: the configured
 * key, else the built-in value of the endpoint, else `default`. */
int64_t config_rate_limit_ms(const config_t *cfg, api_endpoint_t ep);

/* 0 when the account named account (NULL: every account) has its password here; else
 * -EINVAL, and errors (if not NULL) gets each such account's credential_error on a line. */
int config_credentials_check(const config_t *cfg, const char *account, buf_t *errors);

/* The account named name, or NULL. */
const config_account_t *config_account_find(const config_t *cfg, const char *name);

/* Writes the resolved configuration as YAML, defaults included, keys in table order, with
 * every secret (password_md5, metrics.auth, a password in a conninfo) printed as "***";
 * an optional secret key that is not set (metrics.auth, console.conninfo) is left out. */
void config_print(const config_t *cfg, FILE *out);

/* What a valid configuration exposes, one line each without a secret, every line ended
 * by '\n', appended to out: an http:// api.base_url whose host is not loopback (the
 * token and the login signature travel in clear), metrics.listen beyond loopback without
 * metrics.auth. For `run` (logged at start) and `check` (printed). Returns how many. */
int config_warnings(const config_t *cfg, buf_t *out);

/* The default of api.token_dir: $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=, its
 * first entry), else /run/fleetarc when it exists and is writable, else
 * $XDG_RUNTIME_DIR/fleetarc, else /tmp/fleetarc-<uid>. Writes it to out (NUL-terminated);
 * returns 0 or -ENAMETOOLONG. */
int config_token_dir_default(char *out, size_t n) __attribute__((warn_unused_result));

/* ---- the key table, for the reload and the reference ---- */

/* Calls cb once for each key whose value differs between old and new, in table order:
 * path is the key's dotted name ("api.timeout", "api.rate_limits.track", "accounts"),
 * needs_restart whether the running service keeps the old value until a restart (the
 * keys marked "(restart)" in conf/fleetarc.yaml) rather than applying the new one.
 * Values are compared resolved: api.rate_limits reports "api.rate_limits.default" and
 * each endpoint whose resulting spacing changed; "accounts" is reported once when an
 * account was added, removed, or changed its password or subaccounts (the order of the
 * list does not count). path is a string constant or valid until cb returns; no value is
 * passed (some are secrets). Both configurations are borrowed for the call. */
void config_diff(const config_t *old, const config_t *new_cfg,
                 void (*cb)(void *ud, const char *path, bool needs_restart), void *ud);

/* One key of the table as the reference shows it. */
typedef struct config_key {
  char path[64];       /* "api.timeout", "api.rate_limits.track", "accounts[].password" */
  char type[64];       /* "string", "duration", "integer", "bytes", "boolean", "one of: a, b",
                        * "list" */
  const char *def;     /* the default as conf/fleetarc.yaml writes it; NULL: none given there
                        * (unset, computed, or taken from another key) */
  bool restart;        /* a reload keeps the old value until a restart */
  bool secret;         /* never printed */
  const char *doc;     /* one line */
} config_key_t;

/* The i-th key of the table (api.rate_limits and accounts expanded into their keys):
 * 0 with *out, or -ENOENT past the last. */
int config_key_at(size_t i, config_key_t *out) __attribute__((warn_unused_result));

#endif

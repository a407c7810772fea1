/* The console (console.h). A database-backed request is a `pending_t` on the console's
 * list: it holds the httpd request until its query answers (or the console closes). The
 * database builds the JSON (json_build_object), so C only merges it with the loop's own
 * view and renders the status page from the same document. */
#include "ops/console.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "db/aquery.h"
#include "domain/stream.h"
#include "util/buf.h"
#include "util/log.h"

typedef enum { KIND_STATUS_HTML, KIND_STATUS_JSON, KIND_DEVICES, KIND_ROUTE } kind_t;

typedef struct pending {
  console_t *c;
  httpd_req_t *req;
  kind_t kind;
  struct pending *prev, *next;
} pending_t;

typedef struct file {
  char *data;
  size_t len;
} file_t;

struct console {
  uv_loop_t *loop;
  const config_t *cfg;
  console_state_cb state;
  void *state_arg;
  dbq_t *db;
  pending_t *pending;
  file_t leaflet_js, leaflet_css;
};

/* The spec's track flow (2.2): datastatus first (1 never online, 3 expired, 4 offline,
 * 5 blocked); an online device (2) is moving when it reports a speed and its GPS fix is
 * not older than 10 minutes before its last heartbeat, else stopped. No track record
 * yet: unknown. */
#define STATUS_SQL                                                                         \
  "CASE WHEN s.imei IS NULL OR s.datastatus IS NULL THEN 'unknown' "                       \
  "WHEN s.datastatus = 1 THEN 'never_online' WHEN s.datastatus = 3 THEN 'expired' "        \
  "WHEN s.datastatus = 5 THEN 'blocked' WHEN s.datastatus = 4 THEN 'offline' "             \
  "WHEN s.datastatus = 2 AND coalesce(s.speed, 0) > 0 AND s.gpstime IS NOT NULL "          \
  "AND s.gpstime >= coalesce(s.hearttime, s.gpstime) - interval '10 minutes' THEN 'moving' " \
  "WHEN s.datastatus = 2 THEN 'stopped' ELSE 'unknown' END"

static const char *const status_order[] = {"moving", "stopped", "offline", "never_online",
                                           "expired", "blocked", "unknown"};
static const char *const status_label[] = {"online, moving", "online, stopped", "offline",
                                           "never online", "expired", "blocked",
                                           "no track yet"};
#define N_STATUS 7

static const char *const sql_status =
  "WITH d AS (SELECT d.account, " STATUS_SQL " AS status FROM fleetarc.devices d "
  "LEFT JOIN fleetarc.device_state s ON s.imei = d.imei WHERE d.removed_at IS NULL), "
  "cv AS (SELECT imei, stream, \"from\", \"to\", max(\"to\") OVER (PARTITION BY imei, stream) "
  "AS last_to FROM fleetarc.coverage) "
  "SELECT json_build_object("
  "'accounts', (SELECT coalesce(json_object_agg(account, n), '{}') FROM "
  "(SELECT account, count(*) AS n FROM d GROUP BY account) a), "
  "'fleet', (SELECT coalesce(json_object_agg(status, n), '{}') FROM "
  "(SELECT status, count(*) AS n FROM d GROUP BY status) x), "
  "'devices', (SELECT count(*) FROM d), "
  "'coverage', (SELECT coalesce(json_agg(json_build_object('stream', stream, 'devices', devices, "
  "'intervals', intervals, 'from', extract(epoch FROM f)::bigint, 'to', extract(epoch FROM t)::bigint, "
  "'oldest_end', extract(epoch FROM oe)::bigint) ORDER BY stream), '[]') FROM "
  "(SELECT stream, count(DISTINCT imei) AS devices, count(*) AS intervals, min(\"from\") AS f, "
  "max(\"to\") AS t, min(last_to) AS oe FROM cv GROUP BY stream) c), "
  "'latest_fix', (SELECT extract(epoch FROM max(gpstime))::bigint FROM fleetarc.device_state), "
  "'db_now', extract(epoch FROM now())::bigint)::text";

static const char *const sql_devices =
  "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg("
  "json_build_object('type', 'Feature', 'id', imei, 'geometry', json_build_object('type', "
  "'Point', 'coordinates', json_build_array(longitude, latitude)), 'properties', "
  "json_build_object('imei', imei, 'name', devicename, 'plate', platenumber, 'account', "
  "account, 'status', status, 'speed', speed, 'course', course, 'gpstime', gpstime, "
  "'hearttime', hearttime)) ORDER BY imei), '[]'))::text FROM ("
  "SELECT d.imei, d.devicename, d.platenumber, d.account, " STATUS_SQL " AS status, "
  "s.longitude, s.latitude, s.speed, s.course, extract(epoch FROM s.gpstime)::bigint AS gpstime, "
  "extract(epoch FROM s.hearttime)::bigint AS hearttime FROM fleetarc.devices d "
  "JOIN fleetarc.device_state s ON s.imei = d.imei WHERE d.removed_at IS NULL "
  "AND s.longitude IS NOT NULL AND s.latitude IS NOT NULL "
  "AND NOT (s.longitude = 0 AND s.latitude = 0) ORDER BY d.imei LIMIT $1) f";

/* $1 imei, $2 day (YYYY-MM-DD), $3 time zone, $4 row cap */
static const char *const sql_route =
  "WITH p AS (SELECT $1::text AS imei, $2::date AS day, $3::text AS tz), "
  "b AS (SELECT p.*, (p.day::timestamp AT TIME ZONE p.tz) AS f, "
  "((p.day + 1)::timestamp AT TIME ZONE p.tz) AS t FROM p), "
  "r AS (SELECT r.* FROM b, fleetarc.report_route(b.f, b.t, ARRAY[b.imei]) r "
  "ORDER BY r.gpstime LIMIT $4::int), "
  "tr AS (SELECT t.* FROM b, fleetarc.report_trips(b.f, b.t, ARRAY[b.imei]) t LIMIT 1000), "
  "st AS (SELECT s.* FROM b, fleetarc.report_stops(b.f, b.t, ARRAY[b.imei]) s LIMIT 1000) "
  "SELECT json_build_object('type', 'FeatureCollection', 'imei', b.imei, 'day', b.day, "
  "'tz', b.tz, 'from', extract(epoch FROM b.f)::bigint, 'to', extract(epoch FROM b.t)::bigint, "
  "'points', (SELECT count(*) FROM r), 'truncated', (SELECT count(*) FROM r) >= $4::int, "
  "'features', (SELECT coalesce(json_agg(x.f), '[]') FROM ("
  "SELECT json_build_object('type', 'Feature', 'geometry', json_build_object('type', "
  "'LineString', 'coordinates', coalesce(json_agg(json_build_array(r.longitude, r.latitude) "
  "ORDER BY r.gpstime), '[]')), 'properties', json_build_object('kind', 'route', 'points', "
  "count(*), 'km', round(coalesce(max(r.total_km), 0)::numeric, 3), 'start', "
  "to_char(min(r.gpstime) AT TIME ZONE b.tz, 'HH24:MI:SS'), 'end', "
  "to_char(max(r.gpstime) AT TIME ZONE b.tz, 'HH24:MI:SS'))) AS f FROM r "
  "UNION ALL SELECT json_build_object('type', 'Feature', 'geometry', json_build_object('type', "
  "'LineString', 'coordinates', coalesce((SELECT json_agg(json_build_array(r.longitude, "
  "r.latitude) ORDER BY r.gpstime) FROM r WHERE r.gpstime BETWEEN tr.start_time AND "
  "tr.end_time), json_build_array(json_build_array(tr.start_lon, tr.start_lat), "
  "json_build_array(tr.end_lon, tr.end_lat)))), 'properties', json_build_object('kind', "
  "'trip', 'start', to_char(tr.start_time AT TIME ZONE b.tz, 'HH24:MI:SS'), 'end', "
  "to_char(tr.end_time AT TIME ZONE b.tz, 'HH24:MI:SS'), 'km', "
  "round(tr.distance_km::numeric, 3), 'max_speed_kmh', tr.max_speed_kmh)) FROM tr "
  "UNION ALL SELECT json_build_object('type', 'Feature', 'geometry', json_build_object('type', "
  "'Point', 'coordinates', json_build_array(st.longitude, st.latitude)), 'properties', "
  "json_build_object('kind', 'stop', 'start', to_char(st.start_time AT TIME ZONE b.tz, "
  "'HH24:MI:SS'), 'end', to_char(st.end_time AT TIME ZONE b.tz, 'HH24:MI:SS'), 'minutes', "
  "round((extract(epoch FROM st.duration) / 60)::numeric, 1))) FROM st) x))::text FROM b";

/* ------------------------------------------------------------------ helpers */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int console_query_param(const char *query, const char *name, char *out, size_t out_len) {
  size_t nlen = strlen(name);
  const char *p = query;
  while (p && *p) {
    const char *end = strchr(p, '&');
    if (!end) end = p + strlen(p);
    if ((size_t)(end - p) >= nlen && strncmp(p, name, nlen) == 0 &&
        (p[nlen] == '=' || p + nlen == end)) {
      const char *v = p + nlen + (p[nlen] == '=');
      size_t n = 0;
      while (v < end) {
        char ch = *v;
        if (ch == '+') ch = ' ';
        else if (ch == '%') {
          if (end - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0) return -EINVAL;
          ch = (char)(hexval(v[1]) * 16 + hexval(v[2]));
          if (!ch) return -EINVAL;
          v += 2;
        }
        if (n + 1 >= out_len) return -EFBIG;
        out[n++] = ch;
        v++;
      }
      out[n] = '\0';
      return 0;
    }
    p = *end ? end + 1 : NULL;
  }
  return -ENOENT;
}

static bool all_chars(const char *s, const char *extra) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr(extra, *s)) return false;
  return true;
}

static bool valid_day(const char *s) {
  return strlen(s) == 10 && isdigit((unsigned char)s[0]) && s[4] == '-' && s[7] == '-' &&
         all_chars(s, "-");
}

static int html_escape(buf_t *b, const char *s) {
  int rc = 0;
  for (; s && *s && rc == 0; s++) {
    switch (*s) {
      case '&': rc = buf_puts(b, "&amp;"); break;
      case '<': rc = buf_puts(b, "&lt;"); break;
      case '>': rc = buf_puts(b, "&gt;"); break;
      case '"': rc = buf_puts(b, "&quot;"); break;
      case '\'': rc = buf_puts(b, "&#39;"); break;
      default: rc = buf_putc(b, *s);
    }
  }
  return rc;
}

static void reply_text(httpd_req_t *req, int status, const char *text) {
  buf_t b = BUF_INIT;
  if (buf_printf(&b, "%s\n", text) != 0) status = 500;
  httpd_reply(req, status, "text/plain; charset=utf-8", &b);
  buf_free(&b);
}

static void reply_json(httpd_req_t *req, int status, cJSON *doc) {
  char *text = cJSON_PrintUnformatted(doc);
  buf_t b = BUF_INIT;
  if (!text || buf_puts(&b, text) != 0 || buf_putc(&b, '\n') != 0) {
    free(text);
    buf_free(&b);
    reply_text(req, 500, "out of memory");
    return;
  }
  free(text);
  httpd_reply(req, status, "application/json", &b);
  buf_free(&b);
}

static void reply_json_error(httpd_req_t *req, int status, const char *msg) {
  cJSON *doc = cJSON_CreateObject();
  if (!doc || !cJSON_AddStringToObject(doc, "error", msg)) {
    cJSON_Delete(doc);
    reply_text(req, 500, "out of memory");
    return;
  }
  reply_json(req, status, doc);
  cJSON_Delete(doc);
}

/* ------------------------------------------------------------------ status page */

static double num(const cJSON *o, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void fmt_time(char *out, size_t n, double t) {
  if (t <= 0) {
    snprintf(out, n, "-");
    return;
  }
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void fmt_age(char *out, size_t n, double seconds) {
  if (seconds < 0) snprintf(out, n, "-");
  else if (seconds < 120) snprintf(out, n, "%.0fs", seconds);
  else if (seconds < 7200) snprintf(out, n, "%.0fm", seconds / 60);
  else if (seconds < 172800) snprintf(out, n, "%.1fh", seconds / 3600);
  else snprintf(out, n, "%.1fd", seconds / 86400);
}

static int render_status(buf_t *b, const cJSON *doc) {
  int rc = 0;
  const cJSON *db = cJSON_GetObjectItemCaseSensitive(doc, "database");
  const cJSON *accounts = cJSON_GetObjectItemCaseSensitive(doc, "accounts");
  const cJSON *writer = cJSON_GetObjectItemCaseSensitive(doc, "writer");
  const cJSON *streams = cJSON_GetObjectItemCaseSensitive(doc, "streams");
  const cJSON *recent = cJSON_GetObjectItemCaseSensitive(doc, "recent");
  const cJSON *fleet = cJSON_GetObjectItemCaseSensitive(db, "fleet");
  double now = num(doc, "now", (double)time(NULL));
  const char *unhealthy = str(doc, "unhealthy");
  char t1[64], t2[64];

  rc |= buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"refresh\" content=\"10\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<title>fleetarc status</title>"
                    "<link rel=\"stylesheet\" href=\"/static/console.css\"></head><body>\n");
  rc |= buf_printf(b, "<header><h1>fleetarc</h1><nav><a href=\"/\">Status</a> "
                      "<a href=\"/map\">Map</a> <a href=\"/metrics\">Metrics</a> "
                      "<a href=\"/api/v1/status\">JSON</a></nav></header>\n");
  fmt_time(t1, sizeof t1, now);
  rc |= buf_printf(b, "<p id=\"health\" class=\"%s\">%s: ", unhealthy ? "bad" : "ok",
                   unhealthy ? "UNHEALTHY" : "healthy");
  rc |= html_escape(b, unhealthy ? unhealthy : "archiving");
  rc |= buf_printf(b, " &middot; version %s &middot; up ", str(doc, "version") ? str(doc, "version") : "?");
  fmt_age(t2, sizeof t2, num(doc, "uptime_s", 0));
  rc |= buf_printf(b, "%s &middot; %s &middot; refreshes every 10 s</p>\n", t2, t1);

  /* accounts */
  rc |= buf_puts(b, "<section><h2>Accounts</h2><table id=\"accounts\"><thead><tr><th>Account</th>"
                    "<th>Login</th><th>Devices</th><th>Last error</th></tr></thead><tbody>\n");
  const cJSON *a;
  cJSON_ArrayForEach(a, accounts) {
    const char *name = str(a, "name");
    const char *state = str(a, "state");
    const char *err = str(a, "last_error");
    rc |= buf_puts(b, "<tr><td class=\"account\">");
    rc |= html_escape(b, name);
    rc |= buf_printf(b, "</td><td class=\"%s\">", state && strcmp(state, "ok") == 0 ? "ok" : "bad");
    rc |= html_escape(b, state ? state : "?");
    double devs = num(a, "devices", -1);
    if (devs >= 0) rc |= buf_printf(b, "</td><td class=\"num\">%.0f</td><td>", devs);
    else rc |= buf_puts(b, "</td><td class=\"num\">-</td><td>");
    if (err) {
      fmt_time(t1, sizeof t1, num(a, "last_error_at", 0));
      rc |= buf_printf(b, "%s: ", t1);
      rc |= html_escape(b, err);
    } else {
      rc |= buf_puts(b, "-");
    }
    rc |= buf_puts(b, "</td></tr>\n");
  }
  rc |= buf_puts(b, "</tbody></table></section>\n");

  /* fleet */
  rc |= buf_puts(b, "<section><h2>Fleet</h2>");
  const char *dberr = str(db, "error");
  if (dberr) {
    rc |= buf_puts(b, "<p class=\"bad\">database: ");
    rc |= html_escape(b, dberr);
    rc |= buf_puts(b, "</p>");
  }
  rc |= buf_puts(b, "<table id=\"fleet\"><thead><tr><th>Status</th><th>Devices</th></tr></thead><tbody>\n");
  for (int i = 0; i < N_STATUS; i++)
    rc |= buf_printf(b, "<tr class=\"st-%s\"><td><span class=\"dot %s\"></span>%s</td>"
                        "<td class=\"num\" data-status=\"%s\">%.0f</td></tr>\n",
                     status_order[i], status_order[i], status_label[i], status_order[i],
                     num(fleet, status_order[i], 0));
  rc |= buf_printf(b, "<tr><th>total</th><td class=\"num\" id=\"fleet-total\">%.0f</td></tr>"
                      "</tbody></table></section>\n", num(db, "devices", 0));

  /* streams */
  rc |= buf_puts(b, "<section><h2>Streams</h2><table id=\"streams\"><thead><tr><th>Stream</th>"
                    "<th>Lag (cursor)</th><th>Devices covered</th><th>Intervals</th>"
                    "<th>Covered from</th><th>Covered to</th><th>Oldest device end</th>"
                    "</tr></thead><tbody>\n");
  const cJSON *lag = cJSON_GetObjectItemCaseSensitive(streams, "lag_s");
  const cJSON *cov = cJSON_GetObjectItemCaseSensitive(db, "coverage");
  for (int s = 0; s < STREAM_COUNT; s++) {
    const char *sn = stream_name(s);
    fmt_age(t1, sizeof t1, num(lag, sn, -1));
    rc |= buf_printf(b, "<tr><td>%s</td><td class=\"num\">%s</td>", sn, t1);
    const cJSON *c = NULL, *x;
    cJSON_ArrayForEach(x, cov) {
      if (str(x, "stream") && strcmp(str(x, "stream"), sn) == 0) c = x;
    }
    if (c) {
      char t3[64];
      fmt_time(t1, sizeof t1, num(c, "from", 0));
      fmt_time(t2, sizeof t2, num(c, "to", 0));
      fmt_time(t3, sizeof t3, num(c, "oldest_end", 0));
      rc |= buf_printf(b, "<td class=\"num\">%.0f</td><td class=\"num\">%.0f</td><td>%s</td>"
                          "<td>%s</td><td>%s</td></tr>\n",
                       num(c, "devices", 0), num(c, "intervals", 0), t1, t2, t3);
    } else {
      rc |= buf_puts(b, "<td>-</td><td>-</td><td>-</td><td>-</td><td>-</td></tr>\n");
    }
  }
  rc |= buf_printf(b, "</tbody></table><p>Streams: %.0f complete, %.0f due, %.0f later, "
                      "%.0f blocked, %.0f given up; devices failing: %.0f.</p></section>\n",
                   num(streams, "complete", 0), num(streams, "due", 0), num(streams, "later", 0),
                   num(streams, "blocked", 0), num(streams, "given_up", 0),
                   num(streams, "devices_failing", 0));

  /* writer and API */
  rc |= buf_printf(b, "<section><h2>Writer and API</h2><table id=\"writer\"><tbody>"
                      "<tr><th>Database connection</th><td class=\"%s\">%s</td></tr>"
                      "<tr><th>Queue</th><td class=\"num\">%.0f rows in %.0f batches%s</td></tr>"
                      "<tr><th>Batches</th><td class=\"num\">%.0f committed, %.0f failed</td></tr>"
                      "<tr><th>Written</th><td class=\"num\">%.0f points, %.0f alarms</td></tr>"
                      "<tr><th>Rate-limit waits</th><td class=\"num\" id=\"rate-limit-waits\">%.0f</td></tr>"
                      "<tr><th>API retries</th><td class=\"num\">%.0f</td></tr>"
                      "</tbody></table></section>\n",
                   num(writer, "connected", 0) ? "ok" : "bad",
                   num(writer, "connected", 0) ? "up" : "down", num(writer, "queue_rows", 0),
                   num(writer, "queue_batches", 0),
                   num(writer, "backpressure", 0) ? " (full: fetching paused)" : "",
                   num(writer, "batches_committed", 0), num(writer, "batches_failed", 0),
                   num(writer, "points", 0), num(writer, "alarms", 0),
                   num(doc, "rate_limit_waits", 0), num(doc, "api_retries", 0));

  /* recent warnings and errors */
  rc |= buf_puts(b, "<section><h2>Last warnings and errors</h2><table id=\"recent\"><thead><tr>"
                    "<th>Time</th><th>Level</th><th>Message</th></tr></thead><tbody>\n");
  cJSON_ArrayForEach(a, recent) {
    fmt_time(t1, sizeof t1, num(a, "time", 0));
    const char *lvl = str(a, "level");
    rc |= buf_printf(b, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>", lvl ? lvl : "", t1,
                     lvl ? lvl : "");
    rc |= html_escape(b, str(a, "msg"));
    rc |= buf_puts(b, "</td></tr>\n");
  }
  if (!cJSON_GetArraySize(recent)) rc |= buf_puts(b, "<tr><td colspan=\"3\">none</td></tr>\n");
  rc |= buf_puts(b, "</tbody></table></section>\n</body></html>\n");
  return rc;
}

/* The loop's view, the database's part (or its error), the recent log lines. */
static cJSON *status_doc(console_t *c, db_result_t *res, const char *err) {
  cJSON *doc = cJSON_CreateObject();
  if (!doc) return NULL;
  cJSON_AddNumberToObject(doc, "now", (double)time(NULL));
  if (c->state) c->state(c->state_arg, doc);
  cJSON *db = NULL;
  if (res && db_result_rows(res) == 1 && db_result_value(res, 0, 0))
    db = cJSON_Parse(db_result_value(res, 0, 0));
  if (!db) {
    db = cJSON_CreateObject();
    if (db) cJSON_AddStringToObject(db, "error", err ? err : "no answer");
  }
  if (db) cJSON_AddItemToObject(doc, "database", db);
  /* devices per account, from the database, beside the loop's account state */
  const cJSON *per = cJSON_GetObjectItemCaseSensitive(db, "accounts");
  cJSON *a;
  cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(doc, "accounts")) {
    const char *name = str(a, "name");
    const cJSON *n = name ? cJSON_GetObjectItemCaseSensitive(per, name) : NULL;
    if (cJSON_IsNumber(n)) cJSON_AddNumberToObject(a, "devices", n->valuedouble);
    else if (cJSON_IsObject(per)) cJSON_AddNumberToObject(a, "devices", 0);
  }
  cJSON *recent = cJSON_AddArrayToObject(doc, "recent");
  log_recent_t lines[LOG_RECENT_MAX];
  size_t n = log_recent(lines, LOG_RECENT_MAX);
  for (size_t i = 0; recent && i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddNumberToObject(o, "time", (double)lines[i].time);
    cJSON_AddStringToObject(o, "level", log_level_name(lines[i].level));
    cJSON_AddStringToObject(o, "msg", lines[i].msg);
    cJSON_AddItemToArray(recent, o);
  }
  return doc;
}

/* ------------------------------------------------------------------ queries */

static void pending_unlink(pending_t *p) {
  console_t *c = p->c;
  if (p->prev) p->prev->next = p->next;
  else c->pending = p->next;
  if (p->next) p->next->prev = p->prev;
}

static void on_answer(void *arg, int status, db_result_t *res, const char *err) {
  pending_t *p = arg;
  console_t *c = p->c;
  pending_unlink(p);
  if (status == -ECANCELED) {
    reply_text(p->req, 503, "shutting down");
  } else if (p->kind == KIND_STATUS_HTML || p->kind == KIND_STATUS_JSON) {
    cJSON *doc = status_doc(c, status == 0 ? res : NULL, err);
    if (!doc) reply_text(p->req, 500, "out of memory");
    else if (p->kind == KIND_STATUS_JSON) reply_json(p->req, 200, doc);
    else {
      buf_t b = BUF_INIT;
      if (render_status(&b, doc) != 0) reply_text(p->req, 500, "out of memory");
      else httpd_reply(p->req, 200, "text/html; charset=utf-8", &b);
      buf_free(&b);
    }
    cJSON_Delete(doc);
  } else if (status != 0) {
    bool bad_input = err && (strstr(err, "time zone") || strstr(err, "date/time") ||
                             strstr(err, "invalid input syntax"));
    reply_json_error(p->req, bad_input ? 400 : 503, err ? err : "database error");
  } else {
    const char *v = db_result_rows(res) == 1 ? db_result_value(res, 0, 0) : NULL;
    buf_t b = BUF_INIT;
    if (!v || buf_puts(&b, v) != 0 || buf_putc(&b, '\n') != 0)
      reply_json_error(p->req, 500, "no document");
    else httpd_reply(p->req, 200, "application/geo+json", &b);
    buf_free(&b);
  }
  db_result_free(res);
  free(p);
}

static void ask(console_t *c, httpd_req_t *req, kind_t kind, const char *sql, size_t n,
                const char *const *params) {
  pending_t *p = calloc(1, sizeof *p);
  if (!p) {
    reply_text(req, 503, "out of memory");
    return;
  }
  p->c = c;
  p->req = req;
  p->kind = kind;
  int rc = dbq_submit(c->db, sql, n, params, on_answer, p);
  if (rc) {
    free(p);
    if (kind == KIND_STATUS_HTML || kind == KIND_STATUS_JSON) {
      /* the page still shows the loop's view */
      cJSON *doc = status_doc(c, NULL, rc == -EBUSY ? "too many queries waiting" : "cannot query");
      if (!doc) reply_text(req, 500, "out of memory");
      else if (kind == KIND_STATUS_JSON) reply_json(req, 200, doc);
      else {
        buf_t b = BUF_INIT;
        if (render_status(&b, doc) != 0) reply_text(req, 500, "out of memory");
        else httpd_reply(req, 200, "text/html; charset=utf-8", &b);
        buf_free(&b);
      }
      cJSON_Delete(doc);
      return;
    }
    reply_json_error(req, 503, rc == -EBUSY ? "too many queries waiting" : "cannot query");
    return;
  }
  p->next = c->pending;
  if (c->pending) c->pending->prev = p;
  c->pending = p;
}

/* ------------------------------------------------------------------ dispatch */

static const console_asset_t *asset(const char *name) {
  for (const console_asset_t *a = console_assets; a->name; a++)
    if (strcmp(a->name, name) == 0) return a;
  return NULL;
}

static const char *ctype_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
  if (strcmp(dot, ".png") == 0) return "image/png";
  return "application/octet-stream";
}

static void reply_bytes(httpd_req_t *req, const char *ctype, const char *data, size_t len) {
  buf_t b = BUF_INIT;
  if (buf_append(&b, data, len) != 0) reply_text(req, 500, "out of memory");
  else httpd_reply(req, 200, ctype, &b);
  buf_free(&b);
}

static void reply_config(console_t *c, httpd_req_t *req) {
  cJSON *doc = cJSON_CreateObject();
  if (!doc) {
    reply_text(req, 500, "out of memory");
    return;
  }
  const char *tiles = c->cfg->console.tiles;
  if (tiles && strcmp(tiles, "none") == 0) tiles = NULL;
  if (tiles) cJSON_AddStringToObject(doc, "tiles", tiles);
  else cJSON_AddNullToObject(doc, "tiles");
  cJSON_AddStringToObject(doc, "attribution", c->cfg->console.attribution ? c->cfg->console.attribution : "");
  cJSON_AddNumberToObject(doc, "max_devices", CONSOLE_MAX_DEVICES);
  cJSON_AddNumberToObject(doc, "max_route_points", CONSOLE_MAX_ROUTE_POINTS);
  reply_json(req, 200, doc);
  cJSON_Delete(doc);
}

static void take_route(console_t *c, httpd_req_t *req, const char *query) {
  char imei[40], day[16], tz[72] = "UTC";
  if (console_query_param(query, "imei", imei, sizeof imei) != 0 || !all_chars(imei, "-_.")) {
    reply_json_error(req, 400, "imei=IMEI is required");
    return;
  }
  if (console_query_param(query, "date", day, sizeof day) != 0 || !valid_day(day)) {
    reply_json_error(req, 400, "date=YYYY-MM-DD is required");
    return;
  }
  int rc = console_query_param(query, "tz", tz, sizeof tz);
  if ((rc != 0 && rc != -ENOENT) || (rc == 0 && !all_chars(tz, "/_+-"))) {
    reply_json_error(req, 400, "tz must be a time zone name such as Europe/Paris or UTC");
    return;
  }
  if (rc == -ENOENT) snprintf(tz, sizeof tz, "UTC");
  char cap[16];
  snprintf(cap, sizeof cap, "%d", CONSOLE_MAX_ROUTE_POINTS);
  const char *params[] = {imei, day, tz, cap};
  ask(c, req, KIND_ROUTE, sql_route, 4, params);
}

bool console_take(void *arg, httpd_req_t *req, const char *path, const char *query) {
  console_t *c = arg;
  if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0) {
    ask(c, req, KIND_STATUS_HTML, sql_status, 0, NULL);
    return true;
  }
  if (strcmp(path, "/api/v1/status") == 0) {
    ask(c, req, KIND_STATUS_JSON, sql_status, 0, NULL);
    return true;
  }
  if (strcmp(path, "/api/v1/devices") == 0) {
    char cap[16];
    snprintf(cap, sizeof cap, "%d", CONSOLE_MAX_DEVICES);
    const char *params[] = {cap};
    ask(c, req, KIND_DEVICES, sql_devices, 1, params);
    return true;
  }
  if (strcmp(path, "/api/v1/route") == 0) {
    take_route(c, req, query);
    return true;
  }
  if (strcmp(path, "/api/v1/config") == 0) {
    reply_config(c, req);
    return true;
  }
  if (strcmp(path, "/map") == 0) {
    const console_asset_t *a = asset("map.html");
    if (!a) return false;
    reply_bytes(req, ctype_of(a->name), a->data, a->len);
    return true;
  }
  if (strncmp(path, "/static/", 8) == 0) {
    const console_asset_t *a = asset(path + 8);
    if (!a) return false;
    reply_bytes(req, ctype_of(a->name), a->data, a->len);
    return true;
  }
  if (strcmp(path, "/leaflet/leaflet.js") == 0 || strcmp(path, "/leaflet/leaflet.css") == 0) {
    const file_t *f = strstr(path, ".js") ? &c->leaflet_js : &c->leaflet_css;
    if (!f->data) {
      reply_text(req, 404, "Leaflet is not installed (" CONSOLE_LEAFLET_DIR ": Debian's libjs-leaflet)");
      return true;
    }
    reply_bytes(req, ctype_of(path), f->data, f->len);
    return true;
  }
  return false;
}

/* ------------------------------------------------------------------ lifecycle */

static void read_file(const char *path, file_t *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return;
  buf_t b = BUF_INIT;
  char chunk[16384];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = buf_append(&b, chunk, n);
  fclose(f);
  if (rc) {
    buf_free(&b);
    return;
  }
  out->len = b.len;
  out->data = buf_steal(&b);
}

console_t *console_new(uv_loop_t *loop, const config_t *cfg, console_state_cb state,
                       void *state_arg) {
  console_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->loop = loop;
  c->cfg = cfg;
  c->state = state;
  c->state_arg = state_arg;
  c->db = dbq_new(loop, cfg->console.conninfo ? cfg->console.conninfo : cfg->database.conninfo,
                  CONSOLE_STATEMENT_TIMEOUT_MS);
  if (!c->db) {
    free(c);
    return NULL;
  }
  /* Read once, before the loop serves: a request never waits on the disk. */
  read_file(CONSOLE_LEAFLET_DIR "/leaflet.js", &c->leaflet_js);
  read_file(CONSOLE_LEAFLET_DIR "/leaflet.css", &c->leaflet_css);
  if (!c->leaflet_js.data)
    log_warn("console: %s/leaflet.js not found (install libjs-leaflet): /map shows no map",
             CONSOLE_LEAFLET_DIR);
  return c;
}

void console_close(console_t *c) {
  if (!c) return;
  dbq_close(c->db); /* answers every pending request (503) through on_answer */
  while (c->pending) { /* none should remain; never leave a request unanswered */
    pending_t *p = c->pending;
    pending_unlink(p);
    reply_text(p->req, 503, "shutting down");
    free(p);
  }
  free(c->leaflet_js.data);
  free(c->leaflet_css.data);
  free(c);
}

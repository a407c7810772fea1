/* The one-off reads of the API: `devices`, `track`, `playback`, `alarms`, `mileage`.
 * Each is a chain of calls on the apicmd runtime that collects rows and prints them at
 * the end; playback and alarms follow every page by the rules of archive/paging.h, so a
 * record on a page boundary is printed once. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/alarm_types.h"
#include "api/api.h"
#include "archive/paging.h"
#include "cli/apicmd.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "util/grow.h"
#include "util/timeparse.h"

#define COMMON_HELP                                                                  \
  "  --account NAME  log in as this configured account (default: the first one)\n" \
  "  --format F      table (default), json or csv\n"                                 \
  "  -h, --help      this help\n"                                                    \
  "\n"                                                                               \
  "exit status: 0 done, 1 failed (an API error names its code), 2 bad usage or\n"   \
  "bad configuration\n"

/* A number cell, or NULL for the API's "unknown" (-1). */
static const char *num_or_null(int64_t v, char *buf, size_t n) {
  if (v == API_UNKNOWN) return NULL;
  snprintf(buf, n, "%" PRId64, v);
  return buf;
}

static const char *coord(double v, char *buf, size_t n) {
  snprintf(buf, n, "%.6f", v);
  return buf;
}

/* Parses --from/--to as T; --to exclusive, so from < to. */
static int parse_range(const char *cmd, const char *from_s, const char *to_s, int64_t *from,
                       int64_t *to) {
  char err[TIMEPARSE_ERR_MAX];
  if (!from_s || !to_s) return apicmd_usage_error(cmd, "--from T and --to T are required");
  if (timeparse_time(from_s, from, err, sizeof err) != 0)
    return apicmd_usage_error(cmd, "--from: %s", err);
  if (timeparse_time(to_s, to, err, sizeof err) != 0)
    return apicmd_usage_error(cmd, "--to: %s", err);
  if (*to <= *from) return apicmd_usage_error(cmd, "--to must be after --from (--to is exclusive)");
  return 0;
}

/* IMEI... with the common options, and --from/--to when from_s/to_s are not NULL: the
 * IMEIs into imeis (room for argc), *n their count. 0, or -1 after a printed usage error. */
static int parse_imei_args(const char *cmd, int argc, char **argv, char **imeis, size_t *n,
                           const char **account, output_format_t *format, const char **from_s,
                           const char **to_s) {
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, account, format);
    if (!r && from_s) r = cli_option(cmd, argc, argv, &i, "--from", from_s);
    if (!r && to_s) r = cli_option(cmd, argc, argv, &i, "--to", to_s);
    if (r < 0) return -1;
    if (r) continue;
    if (!apicmd_is_imei(argv[i])) {
      apicmd_usage_error(cmd, "'%s' is not an IMEI (1 to %d digits)", argv[i], API_IMEI_MAX);
      return -1;
    }
    imeis[(*n)++] = argv[i];
  }
  if (!*n) {
    apicmd_usage_error(cmd, "give at least one IMEI");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ devices */

static const output_column_t device_cols[] = {
  {"imei", OUTPUT_STR},          {"devicename", OUTPUT_STR},     {"devicetype", OUTPUT_STR},
  {"platenumber", OUTPUT_STR},   {"simcard", OUTPUT_STR},        {"iccid", OUTPUT_STR},
  {"onlinetime", OUTPUT_STR},    {"activatedtime", OUTPUT_STR},  {"platformduetime", OUTPUT_STR},
  {"userduetime", OUTPUT_STR},
};

typedef struct devices_cmd {
  apicmd_t c;
  output_t *out;
  output_format_t format;
} devices_cmd_t;

static void cb_devices(void *arg, const net_result_t *res) {
  devices_cmd_t *d = arg;
  if (res->error != NET_OK) { apicmd_fail(&d->c, res, "device list"); return; }
  api_devices_t devs = {0};
  api_error_t err;
  if (api_parse_device_list(res->body, res->body_len, &devs, &err) != 0) {
    apicmd_fail_parse(&d->c, &err, "device list");
    return;
  }
  int status = CLI_EXIT_OK;
  for (size_t i = 0; i < devs.n && status == CLI_EXIT_OK; i++) {
    const api_device_t *v = &devs.items[i];
    char t[4][24];
    const char *cells[] = {v->imei, v->devicename, v->devicetype, v->platenumber, v->simcard,
                           v->iccid, apicmd_time_text(v->onlinetime, t[0], 24),
                           apicmd_time_text(v->activatedtime, t[1], 24),
                           apicmd_time_text(v->platformduetime, t[2], 24),
                           apicmd_time_text(v->userduetime, t[3], 24)};
    if (output_row(d->out, cells) != 0) status = CLI_EXIT_FAILED;
  }
  api_devices_free(&devs);
  if (status == CLI_EXIT_OK) status = apicmd_print(&d->c, d->out, d->format);
  apicmd_finish(&d->c, status);
}

int cmd_devices(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "devices", *account = NULL, *of = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] devices [--of SUBACCOUNT] [--account NAME] [--format F]\n"
           "\n"
           "Lists the devices an account holds (API 2.7: at most 500; bigger fleets are\n"
           "spread over sub-accounts).\n"
           "\n"
           "  --of SUBACCOUNT  list this sub-account's devices instead of the login's\n" COMMON_HELP);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--of", &of);
    if (r < 0) return CLI_EXIT_USAGE;
    if (!r) return apicmd_usage_error(cmd, "unexpected argument '%s'", argv[i]);
  }
  api_request_t req = {0};
  if (api_request_device_list(&req, of) != 0)
    return apicmd_usage_error(cmd, "--of needs a non-empty UTF-8 account name");
  devices_cmd_t d = {.format = format};
  if (!(d.out = output_new(device_cols, sizeof device_cols / sizeof device_cols[0]))) {
    api_request_free(&req);
    return CLI_EXIT_FAILED;
  }
  int st = apicmd_run_call(&d.c, cmd, ctx, account, &req, cb_devices, &d);
  output_free(d.out);
  return st;
}

/* ------------------------------------------------------------------ track */

static const output_column_t track_cols[] = {
  {"imei", OUTPUT_STR},      {"gpstime", OUTPUT_STR},      {"hearttime", OUTPUT_STR},
  {"longitude", OUTPUT_NUM}, {"latitude", OUTPUT_NUM},     {"speed", OUTPUT_NUM},
  {"course", OUTPUT_NUM},    {"accstatus", OUTPUT_NUM},    {"datastatus", OUTPUT_STR},
  {"battery", OUTPUT_NUM},   {"mileage_m", OUTPUT_NUM},
};

static const char *datastatus_name(int32_t s) {
  switch (s) {
    case 1: return "never online";
    case 2: return "ok";
    case 3: return "expired";
    case 4: return "offline";
    case 5: return "blocked";
    default: return NULL;
  }
}

typedef struct track_cmd {
  apicmd_t c;
  output_t *out;
  output_format_t format;
  char **imeis;
  size_t n, next; /* next: first IMEI of the batch to ask for */
  api_tracks_t tracks;
} track_cmd_t;

static void track_next(track_cmd_t *t);

static void track_first(apicmd_t *c) { track_next((track_cmd_t *)c); /* c is the first member */ }

static void cb_track(void *arg, const net_result_t *res) {
  track_cmd_t *t = arg;
  if (res->error != NET_OK) { apicmd_fail(&t->c, res, "track"); return; }
  api_error_t err;
  if (api_parse_track(res->body, res->body_len, &t->tracks, &err) != 0)
    { apicmd_fail_parse(&t->c, &err, "track"); return; }
  for (size_t i = 0; i < t->tracks.n; i++) {
    const api_track_t *v = &t->tracks.items[i];
    char b[9][32];
    const char *cells[] = {v->imei,
                           apicmd_time_text(v->gpstime, b[0], 32),
                           apicmd_time_text(v->hearttime, b[1], 32),
                           coord(v->longitude, b[2], 32),
                           coord(v->latitude, b[3], 32),
                           num_or_null(v->speed, b[4], 32),
                           num_or_null(v->course, b[5], 32),
                           num_or_null(v->accstatus, b[6], 32),
                           datastatus_name(v->datastatus),
                           num_or_null(v->battery, b[7], 32),
                           num_or_null(v->mileage, b[8], 32)};
    if (output_row(t->out, cells) != 0) { apicmd_finish(&t->c, CLI_EXIT_FAILED); return; }
  }
  track_next(t);
}

/* The next batch of at most 100 IMEIs, or the output when all are answered. */
static void track_next(track_cmd_t *t) {
  if (t->next >= t->n) { apicmd_finish(&t->c, apicmd_print(&t->c, t->out, t->format)); return; }
  size_t k = t->n - t->next < API_MAX_IMEIS ? t->n - t->next : API_MAX_IMEIS;
  api_request_t req = {0};
  if (api_request_track(&req, (const char *const *)t->imeis + t->next, k) != 0)
    { apicmd_finish(&t->c, CLI_EXIT_FAILED); return; }
  t->next += k;
  apicmd_call(&t->c, &req, cb_track, t);
  api_request_free(&req);
}

int cmd_track(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "track", *account = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] track IMEI... [--account NAME] [--format F]\n"
           "\n"
           "The latest position and state of each device (API 2.2, asked 100 IMEIs at a\n"
           "time). Unknown values (-1 from the API) are empty cells (null in JSON).\n"
           "\n" COMMON_HELP);
    return CLI_EXIT_OK;
  }
  track_cmd_t t = {.format = format};
  int st = CLI_EXIT_USAGE;
  if (!(t.imeis = calloc((size_t)argc, sizeof *t.imeis))) return CLI_EXIT_FAILED;
  if (parse_imei_args(cmd, argc, argv, t.imeis, &t.n, &account, &format, NULL, NULL) != 0)
    goto out;
  t.format = format;
  st = CLI_EXIT_FAILED;
  if (!(t.out = output_new(track_cols, sizeof track_cols / sizeof track_cols[0]))) goto out;
  st = apicmd_run_chain(&t.c, cmd, ctx, account, track_first);
out:
  api_tracks_free(&t.tracks);
  output_free(t.out);
  free(t.imeis);
  return st;
}

/* ------------------------------------------------------------------ playback, alarms */

static const output_column_t point_cols[] = {
  {"gpstime", OUTPUT_STR}, {"longitude", OUTPUT_NUM}, {"latitude", OUTPUT_NUM},
  {"speed", OUTPUT_NUM},   {"course", OUTPUT_NUM},
};
static const output_column_t alarm_cols[] = {
  {"type", OUTPUT_NUM},      {"name", OUTPUT_STR},     {"gpstime", OUTPUT_STR},
  {"systemtime", OUTPUT_STR}, {"longitude", OUTPUT_NUM}, {"latitude", OUTPUT_NUM},
  {"speed", OUTPUT_NUM},     {"course", OUTPUT_NUM},   {"geofence_id", OUTPUT_NUM},
};

typedef struct paged_cmd {
  apicmd_t c;
  bool alarms;
  output_t *out;
  output_format_t format;
  const char *imei;
  int64_t end;              /* the API's inclusive end: --to - 1 */
  paging_cursor_t cursor;
  api_points_t points;
  api_alarms_t page_alarms;
  api_alarm_t *tail;        /* alarms of the last page at the cursor's time: printed */
  size_t ntail, tail_cap;
  api_point_t last_point;   /* the last point printed, to print a duplicate once */
  bool have_last_point;
  int64_t *times;
  size_t times_cap;
  unsigned pages;
} paged_cmd_t;

static void paged_next(paged_cmd_t *p);

static void paged_first(apicmd_t *c) { paged_next((paged_cmd_t *)c); /* c is the first member */ }

static bool alarm_same(const api_alarm_t *a, const api_alarm_t *b) {
  return a->type == b->type && a->gpstime == b->gpstime && a->systemtime == b->systemtime &&
         a->longitude == b->longitude && a->latitude == b->latitude && a->speed == b->speed &&
         a->course == b->course && a->geofenceid == b->geofenceid;
}

static bool point_same(const api_point_t *a, const api_point_t *b) {
  return a->gpstime == b->gpstime && a->longitude == b->longitude &&
         a->latitude == b->latitude && a->speed == b->speed && a->course == b->course;
}

static int add_point(paged_cmd_t *p, const api_point_t *v) {
  /* The API may send one report twice (same time, same content): one row says it all. */
  if (p->have_last_point && point_same(&p->last_point, v)) return 0;
  p->last_point = *v;
  p->have_last_point = true;
  char b[5][32];
  snprintf(b[3], 32, "%" PRId32, v->speed);
  snprintf(b[4], 32, "%" PRId32, v->course);
  const char *cells[] = {apicmd_time_text(v->gpstime, b[0], 32), coord(v->longitude, b[1], 32),
                         coord(v->latitude, b[2], 32), v->speed == API_UNKNOWN ? NULL : b[3], b[4]};
  return output_row(p->out, cells);
}

static int add_alarm(paged_cmd_t *p, const api_alarm_t *v) {
  char b[9][32];
  snprintf(b[0], 32, "%" PRId32, v->type);
  snprintf(b[5], 32, "%" PRId32, v->speed);
  snprintf(b[6], 32, "%" PRId32, v->course);
  snprintf(b[7], 32, "%" PRId64, v->geofenceid);
  const char *cells[] = {b[0], api_alarm_type_name(v->type),
                         apicmd_time_text(v->gpstime, b[1], 32),
                         apicmd_time_text(v->systemtime, b[2], 32),
                         coord(v->longitude, b[3], 32), coord(v->latitude, b[4], 32),
                         b[5], b[6], b[7]};
  return output_row(p->out, cells);
}

static void cb_page(void *arg, const net_result_t *res) {
  paged_cmd_t *p = arg;
  const char *what = p->alarms ? "alarm list" : "playback";
  size_t n = 0;
  api_error_t err;
  p->pages++;
  /* "no data" (20023 or an empty record) is NET_OK and parses as an empty page */
  if (res->error != NET_OK) {
    { apicmd_fail(&p->c, res, what); return; }
  } else if (p->alarms) {
    if (api_parse_alarm_list(res->body, res->body_len, &p->page_alarms, &err) != 0)
      { apicmd_fail_parse(&p->c, &err, what); return; }
    n = p->page_alarms.n;
  } else {
    if (api_parse_playback(res->body, res->body_len, &p->points, &err) != 0)
      { apicmd_fail_parse(&p->c, &err, what); return; }
    n = p->points.n;
  }
  if (GROW(p->times, p->times_cap, n) != 0) { apicmd_finish(&p->c, CLI_EXIT_FAILED); return; }
  for (size_t i = 0; i < n; i++)
    p->times[i] = p->alarms ? p->page_alarms.items[i].systemtime : p->points.items[i].gpstime;

  paging_cursor_t before = p->cursor;
  paging_result_t pr;
  if (paging_apply(&p->cursor, p->end, p->times, n, n, /* strict: every record kept */
                   p->alarms ? PAGING_ALARM_PAGE : PAGING_PLAYBACK_PAGE, !p->alarms, &pr) != 0) {
    fprintf(stderr,
            "fleetarc %s: %s of %s from %" PRId64 ": the server broke the paging rules "
            "(more records than a page, or times out of range or order)\n",
            p->c.name, what, p->imei, before.begin);
    { apicmd_finish(&p->c, CLI_EXIT_FAILED); return; }
  }
  for (size_t i = pr.first_new; i < n; i++) {
    int rc;
    if (p->alarms) {
      const api_alarm_t *a = &p->page_alarms.items[i];
      bool seen = false; /* the boundary of alarms comes back: print it once */
      if (before.have_begin && a->systemtime == before.begin)
        for (size_t k = 0; k < p->ntail && !seen; k++) seen = alarm_same(&p->tail[k], a);
      rc = seen ? 0 : add_alarm(p, a);
    } else {
      rc = add_point(p, &p->points.items[i]);
    }
    if (rc != 0) { apicmd_finish(&p->c, CLI_EXIT_FAILED); return; }
  }
  if (p->alarms) { /* keep this page's records at the new cursor time */
    if (GROW(p->tail, p->tail_cap, n) != 0) { apicmd_finish(&p->c, CLI_EXIT_FAILED); return; }
    size_t keep = 0;
    for (size_t i = 0; i < n; i++)
      if (p->page_alarms.items[i].systemtime == p->cursor.begin) p->tail[keep++] = p->page_alarms.items[i];
    p->ntail = keep;
  }
  if (pr.guard_fired)
    fprintf(stderr,
            "fleetarc %s: %s: a full page of records at one time %" PRId64
            " (%s): the API cannot page past it, records beyond that page at that second "
            "are not shown\n",
            p->c.name, p->imei, pr.skipped_time, p->alarms ? "system time" : "gpstime");
  if (pr.step == PAGING_DONE)
    { apicmd_finish(&p->c, apicmd_print(&p->c, p->out, p->format)); return; }
  paged_next(p);
}

static void paged_next(paged_cmd_t *p) {
  api_request_t req = {0};
  int rc = p->alarms ? api_request_alarm_list(&req, p->imei, p->cursor.begin, p->end)
                     : api_request_playback(&req, p->imei, p->cursor.begin, p->end);
  if (rc != 0) { apicmd_finish(&p->c, CLI_EXIT_FAILED); return; }
  apicmd_call(&p->c, &req, cb_page, p);
  api_request_free(&req);
}

static int run_paged(const cli_context_t *ctx, int argc, char **argv, bool alarms) {
  const char *cmd = alarms ? "alarms" : "playback", *account = NULL, *from_s = NULL,
             *to_s = NULL, *imei = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    if (alarms)
      printf("usage: fleetarc [-c FILE] alarms IMEI --from T --to T [--account NAME] [--format F]\n"
             "\n"
             "A device's alarms whose system time is in [--from, --to), every page (API 2.8:\n"
             "100 records a page, paged on the system time), with the type's name from the\n"
             "spec's table. A record on a page boundary is printed once.\n");
    else
      printf("usage: fleetarc [-c FILE] playback IMEI --from T --to T [--account NAME] [--format F]\n"
             "\n"
             "A device's positions with gpstime in [--from, --to), every page (API 2.3: 1000\n"
             "records a page, paged on the gpstime). A record on a page boundary, or sent\n"
             "twice, is printed once.\n");
    printf("\nT is 2026-11-01, 2026-11-01T06:30:00Z, an ISO 8601 time with offset, or UNIX\n"
           "seconds; --to is exclusive.\n\n" COMMON_HELP);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--from", &from_s);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--to", &to_s);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r) continue;
    if (argv[i][0] == '-') return apicmd_usage_error(cmd, "unknown option '%s'", argv[i]);
    if (imei) return apicmd_usage_error(cmd, "one IMEI only ('%s' is a second)", argv[i]);
    imei = argv[i];
  }
  if (!imei || !apicmd_is_imei(imei)) return apicmd_usage_error(cmd, "give one IMEI (1 to %d digits)", API_IMEI_MAX);
  int64_t from, to;
  if (parse_range(cmd, from_s, to_s, &from, &to) != 0) return CLI_EXIT_USAGE;

  paged_cmd_t p = {.alarms = alarms, .format = format, .imei = imei, .end = to - 1,
                   .cursor = {.begin = from, .have_begin = false}};
  const output_column_t *cols = alarms ? alarm_cols : point_cols;
  size_t ncols = alarms ? sizeof alarm_cols / sizeof alarm_cols[0]
                        : sizeof point_cols / sizeof point_cols[0];
  if (!(p.out = output_new(cols, ncols))) return CLI_EXIT_FAILED;
  int st = apicmd_run_chain(&p.c, cmd, ctx, account, paged_first);
  output_free(p.out);
  api_points_free(&p.points);
  api_alarms_free(&p.page_alarms);
  free(p.tail);
  free(p.times);
  return st;
}

int cmd_playback(const cli_context_t *ctx, int argc, char **argv) {
  return run_paged(ctx, argc, argv, false);
}

int cmd_alarms(const cli_context_t *ctx, int argc, char **argv) {
  return run_paged(ctx, argc, argv, true);
}

/* ------------------------------------------------------------------ mileage */

static const output_column_t mileage_cols[] = {
  {"imei", OUTPUT_STR}, {"from", OUTPUT_STR}, {"to", OUTPUT_STR}, {"km", OUTPUT_NUM},
};

typedef struct mileage_cmd {
  apicmd_t c;
  output_format_t format;
  char **imeis;
  double *km;
  bool *known;
  size_t n;
  int64_t from, to;
  int64_t wbegin;  /* the window being asked for */
  size_t batch;    /* first IMEI of the batch being asked for */
  api_mileages_t page;
} mileage_cmd_t;

static void mileage_next(mileage_cmd_t *m);

static void mileage_first(apicmd_t *c) { mileage_next((mileage_cmd_t *)c); /* c is the first member */ }

static int64_t mileage_wend(const mileage_cmd_t *m) {
  return m->to - m->wbegin > API_MILEAGE_MAX_SPAN ? m->wbegin + API_MILEAGE_MAX_SPAN : m->to;
}

static void mileage_print(mileage_cmd_t *m) {
  output_t *o = output_new(mileage_cols, sizeof mileage_cols / sizeof mileage_cols[0]);
  int st = o ? CLI_EXIT_OK : CLI_EXIT_FAILED;
  char f[24], t[24], km[48];
  apicmd_time_text(m->from, f, sizeof f);
  apicmd_time_text(m->to, t, sizeof t);
  for (size_t i = 0; i < m->n && st == CLI_EXIT_OK; i++) {
    snprintf(km, sizeof km, "%.3f", m->km[i]);
    const char *cells[] = {m->imeis[i], f, t, m->known[i] ? km : NULL};
    if (output_row(o, cells) != 0) st = CLI_EXIT_FAILED;
  }
  if (st == CLI_EXIT_OK) st = apicmd_print(&m->c, o, m->format);
  output_free(o);
  apicmd_finish(&m->c, st);
}

static void cb_mileage(void *arg, const net_result_t *res) {
  mileage_cmd_t *m = arg;
  if (res->error != NET_OK) { apicmd_fail(&m->c, res, "mileage"); return; }
  api_error_t err;
  if (api_parse_mileage(res->body, res->body_len, &m->page, &err) != 0)
    { apicmd_fail_parse(&m->c, &err, "mileage"); return; }
  size_t k = m->n - m->batch < API_MAX_IMEIS ? m->n - m->batch : API_MAX_IMEIS;
  for (size_t r = 0; r < m->page.n; r++) {
    const api_mileage_t *v = &m->page.items[r];
    if (v->km == API_UNKNOWN) continue; /* no odometer: stays unknown unless a window knows */
    for (size_t i = m->batch; i < m->batch + k; i++)
      if (!strcmp(m->imeis[i], v->imei)) {
        m->km[i] += v->km;
        m->known[i] = true;
        break;
      }
  }
  m->batch += k;
  if (m->batch >= m->n) {
    m->batch = 0;
    m->wbegin = mileage_wend(m);
  }
  if (m->wbegin >= m->to) { mileage_print(m); return; }
  mileage_next(m);
}

static void mileage_next(mileage_cmd_t *m) {
  size_t k = m->n - m->batch < API_MAX_IMEIS ? m->n - m->batch : API_MAX_IMEIS;
  api_request_t req = {0};
  if (api_request_mileage(&req, (const char *const *)m->imeis + m->batch, k, m->wbegin,
                          mileage_wend(m)) != 0)
    { apicmd_finish(&m->c, CLI_EXIT_FAILED); return; }
  apicmd_call(&m->c, &req, cb_mileage, m);
  api_request_free(&req);
}

int cmd_mileage(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "mileage", *account = NULL, *from_s = NULL, *to_s = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] mileage IMEI... --from T --to T [--account NAME] [--format F]\n"
           "\n"
           "Kilometres driven by each device in [--from, --to) (API 2.14), asked in windows\n"
           "of at most 7 days and batches of 100 IMEIs and summed per IMEI. --from and --to\n"
           "must be on minute 0 or 30 (the API's rule). An empty km means the device has no\n"
           "odometer.\n"
           "\n" COMMON_HELP);
    return CLI_EXIT_OK;
  }
  mileage_cmd_t m = {0};
  int st = CLI_EXIT_USAGE;
  if (!(m.imeis = calloc((size_t)argc, sizeof *m.imeis))) return CLI_EXIT_FAILED;
  if (parse_imei_args(cmd, argc, argv, m.imeis, &m.n, &account, &format, &from_s, &to_s) != 0)
    goto out;
  m.format = format;
  if (parse_range(cmd, from_s, to_s, &m.from, &m.to) != 0) goto out;
  if (m.from % 1800 != 0 || m.to % 1800 != 0) {
    apicmd_usage_error(cmd, "--from and --to must be on minute 0 or 30 (e.g. 06:00, 06:30)");
    goto out;
  }
  m.wbegin = m.from;
  if (!(m.km = calloc(m.n, sizeof *m.km)) || !(m.known = calloc(m.n, sizeof *m.known))) {
    st = CLI_EXIT_FAILED;
    goto out;
  }
  st = apicmd_run_chain(&m.c, cmd, ctx, account, mileage_first);
out:
  api_mileages_free(&m.page);
  free(m.km);
  free(m.known);
  free(m.imeis);
  return st;
}

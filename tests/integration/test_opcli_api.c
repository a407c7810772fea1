/* The operator's API commands (devices, track, playback, alarms, mileage, send-command,
 * geofence-create, message, user) run as the real binary against fleetarc-sim: printed
 * values against the fleet model's truth (the same seed built in-process), input checks
 * refused before any request (not even a login, per /sim/stats), a command that times
 * out, and 10009 / token errors absorbed by the runtime. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/alarm_types.h"
#include "util/timeparse.h"
#include "sim/fleet.h"
#include "sim_client.h"

#define NOW 1794268800LL /* 2026-11-10T00:00:00Z */
#define HISTORY_DAYS 10
#define EPOCH (NOW - HISTORY_DAYS * 86400LL)
#define DEVICES 120
#define SEED "5"

/* A failed check ends its test, saying what was expected and what came (cmocka's
 * assert_true names only the expression). */
#define CHECK(cond, ...)                                                 \
  do {                                                                   \
    if (!(cond)) {                                                       \
      print_error("%s:%d: %s: ", __FILE__, __LINE__, #cond);             \
      fail_msg(__VA_ARGS__);                                             \
    }                                                                    \
  } while (0)

typedef struct run {
  int status;
  char *out, *err;
} run_t;

static char *slurp(int fd) {
  size_t n = 0, cap = 4096;
  char *b = malloc(cap);
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    if (n + 4096 >= cap) b = realloc(b, cap *= 2);
    ssize_t r = read(fd, b + n, cap - n - 1);
    if (r <= 0) break;
    n += (size_t)r;
  }
  b[n] = '\0';
  return b;
}

/* Runs fleetarc -c cfg ARGS... (NULL-ended) with stdin from input (NULL: /dev/null). */
static run_t run_cli(const char *cfg, const char *input, const char *const *args) {
  run_t r = {-1, NULL, NULL};
  char on[] = "/tmp/opcli_outXXXXXX", en[] = "/tmp/opcli_errXXXXXX", in[] = "/tmp/opcli_inXXXXXX";
  int ofd = mkstemp(on), efd = mkstemp(en), ifd = -1;
  unlink(on);
  unlink(en);
  if (input) {
    ifd = mkstemp(in);
    unlink(in);
    if (write(ifd, input, strlen(input)) < 0) abort();
    lseek(ifd, 0, SEEK_SET);
  } else {
    ifd = open("/dev/null", O_RDONLY);
  }
  const char *argv[512];
  int n = 0;
  argv[n++] = getenv("FLEETARC_BIN");
  argv[n++] = "-c";
  argv[n++] = cfg;
  for (int i = 0; args[i] && n < 511; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ifd, 0);
    dup2(ofd, 1);
    dup2(efd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int ws;
  waitpid(pid, &ws, 0);
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  r.out = slurp(ofd);
  r.err = slurp(efd);
  close(ofd);
  close(efd);
  close(ifd);
  return r;
}

static void run_free(run_t *r) {
  free(r->out);
  free(r->err);
}

#define RUN(cfg, input, ...) run_cli(cfg, input, (const char *const[]){__VA_ARGS__, NULL})

/* Data lines of a CSV output (CRLF ends, no embedded line breaks in these tests). */
static int csv_rows(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n - 1;
}

static double stat_req(sc_t *c, const char *key) {
  cJSON *s = sc_stats(c);
  double v = sc_stat(s, "requests", key);
  cJSON_Delete(s);
  return v;
}
static double stat_code(sc_t *c, const char *code) {
  cJSON *s = sc_stats(c);
  double v = sc_stat(s, "responses", code);
  cJSON_Delete(s);
  return v < 0 ? 0 : v;
}
static void reset_stats(sc_t *c) { cJSON_Delete(sc_call(c, "POST", "/sim/reset-stats", "")); }

static void write_config(const char *path, const sc_t *c) {
  FILE *f = fopen(path, "w");
  fprintf(f,
          "api:\n  base_url: %s\n  rate_limits:\n    default: 0s\n    authorization: 0s\n"
          "    track: 0s\n    playback: 0s\n    alarm/list: 0s\n    device/list: 0s\n"
          "    user/list: 0s\n    device/detail: 0s\n    device/mileage: 0s\n"
          "  retry:\n    base_delay: 100ms\n"
          "accounts:\n  - account: %s\n    password: \"%s\"\n",
          c->sim.base_url, c->sim.account, c->sim.password);
  fclose(f);
}

/* ---- truth from the fleet model ---- */

typedef struct count {
  long rows;
  int64_t last, first;
} count_t;

static int cb_count_point(void *arg, const sim_point_t *p) {
  count_t *c = arg;
  if (c->rows == 0) c->first = p->gpstime;
  if (c->rows == 0 || p->gpstime != c->last) c->rows++;
  c->last = p->gpstime;
  return 0;
}
static int cb_count_alarm(void *arg, const sim_alarm_t *a) {
  count_t *c = arg;
  if (c->rows == 0) c->first = a->type;
  c->rows++;
  return 0;
}

static long truth_points(const sim_fleet_t *f, const char *imei, int64_t from, int64_t to,
                         count_t *c) {
  memset(c, 0, sizeof *c);
  int64_t d = sim_fleet_device_find(f, imei);
  if (d < 0) return -1;
  sim_fleet_points(f, (uint32_t)d, from, to - 1, cb_count_point, c);
  return c->rows;
}


/* "FROM" and "TO" as the epoch seconds the commands take. */
static void span(char from_s[24], char to_s[24], int64_t from, int64_t to) {
  snprintf(from_s, 24, "%lld", (long long)from);
  snprintf(to_s, 24, "%lld", (long long)to);
}

/* ---- the fixture: one simulator, its fleet model, the configuration ---- */

static struct {
  sc_t sim;
  sim_fleet_t *fleet;  /* the simulator's fleet, built in-process from the same seed */
  char cfg[32];
  const uint32_t *own; /* the account's own devices */
  size_t nown;
  const char *busy;    /* a normal device of the account, > 2500 points in [EPOCH + 1 day, NOW) */
  count_t busy_truth;  /* its points there */
  sc_t throttled;      /* the second simulator of test_throttled */
} fx;

/* Runs COMMAND with every IMEI of the fleet, then the options (NULL-ended, at most 14). */
static run_t run_all_imeis(const char *command, const char *const *options) {
  const char *argv[DEVICES + 16];
  int n = 0;
  argv[n++] = command;
  for (size_t i = 0; i < sim_fleet_device_count(fx.fleet); i++)
    argv[n++] = sim_fleet_device(fx.fleet, i)->imei;
  for (int i = 0; options[i]; i++) argv[n++] = options[i];
  argv[n] = NULL;
  return run_cli(fx.cfg, NULL, argv);
}

/* ---- devices: the account's own list, all of it ---- */
static void test_devices(void **state) {
  (void)state;
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "devices", "--format", "json");
  CHECK(r.status == 0, "devices exit %d: %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  CHECK(cJSON_IsArray(j), "devices --format json is not a JSON array");
  CHECK((size_t)cJSON_GetArraySize(j) == fx.nown, "%d devices printed, the account holds %zu",
        cJSON_GetArraySize(j), fx.nown);
  for (size_t i = 0; i < fx.nown; i++) {
    const cJSON *imei = cJSON_GetObjectItem(cJSON_GetArrayItem(j, (int)i), "imei");
    CHECK(cJSON_IsString(imei) && !strcmp(imei->valuestring, sim_fleet_device(fx.fleet, fx.own[i])->imei),
          "device %zu", i);
  }
  cJSON_Delete(j);
  CHECK(stat_req(&fx.sim, "device/list") == 1, "one device/list request");
  run_free(&r);
}

/* ---- track: every device, batched by 100 ---- */
static void test_track(void **state) {
  (void)state;
  size_t ndev = sim_fleet_device_count(fx.fleet);
  reset_stats(&fx.sim);
  run_t r = run_all_imeis("track", (const char *const[]){"--format", "csv", NULL});
  CHECK(r.status == 0, "track exit %d: %s", r.status, r.err);
  CHECK(csv_rows(r.out) == (int)ndev, "track printed %d rows for %zu devices", csv_rows(r.out), ndev);
  CHECK(stat_req(&fx.sim, "track") == (double)((ndev + 99) / 100), "track requests %g",
        stat_req(&fx.sim, "track"));
  run_free(&r);
}

/* ---- playback: a busy device of the account over 9 days, all pages ---- */
static void test_playback_pages(void **state) {
  (void)state;
  char from_s[24], to_s[24];
  span(from_s, to_s, EPOCH + 86400, NOW);
  const count_t *tc = &fx.busy_truth;
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "playback", fx.busy, "--from", from_s, "--to", to_s, "--format", "json");
  CHECK(r.status == 0, "playback exit %d: %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  CHECK(cJSON_GetArraySize(j) == tc->rows, "playback printed %d rows, truth %ld",
        cJSON_GetArraySize(j), tc->rows);
  char want[24];
  const cJSON *first = cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "gpstime");
  CHECK(cJSON_IsString(first) && !strcmp(first->valuestring, timeparse_format_time(tc->first, want, sizeof want)),
        "first gpstime %s, truth %s", cJSON_IsString(first) ? first->valuestring : "?", want);
  cJSON_Delete(j);
  CHECK(stat_req(&fx.sim, "playback") >= (double)(tc->rows / 1000 + 1), "playback pages %g",
        stat_req(&fx.sim, "playback"));
  run_free(&r);
}

/* the trap of exactly 1000 reports: one full page, then the boundary alone */
static void test_playback_exact_page(void **state) {
  (void)state;
  char from_s[24], to_s[24];
  span(from_s, to_s, EPOCH, EPOCH + 86400);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "playback", "999000000000001", "--from", from_s, "--to", to_s, "--format", "csv");
  CHECK(r.status == 0 && csv_rows(r.out) == 1000, "exact page: exit %d, %d rows", r.status, csv_rows(r.out));
  CHECK(stat_req(&fx.sim, "playback") == 2, "exact page: %g requests", stat_req(&fx.sim, "playback"));
  run_free(&r);
}

/* the trap of 1500 reports at one gpstime: the guard moves on, each time printed once */
static void test_playback_same_time(void **state) {
  (void)state;
  char from_s[24], to_s[24];
  span(from_s, to_s, EPOCH, EPOCH + 2 * 86400);
  count_t tc;
  truth_points(fx.fleet, "999000000000002", EPOCH, EPOCH + 2 * 86400, &tc);
  run_t r = RUN(fx.cfg, NULL, "playback", "999000000000002", "--from", from_s, "--to", to_s, "--format", "csv");
  CHECK(r.status == 0 && csv_rows(r.out) == tc.rows, "same-time trap: exit %d, %d rows, truth %ld",
        r.status, csv_rows(r.out), tc.rows);
  CHECK(strstr(r.err, "full page") != NULL, "the guard is reported: %s", r.err);
  run_free(&r);
}

/* ---- alarms: late uploads, paged on system time, by name ---- */
static void test_alarms(void **state) {
  (void)state;
  int64_t d3 = sim_fleet_device_find(fx.fleet, "999000000000003");
  int64_t afrom = EPOCH, ato = NOW;
  count_t ac = {0};
  sim_fleet_alarms(fx.fleet, (uint32_t)d3, afrom, ato - 1, cb_count_alarm, &ac);
  char from_s[24], to_s[24];
  span(from_s, to_s, afrom, ato);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "alarms", "999000000000003", "--from", from_s, "--to", to_s, "--format", "json");
  CHECK(r.status == 0, "alarms exit %d: %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  CHECK(cJSON_GetArraySize(j) == ac.rows, "alarms printed %d, truth %ld", cJSON_GetArraySize(j), ac.rows);
  CHECK(ac.rows > 300, "the late-alarm trap holds %ld alarms", ac.rows);
  const cJSON *row = cJSON_GetArrayItem(j, 0);
  const cJSON *type = cJSON_GetObjectItem(row, "type"), *name = cJSON_GetObjectItem(row, "name");
  CHECK(cJSON_IsNumber(type) && type->valueint == ac.first && cJSON_IsString(name) &&
            !strcmp(name->valuestring, api_alarm_type_name((int)ac.first)),
        "first alarm type %lld by name", (long long)ac.first);
  cJSON_Delete(j);
  CHECK(stat_req(&fx.sim, "alarm/list") >= (double)(ac.rows / 100 + 1), "alarm pages %g",
        stat_req(&fx.sim, "alarm/list"));
  run_free(&r);
}

/* ---- mileage: 9.5 days = 2 windows, x 2 batches of IMEIs, summed ---- */
static void test_mileage(void **state) {
  (void)state;
  int64_t mfrom = EPOCH + 1800, mto = NOW;
  char from_s[24], to_s[24];
  span(from_s, to_s, mfrom, mto);
  size_t ndev = sim_fleet_device_count(fx.fleet);
  reset_stats(&fx.sim);
  run_t r = run_all_imeis("mileage", (const char *const[]){"--from", from_s, "--to", to_s, "--format",
                                                           "json", NULL});
  CHECK(r.status == 0, "mileage exit %d: %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  CHECK((size_t)cJSON_GetArraySize(j) == ndev, "mileage rows %d", cJSON_GetArraySize(j));
  int checked = 0;
  for (size_t i = 0; i < ndev; i++) {
    const sim_device_t *d = sim_fleet_device(fx.fleet, i);
    double want = sim_fleet_mileage_km(fx.fleet, (uint32_t)i, mfrom, mfrom + 7 * 86400) +
                  sim_fleet_mileage_km(fx.fleet, (uint32_t)i, mfrom + 7 * 86400, mto);
    const cJSON *row = cJSON_GetArrayItem(j, (int)i);
    const cJSON *km = cJSON_GetObjectItem(row, "km"), *imei = cJSON_GetObjectItem(row, "imei");
    CHECK(cJSON_IsString(imei) && !strcmp(imei->valuestring, d->imei), "mileage row %zu", i);
    CHECK(cJSON_IsNumber(km) && fabs(km->valuedouble - want) < 0.005, "%s: %g km, truth %.4f",
          d->imei, cJSON_IsNumber(km) ? km->valuedouble : -1, want);
    checked += want > 1;
  }
  CHECK(checked > 10, "only %d devices drove", checked);
  cJSON_Delete(j);
  CHECK(stat_req(&fx.sim, "device/mileage") == 4, "mileage requests %g", stat_req(&fx.sim, "device/mileage"));
  run_free(&r);
}

/* a window not on a whole hour: refused before any request */
static void test_mileage_unaligned(void **state) {
  (void)state;
  char to_s[24];
  snprintf(to_s, sizeof to_s, "%lld", (long long)NOW);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "mileage", fx.busy, "--from", "2026-11-01T00:10:00Z", "--to", to_s);
  CHECK(r.status == 2 && stat_req(&fx.sim, "total") == 0, "unaligned mileage: exit %d", r.status);
  run_free(&r);
}

/* ---- send-command: answered, timed out, refused ---- */

/* The account's first device of that kind. */
static const char *own_device(sim_device_kind_t kind) {
  for (size_t i = 0; i < fx.nown; i++) {
    const sim_device_t *d = sim_fleet_device(fx.fleet, fx.own[i]);
    if (d->kind == kind) return d->imei;
  }
  fail_msg("the account holds no device of kind %d", (int)kind);
  return NULL;
}

static void test_send_command_answered(void **state) {
  (void)state;
  const char *normal = own_device(SIM_DEVICE_NORMAL);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "send-command", normal, "SET_MILEAGE", "--param", "{\"mileage\":\"30\"}",
                "--poll-interval", "100ms", "--format", "csv");
  CHECK(r.status == 0 && strstr(r.out, "Set mileage: Success! Mileage: 30 km."),
        "SET_MILEAGE: exit %d, out %s err %s", r.status, r.out, r.err);
  CHECK(stat_req(&fx.sim, "command/send") == 1 && stat_req(&fx.sim, "command/query") >= 2,
        "send %g query %g", stat_req(&fx.sim, "command/send"), stat_req(&fx.sim, "command/query"));
  run_free(&r);
}

static void test_send_command_timeout(void **state) {
  (void)state;
  const char *offline = own_device(SIM_DEVICE_OFFLINE);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "send-command", offline, "RESET", "--poll-interval", "100ms", "--tries", "4");
  CHECK(r.status == 1 && strstr(r.err, "timed out"), "offline: exit %d, %s", r.status, r.err);
  CHECK(stat_req(&fx.sim, "command/query") == 4, "offline: %g queries", stat_req(&fx.sim, "command/query"));
  run_free(&r);
}

static void test_send_command_refused(void **state) {
  (void)state;
  const char *normal = own_device(SIM_DEVICE_NORMAL);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "send-command", normal, "RELAY,1");
  CHECK(r.status == 2 && strstr(r.err, "--yes"), "RELAY,1 without a terminal: exit %d %s", r.status, r.err);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "send-command", normal, "SET_MILEAGE");
  CHECK(r.status == 2, "SET_MILEAGE without --param: exit %d", r.status);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "send-command", normal, "EXPLODE");
  CHECK(r.status == 2, "unknown command: exit %d", r.status);
  run_free(&r);
  CHECK(stat_req(&fx.sim, "total") == 0, "refused commands made %g requests", stat_req(&fx.sim, "total"));
}

static void test_send_command_confirmed(void **state) {
  (void)state;
  const char *normal = own_device(SIM_DEVICE_NORMAL);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "send-command", normal, "RELAY,1", "--yes", "--poll-interval", "100ms");
  CHECK(r.status == 0 && strstr(r.out, "Cut off the fuel supply"), "RELAY,1 --yes: %d %s", r.status, r.err);
  run_free(&r);
}

/* ---- geofence-create ---- */
static void test_geofence_refused(void **state) {
  (void)state;
  const char *imei = sim_fleet_device(fx.fleet, fx.own[0])->imei;
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "geofence-create", imei, "--name", "Dépôt 北", "--lat", "52.2", "--lon", "21.0",
                "--radius", "99", "--alarm", "in");
  CHECK(r.status == 2, "radius 99: exit %d", r.status);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "geofence-create", imei, "--name", "x", "--lat", "52.2", "--lon", "21.0",
          "--radius", "5001", "--alarm", "inout");
  CHECK(r.status == 2, "radius 5001: exit %d", r.status);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "geofence-create", imei, "--name", "x", "--lat", "52.2", "--lon", "21.0",
          "--radius", "300", "--alarm", "sideways");
  CHECK(r.status == 2, "bad --alarm: exit %d", r.status);
  run_free(&r);
  CHECK(stat_req(&fx.sim, "total") == 0, "refused geofences made %g requests", stat_req(&fx.sim, "total"));
}

static void test_geofence_created(void **state) {
  (void)state;
  const char *imei = sim_fleet_device(fx.fleet, fx.own[0])->imei;
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "geofence-create", imei, "--name", "Dépôt 北", "--lat", "52.2", "--lon", "21.0",
                "--radius", "300", "--alarm", "inout", "--format", "csv");
  CHECK(r.status == 0 && strstr(r.out, "Dépôt 北") && strstr(r.out, "created"), "geofence: %d %s",
        r.status, r.err);
  CHECK(stat_req(&fx.sim, "geofence/create") == 1, "one geofence request");
  run_free(&r);
}

/* ---- message: limits in characters, before any request ---- */

/* n times "é": n characters, 2n bytes. */
static void e_acute(char *text, int n) {
  text[0] = '\0';
  for (int i = 0; i < n; i++) strcat(text, "é");
}

static void test_message_sent(void **state) {
  (void)state;
  const char *sub = sim_fleet_account(fx.fleet, 1)->account;
  char text[1024];
  e_acute(text, 300);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "message", sub, text, "--format", "csv");
  CHECK(r.status == 0 && strstr(r.out, "1,300,sent"), "300 characters: %d %s %s", r.status, r.out, r.err);
  CHECK(stat_req(&fx.sim, "message/send") == 1, "one message request");
  run_free(&r);
}

static void test_message_refused(void **state) {
  (void)state;
  const char *sub = sim_fleet_account(fx.fleet, 1)->account;
  char text[1024], list[8192] = "";
  e_acute(text, 301);
  reset_stats(&fx.sim);
  run_t r = RUN(fx.cfg, NULL, "message", sub, text);
  CHECK(r.status == 2 && strstr(r.err, "301"), "301 characters: exit %d %s", r.status, r.err);
  run_free(&r);
  for (int i = 0; i < 201; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%sa%d", i ? "," : "", i);
  r = RUN(fx.cfg, NULL, "message", list, "hi");
  CHECK(r.status == 2 && strstr(r.err, "201"), "201 accounts: exit %d %s", r.status, r.err);
  run_free(&r);
  CHECK(stat_req(&fx.sim, "total") == 0, "refused messages made %g requests", stat_req(&fx.sim, "total"));
}

/* ---- user ---- */
static void test_user_list(void **state) {
  (void)state;
  const uint32_t *kids;
  size_t nkids = sim_fleet_account_children(fx.fleet, 0, &kids);
  run_t r = RUN(fx.cfg, NULL, "user", "list", "--format", "json");
  cJSON *j = cJSON_Parse(r.out);
  CHECK(r.status == 0 && (size_t)cJSON_GetArraySize(j) == nkids, "user list: %d rows, %zu sub-accounts",
        cJSON_GetArraySize(j), nkids);
  cJSON_Delete(j);
  run_free(&r);
}

static void test_user_block(void **state) {
  (void)state;
  const char *sub = sim_fleet_account(fx.fleet, 1)->account;
  run_t r = RUN(fx.cfg, NULL, "user", "block", sub);
  CHECK(r.status == 0, "block: %d %s", r.status, r.err);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "user", "info", sub, "--format", "csv");
  CHECK(r.status == 0 && strstr(r.out, sub) && strstr(r.out, ",yes\r\n"), "info after block: %s", r.out);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "user", "unblock", sub);
  CHECK(r.status == 0, "unblock: %d %s", r.status, r.err);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "user", "info", sub, "--format", "csv");
  CHECK(r.status == 0 && strstr(r.out, ",no\r\n"), "info after unblock: %s", r.out);
  run_free(&r);
}

static void test_user_set_password(void **state) {
  (void)state;
  const char *sub = sim_fleet_account(fx.fleet, 1)->account;
  run_t r = RUN(fx.cfg, "S3cret-n3w\n", "user", "set-password", sub);
  CHECK(r.status == 0 && !strstr(r.out, "S3cret") && !strstr(r.err, "S3cret"),
        "set-password: %d %s %s", r.status, r.out, r.err);
  run_free(&r);
  sc_t probe = {.sim = fx.sim.sim, .curl = curl_easy_init()}; /* the new password logs in */
  int code = sc_login_at(&probe, sub, "S3cret-n3w", 0);
  curl_easy_cleanup(probe.curl);
  free(probe.body);
  CHECK(code == 0, "login with the new password");
  reset_stats(&fx.sim);
  r = RUN(fx.cfg, "", "user", "set-password", sub);
  CHECK(r.status == 2 && stat_req(&fx.sim, "total") == 0, "empty password: exit %d", r.status);
  run_free(&r);
}

/* ---- errors: the API's code and meaning; bad configuration ---- */
static void test_error_unknown_imei(void **state) {
  (void)state;
  run_t r = RUN(fx.cfg, NULL, "track", "123456789012347");
  CHECK(r.status == 1 && strstr(r.err, "10013") && strstr(r.err, "IMEI is not authorized"),
        "unknown IMEI: exit %d %s", r.status, r.err);
  run_free(&r);
}

static void test_error_bad_input(void **state) {
  (void)state;
  run_t r = RUN(fx.cfg, NULL, "devices", "--account", "nobody");
  CHECK(r.status == 2, "unknown --account: exit %d", r.status);
  run_free(&r);
  r = RUN("/nonexistent/fleetarc.yaml", NULL, "devices");
  CHECK(r.status == 2, "missing config: exit %d", r.status);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "playback", "1", "--from", "2026-11-02", "--to", "2026-11-01");
  CHECK(r.status == 2, "--to before --from: exit %d", r.status);
  run_free(&r);
}

/* ---- 10009 and token errors during a command: the runtime absorbs them ---- */
static void test_throttled(void **state) {
  (void)state;
  sc_t *s2 = &fx.throttled;
  const char *a2[] = {"--devices", "120", "--seed", SEED, "--now", "1794268800", "--speed", "0",
                      "--history", "10", "--token-ttl", "1", "--limits", "default=300ms",
                      "--faults", "revoke=0.3", NULL};
  CHECK(sc_start(s2, a2) == 0, "second simulator");
  write_config(fx.cfg, s2);
  char from_s[24], to_s[24];
  span(from_s, to_s, EPOCH + 86400, NOW);
  run_t r = RUN(fx.cfg, NULL, "playback", fx.busy, "--from", from_s, "--to", to_s, "--format", "csv");
  CHECK(r.status == 0 && csv_rows(r.out) == fx.busy_truth.rows,
        "throttled playback: exit %d, %d rows, truth %ld: %s", r.status, csv_rows(r.out),
        fx.busy_truth.rows, r.err);
  run_free(&r);
  r = RUN(fx.cfg, NULL, "alarms", "999000000000003", "--from", from_s, "--to", to_s, "--format", "csv");
  CHECK(r.status == 0, "throttled alarms: exit %d %s", r.status, r.err);
  run_free(&r);
  double throttled = stat_code(s2, "10009");
  double token = stat_code(s2, "10011") + stat_code(s2, "10012");
  fprintf(stderr, "throttled %g, token errors %g\n", throttled, token);
  CHECK(throttled > 0, "the simulator answered 10009 %g times", throttled);
  CHECK(token > 0, "the simulator refused a token %g times", token);
}

/* Stops the second simulator, whether or not its test got to the end. */
static int stop_throttled(void **state) {
  (void)state;
  sc_stop(&fx.throttled);
  return 0;
}

/* The fleet's truth and a busy device, one simulator for the commands group, a second
 * (throttled, revoking tokens) for the last test once the first has stopped. */
int main(void) {
  if (!getenv("FLEETARC_BIN") || !getenv("FLEETARC_SIM_BIN")) return 77;
  sim_fleet_options_t fo = {.seed = 5, .devices = DEVICES, .traps = true, .epoch = EPOCH};
  fx.fleet = sim_fleet_new(&fo);
  fx.nown = sim_fleet_account_devices(fx.fleet, 0, &fx.own);
  for (size_t i = 0; i < fx.nown && !fx.busy; i++) {
    const sim_device_t *d = sim_fleet_device(fx.fleet, fx.own[i]);
    if (d->kind == SIM_DEVICE_NORMAL && truth_points(fx.fleet, d->imei, EPOCH + 86400, NOW, &fx.busy_truth) > 2500)
      fx.busy = d->imei;
  }
  if (!fx.busy) {
    fprintf(stderr, "no busy device in the fleet\n");
    return 1;
  }
  const char *args[] = {"--devices", "120", "--seed", SEED, "--now", "1794268800", "--speed", "0",
                        "--history", "10", NULL};
  if (sc_start(&fx.sim, args) != 0) {
    fprintf(stderr, "cannot start the simulator\n");
    return 1;
  }
  snprintf(fx.cfg, sizeof fx.cfg, "/tmp/opcli_cfgXXXXXX");
  close(mkstemp(fx.cfg));
  write_config(fx.cfg, &fx.sim);

  const struct CMUnitTest commands[] = {
    cmocka_unit_test(test_devices),
    cmocka_unit_test(test_track),
    cmocka_unit_test(test_playback_pages),
    cmocka_unit_test(test_playback_exact_page),
    cmocka_unit_test(test_playback_same_time),
    cmocka_unit_test(test_alarms),
    cmocka_unit_test(test_mileage),
    cmocka_unit_test(test_mileage_unaligned),
    cmocka_unit_test(test_send_command_answered),
    cmocka_unit_test(test_send_command_timeout),
    cmocka_unit_test(test_send_command_refused),
    cmocka_unit_test(test_send_command_confirmed),
    cmocka_unit_test(test_geofence_refused),
    cmocka_unit_test(test_geofence_created),
    cmocka_unit_test(test_message_sent),
    cmocka_unit_test(test_message_refused),
    cmocka_unit_test(test_user_list),
    cmocka_unit_test(test_user_block),
    cmocka_unit_test(test_user_set_password),
    cmocka_unit_test(test_error_unknown_imei),
    cmocka_unit_test(test_error_bad_input),
  };
  int failed = cmocka_run_group_tests_name("commands", commands, NULL, NULL);
  sc_stop(&fx.sim);
  const struct CMUnitTest throttled[] = {cmocka_unit_test(test_throttled)};
  failed += cmocka_run_group_tests_name("throttled", throttled, NULL, stop_throttled);
  sim_fleet_free(fx.fleet);
  unlink(fx.cfg);
  return failed ? 1 : 0;
}

/* Throughput of the writer: 1M positions through pgw (one transaction per batch of 10k)
 * against a plain `psql \copy` of the same rows into the same table in the same run, over
 * an empty table (pgw's direct COPY path), over rows all stored already (every batch falls
 * back to staging + ON CONFLICT merge), and with 1% of the rows stored: spread over every
 * batch (every batch falls back) or as one whole batch re-sent after a crash (one in 100
 * falls back). FLEETARC_BENCH_BATCH_DEVS=N (a divisor of 1000) makes batches of N*1000 rows.
 * usage: bench_pgw [CONNINFO] (default: PG* environment; the schema is
 * migrated, and fleetarc.positions is TRUNCATEd: use a scratch database). Prints rows/s
 * and the ratio to \copy; exits 1 when the new/duplicate counts are not the expected ones.
 * Then 1M device_state upserts (100k devices, 10 poll cycles of 10 batches of 10k, every
 * record newer than the stored one: all 1M count), the poll cycle's other bulk kind.
 * FLEETARC_BENCH_ONLY=state runs only that case. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "db/migrate.h"
#include "db/pgw.h"

#define NDEV 1000
#define PER_DEV 1000
/* Devices (of PER_DEV rows each) per batch: 10 (10,000 rows), or FLEETARC_BENCH_BATCH_DEVS. */
static int devs_per_batch = 10;
#define BASE_T 1767225600LL
#define STEP_S 10

/* device_state case: STATE_DEVS devices, STATE_ROWS upserts in batches of STATE_BATCH. */
#define STATE_DEVS 100000
#define STATE_BATCH 10000
#define STATE_ROWS 1000000

typedef struct bench {
  uv_loop_t loop;
  pgw_t *w;
  bool state;   /* device_state batches instead of positions */
  int next_dev; /* positions: next device; device_state: next batch number */
  pgw_batch_t *pending;
  int done, total;
  size_t new_rows, dup_rows;
  bool failed, closed;
} bench_t;

static void imei_of(int d, char *out, size_t n) { snprintf(out, n, "35%013d", d); }

static pgw_batch_t *build(int first_dev) {
  char name[32];
  snprintf(name, sizeof name, "bench-%d", first_dev);
  pgw_batch_t *b = pgw_batch_new(name);
  if (!b) return NULL;
  for (int d = first_dev; d < first_dev + devs_per_batch; d++) {
    char imei[32];
    imei_of(d, imei, sizeof imei);
    for (int k = 0; k < PER_DEV; k++)
      if (pgw_batch_add_position(b, imei, BASE_T + (int64_t)k * STEP_S, 57.5 + k * 1e-5,
                                 -20.25 + d * 1e-4, k % 120, k % 360) != 0) {
        pgw_batch_free(b);
        return NULL;
      }
    if (pgw_batch_move_cursor(b, imei, STREAM_PLAYBACK, BASE_T + (PER_DEV - 1) * STEP_S)) {
      pgw_batch_free(b);
      return NULL;
    }
  }
  return b;
}

/* Batch i of the device_state case: devices (i % 10) * 10k .. + 10k, poll cycle i / 10 (a
 * later servertime each cycle); values vary, a few statuses are -1 (stored NULL). */
static pgw_batch_t *build_state(int i) {
  char name[32];
  snprintf(name, sizeof name, "state-%d", i);
  pgw_batch_t *b = pgw_batch_new(name);
  if (!b) return NULL;
  int first = (i % (STATE_DEVS / STATE_BATCH)) * STATE_BATCH;
  int64_t cycle = i / (STATE_DEVS / STATE_BATCH);
  for (int d = first; d < first + STATE_BATCH; d++) {
    char imei[32];
    imei_of(d, imei, sizeof imei);
    int64_t t = BASE_T + cycle * 60;
    pgw_device_state_t st = {
      .imei = imei, .servertime = t, .gpstime = t - d % 50, .hearttime = t - 5,
      .systemtime = t - 2, .longitude = 113.909813 + d * 1e-6 + cycle * 1e-5,
      .latitude = 22.583197 - d * 1e-6, .course = (int)((d + cycle) % 360),
      .speed = (int)((d * 7 + cycle) % 130), .acctime = 1400 + cycle * 60,
      .accstatus = d % 2, .doorstatus = d % 3 == 0 ? -1 : 0, .chargestatus = -1,
      .oilpowerstatus = 1, .defencestatus = d % 5 == 0 ? -1 : 1, .datastatus = 2,
      .battery = d % 7 == 0 ? -1 : d % 101, .mileage = 51654 + d + cycle * 300,
      .todaymileage = d % 4 == 0 ? -1 : cycle * 300};
    if (pgw_batch_add_device_state(b, &st) != 0) {
      pgw_batch_free(b);
      return NULL;
    }
  }
  return b;
}

static void produce(bench_t *s);

static void on_done(pgw_t *w, const pgw_batch_t *batch, const pgw_result_t *res, void *data) {
  bench_t *s = data;
  (void)w;
  (void)batch;
  if (res->status != 0) {
    fprintf(stderr, "bench: %s\n", res->error);
    s->failed = true;
  }
  s->new_rows += s->state ? res->device_states : res->positions_new;
  s->dup_rows += s->state ? STATE_BATCH - res->device_states : res->positions_dup;
  s->done++;
  produce(s);
}

static void produce(bench_t *s) {
  int end = s->state ? STATE_ROWS / STATE_BATCH : NDEV;
  while (s->next_dev < end || s->pending) {
    if (!s->pending) {
      s->pending = s->state ? build_state(s->next_dev) : build(s->next_dev);
      s->next_dev += s->state ? 1 : devs_per_batch;
      if (!s->pending) {
        s->failed = true;
        return;
      }
    }
    int rc = pgw_submit(s->w, s->pending, on_done, s);
    if (rc == -EAGAIN) return;
    if (rc != 0) {
      s->failed = true;
      return;
    }
    s->pending = NULL;
    s->total++;
  }
}

static void on_closed(void *data) { ((bench_t *)data)->closed = true; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One run of 1M rows (positions, or device_state when `state`) through pgw; returns
 * seconds, or -1. */
static double run_pgw(const char *conninfo, bool state, size_t *new_rows, size_t *dup_rows) {
  bench_t s;
  memset(&s, 0, sizeof s);
  s.state = state;
  int end = state ? STATE_ROWS / STATE_BATCH : NDEV;
  if (uv_loop_init(&s.loop) != 0) return -1;
  size_t per_batch = state ? STATE_BATCH : (size_t)devs_per_batch * PER_DEV;
  pgw_options_t opt = {.conninfo = conninfo, .max_queued_rows = per_batch * 5};
  s.w = pgw_new(&s.loop, &opt);
  if (!s.w) return -1;
  double t0 = now_s();
  produce(&s);
  while (!s.failed && (s.next_dev < end || s.pending || s.done < s.total))
    uv_run(&s.loop, UV_RUN_ONCE);
  double t = now_s() - t0;
  pgw_close(s.w, 10000, on_closed, &s);
  while (!s.closed) uv_run(&s.loop, UV_RUN_ONCE);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&s.loop) != 0) fprintf(stderr, "bench: loop not empty\n");
  *new_rows = s.new_rows;
  *dup_rows = s.dup_rows;
  return s.failed ? -1 : t;
}

static int write_copy_file(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  for (int d = 0; d < NDEV; d++) {
    char imei[32];
    imei_of(d, imei, sizeof imei);
    for (int k = 0; k < PER_DEV; k++) {
      time_t t = (time_t)(BASE_T + (int64_t)k * STEP_S);
      struct tm tm;
      gmtime_r(&t, &tm);
      char ts[40];
      strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S+00", &tm);
      fprintf(f, "%s\t%s\t%.17g\t%.17g\t%d\t%d\n", imei, ts, 57.5 + k * 1e-5, -20.25 + d * 1e-4,
              k % 120, k % 360);
    }
  }
  return fclose(f);
}

static int psql(const char *conninfo, const char *command) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "psql -X -q -v ON_ERROR_STOP=1 -d '%s' -c '%s' >/dev/null",
           conninfo && *conninfo ? conninfo : "", command);
  return system(cmd);
}

typedef struct pgw_case {
  const char *name;
  const char *prepare; /* SQL run first, with psql */
  size_t want_new;
  double seconds;
} pgw_case_t;

/* The rows of build()/write_copy_file() for devices [d0, d1) and steps [k0, k1): the key
 * is what matters, the values are close enough. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define PRESTORE(d0, d1, k0, k1)                                                              \
  "INSERT INTO fleetarc.positions SELECT (350000000000000 + d)::text,"                   \
  " to_timestamp(1767225600 + k * 10), 57.5 + k * 1e-5, -20.25 + d * 1e-4, k % 120, k % 360" \
  " FROM generate_series(" STR(d0) ", " STR(d1) " - 1) d,"                                   \
  " generate_series(" STR(k0) ", " STR(k1) " - 1) k"

int main(int argc, char **argv) {
  const char *conninfo = argc > 1 ? argv[1] : "";
  const char *env = getenv("FLEETARC_BENCH_BATCH_DEVS");
  if (env && atoi(env) > 0 && NDEV % atoi(env) == 0) devs_per_batch = atoi(env);
  printf("batches of %d rows\n", devs_per_batch * PER_DEV);
  size_t applied;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) != 0) {
    fprintf(stderr, "bench: migrate: %s\n", err);
    return 1;
  }
  const double rows = (double)NDEV * PER_DEV;
  const size_t all = (size_t)NDEV * PER_DEV;
  pgw_case_t cases[] = {
    {"pgw, empty table", "TRUNCATE fleetarc.positions, fleetarc.cursors", all, 0},
    {"pgw, all rows stored", NULL, 0, 0},
    {"pgw, 1% stored, in every batch",
     "TRUNCATE fleetarc.positions, fleetarc.cursors; " PRESTORE(0, NDEV, 0, 10), all / 100 * 99, 0},
    {"pgw, 1% stored, first 10k rows",
     "TRUNCATE fleetarc.positions, fleetarc.cursors; " PRESTORE(0, 10, 0, PER_DEV),
     all / 100 * 99, 0},
  };
  int bad = 0;
  const char *only = getenv("FLEETARC_BENCH_ONLY");
  if (only && strcmp(only, "state") == 0) goto state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pgw_case_t *c = &cases[i];
    if (c->prepare && psql(conninfo, c->prepare) != 0) return 1;
    size_t n_new, n_dup;
    c->seconds = run_pgw(conninfo, false, &n_new, &n_dup);
    if (c->seconds < 0) return 1;
    printf("%-34s %.0f rows in %.2f s = %7.0f rows/s (new %zu, dup %zu)\n", c->name, rows,
           c->seconds, rows / c->seconds, n_new, n_dup);
    if (n_new != c->want_new || n_new + n_dup != all) {
      fprintf(stderr, "bench: %s: expected %zu new of %zu\n", c->name, c->want_new, all);
      bad = 1;
    }
  }

  char path[] = "/tmp/fleetarc-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  if (write_copy_file(path) != 0) return 1;
  if (psql(conninfo, "TRUNCATE fleetarc.positions") != 0) return 1;
  char copy[512];
  snprintf(copy, sizeof copy, "\\copy fleetarc.positions FROM %s", path);
  double t0 = now_s();
  int rc = psql(conninfo, copy);
  double t_copy = now_s() - t0;
  unlink(path);
  if (rc != 0) return 1;
  printf("%-34s %.0f rows in %.2f s = %7.0f rows/s\n", "plain psql \\copy, empty table", rows,
         t_copy, rows / t_copy);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    printf("ratio to \\copy: %-34s %.2f\n", cases[i].name, t_copy / cases[i].seconds);

state:
  if (psql(conninfo, "TRUNCATE fleetarc.device_state") != 0) return 1;
  size_t n_state, n_stale;
  double t_state = run_pgw(conninfo, true, &n_state, &n_stale);
  if (t_state < 0) return 1;
  printf("%-34s %d rows in %.2f s = %7.0f rows/s (upserted %zu)\n",
         "pgw, device_state upserts", STATE_ROWS, t_state, STATE_ROWS / t_state, n_state);
  if (n_state != STATE_ROWS) {
    fprintf(stderr, "bench: device_state: expected %d upserted, got %zu\n", STATE_ROWS, n_state);
    bad = 1;
  }
  return bad;
}

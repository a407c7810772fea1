/* The PostgreSQL writer (pgw.h): a libpq connection state machine on uv_poll/uv_timer that
 * writes each batch as BEGIN, binary COPY into temp staging tables, INSERT ... SELECT
 * merges, COMMIT. Positions and alarms (the bulk) take a fast path first: binary COPY straight
 * into their tables after a SAVEPOINT; a batch that overlaps stored rows (only after a
 * crash or retry) fails that COPY with unique_violation, rolls back to the savepoint and
 * is merged through staging + ON CONFLICT DO NOTHING like the rest.
 * A row the server refuses for its data (refused_kind) is isolated: the batch is rolled
 * back and retried with that kind merged by fleetarc.isolate_rows (075), which bisects
 * it and keeps each refused row in fleetarc.rejected; the rest commits. Each kind at most once
 * per batch, so a batch takes at most K_COUNT + 1 such attempts; the common path is
 * unchanged.
 * Invariant: a batch's callback runs once, and reports success only after the COMMIT's
 * result; a batch cut off by a lost connection goes back to the queue's head. */
#include "db/pgw.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

/* Kinds of rows, in the order they are copied and merged (cursors last, although in one
 * transaction the order does not change what commits). */
enum {
  K_POSITIONS,
  K_ALARMS,
  K_DEVICE_STATE,
  K_DEVICES,
  K_MILEAGE,
  K_REMOVED, /* devices no longer listed: after K_DEVICES, which clears removed_at */
  K_CURSORS,
  K_COVERAGE, /* covered intervals of playback and alarms (070_coverage.sql) */
  K_GAPS,     /* gaps asked again for late uploads (072_gaps.sql) */
  K_COUNT,
};
_Static_assert(K_COUNT == PGW_KINDS, "pgw.h's PGW_KINDS counts the kinds");

static const char *const kind_table[K_COUNT] = {
  "pgw_positions", "pgw_alarms", "pgw_device_state", "pgw_devices", "pgw_mileage", "pgw_removed",
  "pgw_cursors", "pgw_coverage", "pgw_gaps",
};

/* The table each kind goes to: fleetarc.rejected's source. */
static const char *const kind_source[K_COUNT] = {
  "positions", "alarms", "device_state", "devices", "daily_mileage", "removed", "cursors",
  "coverage_intervals", "gaps",
};

const char *pgw_kind_name(int kind) {
  return kind >= 0 && kind < K_COUNT ? kind_source[kind] : "?";
}


/* Created once per connection. ON COMMIT DELETE ROWS empties them at each COMMIT, so a
 * batch never sees another's rows. Times are staged as UNIX seconds and converted in
 * the merge; seq orders upserts of one key within a batch (the last one wins). Every
 * kind travels as binary COPY, whose fields must have their column's exact width: the
 * staged integers are as wide as the C values (int, int64_t), and a status out of the
 * smallint range fails in the merge's assignment cast (SQLSTATE 22003), as it failed in
 * the text COPY before: that row is then isolated into fleetarc.rejected. */
static const char setup_sql[] =
  "SET client_min_messages = warning;"
  "CREATE TEMP TABLE pgw_positions (imei text, gpstime timestamptz, longitude float8,"
  " latitude float8, speed int, course int) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_alarms (imei text, alarm_type int, gpstime timestamptz,"
  " systemtime timestamptz, longitude float8, latitude float8, speed int, course int,"
  " geofence_id bigint) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_device_state (seq bigint, imei text, servertime bigint,"
  " gpstime bigint, hearttime bigint, systemtime bigint, longitude float8, latitude float8,"
  " course int, speed int, acctime bigint, accstatus int, doorstatus int, chargestatus int,"
  " oilpowerstatus int, defencestatus int, datastatus int, battery int,"
  " mileage bigint, todaymileage bigint) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_devices (seq bigint, imei text, account text, devicename text,"
  " devicetype text, platenumber text, simcard text, iccid text, onlinetime bigint,"
  " platformduetime bigint, activatedtime bigint, userduetime bigint) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_mileage (seq bigint, imei text, day bigint, km float8)"
  " ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_removed (imei text) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_cursors (imei text, stream text, cursor bigint) ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_coverage (imei text, stream text, from_s bigint, to_s bigint)"
  " ON COMMIT DELETE ROWS;"
  "CREATE TEMP TABLE pgw_gaps (seq bigint, imei text, from_s bigint, to_s bigint,"
  " detected_s bigint, next_s bigint, asked_s bigint, attempts int, recovered bigint,"
  " healed_s bigint) ON COMMIT DELETE ROWS;";

/* Positions and alarms travel in binary COPY format, in the column order of these lists,
 * which is both their staging table's and their real table's: the same bytes go straight
 * into fleetarc.positions/alarms (the fast path) or into staging for a merge. */
#define POSITION_COLS "imei, gpstime, longitude, latitude, speed, course"
#define ALARM_COLS \
  "imei, alarm_type, gpstime, systemtime, longitude, latitude, speed, course, geofence_id"

/* Only positions take the direct path. Alarms always go through staging + ON CONFLICT:
 * alarm paging keeps its boundary record (distinct alarms may share a system time, so
 * the archiver cannot drop it), so most alarm pages overlap stored rows by design, and
 * one overlap would send the whole batch, positions included, down the slow path.
 * Alarms are a few percent of the rows: merging them costs little. */
static const char *const direct_copy_sql[K_COUNT] = {
  [K_POSITIONS] = "COPY fleetarc.positions (" POSITION_COLS ") FROM STDIN (FORMAT binary)",
};

static const char *const merge_sql[K_COUNT] = {
  [K_POSITIONS] =
    "INSERT INTO fleetarc.positions (" POSITION_COLS ") SELECT " POSITION_COLS
    " FROM pg_temp.pgw_positions ON CONFLICT DO NOTHING;",
  [K_ALARMS] =
    "INSERT INTO fleetarc.alarms (" ALARM_COLS ") SELECT " ALARM_COLS
    " FROM pg_temp.pgw_alarms ON CONFLICT DO NOTHING;",
  /* A stored record with a later servertime is newer than this one (a retried or late
   * batch): keep it. */
  [K_DEVICE_STATE] =
    "INSERT INTO fleetarc.device_state AS d (imei, servertime, gpstime, hearttime, systemtime,"
    " longitude, latitude, course, speed, acctime, accstatus, doorstatus, chargestatus,"
    " oilpowerstatus, defencestatus, datastatus, battery, mileage, todaymileage, updated_at)"
    " SELECT DISTINCT ON (imei) imei, to_timestamp(servertime), to_timestamp(gpstime),"
    " to_timestamp(hearttime), to_timestamp(systemtime), longitude, latitude, course, speed,"
    " acctime, accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus, datastatus,"
    " battery, mileage, todaymileage, now() FROM pg_temp.pgw_device_state ORDER BY imei, seq DESC"
    " ON CONFLICT (imei) DO UPDATE SET servertime = excluded.servertime,"
    " gpstime = excluded.gpstime, hearttime = excluded.hearttime,"
    " systemtime = excluded.systemtime, longitude = excluded.longitude,"
    " latitude = excluded.latitude, course = excluded.course, speed = excluded.speed,"
    " acctime = excluded.acctime, accstatus = excluded.accstatus,"
    " doorstatus = excluded.doorstatus, chargestatus = excluded.chargestatus,"
    " oilpowerstatus = excluded.oilpowerstatus, defencestatus = excluded.defencestatus,"
    " datastatus = excluded.datastatus, battery = excluded.battery,"
    " mileage = excluded.mileage, todaymileage = excluded.todaymileage,"
    " updated_at = excluded.updated_at"
    " WHERE d.servertime IS NULL OR excluded.servertime IS NULL"
    " OR excluded.servertime >= d.servertime;",
  [K_DEVICES] =
    "INSERT INTO fleetarc.devices AS d (imei, account, devicename, devicetype, platenumber,"
    " simcard, iccid, onlinetime, platformduetime, activatedtime, userduetime, first_seen,"
    " last_seen, removed_at)"
    " SELECT DISTINCT ON (imei) imei, account, devicename, devicetype, platenumber, simcard,"
    " iccid, to_timestamp(onlinetime), to_timestamp(platformduetime),"
    " to_timestamp(activatedtime), to_timestamp(userduetime), now(), now(), NULL"
    " FROM pg_temp.pgw_devices ORDER BY imei, seq DESC"
    " ON CONFLICT (imei) DO UPDATE SET account = excluded.account,"
    " devicename = excluded.devicename, devicetype = excluded.devicetype,"
    " platenumber = excluded.platenumber, simcard = excluded.simcard, iccid = excluded.iccid,"
    " onlinetime = excluded.onlinetime, platformduetime = excluded.platformduetime,"
    " activatedtime = excluded.activatedtime, userduetime = excluded.userduetime,"
    " last_seen = excluded.last_seen, removed_at = NULL;",
  [K_MILEAGE] =
    "INSERT INTO fleetarc.daily_mileage AS m (imei, day, km, updated_at)"
    " SELECT DISTINCT ON (imei, day) imei, day, km, now() FROM"
    " (SELECT seq, imei, (to_timestamp(day) AT TIME ZONE 'UTC')::date AS day, km"
    "  FROM pg_temp.pgw_mileage) s ORDER BY imei, day, seq DESC"
    " ON CONFLICT (imei, day) DO UPDATE SET km = excluded.km, updated_at = excluded.updated_at;",
  /* The first removal's time stays: a device already marked keeps its removed_at. */
  [K_REMOVED] =
    "UPDATE fleetarc.devices SET removed_at = now()"
    " WHERE imei IN (SELECT imei FROM pg_temp.pgw_removed) AND removed_at IS NULL;",
  /* Forward only: the WHERE leaves a cursor that is already further untouched (and
   * uncounted), GREATEST states the intent even if the WHERE is ever relaxed. */
  [K_CURSORS] =
    "INSERT INTO fleetarc.cursors AS c (imei, stream, cursor, updated_at)"
    " SELECT imei, stream, to_timestamp(max(cursor)), now() FROM pg_temp.pgw_cursors"
    " GROUP BY imei, stream"
    " ON CONFLICT (imei, stream) DO UPDATE SET cursor = GREATEST(c.cursor, excluded.cursor),"
    " updated_at = excluded.updated_at WHERE excluded.cursor > c.cursor;",
  /* One merge per interval, in order, so that the intervals of one device merge with
   * each other and with the stored ones (fleetarc.coverage_add). */
  [K_COVERAGE] =
    "SELECT sum(fleetarc.coverage_add(imei, stream, to_timestamp(from_s), to_timestamp(to_s)))"
    " FROM (SELECT * FROM pg_temp.pgw_coverage ORDER BY imei, stream, from_s) s;",
  /* In order of appending: a gap's later state is written after its earlier one. */
  [K_GAPS] =
    "SELECT sum(fleetarc.gap_put(imei, 'playback', to_timestamp(from_s), to_timestamp(to_s),"
    " to_timestamp(detected_s), to_timestamp(next_s), to_timestamp(asked_s), attempts,"
    " recovered, to_timestamp(healed_s)))"
    " FROM (SELECT * FROM pg_temp.pgw_gaps ORDER BY seq) s;",
};

/* COPY data goes to libpq in slices of this size, each after the previous one was flushed
 * to the socket: libpq grows its output buffer without bound in non-blocking mode. */
#define COPY_SLICE (64 * 1024)

/* Months since 1970-01 (UTC) of a UNIX time. */
typedef int32_t month_t;

struct pgw_batch {
  char *name;
  buf_t copy[K_COUNT];       /* binary COPY data per kind (header and tuples) */
  size_t rows[K_COUNT];
  uint32_t seq;              /* upsert order within the batch */
  month_t *months;           /* distinct months of positions and alarms */
  size_t nmonths, capmonths;
  int64_t month_lo, month_hi; /* [lo, hi) of months[nmonths-1]: skips the search per row */

  /* Owned by the writer once submitted. */
  pgw_batch_t *next;
  pgw_batch_cb cb;
  void *cb_data;
  unsigned attempts;
  bool partitions_retried;   /* "no partition" already retried once */
  bool overlapped;           /* its direct COPY met a stored key: retries merge at once */
  unsigned isolate;          /* kinds (1 << K_*) bisected by isolate_rows: a row was refused */

  /* Leases checked in the transaction (pgw_batch_add_fence), before the merges. */
  char *fence_holder;
  char **fence_accounts;
  int64_t *fence_gens;
  size_t nfence, capfence;
};

typedef enum {
  S_BACKOFF,    /* no connection; the timer starts the next attempt */
  S_CONNECTING, /* PQconnectPoll in progress */
  S_SETUP,      /* connected, creating the staging tables */
  S_IDLE,       /* ready, no batch */
  S_BUSY,       /* writing w->cur */
  S_CLOSED,     /* pgw_close finished its work; handles closing */
} pgw_state_t;

typedef enum {
  STEP_NONE,
  STEP_SETUP,
  STEP_PARTITIONS,
  STEP_BEGIN,
  STEP_COPY,
  STEP_FALLBACK, /* ROLLBACK TO SAVEPOINT after the direct COPY met a stored key */
  STEP_MERGE,
  STEP_COMMIT,
  STEP_ROLLBACK,
} pgw_step_t;

typedef enum {
  COPY_WAIT_IN, /* COPY sent, waiting for PGRES_COPY_IN */
  COPY_SENDING, /* putting data; PQgetResult must not be called */
  COPY_RESULT,  /* end sent, waiting for the command's result */
} copy_phase_t;

/* A poll handle lives on the heap: the socket can change while connecting, and a closing
 * handle must outlive its replacement until its close callback. */
typedef struct pgw_poll {
  uv_poll_t handle;
  int fd;
} pgw_poll_t;

struct pgw {
  uv_loop_t *loop;
  pgw_options_t opt;
  char *conninfo;
  PGconn *conn;
  pgw_state_t state;
  pgw_poll_t *poll;
  int poll_events;

  uv_timer_t timer;       /* backoff delay, or connect timeout */
  uv_timer_t op_timer;    /* batch attempt timeout */
  uv_timer_t close_timer; /* drain deadline of pgw_close */
  int open_handles;

  /* The queue, FIFO; cur is the batch being written (not in the list). */
  pgw_batch_t *head, *tail, *cur;
  size_t queued_rows, queued_batches;
  bool paused;

  /* The step of cur (or of the setup) in progress. */
  pgw_step_t step;
  int copy_kind;
  copy_phase_t copy_phase;
  size_t copy_off;
  bool copy_trailer_sent;
  bool direct;            /* this attempt COPYs positions/alarms straight into their tables */
  int merge_kinds[K_COUNT];
  int nmerge, merge_at;
  bool fence_pending;     /* the merge step's first result is the fence's */
  bool want_write;
  char *step_error;       /* first error result of the step; malloc'd */
  char sqlstate[6];
  bool lost_in_step;      /* an error result said the connection is going away */
  bool retry_after_rollback; /* the ROLLBACK step ends in a retry, not a failure */
  bool committed;         /* the step's COMMIT answered COMMIT */
  pgw_result_t result;
  size_t refused[K_COUNT]; /* this attempt's refused rows by kind: counted at its COMMIT */
  buf_t refused_log;       /* and their log lines, logged at its COMMIT */

  month_t *known_months;  /* partitions known to exist (this writer created or saw them) */
  size_t nknown, capknown;
  month_t *pending_months; /* the months the PARTITIONS step is creating */
  size_t npending;

  unsigned failures;      /* consecutive failed connection attempts */
  bool down_logged;       /* "cannot connect"/"lost" was logged; next success says so */
  uint64_t rng;
  pgw_stats_t stats;

  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
};

static void drive(pgw_t *w);
static void step_reset(pgw_t *w, pgw_step_t step);
static void conn_lost(pgw_t *w, const char *why);
static void maybe_start_batch(pgw_t *w);
static void close_check(pgw_t *w);

/* ------------------------------------------------------------------ batches */

pgw_batch_t *pgw_batch_new(const char *name) {
  pgw_batch_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->name = strdup(name ? name : "batch");
  if (!b->name) {
    free(b);
    return NULL;
  }
  b->month_lo = 1;
  b->month_hi = 0; /* empty range: the first row searches */
  return b;
}

void pgw_batch_free(pgw_batch_t *b) {
  if (!b) return;
  for (int k = 0; k < K_COUNT; k++) buf_free(&b->copy[k]);
  for (size_t i = 0; i < b->nfence; i++) free(b->fence_accounts[i]);
  free(b->fence_accounts);
  free(b->fence_gens);
  free(b->fence_holder);
  free(b->months);
  free(b->name);
  free(b);
}

size_t pgw_batch_rows(const pgw_batch_t *b) {
  size_t n = 0;
  for (int k = 0; k < K_COUNT; k++) n += b->rows[k];
  return n;
}

const char *pgw_batch_name(const pgw_batch_t *b) { return b->name; }

/* Years 0..9999 (PostgreSQL's own range ends near 294276): the month number of any of
 * them fits month_t. */
#define PGW_TIME_MIN (-62167219200LL)
#define PGW_TIME_MAX 253402300799LL
int pgw_batch_add_fence(pgw_batch_t *b, const char *holder, const char *account, int64_t gen) {
  if (!b || !holder || !*holder || !account || !*account) return -EINVAL;
  if (b->fence_holder && strcmp(b->fence_holder, holder) != 0) return -EINVAL;
  for (size_t i = 0; i < b->nfence; i++)
    if (strcmp(b->fence_accounts[i], account) == 0) return 0; /* the first generation stays */
  if (!b->fence_holder && !(b->fence_holder = strdup(holder))) return -ENOMEM;
  if (b->nfence == b->capfence) {
    size_t cap = b->capfence ? b->capfence * 2 : 4;
    char **acc = realloc(b->fence_accounts, cap * sizeof *acc);
    if (!acc) return -ENOMEM;
    b->fence_accounts = acc;
    int64_t *g = realloc(b->fence_gens, cap * sizeof *g);
    if (!g) return -ENOMEM;
    b->fence_gens = g;
    b->capfence = cap;
  }
  if (!(b->fence_accounts[b->nfence] = strdup(account))) return -ENOMEM;
  b->fence_gens[b->nfence++] = gen;
  return 0;
}

/* The batch's fence statement (096_leases.sql), escaped for this connection; 0 or -ENOMEM. */
static int fence_sql(PGconn *conn, const pgw_batch_t *b, buf_t *sql) {
  int rc = buf_puts(sql, "SELECT fleetarc.lease_fence(ARRAY[");
  for (size_t i = 0; i < b->nfence && rc == 0; i++) {
    char *lit = PQescapeLiteral(conn, b->fence_accounts[i], strlen(b->fence_accounts[i]));
    if (!lit) return -ENOMEM;
    rc = buf_printf(sql, "%s%s", i ? "," : "", lit);
    PQfreemem(lit);
  }
  if (rc == 0) rc = buf_puts(sql, "]::text[], ARRAY[");
  for (size_t i = 0; i < b->nfence && rc == 0; i++)
    rc = buf_printf(sql, "%s%lld", i ? "," : "", (long long)b->fence_gens[i]);
  char *lit = rc == 0 ? PQescapeLiteral(conn, b->fence_holder, strlen(b->fence_holder)) : NULL;
  if (rc == 0 && !lit) return -ENOMEM;
  if (rc == 0) rc = buf_printf(sql, "]::bigint[], %s);", lit);
  PQfreemem(lit);
  return rc;
}

static void month_range(int64_t t, month_t *m, int64_t *lo, int64_t *hi) {
  time_t tt = (time_t)t;
  /* A time gmtime cannot represent (a garbage clock), or beyond year 9999 (2^53 s: the
   * month number overflowed an int), counts as 1970-01: the batch then fails on the
   * server for that row's time, not on an uninitialised or overflowed month here. */
  struct tm tm = {.tm_year = 70, .tm_mday = 1};
  if (t < PGW_TIME_MIN || t > PGW_TIME_MAX || !gmtime_r(&tt, &tm))
    tm = (struct tm){.tm_year = 70, .tm_mday = 1};
  *m = (month_t)(((int64_t)tm.tm_year - 70) * 12 + tm.tm_mon);
  struct tm start = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
  *lo = (int64_t)timegm(&start);
  start.tm_mon++;
  *hi = (int64_t)timegm(&start);
}

static int64_t month_start(month_t m) {
  struct tm tm = {.tm_year = 70 + m / 12 - (m % 12 < 0), .tm_mon = ((m % 12) + 12) % 12, .tm_mday = 1};
  return (int64_t)timegm(&tm);
}

static int note_month(pgw_batch_t *b, int64_t gpstime) {
  if (gpstime >= b->month_lo && gpstime < b->month_hi) return 0;
  month_t m;
  month_range(gpstime, &m, &b->month_lo, &b->month_hi);
  for (size_t i = 0; i < b->nmonths; i++)
    if (b->months[i] == m) return 0;
  if (b->nmonths == b->capmonths) {
    size_t cap = b->capmonths ? b->capmonths * 2 : 4;
    month_t *p = realloc(b->months, cap * sizeof *p);
    if (!p) return -ENOMEM;
    b->months = p;
    b->capmonths = cap;
  }
  b->months[b->nmonths++] = m;
  return 0;
}

static bool bad_imei(const char *imei) { return !imei || !*imei; }

/* ---- binary COPY (every kind): no printf or escaping on our side, no number parsing on
 * the server's. A tuple is a 16-bit field count, then per field a 32-bit length (-1:
 * NULL) and the value, all big-endian; the stream starts with a fixed header and ends
 * with a -1 count. Text fields are their bytes as they are (the server still checks
 * their encoding). */

static const char copy_binary_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char copy_binary_trailer[2] = {'\377', '\377'};

static char *put_be(char *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) *p++ = (char)(v >> (8 * i));
  return p;
}
static char *put_field_i32(char *p, int32_t v) { return put_be(put_be(p, 4, 4), (uint32_t)v, 4); }
static char *put_field_i64(char *p, int64_t v) { return put_be(put_be(p, 8, 4), (uint64_t)v, 8); }
/* NULL when v is the field's "unknown" value (0 for times, -1 for statuses). */
static char *put_field_null(char *p) { return put_be(p, UINT32_MAX, 4); }
static char *put_field_i32_or_null(char *p, int32_t v, int32_t null_value) {
  return v == null_value ? put_field_null(p) : put_field_i32(p, v);
}
static char *put_field_i64_or_null(char *p, int64_t v, int64_t null_value) {
  return v == null_value ? put_field_null(p) : put_field_i64(p, v);
}
static char *put_field_f64(char *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return put_be(put_be(p, 8, 4), u, 8);
}

/* UNIX seconds as a timestamptz: microseconds since 2000-01-01 UTC. A time beyond what
 * the arithmetic can hold becomes a value the server rejects as out of range (SQLSTATE
 * 22008), as to_timestamp() did: the batch fails for its data, nothing wraps around. */
static char *put_field_time(char *p, int64_t t) {
  const int64_t limit = 9000000000000LL; /* ~285,000 years: beyond PostgreSQL's range */
  int64_t us = t > limit || t < -limit ? INT64_MAX - 1 : (t - 946684800LL) * 1000000LL;
  return put_field_i64(p, us);
}

static void buf_truncate(buf_t *o, size_t len) {
  o->len = len;
  if (o->data) o->data[len] = '\0';
}

/* A tuple's field count (after the stream's header when it is the first). */
static int put_tuple_start(buf_t *o, int nfields) {
  int rc = 0;
  if (o->len == 0) rc = buf_append(o, copy_binary_header, sizeof copy_binary_header);
  char count[2];
  put_be(count, (uint64_t)nfields, 2);
  if (rc == 0) rc = buf_append(o, count, sizeof count);
  return rc;
}

/* A text field; NULL is SQL NULL. */
static int put_field_text(buf_t *o, const char *s) {
  char len[4];
  if (!s) {
    put_field_null(len);
    return buf_append(o, len, sizeof len);
  }
  size_t n = strlen(s);
  if (n > INT32_MAX) return -EINVAL;
  put_be(len, n, 4);
  int rc = buf_append(o, len, sizeof len);
  if (rc == 0) rc = buf_append(o, s, n);
  return rc;
}

/* The tuple's field count and its imei (the first field). */
static int put_binary_head(buf_t *o, int nfields, const char *imei) {
  int rc = put_tuple_start(o, nfields);
  if (rc == 0) rc = put_field_text(o, imei);
  return rc;
}

/* The field count and seq of an upsert's tuple, then its imei: the upsert staging
 * tables' first columns. */
static int put_upsert_head(buf_t *o, int nfields, uint32_t seq, const char *imei) {
  char field[12];
  int rc = put_tuple_start(o, nfields);
  if (rc == 0) rc = buf_append(o, field, (size_t)(put_field_i64(field, seq) - field));
  if (rc == 0) rc = put_field_text(o, imei);
  return rc;
}

int pgw_batch_add_position(pgw_batch_t *b, const char *imei, int64_t gpstime, double longitude,
                           double latitude, int speed, int course) {
  if (bad_imei(imei)) return -EINVAL;
  buf_t *o = &b->copy[K_POSITIONS];
  size_t undo = o->len;
  char tail[64], *p = tail;
  p = put_field_time(p, gpstime);
  p = put_field_f64(p, longitude);
  p = put_field_f64(p, latitude);
  p = put_field_i32(p, speed);
  p = put_field_i32(p, course);
  int rc = note_month(b, gpstime);
  if (rc == 0) rc = put_binary_head(o, 6, imei);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_POSITIONS]++;
  else
    buf_truncate(o, undo); /* no half tuple: it would shift every later one */
  return rc;
}

int pgw_batch_add_alarm(pgw_batch_t *b, const char *imei, int alarm_type, int64_t gpstime,
                        int64_t systemtime, double longitude, double latitude, int speed,
                        int course, int64_t geofence_id) {
  if (bad_imei(imei)) return -EINVAL;
  buf_t *o = &b->copy[K_ALARMS];
  size_t undo = o->len;
  char tail[96], *p = tail;
  p = put_field_i32(p, alarm_type);
  p = put_field_time(p, gpstime);
  p = put_field_time(p, systemtime);
  p = put_field_f64(p, longitude);
  p = put_field_f64(p, latitude);
  p = put_field_i32(p, speed);
  p = put_field_i32(p, course);
  p = put_field_i64(p, geofence_id);
  int rc = note_month(b, gpstime);
  if (rc == 0) rc = put_binary_head(o, 9, imei);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_ALARMS]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_add_device_state(pgw_batch_t *b, const pgw_device_state_t *s) {
  if (!s || bad_imei(s->imei)) return -EINVAL;
  buf_t *o = &b->copy[K_DEVICE_STATE];
  size_t undo = o->len;
  char tail[256], *p = tail;
  /* Times: 0 is "never"; statuses, battery and mileages: -1 is "no such status". */
  p = put_field_i64_or_null(p, s->servertime, 0);
  p = put_field_i64_or_null(p, s->gpstime, 0);
  p = put_field_i64_or_null(p, s->hearttime, 0);
  p = put_field_i64_or_null(p, s->systemtime, 0);
  p = put_field_f64(p, s->longitude);
  p = put_field_f64(p, s->latitude);
  p = put_field_i32(p, s->course);
  p = put_field_i32(p, s->speed);
  p = put_field_i64(p, s->acctime);
  p = put_field_i32_or_null(p, s->accstatus, -1);
  p = put_field_i32_or_null(p, s->doorstatus, -1);
  p = put_field_i32_or_null(p, s->chargestatus, -1);
  p = put_field_i32_or_null(p, s->oilpowerstatus, -1);
  p = put_field_i32_or_null(p, s->defencestatus, -1);
  p = put_field_i32(p, s->datastatus);
  p = put_field_i32_or_null(p, s->battery, -1);
  p = put_field_i64_or_null(p, s->mileage, -1);
  p = put_field_i64_or_null(p, s->todaymileage, -1);
  int rc = put_upsert_head(o, 20, ++b->seq, s->imei);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_DEVICE_STATE]++;
  else
    buf_truncate(o, undo); /* no half tuple: it would shift every later one */
  return rc;
}

int pgw_batch_add_device(pgw_batch_t *b, const pgw_device_t *d) {
  if (!d || bad_imei(d->imei) || !d->account) return -EINVAL;
  buf_t *o = &b->copy[K_DEVICES];
  size_t undo = o->len;
  const char *texts[] = {d->account, d->devicename, d->devicetype, d->platenumber, d->simcard,
                         d->iccid};
  int rc = put_upsert_head(o, 12, ++b->seq, d->imei);
  for (size_t i = 0; rc == 0 && i < sizeof texts / sizeof texts[0]; i++)
    rc = put_field_text(o, texts[i]);
  char tail[64], *p = tail;
  p = put_field_i64_or_null(p, d->onlinetime, 0);
  p = put_field_i64_or_null(p, d->platformduetime, 0);
  p = put_field_i64_or_null(p, d->activatedtime, 0);
  p = put_field_i64_or_null(p, d->userduetime, 0);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_DEVICES]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_add_mileage(pgw_batch_t *b, const char *imei, int64_t day, double km) {
  if (bad_imei(imei)) return -EINVAL;
  buf_t *o = &b->copy[K_MILEAGE];
  size_t undo = o->len;
  char tail[32], *p = tail;
  p = put_field_i64(p, day);
  p = put_field_f64(p, km);
  int rc = put_upsert_head(o, 4, ++b->seq, imei);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_MILEAGE]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_mark_removed(pgw_batch_t *b, const char *imei) {
  if (bad_imei(imei)) return -EINVAL;
  buf_t *o = &b->copy[K_REMOVED];
  size_t undo = o->len;
  int rc = put_binary_head(o, 1, imei);
  if (rc == 0)
    b->rows[K_REMOVED]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_move_cursor(pgw_batch_t *b, const char *imei, stream_t stream, int64_t cursor) {
  if ((unsigned)stream > STREAM_MILEAGE) return -EINVAL;
  return pgw_batch_move_cursor_key(b, imei, stream_name(stream), cursor);
}

int pgw_batch_move_cursor_key(pgw_batch_t *b, const char *imei, const char *stream_key,
                              int64_t cursor) {
  if (bad_imei(imei) || !stream_key || !*stream_key) return -EINVAL;
  buf_t *o = &b->copy[K_CURSORS];
  size_t undo = o->len;
  char field[12];
  int rc = put_binary_head(o, 3, imei);
  if (rc == 0) rc = put_field_text(o, stream_key);
  if (rc == 0) rc = buf_append(o, field, (size_t)(put_field_i64(field, cursor) - field));
  if (rc == 0)
    b->rows[K_CURSORS]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_add_coverage(pgw_batch_t *b, const char *imei, stream_t stream, int64_t from,
                           int64_t to) {
  if (bad_imei(imei) || (stream != STREAM_PLAYBACK && stream != STREAM_ALARMS) ||
      to < from)
    return -EINVAL;
  buf_t *o = &b->copy[K_COVERAGE];
  size_t undo = o->len;
  char tail[32], *p = tail;
  p = put_field_i64(p, from);
  p = put_field_i64(p, to);
  int rc = put_binary_head(o, 4, imei);
  if (rc == 0) rc = put_field_text(o, stream_name(stream));
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_COVERAGE]++;
  else
    buf_truncate(o, undo);
  return rc;
}

int pgw_batch_add_gap(pgw_batch_t *b, const pgw_gap_t *g) {
  if (!g || bad_imei(g->imei) || g->to < g->from || g->attempts < 0 || g->recovered < 0)
    return -EINVAL;
  buf_t *o = &b->copy[K_GAPS];
  size_t undo = o->len;
  char tail[128], *p = tail;
  p = put_field_i64(p, g->from);
  p = put_field_i64(p, g->to);
  p = put_field_i64(p, g->detected_at);
  p = put_field_i64(p, g->next_at);
  p = put_field_i64_or_null(p, g->last_asked, 0);
  p = put_field_i32(p, g->attempts);
  p = put_field_i64(p, g->recovered);
  p = put_field_i64_or_null(p, g->healed_at, 0);
  int rc = put_upsert_head(o, 10, (uint32_t)b->rows[K_GAPS], g->imei);
  if (rc == 0) rc = buf_append(o, tail, (size_t)(p - tail));
  if (rc == 0)
    b->rows[K_GAPS]++;
  else
    buf_truncate(o, undo);
  return rc;
}

/* ------------------------------------------------------------------ queue */

static void pressure_update(pgw_t *w) {
  if (!w->paused && w->queued_rows >= w->opt.max_queued_rows) {
    w->paused = true;
    if (w->opt.on_pressure) w->opt.on_pressure(w, true, w->opt.data);
  } else if (w->paused && w->queued_rows <= w->opt.max_queued_rows / 2) {
    w->paused = false;
    if (w->opt.on_pressure) w->opt.on_pressure(w, false, w->opt.data);
  }
}

static pgw_batch_t *queue_pop(pgw_t *w) {
  pgw_batch_t *b = w->head;
  if (!b) return NULL;
  w->head = b->next;
  if (!w->head) w->tail = NULL;
  b->next = NULL;
  w->queued_batches--;
  return b; /* its rows stay counted in queued_rows while it is cur */
}

static void queue_push_front(pgw_t *w, pgw_batch_t *b) {
  b->next = w->head;
  w->head = b;
  if (!w->tail) w->tail = b;
  w->queued_batches++;
}

/* Ends a batch: the callback, then the batch is freed and its rows released. */
static void batch_finish(pgw_t *w, pgw_batch_t *b, int status, const char *error) {
  pgw_result_t res = w->result;
  /* Counts of a transaction that did not commit mean nothing. */
  if (b != w->cur || status != 0) memset(&res, 0, sizeof res);
  res.status = status;
  res.error = status == 0 ? NULL : error;
  res.attempts = b->attempts;
  if (status == 0) {
    w->stats.batches_committed++;
  } else if (status == -EIO) {
    w->stats.batches_failed++;
    log_error("pgw: %s", error);
  }
  w->queued_rows -= pgw_batch_rows(b);
  if (b == w->cur) w->cur = NULL;
  b->cb(w, b, &res, b->cb_data);
  pgw_batch_free(b);
  pressure_update(w);
}

static void cancel_all(pgw_t *w, const char *why) {
  char msg[512];
  if (w->cur) {
    pgw_batch_t *b = w->cur;
    snprintf(msg, sizeof msg, "batch %s: %s", b->name, why);
    batch_finish(w, b, -ECANCELED, msg);
  }
  pgw_batch_t *b;
  while ((b = queue_pop(w))) {
    snprintf(msg, sizeof msg, "batch %s: %s", b->name, why);
    batch_finish(w, b, -ECANCELED, msg);
  }
}

/* ------------------------------------------------------------------ handles */

static void on_close_handle(uv_handle_t *h) {
  pgw_t *w = h->data;
  if (h->type == UV_POLL) free(h);
  w->open_handles--;
  if (w->open_handles == 0 && w->state == S_CLOSED) {
    void (*cb)(void *) = w->close_cb;
    void *data = w->close_data;
    free(w->conninfo);
    free(w->known_months);
    free(w->pending_months);
    free(w->step_error);
    buf_free(&w->refused_log);
    free(w);
    if (cb) cb(data);
  }
}

static void unwatch(pgw_t *w) {
  if (!w->poll) return;
  uv_close((uv_handle_t *)&w->poll->handle, on_close_handle);
  w->poll = NULL;
  w->poll_events = 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Polls the connection's current socket for `events`; a new socket gets a new handle.
 * `fresh` forces a new handle (while connecting, libpq may have replaced the socket by
 * another with the same number, which the old registration would not see). */
static int watch(pgw_t *w, int events, bool fresh) {
  int fd = PQsocket(w->conn);
  if (fd < 0) return -EBADF;
  if (w->poll && (fresh || w->poll->fd != fd)) unwatch(w);
  if (!w->poll) {
    pgw_poll_t *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    int rc = uv_poll_init(w->loop, &p->handle, fd);
    if (rc < 0) {
      free(p);
      return rc;
    }
    p->handle.data = w;
    p->fd = fd;
    w->open_handles++;
    w->poll = p;
    w->poll_events = 0;
  }
  if (w->poll_events != events) {
    int rc = uv_poll_start(&w->poll->handle, events, on_poll);
    if (rc < 0) return rc;
    w->poll_events = events;
  }
  return 0;
}

/* ------------------------------------------------------------------ connection */

static uint64_t rng_next(pgw_t *w) {
  /* xorshift64*: jitter only, no need for quality. */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ULL;
}

static void drop_conn(pgw_t *w) {
  unwatch(w); /* before PQfinish, which closes the socket */
  uv_timer_stop(&w->timer);
  uv_timer_stop(&w->op_timer);
  if (w->conn) PQfinish(w->conn);
  w->conn = NULL;
  w->step = STEP_NONE;
  w->want_write = false;
}

static void on_timer(uv_timer_t *t);

static void schedule_reconnect(pgw_t *w) {
  w->state = S_BACKOFF;
  unsigned shift = w->failures > 16 ? 16 : w->failures;
  uint64_t delay = (uint64_t)w->opt.backoff_min_ms << shift;
  if (delay > w->opt.backoff_max_ms) delay = w->opt.backoff_max_ms;
  /* Equal jitter: [delay/2, delay], so that writers restarted together spread out. */
  delay = delay / 2 + rng_next(w) % (delay / 2 + 1);
  w->failures++;
  log_debug("pgw: next connection attempt in %llu ms", (unsigned long long)delay);
  uv_timer_start(&w->timer, on_timer, delay, 0);
}

/* A connection attempt failed (never established). */
static void conn_failed(pgw_t *w, const char *why) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", why ? why : "unknown error");
  msg[strcspn(msg, "\n")] = '\0';
  drop_conn(w);
  if (w->closing) {
    cancel_all(w, "writer closed while PostgreSQL was unreachable; not written");
    close_check(w);
    return;
  }
  if (!w->down_logged) {
    log_warn("pgw: cannot connect to PostgreSQL: %s; retrying with backoff", msg);
    w->down_logged = true;
  } else {
    log_debug("pgw: connection attempt %u failed: %s", w->failures, msg);
  }
  schedule_reconnect(w);
}

static void conn_start(pgw_t *w) {
  const char *keys[3] = {"fallback_application_name", NULL, NULL};
  const char *vals[3] = {"fleetarc", NULL, NULL};
  if (w->conninfo) {
    keys[1] = "dbname";
    vals[1] = w->conninfo;
  }
  w->state = S_CONNECTING;
  w->conn = PQconnectStartParams(keys, vals, 1);
  if (!w->conn) {
    conn_failed(w, "out of memory");
    return;
  }
  if (PQstatus(w->conn) == CONNECTION_BAD) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  /* connect_timeout is not applied by PQconnectPoll: our own timer does it. */
  uv_timer_start(&w->timer, on_timer, w->opt.connect_timeout_ms, 0);
  /* As if PQconnectPoll had answered PGRES_POLLING_WRITING (libpq's documented start). */
  int rc = watch(w, UV_WRITABLE, true);
  if (rc < 0) conn_failed(w, uv_strerror(rc));
}

static void cb_notice(void *arg, const char *message) {
  (void)arg;
  log_debug("pgw: server: %.*s", (int)strcspn(message, "\n"), message);
}

/* The connect timer keeps running through the setup step: a server that accepts but
 * never answers is a failed attempt too. */
static void connected(pgw_t *w) {
  if (PQsetnonblocking(w->conn, 1) != 0) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  PQsetNoticeProcessor(w->conn, cb_notice, NULL);
  w->state = S_SETUP;
  step_reset(w, STEP_SETUP); /* nothing of the last connection's errors carries over */
  if (!PQsendQuery(w->conn, setup_sql)) {
    conn_failed(w, PQerrorMessage(w->conn));
    return;
  }
  drive(w);
}

static void connect_poll(pgw_t *w) {
  /* Drop the registration first: PQconnectPoll may close this socket and open another. */
  unwatch(w);
  switch (PQconnectPoll(w->conn)) {
    case PGRES_POLLING_READING:
      if (watch(w, UV_READABLE, true) < 0) conn_failed(w, "cannot poll the socket");
      break;
    case PGRES_POLLING_WRITING:
      if (watch(w, UV_WRITABLE, true) < 0) conn_failed(w, "cannot poll the socket");
      break;
    case PGRES_POLLING_OK:
      connected(w);
      break;
    default:
      conn_failed(w, PQerrorMessage(w->conn));
      break;
  }
}

/* An established connection went away (or a batch timed out): the batch in flight goes
 * back to the head of the queue, nothing of it counts as written. */
static void conn_lost(pgw_t *w, const char *why) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", why && *why ? why : "connection closed");
  msg[strcspn(msg, "\n")] = '\0';
  bool was_setup = w->state == S_SETUP;
  drop_conn(w);
  w->stats.connection_losses++;
  if (w->cur) {
    log_warn("pgw: batch %s interrupted (%s); it will be retried", w->cur->name, msg);
    w->stats.batches_retried++;
    queue_push_front(w, w->cur);
    w->cur = NULL;
  }
  if (w->closing) {
    cancel_all(w, "writer closed after the connection was lost; not written");
    close_check(w);
    return;
  }
  if (!w->down_logged) {
    log_warn("pgw: %s PostgreSQL: %s; reconnecting",
             was_setup ? "cannot set up the connection to" : "lost the connection to", msg);
    w->down_logged = true;
  } else {
    log_debug("pgw: connection lost again: %s", msg);
  }
  schedule_reconnect(w);
}

static void on_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  if (w->state == S_BACKOFF)
    conn_start(w);
  else if (w->state == S_CONNECTING)
    conn_failed(w, "connection attempt timed out");
  else if (w->state == S_SETUP)
    conn_lost(w, "connection set-up timed out");
}

static void on_op_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  char msg[256];
  snprintf(msg, sizeof msg, "batch %s took longer than %u ms", w->cur ? w->cur->name : "?",
           w->opt.batch_timeout_ms);
  conn_lost(w, msg);
}

/* ------------------------------------------------------------------ steps */

static bool month_known(const pgw_t *w, month_t m) {
  for (size_t i = 0; i < w->nknown; i++)
    if (w->known_months[i] == m) return true;
  return false;
}

static int remember_month(pgw_t *w, month_t m) {
  if (month_known(w, m)) return 0;
  if (w->nknown == w->capknown) {
    size_t cap = w->capknown ? w->capknown * 2 : 16;
    month_t *p = realloc(w->known_months, cap * sizeof *p);
    if (!p) return -ENOMEM;
    w->known_months = p;
    w->capknown = cap;
  }
  w->known_months[w->nknown++] = m;
  return 0;
}

static int cmp_month(const void *a, const void *b) {
  month_t x = *(const month_t *)a, y = *(const month_t *)b;
  return (x > y) - (x < y);
}

/* The SQL that creates the batch's missing partitions, NULL when none is missing. Runs
 * outside the batch's transaction so that the DDL's locks are released at once. */
static char *partitions_sql(pgw_t *w, const pgw_batch_t *b) {
  free(w->pending_months);
  w->pending_months = NULL;
  w->npending = 0;
  if (b->nmonths == 0) return NULL;
  w->pending_months = malloc(b->nmonths * sizeof(month_t));
  if (!w->pending_months) return NULL;
  for (size_t i = 0; i < b->nmonths; i++)
    if (!month_known(w, b->months[i])) w->pending_months[w->npending++] = b->months[i];
  if (w->npending == 0) return NULL;
  qsort(w->pending_months, w->npending, sizeof(month_t), cmp_month);
  buf_t sql = BUF_INIT;
  int rc = buf_puts(&sql, "SELECT 0");
  /* Contiguous months make one call each: an outlier (a device clock at 1970) must not
   * make every month in between. */
  for (size_t i = 0; rc == 0 && i < w->npending;) {
    size_t j = i;
    while (j + 1 < w->npending && w->pending_months[j + 1] == w->pending_months[j] + 1) j++;
    rc = buf_printf(&sql, " + fleetarc.ensure_partitions(to_timestamp(%lld), to_timestamp(%lld))",
                    (long long)month_start(w->pending_months[i]),
                    (long long)month_start(w->pending_months[j]));
    i = j + 1;
  }
  if (rc < 0) {
    buf_free(&sql);
    return NULL;
  }
  return buf_steal(&sql);
}

static int next_copy_kind(const pgw_batch_t *b, int after) {
  for (int k = after + 1; k < K_COUNT; k++)
    if (b->rows[k] > 0) return k;
  return -1;
}

static void step_reset(pgw_t *w, pgw_step_t step) {
  w->step = step;
  free(w->step_error);
  w->step_error = NULL;
  w->sqlstate[0] = '\0';
  w->lost_in_step = false;
  w->retry_after_rollback = false;
  w->committed = false;
}

/* Sends `sql` for the step; false when the connection is gone (conn_lost was called). */
static bool send_query(pgw_t *w, pgw_step_t step, const char *sql) {
  step_reset(w, step);
  if (!PQsendQuery(w->conn, sql)) {
    conn_lost(w, PQerrorMessage(w->conn));
    return false;
  }
  return true;
}

/* The BEGIN of an attempt: with a savepoint to fall back to when the direct COPY meets a
 * stored key. */
static const char *begin_sql(const pgw_t *w) {
  return w->direct ? "BEGIN; SAVEPOINT pgw_direct" : "BEGIN";
}

/* COPY of `kind`; with_begin puts the BEGIN in front, in the same query string, which
 * saves a round trip per batch (the server runs the statements of a simple query one
 * after another, COPY included; on an error it skips the rest). */
static bool start_copy(pgw_t *w, int kind, bool with_begin) {
  char sql[224];
  const char *pre = with_begin ? begin_sql(w) : "";
  const char *sep = with_begin ? "; " : "";
  if (w->direct && direct_copy_sql[kind])
    snprintf(sql, sizeof sql, "%s%s%s", pre, sep, direct_copy_sql[kind]);
  else
    snprintf(sql, sizeof sql, "%s%sCOPY pg_temp.%s FROM STDIN (FORMAT binary)", pre, sep,
             kind_table[kind]);
  w->copy_kind = kind;
  w->copy_phase = COPY_WAIT_IN;
  w->copy_off = 0;
  w->copy_trailer_sent = false;
  return send_query(w, STEP_COPY, sql);
}

static bool start_merge(pgw_t *w) {
  buf_t sql = BUF_INIT;
  int rc = 0;
  w->nmerge = 0;
  w->merge_at = 0;
  w->fence_pending = w->cur->nfence > 0;
  if (w->fence_pending) rc = fence_sql(w->conn, w->cur, &sql);
  if (w->direct) {
    /* The direct COPYs went through: every row of them is new. */
    w->result.positions_new = w->cur->rows[K_POSITIONS];
  }
  for (int k = 0; k < K_COUNT && rc == 0; k++) {
    if (w->cur->rows[k] == 0 || (w->direct && direct_copy_sql[k])) continue;
    w->merge_kinds[w->nmerge++] = k;
    if (w->cur->isolate & (1u << k))
      rc = buf_printf(&sql,
                      "SELECT * FROM fleetarc.isolate_rows('%s', $pgw$%s$pgw$, '%s');",
                      kind_table[k], merge_sql[k], kind_source[k]);
    else
      rc = buf_puts(&sql, merge_sql[k]);
  }
  /* The COMMIT goes with the merges: one round trip less; its result comes last. */
  if (rc == 0) rc = buf_puts(&sql, "COMMIT;");
  bool ok;
  if (rc < 0) {
    conn_lost(w, "out of memory");
    ok = false;
  } else if (w->nmerge == 0 && !w->fence_pending) {
    ok = send_query(w, STEP_COMMIT, "COMMIT");
  } else {
    ok = send_query(w, STEP_MERGE, sql.data);
  }
  buf_free(&sql);
  return ok;
}

/* Opens the attempt's transaction: with its first COPY, or alone for a batch of no rows. */
static bool begin_batch(pgw_t *w) {
  int k = next_copy_kind(w->cur, -1);
  if (k >= 0) return start_copy(w, k, true);
  return send_query(w, STEP_BEGIN, begin_sql(w));
}

/* Takes the next batch if ready and idle. */
static void maybe_start_batch(pgw_t *w) {
  if (w->state != S_IDLE || w->cur || !w->head) return;
  pgw_batch_t *b = queue_pop(w);
  w->cur = b;
  w->state = S_BUSY;
  b->attempts++;
  memset(&w->result, 0, sizeof w->result);
  memset(w->refused, 0, sizeof w->refused);
  buf_truncate(&w->refused_log, 0);
  uv_timer_start(&w->op_timer, on_op_timer, w->opt.batch_timeout_ms, 0);
  /* The fast path, unless the batch already met stored keys in an earlier attempt. */
  w->direct = !b->overlapped && !b->isolate && (b->rows[K_POSITIONS] > 0 || b->rows[K_ALARMS] > 0);
  char *sql = partitions_sql(w, b);
  bool ok = sql ? send_query(w, STEP_PARTITIONS, sql) : begin_batch(w);
  free(sql);
  (void)ok; /* on false, conn_lost has already requeued the batch */
}

/* The batch committed (or failed for its data): report it and take the next one. */
static void batch_done(pgw_t *w, int status, const char *error) {
  uv_timer_stop(&w->op_timer);
  if (status == 0) {
    for (int k = 0; k < K_COUNT; k++) w->stats.rows_rejected[k] += w->refused[k];
    for (char *line = w->refused_log.data, *end; line && (end = strchr(line, '\n')); line = end + 1) {
      *end = '\0';
      log_warn("%s", line);
    }
  }
  w->state = S_IDLE;
  w->step = STEP_NONE;
  batch_finish(w, w->cur, status, error);
  if (w->state != S_IDLE) return; /* the callback closed the writer */
  close_check(w);
  maybe_start_batch(w);
}

/* A class of SQLSTATE that says "try again on a fresh connection", not "bad data":
 * connection exceptions (08), transaction rollbacks (40: serialization, deadlock),
 * insufficient resources (53), operator intervention (57: shutdown, cancel), system (58). */
static bool sqlstate_transient(const char *s) {
  return strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 || strncmp(s, "53", 2) == 0 ||
         strncmp(s, "57", 2) == 0 || strncmp(s, "58", 2) == 0;
}

/* The kind of rows whose statement failed with an error that a single row's data can
 * cause (data exception 22, integrity constraint 23, program limit 54), or -1: the
 * error is of another kind, or came from a step that cannot be bisected (a
 * COPY into staging refuses only what no row of ours can hold). */
static int refused_kind(const pgw_t *w) {
  const char *s = w->sqlstate;
  if (strncmp(s, "22", 2) != 0 && strncmp(s, "23", 2) != 0 && strncmp(s, "54", 2) != 0)
    return -1;
  if (w->step == STEP_COPY && w->direct && direct_copy_sql[w->copy_kind]) return w->copy_kind;
  if (w->step == STEP_MERGE && w->merge_at < w->nmerge) return w->merge_kinds[w->merge_at];
  return -1;
}

/* The step's results are all in (PQgetResult returned NULL): go on, or handle its error. */
static void step_finished(pgw_t *w) {
  pgw_batch_t *b = w->cur;
  if (w->step == STEP_SETUP) {
    if (w->step_error) {
      char msg[600];
      snprintf(msg, sizeof msg, "creating staging tables: %s", w->step_error);
      conn_lost(w, msg);
      return;
    }
    uv_timer_stop(&w->timer);
    w->step = STEP_NONE;
    w->stats.connects++;
    if (w->down_logged)
      log_info("pgw: connected to PostgreSQL after %u failed attempt%s", w->failures,
               w->failures == 1 ? "" : "s");
    else
      log_debug("pgw: connected to PostgreSQL");
    w->down_logged = false;
    w->failures = 0;
    w->state = S_IDLE;
    if (w->closing && !w->head) {
      close_check(w);
      return;
    }
    maybe_start_batch(w);
    return;
  }

  if (w->step == STEP_ROLLBACK) {
    /* After a data error: the batch is dropped with the error saved in step_error. */
    char *err = w->step_error ? w->step_error : strdup("rollback");
    w->step_error = NULL;
    if (w->retry_after_rollback && (w->lost_in_step || PQstatus(w->conn) == CONNECTION_BAD)) {
      free(err);
      conn_lost(w, "connection lost during ROLLBACK"); /* the batch goes back to the queue */
      return;
    }
    if (w->lost_in_step || PQstatus(w->conn) == CONNECTION_BAD) {
      /* The rollback could not be confirmed, but the batch's fate is decided (bad data):
       * report it and reconnect for the next one. */
      uv_timer_stop(&w->op_timer);
      w->state = S_IDLE;
      batch_finish(w, b, -EIO, err ? err : "data error");
      free(err);
      conn_lost(w, "connection lost during ROLLBACK");
      return;
    }
    if (w->retry_after_rollback) {
      /* The partitions were gone, or a kind of rows is now isolated: retry at once. */
      free(err);
      uv_timer_stop(&w->op_timer);
      w->state = S_IDLE;
      w->cur = NULL;
      queue_push_front(w, b);
      maybe_start_batch(w);
      return;
    }
    batch_done(w, -EIO, err ? err : "data error");
    free(err);
    return;
  }

  if (w->step_error) {
    if (w->lost_in_step || sqlstate_transient(w->sqlstate) || PQstatus(w->conn) == CONNECTION_BAD) {
      char msg[600];
      snprintf(msg, sizeof msg, "%s", w->step_error);
      conn_lost(w, msg);
      return;
    }
    if (w->step == STEP_COPY && w->direct && strcmp(w->sqlstate, "23505") == 0) {
      /* Overlap with stored rows (a retry after a crash): undo the direct COPYs and
       * take the staging + ON CONFLICT path for this batch; the unique keys absorb the
       * overlap there, exactly as before. */
      log_debug("pgw: batch %s overlaps stored rows; merging it", b->name);
      b->overlapped = true;
      w->direct = false;
      w->result.positions_new = w->result.alarms_new = 0;
      send_query(w, STEP_FALLBACK, "ROLLBACK TO SAVEPOINT pgw_direct");
      return;
    }
    bool in_tx = w->step != STEP_PARTITIONS;
    bool no_partition = strncmp(w->sqlstate, "23514", 5) == 0 &&
                        strstr(w->step_error, "no partition") != NULL;
    char *saved = NULL;
    if (no_partition && !b->partitions_retried) {
      /* Someone dropped a partition this writer thought existed: forget what we know and
       * let the retry create it. */
      b->partitions_retried = true;
      w->nknown = 0;
      log_warn("pgw: batch %s: a partition is missing; retrying with ensure_partitions",
               b->name);
      if (!send_query(w, STEP_ROLLBACK, "ROLLBACK")) return;
      w->retry_after_rollback = true;
      return;
    }
    int bad_kind = refused_kind(w);
    if (in_tx && bad_kind >= 0 && !(b->isolate & (1u << bad_kind))) {
      /* A row the server refuses for its data: roll back and retry the batch with that
       * kind bisected down to the refused rows, which go to fleetarc.rejected; the rest
       * (and the cursor moves) commit. Each kind is isolated at most once per batch. */
      log_info("pgw: batch %s: %s; retrying it, isolating the refused %s rows", b->name,
               w->step_error, kind_source[bad_kind]);
      b->isolate |= 1u << bad_kind;
      w->result.positions_new = w->result.alarms_new = 0;
      if (!send_query(w, STEP_ROLLBACK, "ROLLBACK")) return;
      w->retry_after_rollback = true;
      return;
    }
    size_t len = strlen(b->name) + strlen(w->step_error) + 32;
    saved = malloc(len);
    if (saved) snprintf(saved, len, "batch %s: %s", b->name, w->step_error);
    if (!in_tx) {
      batch_done(w, -EIO, saved ? saved : w->step_error);
      free(saved);
      return;
    }
    if (!send_query(w, STEP_ROLLBACK, "ROLLBACK")) {
      free(saved);
      return;
    }
    w->step_error = saved; /* reported when the ROLLBACK is through */
    return;
  }

  switch (w->step) {
    case STEP_PARTITIONS:
      for (size_t i = 0; i < w->npending; i++) (void)remember_month(w, w->pending_months[i]);
      begin_batch(w);
      break;
    case STEP_BEGIN:
    case STEP_FALLBACK:
    case STEP_COPY: {
      int k = next_copy_kind(b, w->step == STEP_COPY ? w->copy_kind : -1);
      if (k >= 0)
        start_copy(w, k, false);
      else
        start_merge(w);
      break;
    }
    case STEP_MERGE:
      if (!w->committed) {
        /* Cannot happen (the COMMIT's result is the query's last): be safe, retry. */
        conn_lost(w, "the merge's COMMIT gave no result");
        break;
      }
      batch_done(w, 0, NULL);
      break;
    case STEP_COMMIT:
      batch_done(w, 0, NULL);
      break;
    default:
      break;
  }
}

static void note_error(pgw_t *w, const PGresult *r) {
  if (w->step_error) return; /* keep the first: later ones are "transaction aborted" */
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  snprintf(w->sqlstate, sizeof w->sqlstate, "%s", state ? state : "");
  if (!state) w->lost_in_step = true; /* libpq's own error: the connection broke */
  if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
    w->lost_in_step = true;
  char msg[512];
  snprintf(msg, sizeof msg, "%s (SQLSTATE %s)",
           primary ? primary : PQresultErrorMessage(r), state ? state : "none");
  msg[strcspn(msg, "\n")] = '\0';
  w->step_error = strdup(msg);
  if (!w->step_error) w->lost_in_step = true;
}

static size_t cmd_tuples(PGresult *r) {
  const char *s = PQcmdTuples(r);
  return s && *s ? (size_t)strtoull(s, NULL, 10) : 0;
}

/* The answer of fleetarc.isolate_rows for `kind`: one row (NULL, imei, error) per row the
 * server refused (now in fleetarc.rejected; logged here once each), then (merged, NULL,
 * NULL). Returns the merged count; *refused gets the number of refused rows. */
static size_t isolated_result(pgw_t *w, int kind, const PGresult *r, size_t *refused) {
  size_t merged = 0;
  *refused = 0;
  if (PQnfields(r) != 3) return 0;
  for (int i = 0; i < PQntuples(r); i++) {
    if (!PQgetisnull(r, i, 0)) {
      merged = (size_t)strtoull(PQgetvalue(r, i, 0), NULL, 10);
      continue;
    }
    (*refused)++;
    /* Logged at the COMMIT: an attempt rolled back later would log it twice. */
    if (buf_printf(&w->refused_log, "pgw: batch %s: %s row of IMEI %s refused, kept in"
                   " fleetarc.rejected: %s\n", w->cur->name, kind_source[kind],
                   PQgetisnull(r, i, 1) ? "?" : PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)) < 0)
      log_warn("pgw: batch %s: a %s row refused (see fleetarc.rejected)", w->cur->name,
               kind_source[kind]);
  }
  w->result.rows_rejected += *refused;
  w->refused[kind] += *refused;
  return merged;
}

/* One result of the current step. */
static void handle_result(pgw_t *w, PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COPY_IN) {
    if (w->step == STEP_COPY && w->copy_phase == COPY_WAIT_IN) w->copy_phase = COPY_SENDING;
    return;
  }
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      w->lost_in_step = true; /* never asked for: the protocol state is unknown */
      return;
    }
    note_error(w, r);
    return;
  }
  if (w->step_error) return;
  pgw_batch_t *b = w->cur;
  switch (w->step) {
    case STEP_COPY:
      /* The BEGIN (and SAVEPOINT) sent with a first COPY answer first. */
      if (strncmp(PQcmdStatus(r), "COPY", 4) != 0) break;
      if (cmd_tuples(r) != b->rows[w->copy_kind]) {
        /* Every tuple the batch holds must have been staged: the counts say so. */
        char msg[128];
        snprintf(msg, sizeof msg, "COPY staged %zu rows of %zu", cmd_tuples(r),
                 b->rows[w->copy_kind]);
        w->step_error = strdup(msg);
        snprintf(w->sqlstate, sizeof w->sqlstate, "XX000");
      }
      break;
    case STEP_MERGE:
      if (w->fence_pending) { /* the fence's SELECT comes first */
        w->fence_pending = false;
        break;
      }
      if (w->merge_at < w->nmerge) {
        int kind = w->merge_kinds[w->merge_at++];
        size_t refused = 0;
        size_t n = (b->isolate & (1u << kind)) ? isolated_result(w, kind, r, &refused)
                                               : cmd_tuples(r);
        switch (kind) {
          case K_POSITIONS:
            w->result.positions_new = n;
            w->result.positions_dup = b->rows[K_POSITIONS] - refused - n;
            break;
          case K_ALARMS:
            w->result.alarms_new = n;
            w->result.alarms_dup = b->rows[K_ALARMS] - refused - n;
            break;
          case K_DEVICE_STATE: w->result.device_states = n; break;
          case K_DEVICES: w->result.devices = n; break;
          case K_MILEAGE: w->result.mileage_days = n; break;
          case K_CURSORS: w->result.cursors_moved = n; break;
          case K_COVERAGE: w->result.coverage_added = b->rows[K_COVERAGE]; break;
          case K_GAPS: w->result.gaps_written = b->rows[K_GAPS]; break;
        }
        break;
      }
      /* The result after the merges' is the COMMIT's. */
      __attribute__((fallthrough));
    case STEP_COMMIT:
      /* COMMIT of an aborted transaction answers COMMAND_OK with the tag ROLLBACK. */
      if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        w->step_error = strdup("COMMIT answered ROLLBACK");
        snprintf(w->sqlstate, sizeof w->sqlstate, "40000");
      } else {
        w->committed = true;
      }
      break;
    default:
      break;
  }
}

/* Puts the current COPY's data, a slice at a time, each after the last was flushed.
 * 1: blocked, wait for writable; 0: data and end sent; -1: connection lost; 2: the
 * server ended the COPY (an error is waiting among the results). */
static int copy_push(pgw_t *w) {
  buf_t *d = &w->cur->copy[w->copy_kind];
  for (;;) {
    int f = PQflush(w->conn);
    if (f < 0) return -1;
    if (f == 1) return 1;
    int r;
    if (w->copy_off < d->len) {
      size_t n = d->len - w->copy_off;
      if (n > COPY_SLICE) n = COPY_SLICE;
      r = PQputCopyData(w->conn, d->data + w->copy_off, (int)n);
      if (r == 1) w->copy_off += n;
    } else if (!w->copy_trailer_sent) {
      r = PQputCopyData(w->conn, copy_binary_trailer, sizeof copy_binary_trailer);
      if (r == 1) w->copy_trailer_sent = true;
    } else {
      r = PQputCopyEnd(w->conn, NULL);
      if (r == 1) {
        w->copy_phase = COPY_RESULT;
        return 0;
      }
    }
    if (r == 0) return 1;
    if (r < 0) return PQstatus(w->conn) == CONNECTION_OK ? 2 : -1;
  }
}

/* Moves the connection as far as it can go without blocking, then polls for what it
 * waits for. Called on every readable/writable event and after every new step. */
static void drive(pgw_t *w) {
  for (;;) {
    if (!w->conn || w->state == S_CLOSED || w->state == S_BACKOFF) return;
    if (w->state == S_IDLE) {
      /* Nothing asked: anything readable is a notice, or the server going away. */
      PGresult *r;
      while (!PQisBusy(w->conn) && (r = PQgetResult(w->conn)) != NULL) PQclear(r);
      PGnotify *n;
      while ((n = PQnotifies(w->conn)) != NULL) PQfreemem(n);
      if (PQstatus(w->conn) == CONNECTION_BAD) {
        conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      if (watch(w, UV_READABLE, false) < 0) conn_lost(w, "cannot poll the socket");
      return;
    }
    bool blocked_on_write = false;
    if (w->step == STEP_COPY && w->copy_phase == COPY_SENDING) {
      int rc = copy_push(w);
      if (rc < 0) {
        conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      if (rc == 1) blocked_on_write = true;
      if (rc == 2) w->copy_phase = COPY_RESULT;
    }
    if (!blocked_on_write) {
      /* Also after PQputCopyEnd: the last slice and CopyDone may still sit in libpq. */
      int f = PQflush(w->conn);
      if (f < 0) {
        conn_lost(w, PQerrorMessage(w->conn));
        return;
      }
      blocked_on_write = f == 1;
    }
    bool stepped = false;
    bool sending = w->step == STEP_COPY && w->copy_phase == COPY_SENDING;
    while (!sending && !PQisBusy(w->conn)) {
      PGresult *r = PQgetResult(w->conn);
      if (!r) {
        step_finished(w);
        stepped = true;
        break;
      }
      handle_result(w, r);
      PQclear(r);
      if (w->step == STEP_COPY && w->copy_phase == COPY_SENDING) {
        stepped = true; /* COPY_IN arrived: go put the data */
        break;
      }
    }
    if (stepped) continue;
    int events = UV_READABLE | (blocked_on_write ? UV_WRITABLE : 0);
    if (watch(w, events, false) < 0) conn_lost(w, "cannot poll the socket");
    return;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  pgw_t *w = h->data;
  if (w->state == S_CONNECTING) {
    connect_poll(w);
    return;
  }
  if (status < 0) {
    conn_lost(w, uv_strerror(status));
    return;
  }
  if ((events & UV_READABLE) && !PQconsumeInput(w->conn)) {
    /* The socket is dead: what the server said last (a shutdown notice) is the reason. */
    conn_lost(w, PQerrorMessage(w->conn));
    return;
  }
  drive(w);
}

/* ------------------------------------------------------------------ public */

pgw_t *pgw_new(uv_loop_t *loop, const pgw_options_t *opt) {
  pgw_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->loop = loop;
  if (opt) w->opt = *opt;
  if (!w->opt.max_queued_rows) w->opt.max_queued_rows = 200000;
  if (!w->opt.connect_timeout_ms) w->opt.connect_timeout_ms = 10000;
  if (!w->opt.batch_timeout_ms) w->opt.batch_timeout_ms = 300000;
  if (!w->opt.backoff_min_ms) w->opt.backoff_min_ms = 200;
  if (!w->opt.backoff_max_ms) w->opt.backoff_max_ms = 30000;
  if (w->opt.backoff_max_ms < w->opt.backoff_min_ms) w->opt.backoff_max_ms = w->opt.backoff_min_ms;
  if (w->opt.conninfo && *w->opt.conninfo) {
    w->conninfo = strdup(w->opt.conninfo);
    if (!w->conninfo) {
      free(w);
      return NULL;
    }
  }
  w->opt.conninfo = NULL; /* never read again: w->conninfo is ours */
  w->rng = ((uint64_t)uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
  uv_timer_init(loop, &w->timer);
  uv_timer_init(loop, &w->op_timer);
  uv_timer_init(loop, &w->close_timer);
  w->timer.data = w->op_timer.data = w->close_timer.data = w;
  w->open_handles = 3;
  w->state = S_BACKOFF;
  conn_start(w);
  return w;
}

int pgw_submit(pgw_t *w, pgw_batch_t *b, pgw_batch_cb cb, void *data) {
  if (!b || !cb) return -EINVAL;
  if (w->closing) return -ESHUTDOWN;
  size_t rows = pgw_batch_rows(b);
  if (w->queued_rows > 0 && w->queued_rows + rows > w->opt.max_queued_rows) {
    /* Refused: from now on the producer should hold back until the queue is half empty. */
    if (!w->paused) {
      w->paused = true;
      if (w->opt.on_pressure) w->opt.on_pressure(w, true, w->opt.data);
    }
    return -EAGAIN;
  }
  b->cb = cb;
  b->cb_data = data;
  b->next = NULL;
  if (w->tail)
    w->tail->next = b;
  else
    w->head = b;
  w->tail = b;
  w->queued_batches++;
  w->queued_rows += rows;
  pressure_update(w);
  maybe_start_batch(w);
  return 0;
}

size_t pgw_queue_rows(const pgw_t *w) { return w->queued_rows; }
size_t pgw_queue_batches(const pgw_t *w) { return w->queued_batches + (w->cur ? 1 : 0); }
bool pgw_queue_full(const pgw_t *w) { return w->paused; }
bool pgw_connected(const pgw_t *w) { return w->state == S_IDLE || w->state == S_BUSY; }
void pgw_get_stats(const pgw_t *w, pgw_stats_t *out) { *out = w->stats; }

/* Final teardown: no batch is left; close the connection and every handle. */
static void shutdown_now(pgw_t *w) {
  if (w->state == S_CLOSED) return;
  cancel_all(w, "writer closed before it was written");
  drop_conn(w);
  w->state = S_CLOSED;
  uv_close((uv_handle_t *)&w->timer, on_close_handle);
  uv_close((uv_handle_t *)&w->op_timer, on_close_handle);
  uv_close((uv_handle_t *)&w->close_timer, on_close_handle);
}

/* While closing: done when nothing is queued or in flight, or when not connected. */
static void close_check(pgw_t *w) {
  if (!w->closing || w->state == S_CLOSED) return;
  bool busy = w->cur || w->head;
  bool connected = w->state == S_IDLE || w->state == S_BUSY || w->state == S_SETUP;
  if (!busy || !connected) shutdown_now(w);
}

static void on_close_timer(uv_timer_t *t) {
  pgw_t *w = t->data;
  if (w->cur || w->head)
    log_warn("pgw: closing with %zu batch(es) unwritten after the drain timeout",
             pgw_queue_batches(w));
  shutdown_now(w);
}

void pgw_close(pgw_t *w, unsigned drain_timeout_ms, void (*cb)(void *data), void *data) {
  if (w->closing) return;
  w->closing = true;
  w->close_cb = cb;
  w->close_data = data;
  if (w->state == S_CONNECTING || w->state == S_BACKOFF) {
    shutdown_now(w);
    return;
  }
  uv_timer_start(&w->close_timer, on_close_timer, drain_timeout_ms, 0);
  close_check(w);
}

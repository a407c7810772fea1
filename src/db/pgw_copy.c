/* Building a batch (pgw.h's pgw_batch_*): every kind of rows is kept as the binary COPY
 * data the server will read, appended one tuple at a time, and the months its positions
 * and alarms fall in (for their partitions). Invariant: a failed append leaves no half
 * tuple behind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/pgw_int.h"
#include "util/grow.h"

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
  for (size_t i = 0; i < b->nfence; i++) free(b->fences[i].account);
  free(b->fences);
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
    if (strcmp(b->fences[i].account, account) == 0) return 0; /* the first generation stays */
  if (!b->fence_holder && !(b->fence_holder = strdup(holder))) return -ENOMEM;
  if (GROW(b->fences, b->capfence, b->nfence + 1) != 0) return -ENOMEM;
  if (!(b->fences[b->nfence].account = strdup(account))) return -ENOMEM;
  b->fences[b->nfence++].generation = gen;
  return 0;
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

static int note_month(pgw_batch_t *b, int64_t gpstime) {
  if (gpstime >= b->month_lo && gpstime < b->month_hi) return 0;
  month_t m;
  month_range(gpstime, &m, &b->month_lo, &b->month_hi);
  for (size_t i = 0; i < b->nmonths; i++)
    if (b->months[i] == m) return 0;
  if (GROW(b->months, b->capmonths, b->nmonths + 1) != 0) return -ENOMEM;
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
const char pgw__copy_trailer[2] = {'\377', '\377'};

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

void pgw__buf_truncate(buf_t *o, size_t len) {
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
    pgw__buf_truncate(o, undo); /* no half tuple: it would shift every later one */
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo); /* no half tuple: it would shift every later one */
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo);
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
    pgw__buf_truncate(o, undo);
  return rc;
}

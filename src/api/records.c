/* The record strings of playback (2.3) and alarms (2.8): "a,b,c;a,b,c". Parsed in
 * place from (ptr, len) with hand-written, locale-independent number parsing; the only
 * allocation is the growth of the caller's array, so a page costs no malloc at all once
 * the array is big enough. */
#include "api/internal.h"
#include "util/grow.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One field of a group: [p, end). */
typedef struct {
  const char *p;
  const char *end;
} span_t;

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* -?[0-9]+ spanning the whole field, no overflow of int64. */
static bool parse_int64(span_t f, int64_t *out) {
  const char *p = f.p;
  bool neg = false;
  if (p < f.end && *p == '-') {
    neg = true;
    p++;
  }
  if (p == f.end) return false;
  uint64_t v = 0;
  const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; p < f.end; p++) {
    unsigned d = (unsigned)(unsigned char)*p - '0';
    if (d > 9) return false;
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  /* -(INT64_MIN) does not fit: negate in unsigned arithmetic. */
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* -?[0-9]+(\.[0-9]+)? spanning the whole field. Up to 2^53 as an integer mantissa and
 * 22 decimals, one correctly rounded division gives the nearest double (both operands
 * are exact); longer inputs go to strtod_l in the C locale. */
static bool parse_double(span_t f, double *out) {
  const char *p = f.p;
  bool neg = false;
  if (p < f.end && *p == '-') {
    neg = true;
    p++;
  }
  const char *int_start = p;
  uint64_t m = 0;
  bool exact = true;
  for (; p < f.end && (unsigned)(unsigned char)*p - '0' <= 9; p++) {
    if (m >= (UINT64_C(1) << 53) / 10) exact = false;
    else m = m * 10 + (unsigned)(*p - '0');
  }
  if (p == int_start) return false;
  size_t frac = 0;
  if (p < f.end) {
    if (*p != '.') return false;
    p++;
    const char *frac_start = p;
    for (; p < f.end && (unsigned)(unsigned char)*p - '0' <= 9; p++) {
      if (m >= (UINT64_C(1) << 53) / 10) exact = false;
      else m = m * 10 + (unsigned)(*p - '0');
      frac++;
    }
    if (p == frac_start || p != f.end) return false;
  }
  if (exact && frac < sizeof pow10_exact / sizeof pow10_exact[0]) {
    double v = (double)m / pow10_exact[frac];
    *out = neg ? -v : v;
    return true;
  }
  char tmp[72];
  size_t n = (size_t)(f.end - f.p);
  if (n >= sizeof tmp) return false;
  memcpy(tmp, f.p, n);
  tmp[n] = '\0';
  pthread_once(&c_locale_once, c_locale_init);
  if (!c_locale) return false;
  char *endp = NULL;
  double v = strtod_l(tmp, &endp, c_locale);
  if (endp != tmp + n || !isfinite(v)) return false;
  *out = v;
  return true;
}

/* Splits a group at ',' into at most max fields; returns the number of fields seen. */
static size_t split_fields(const char *g, const char *end, span_t *f, size_t max) {
  size_t n = 0;
  const char *start = g;
  for (const char *p = g;; p++) {
    if (p == end || *p == ',') {
      if (n < max) f[n] = (span_t){start, p};
      n++;
      if (p == end) break;
      start = p + 1;
    }
  }
  return n;
}

static int group_error(api_error_t *err, size_t index, const char *g, const char *end,
                       const char *what) {
  char excerpt[64];
  api_text_excerpt(g, (size_t)(end - g), 60, excerpt);
  return api_error_set(err, API_ERR_RECORD, index, "record group %zu (0-based): %s: \"%s\"",
                       index, what, excerpt);
}

/* Calls one_group for every group; handles the empty string, one trailing ';' and
 * empty groups. one_group returns NULL on success or a description of the fault. */
typedef const char *(*group_fn)(const span_t *f, size_t nf, void *row);

/* The field a group fault names: its first word, with "alarm type" -> "type" and
 * "geofence id" -> "geofenceid"; a count or an empty group -> "group". */
static void fault_field(const char *fault, char *out, size_t size) {
  size_t n = strcspn(fault, " ");
  if (strncmp(fault, "alarm type", 10) == 0) snprintf(out, size, "type");
  else if (strncmp(fault, "geofence id", 11) == 0) snprintf(out, size, "geofenceid");
  else if (n == 0 || (fault[0] >= '0' && fault[0] <= '9') || strncmp(fault, "empty", 5) == 0)
    snprintf(out, size, "group");
  else snprintf(out, size, "%.*s", (int)n, fault);
}

void api_rejects_add(api_rejects_t *rej, size_t index, const char *imei, const char *field,
                     const char *message) {
  if (rej->n < API_REJECTS_KEPT) {
    api_reject_t *r = &rej->first[rej->n];
    r->index = index;
    snprintf(r->imei, sizeof r->imei, "%s", imei ? imei : "");
    snprintf(r->field, sizeof r->field, "%s", field);
    snprintf(r->message, sizeof r->message, "%s", message);
  }
  rej->n++;
}

/* A bad group: an error (strict), or a reject and go on (lenient: 1). */
static int group_bad(api_error_t *err, api_rejects_t *rej, size_t index, const char *g,
                     const char *end, const char *what) {
  api_error_t tmp;
  int rc = group_error(rej ? &tmp : err, index, g, end, what);
  if (!rej) return rc;
  char field[24];
  fault_field(what, field, sizeof field);
  api_rejects_add(rej, index, NULL, field, tmp.message);
  return 1;
}

static int parse_groups(const char *s, size_t len, size_t nfields, void **items,
                        size_t *n, size_t *cap, size_t row_size, group_fn one_group,
                        api_rejects_t *rej, api_error_t *err) {
  api_error_clear(err);
  *n = 0;
  const char *p = s, *end = s + len;
  size_t index = 0;
  span_t f[8];
  for (; p < end; index++) {
    const char *g_end = memchr(p, ';', (size_t)(end - p));
    if (!g_end) g_end = end;
    const char *next = g_end < end ? g_end + 1 : end; /* a ';' as the very last byte ends the loop */
    if (g_end == p) {
      int rc = group_bad(err, rej, index, p, g_end, "empty group");
      if (rc < 0) return rc;
      p = next;
      continue;
    }
    int rc = grow_array(items, cap, *n + 1, row_size);
    if (rc) return rc;
    size_t nf = split_fields(p, g_end, f, nfields);
    const char *fault = NULL;
    char what[64];
    if (nf != nfields) {
      snprintf(what, sizeof what, "%zu fields, expected %zu", nf, nfields);
      fault = what;
    } else {
      fault = one_group(f, nf, (char *)*items + *n * row_size);
    }
    if (fault) {
      rc = group_bad(err, rej, index, p, g_end, fault);
      if (rc < 0) return rc;
    } else {
      (*n)++;
    }
    p = next;
  }
  return 0;
}

static const char *check_lon_lat(span_t lon, span_t lat, double *x, double *y) {
  if (!parse_double(lon, x)) return "longitude is not a decimal number";
  if (*x < -180.0 || *x > 180.0) return "longitude outside -180..180";
  if (!parse_double(lat, y)) return "latitude is not a decimal number";
  if (*y < -90.0 || *y > 90.0) return "latitude outside -90..90";
  return NULL;
}

static const char *check_time(span_t f, int64_t *t, const char *name_bad,
                              const char *name_neg) {
  if (!parse_int64(f, t)) return name_bad;
  if (*t < 0) return name_neg;
  return NULL;
}

static const char *check_speed_course(span_t sp, span_t co, int32_t *speed,
                                      int32_t *course) {
  int64_t v;
  if (!parse_int64(sp, &v)) return "speed is not an integer";
  if (v < API_UNKNOWN || v > 100000) return "speed outside -1..100000";
  *speed = (int32_t)v;
  if (!parse_int64(co, &v)) return "course is not an integer";
  if (v < 0 || v > 360) return "course outside 0..360";
  *course = (int32_t)v;
  return NULL;
}

static const char *one_point(const span_t *f, size_t nf, void *row) {
  (void)nf;
  api_point_t *pt = row;
  const char *fault = check_lon_lat(f[0], f[1], &pt->longitude, &pt->latitude);
  if (!fault) fault = check_time(f[2], &pt->gpstime, "gpstime is not an integer",
                                 "gpstime is negative");
  if (!fault) fault = check_speed_course(f[3], f[4], &pt->speed, &pt->course);
  return fault;
}

static const char *one_alarm(const span_t *f, size_t nf, void *row) {
  (void)nf;
  api_alarm_t *a = row;
  int64_t v;
  if (!parse_int64(f[0], &v)) return "alarm type is not an integer";
  if (v < 0 || v > INT32_MAX) return "alarm type outside 0..2147483647";
  a->type = (int32_t)v;
  const char *fault = check_lon_lat(f[1], f[2], &a->longitude, &a->latitude);
  if (!fault) fault = check_time(f[3], &a->gpstime, "gpstime is not an integer",
                                 "gpstime is negative");
  if (!fault) fault = check_time(f[4], &a->systemtime, "systemtime is not an integer",
                                 "systemtime is negative");
  if (!fault) fault = check_speed_course(f[5], f[6], &a->speed, &a->course);
  if (!fault) fault = check_time(f[7], &a->geofenceid, "geofence id is not an integer",
                                 "geofence id is negative");
  return fault;
}

int api_records_parse_points(const char *s, size_t len, api_points_t *out,
                             api_error_t *err) {
  return parse_groups(s, len, 5, (void **)&out->items, &out->n, &out->cap,
                      sizeof(api_point_t), one_point, NULL, err);
}

int api_records_parse_alarms(const char *s, size_t len, api_alarms_t *out,
                             api_error_t *err) {
  return parse_groups(s, len, 8, (void **)&out->items, &out->n, &out->cap,
                      sizeof(api_alarm_t), one_alarm, NULL, err);
}

int api_records_parse_points_lenient(const char *s, size_t len, api_points_t *out,
                                     api_rejects_t *rej, api_error_t *err) {
  return parse_groups(s, len, 5, (void **)&out->items, &out->n, &out->cap,
                      sizeof(api_point_t), one_point, rej, err);
}

int api_records_parse_alarms_lenient(const char *s, size_t len, api_alarms_t *out,
                                     api_rejects_t *rej, api_error_t *err) {
  return parse_groups(s, len, 8, (void **)&out->items, &out->n, &out->cap,
                      sizeof(api_alarm_t), one_alarm, rej, err);
}

void api_points_free(api_points_t *p) {
  if (!p) return;
  free(p->items);
  *p = (api_points_t){0};
}

void api_alarms_free(api_alarms_t *a) {
  if (!a) return;
  free(a->items);
  *a = (api_alarms_t){0};
}

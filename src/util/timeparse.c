/* Durations and times parsed by hand: strict grammars, exact int64 arithmetic with
 * overflow checks, and calendar math on days-from-civil so no TZ or locale can leak in. */
#include "util/timeparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Units from largest to smallest: a duration must use them in this order. */
static const struct {
  const char *name;
  int64_t ms;
} units[] = {
  {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
enum { N_UNITS = sizeof units / sizeof units[0] };

int timeparse_duration(const char *s, int64_t *ms, char *err, size_t errlen) {
  if (!s || !*s) return fail(err, errlen, "empty duration (expected e.g. 30s, 10m, 1h30m)");
  int64_t total = 0;
  int next_unit = 0; /* index of the largest unit still allowed */
  const char *p = s;
  while (*p) {
    if (!is_digit(*p)) {
      if (*p == '-' || *p == '+') return fail(err, errlen, "a duration has no sign");
      return fail(err, errlen, "expected a number before a unit (e.g. 30s, 10m, 1h30m)");
    }
    int64_t n = 0;
    for (; is_digit(*p); p++) {
      int d = *p - '0';
      if (n > (INT64_MAX - d) / 10) return fail(err, errlen, "duration too large");
      n = n * 10 + d;
    }
    if (*p == '.' || *p == ',')
      return fail(err, errlen, "fractions are not supported (write 1h30m, not 1.5h)");
    if (!*p) return fail(err, errlen, "missing unit (a duration needs one of d, h, m, s, ms: e.g. 30s)");
    const char *u = p;
    while (*p && !is_digit(*p)) p++;
    size_t ulen = (size_t)(p - u);
    int found = -1;
    for (int i = 0; i < N_UNITS; i++)
      if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0) found = i;
    if (found < 0) {
      if (ulen > 8) return fail(err, errlen, "unknown unit (expected d, h, m, s or ms)");
      return fail(err, errlen, "unknown unit '%.*s' (expected d, h, m, s or ms)", (int)ulen, u);
    }
    if (found < next_unit)
      return fail(err, errlen, "unit '%s' repeated or out of order (largest first: 1h30m)",
                  units[found].name);
    next_unit = found + 1;
    if (n > INT64_MAX / units[found].ms) return fail(err, errlen, "duration too large");
    n *= units[found].ms;
    if (total > INT64_MAX - n) return fail(err, errlen, "duration too large");
    total += n;
  }
  *ms = total;
  return 0;
}

int64_t timeparse_days_from_civil(int64_t year, int month, int day) {
  /* Howard Hinnant's days_from_civil: years start in March so Feb 29 is last. */
  int64_t y = year - (month <= 2);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = month > 2 ? month - 3 : month + 9;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Exactly n digits at *p into *out; advances *p. */
static bool take_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit((*p)[i])) return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static const char time_forms[] =
    "expected 2026-11-01, 2026-11-01T06:30:00Z, 2026-11-01T08:30:00+02:00 or UNIX seconds";

int timeparse_time(const char *s, int64_t *unix_seconds, char *err, size_t errlen) {
  if (!s || !*s) return fail(err, errlen, "empty time (%s)", time_forms);
  const char *p = s;
  while (is_digit(*p)) p++;
  if (!*p) { /* all digits: UNIX seconds */
    int64_t n = 0;
    for (p = s; *p; p++) {
      int d = *p - '0';
      if (n > (INT64_MAX - d) / 10) return fail(err, errlen, "UNIX seconds too large");
      n = n * 10 + d;
    }
    *unix_seconds = n;
    return 0;
  }

  p = s;
  int year, month, day;
  if (!take_digits(&p, 4, &year) || *p++ != '-' || !take_digits(&p, 2, &month) || *p++ != '-' ||
      !take_digits(&p, 2, &day))
    return fail(err, errlen, "bad date (%s)", time_forms);
  if (year < 1) return fail(err, errlen, "year 0000 is out of range (0001-9999)");
  if (month < 1 || month > 12) return fail(err, errlen, "month %02d does not exist", month);
  if (day < 1 || day > days_in_month(year, month))
    return fail(err, errlen, "day %04d-%02d-%02d does not exist", year, month, day);
  int64_t t = timeparse_days_from_civil(year, month, day) * 86400;
  if (!*p) {
    *unix_seconds = t;
    return 0;
  }

  if (*p != 'T' && *p != 't' && *p != ' ')
    return fail(err, errlen, "unexpected text after the date (%s)", time_forms);
  p++;
  int hour, minute, second = 0;
  if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &minute))
    return fail(err, errlen, "bad time of day (expected HH:MM or HH:MM:SS)");
  if (*p == ':') {
    p++;
    if (!take_digits(&p, 2, &second)) return fail(err, errlen, "bad seconds (expected HH:MM:SS)");
  }
  if (*p == '.' || *p == ',')
    return fail(err, errlen, "fractional seconds are not supported (times are whole seconds)");
  if (hour > 23 || minute > 59 || second > 59)
    return fail(err, errlen, "time of day %02d:%02d:%02d does not exist", hour, minute, second);
  t += hour * 3600 + minute * 60 + second;

  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    int oh, om = 0;
    if (!take_digits(&p, 2, &oh)) return fail(err, errlen, "bad UTC offset (expected +HH:MM or +HHMM)");
    if (*p == ':') {
      p++;
      if (!take_digits(&p, 2, &om)) return fail(err, errlen, "bad UTC offset (expected +HH:MM or +HHMM)");
    } else if (is_digit(*p)) {
      if (!take_digits(&p, 2, &om)) return fail(err, errlen, "bad UTC offset (expected +HH:MM or +HHMM)");
    }
    if (oh > 23 || om > 59) return fail(err, errlen, "UTC offset out of range (at most 23:59)");
    /* local = UTC + offset, so UTC = local - offset */
    t -= sign * (oh * 3600 + om * 60);
  } else if (!*p) {
    return fail(err, errlen, "a time of day needs a zone: Z or +HH:MM (local time is not guessed)");
  } else {
    return fail(err, errlen, "unexpected text after the time of day (expected Z or +HH:MM)");
  }
  if (*p) return fail(err, errlen, "unexpected text after the zone");
  *unix_seconds = t;
  return 0;
}

char *timeparse_format_duration(int64_t ms, char *out, size_t n) {
  if (!n) return out;
  out[0] = '\0';
  if (ms <= 0) {
    snprintf(out, n, "%s", ms == 0 ? "0s" : "-");
    return out;
  }
  size_t len = 0;
  for (int i = 0; i < N_UNITS && len < n; i++) {
    int64_t q = ms / units[i].ms;
    if (!q) continue;
    ms -= q * units[i].ms;
    int w = snprintf(out + len, n - len, "%lld%s", (long long)q, units[i].name);
    if (w < 0) break;
    len += (size_t)w;
  }
  return out;
}

char *timeparse_format_time(int64_t unix_seconds, char *out, size_t n) {
  int64_t days = unix_seconds / 86400, secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    days--;
  }
  /* civil_from_days, the inverse of timeparse_days_from_civil */
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2);
  snprintf(out, n, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m,
           (long long)d, (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
  return out;
}

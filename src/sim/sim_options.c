/* Command-line value parsers of the simulator; see sim_options.h. */
#include "sim/sim_options.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const fault_names[SIM_FAULT_COUNT] = {
  "http500", "http502", "slow", "timeout", "reset", "truncate", "syserr", "ratelimit", "revoke", "echo",
};

const char *sim_fault_name(sim_fault_t f) {
  return (unsigned)f < SIM_FAULT_COUNT ? fault_names[f] : "none";
}

static bool all_digits(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

/* Reads exactly n digits at s into *v. */
static bool digits(const char *s, size_t n, int *v) {
  if (!all_digits(s, n)) return false;
  *v = 0;
  for (size_t i = 0; i < n; i++) *v = *v * 10 + (s[i] - '0');
  return true;
}

int sim_parse_time(const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (all_digits(s, n) && n <= 12) {
    *out = strtoll(s, NULL, 10);
    return 0;
  }
  struct tm tm = {0};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d))
    return -EINVAL;
  long offset = 0;
  if (n > 10) {
    if ((s[10] != 'T' && s[10] != ' ') || n < 19 || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
      return -EINVAL;
    const char *z = s + 19;
    if (strcmp(z, "Z") == 0 || *z == '\0') {
      offset = 0;
    } else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':') {
      int oh, om;
      if (!digits(z + 1, 2, &oh) || !digits(z + 4, 2, &om) || oh > 23 || om > 59) return -EINVAL;
      offset = (oh * 3600L + om * 60L) * (z[0] == '-' ? -1 : 1);
    } else {
      return -EINVAL;
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -EINVAL;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *out = (int64_t)timegm(&tm) - offset;
  return 0;
}

int sim_parse_duration_ms(const char *s, int64_t *out) {
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9') n++;
  if (n == 0 || n > 12) return -EINVAL;
  int64_t v = strtoll(s, NULL, 10);
  const char *u = s + n;
  int64_t mul;
  if (*u == '\0' || strcmp(u, "s") == 0) mul = 1000;
  else if (strcmp(u, "ms") == 0) mul = 1;
  else if (strcmp(u, "m") == 0) mul = 60000;
  else if (strcmp(u, "h") == 0) mul = 3600000;
  else return -EINVAL;
  *out = v * mul;
  return 0;
}

/* Calls item(key, value) for each "key=value" of a comma-separated spec. */
static int spec_each(const char *spec, int (*item)(void *arg, const char *key, const char *value),
                     void *arg) {
  char *copy = strdup(spec);
  if (!copy) return -ENOMEM;
  int rc = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (!*tok) continue;
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1]) {
      rc = -EINVAL;
      break;
    }
    *eq = '\0';
    if ((rc = item(arg, tok, eq + 1)) != 0) break;
  }
  free(copy);
  return rc;
}

static int fault_item(void *arg, const char *key, const char *value) {
  double *prob = arg;
  for (int f = 0; f < SIM_FAULT_COUNT; f++) {
    if (strcmp(key, fault_names[f]) != 0) continue;
    char *end;
    double p = strtod(value, &end);
    if (*end || !isfinite(p) || p < 0 || p > 1) return -EINVAL;
    prob[f] = p;
    return 0;
  }
  return -EINVAL;
}

int sim_parse_faults(const char *spec, double prob[SIM_FAULT_COUNT]) {
  for (int f = 0; f < SIM_FAULT_COUNT; f++) prob[f] = 0;
  int rc = spec_each(spec, fault_item, prob);
  if (rc) return rc;
  double sum = 0;
  for (int f = 0; f < SIM_FAULT_COUNT; f++) sum += prob[f];
  return sum <= 1.0 + 1e-9 ? 0 : -EINVAL;
}

struct limits_ctx {
  int64_t *ms;
  int64_t dflt;
};

static int limit_item(void *arg, const char *key, const char *value) {
  struct limits_ctx *c = arg;
  int64_t ms;
  if (sim_parse_duration_ms(value, &ms) != 0) return -EINVAL;
  if (strcmp(key, "default") == 0) {
    c->dflt = ms;
    return 0;
  }
  int ep = api_endpoint_find(key);
  if (ep < 0) return -EINVAL;
  c->ms[ep] = ms;
  return 0;
}

struct late_ctx {
  double share;
  int64_t window_ms, delay_ms;
};

static int late_item(void *arg, const char *key, const char *value) {
  struct late_ctx *c = arg;
  if (strcmp(key, "share") == 0) {
    char *end;
    double v = strtod(value, &end);
    if (*end || !isfinite(v) || v <= 0 || v > 1) return -EINVAL;
    c->share = v;
    return 0;
  }
  int64_t *dst = strcmp(key, "window") == 0 ? &c->window_ms
               : strcmp(key, "delay") == 0  ? &c->delay_ms : NULL;
  if (!dst || sim_parse_duration_ms(value, dst) != 0 || *dst % 1000 != 0) return -EINVAL;
  return 0;
}

int sim_parse_late(const char *spec, double *share, int64_t *window_s, int64_t *delay_s) {
  struct late_ctx c = {0.2, 20 * 60000, 15 * 60000};
  int rc = spec_each(spec, late_item, &c);
  if (rc) return rc;
  if (c.window_ms < 60000 || c.window_ms + c.delay_ms > 5 * 3600000LL) return -EINVAL;
  *share = c.share;
  *window_s = c.window_ms / 1000;
  *delay_s = c.delay_ms / 1000;
  return 0;
}

int sim_parse_limits(const char *spec, int64_t ms[API_EP_COUNT]) {
  for (int i = 0; i < API_EP_COUNT; i++) ms[i] = -2; /* -2: not named */
  struct limits_ctx c = {ms, -1};
  int rc = spec_each(spec, limit_item, &c);
  for (int i = 0; i < API_EP_COUNT; i++)
    if (ms[i] == -2) ms[i] = c.dflt;
  return rc;
}

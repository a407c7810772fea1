/* The metrics registry (metrics.h): families in a growable array, series in per-family
 * arrays of pointers so that a metric_t handed out never moves. */
#include "ops/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/grow.h"

struct metric {
  metric_family_t *family;
  char *labels[METRICS_MAX_LABELS];
  double value;                               /* counter, gauge; histogram: sum */
  uint64_t count;                             /* histogram: observations */
  uint64_t buckets[METRICS_MAX_BUCKETS];      /* histogram: per bucket (not cumulative) */
};

struct metric_family {
  char *name, *help;
  metric_type_t type;
  char *label_names[METRICS_MAX_LABELS];
  size_t n_labels;
  double bounds[METRICS_MAX_BUCKETS];
  size_t n_buckets;
  metric_t **series;
  size_t n_series, cap_series;
};

struct metrics {
  metric_family_t **families;
  size_t n, cap;
};

metrics_t *metrics_new(void) { return calloc(1, sizeof(metrics_t)); }

static void family_free(metric_family_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n_series; i++) {
    for (size_t k = 0; k < f->n_labels; k++) free(f->series[i]->labels[k]);
    free(f->series[i]);
  }
  free(f->series);
  for (size_t k = 0; k < f->n_labels; k++) free(f->label_names[k]);
  free(f->name);
  free(f->help);
  free(f);
}

void metrics_free(metrics_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) family_free(m->families[i]);
  free(m->families);
  free(m);
}

static bool name_valid(const char *s, bool colon) {
  if (!s || !*s) return false;
  for (size_t i = 0; s[i]; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

metric_family_t *metrics_family(metrics_t *m, const char *name, const char *help,
                                metric_type_t type, const char *const *label_names,
                                size_t n_labels, const double *buckets, size_t n_buckets) {
  if (!m || !name_valid(name, true) || !help || n_labels > METRICS_MAX_LABELS ||
      (n_labels && !label_names) || type > METRIC_HISTOGRAM)
    return NULL;
  if (type == METRIC_HISTOGRAM) {
    if (!buckets || n_buckets == 0 || n_buckets > METRICS_MAX_BUCKETS) return NULL;
    for (size_t i = 0; i < n_buckets; i++)
      if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) return NULL;
  } else if (n_buckets) {
    return NULL;
  }
  for (size_t i = 0; i < n_labels; i++) {
    if (!name_valid(label_names[i], false) || strncmp(label_names[i], "__", 2) == 0) return NULL;
    if (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0) return NULL;
  }
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->families[i]->name, name) == 0) return NULL;
  if (GROW(m->families, m->cap, m->n + 1) != 0) return NULL;
  metric_family_t *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->type = type;
  f->name = strdup(name);
  f->help = strdup(help);
  if (!f->name || !f->help) goto fail;
  for (size_t i = 0; i < n_labels; i++) {
    f->label_names[i] = strdup(label_names[i]);
    if (!f->label_names[i]) goto fail;
    f->n_labels++;
  }
  for (size_t i = 0; i < n_buckets; i++) f->bounds[i] = buckets[i];
  f->n_buckets = n_buckets;
  m->families[m->n++] = f;
  return f;
fail:
  family_free(f);
  return NULL;
}

metric_t *metrics_series(metric_family_t *f, const char *const *label_values) {
  if (!f || (f->n_labels && !label_values)) return NULL;
  for (size_t k = 0; k < f->n_labels; k++)
    if (!label_values[k]) return NULL;
  for (size_t i = 0; i < f->n_series; i++) {
    size_t k = 0;
    while (k < f->n_labels && strcmp(f->series[i]->labels[k], label_values[k]) == 0) k++;
    if (k == f->n_labels) return f->series[i];
  }
  if (GROW(f->series, f->cap_series, f->n_series + 1) != 0) return NULL;
  metric_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->family = f;
  for (size_t k = 0; k < f->n_labels; k++) {
    s->labels[k] = strdup(label_values[k]);
    if (!s->labels[k]) {
      for (size_t j = 0; j < k; j++) free(s->labels[j]);
      free(s);
      return NULL;
    }
  }
  f->series[f->n_series++] = s;
  return s;
}

void metric_inc(metric_t *s) { metric_add(s, 1.0); }

void metric_add(metric_t *s, double v) {
  if (!s || s->family->type == METRIC_HISTOGRAM) return;
  if (s->family->type == METRIC_COUNTER && !(v >= 0)) return;
  s->value += v;
}

void metric_set(metric_t *s, double v) {
  if (!s || s->family->type == METRIC_HISTOGRAM) return;
  s->value = v;
}

void metric_observe(metric_t *s, double v) {
  if (!s || s->family->type != METRIC_HISTOGRAM || isnan(v)) return;
  metric_family_t *f = s->family;
  size_t i = 0;
  while (i < f->n_buckets && v > f->bounds[i]) i++;
  if (i < f->n_buckets) s->buckets[i]++;
  s->count++;
  s->value += v;
}

double metric_value(const metric_t *s) {
  if (!s) return 0;
  return s->family->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
}

/* ---- rendering ---- */

/* HELP escapes backslash and newline; label values also the double quote (0.0.4). */
static int put_escaped(buf_t *out, const char *s, bool quote) {
  int rc = 0;
  for (; *s && rc == 0; s++) {
    if (*s == '\\') rc = buf_puts(out, "\\\\");
    else if (*s == '\n') rc = buf_puts(out, "\\n");
    else if (quote && *s == '"') rc = buf_puts(out, "\\\"");
    else rc = buf_putc(out, *s);
  }
  return rc;
}

/* Go's strconv formatting is what Prometheus parses: +Inf, -Inf, NaN, or a float. */
static int put_number(buf_t *out, double v) {
  if (isnan(v)) return buf_puts(out, "NaN");
  if (isinf(v)) return buf_puts(out, v > 0 ? "+Inf" : "-Inf");
  if (v == floor(v) && fabs(v) < 1e15) return buf_printf(out, "%.0f", v);
  /* the shortest text that reads back as v, as Go prints it */
  char s[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, v);
    if (strtod(s, NULL) == v) break;
  }
  return buf_puts(out, s);
}

/* name{labels[,le="x"]} value\n */
static int put_sample(buf_t *out, const metric_family_t *f, const metric_t *s,
                      const char *suffix, const char *le, double v) {
  int rc = buf_printf(out, "%s%s", f->name, suffix);
  if (rc) return rc;
  if (f->n_labels || le) {
    rc = buf_putc(out, '{');
    for (size_t k = 0; k < f->n_labels && rc == 0; k++) {
      rc = buf_printf(out, "%s%s=\"", k ? "," : "", f->label_names[k]);
      if (rc == 0) rc = put_escaped(out, s->labels[k], true);
      if (rc == 0) rc = buf_putc(out, '"');
    }
    if (rc == 0 && le) rc = buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    if (rc == 0) rc = buf_putc(out, '}');
    if (rc) return rc;
  }
  rc = buf_putc(out, ' ');
  if (rc == 0) rc = put_number(out, v);
  if (rc == 0) rc = buf_putc(out, '\n');
  return rc;
}

static int render_series(buf_t *out, const metric_family_t *f, const metric_t *s) {
  if (f->type != METRIC_HISTOGRAM) return put_sample(out, f, s, "", NULL, s->value);
  uint64_t cum = 0;
  int rc = 0;
  for (size_t i = 0; i < f->n_buckets && rc == 0; i++) {
    cum += s->buckets[i];
    buf_t le = BUF_INIT;
    rc = put_number(&le, f->bounds[i]);
    if (rc == 0) rc = put_sample(out, f, s, "_bucket", le.data, (double)cum);
    buf_free(&le);
  }
  if (rc == 0) rc = put_sample(out, f, s, "_bucket", "+Inf", (double)s->count);
  if (rc == 0) rc = put_sample(out, f, s, "_sum", NULL, s->value);
  if (rc == 0) rc = put_sample(out, f, s, "_count", NULL, (double)s->count);
  return rc;
}

int metrics_render(const metrics_t *m, buf_t *out) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  if (!m || !out) return -EINVAL;
  int rc = 0;
  for (size_t i = 0; i < m->n && rc == 0; i++) {
    const metric_family_t *f = m->families[i];
    rc = buf_printf(out, "# HELP %s ", f->name);
    if (rc == 0) rc = put_escaped(out, f->help, false);
    if (rc == 0) rc = buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (size_t k = 0; k < f->n_series && rc == 0; k++) rc = render_series(out, f, f->series[k]);
  }
  return rc;
}

/* ------------------------------------------------------------------ process */

static metric_t *process_one(metrics_t *m, const char *name, const char *help, metric_type_t type) {
  return metrics_series(metrics_family(m, name, help, type, NULL, 0, NULL, 0), NULL);
}

int metrics_process_register(metrics_t *m, metrics_process_t *p) {
  p->cpu = process_one(m, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
                       METRIC_COUNTER);
  p->rss = process_one(m, "process_resident_memory_bytes", "Resident memory size in bytes", METRIC_GAUGE);
  p->vsize = process_one(m, "process_virtual_memory_bytes", "Virtual memory size in bytes", METRIC_GAUGE);
  p->open_fds = process_one(m, "process_open_fds", "Number of open file descriptors", METRIC_GAUGE);
  p->max_fds = process_one(m, "process_max_fds", "Maximum number of open file descriptors", METRIC_GAUGE);
  p->start_time = process_one(m, "process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds", METRIC_GAUGE);
  if (!p->cpu || !p->rss || !p->vsize || !p->open_fds || !p->max_fds || !p->start_time) return -ENOMEM;
  return 0;
}

/* The boot time (btime of /proc/stat), UNIX seconds; 0 when unknown. */
static long long boot_time(void) {
  FILE *f = fopen("/proc/stat", "re");
  if (!f) return 0;
  char line[256];
  long long bt = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %lld", &bt) == 1) break;
  fclose(f);
  return bt;
}

void metrics_process_update(const metrics_process_t *p) {
  long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  FILE *f = fopen("/proc/self/stat", "re");
  if (f) {
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after "pid (comm) ": comm may hold spaces and parentheses, so from the last ')' */
    char *rp = strrchr(buf, ')');
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
    if (rp && ticks > 0 &&
        sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
                       "%llu %llu %lld", &utime, &stime, &starttime, &vsize, &rss) == 5) {
      metric_set(p->cpu, (double)(utime + stime) / (double)ticks);
      metric_set(p->vsize, (double)vsize);
      if (page > 0) metric_set(p->rss, (double)rss * (double)page);
      long long bt = boot_time();
      if (bt > 0) metric_set(p->start_time, (double)bt + (double)starttime / (double)ticks);
    }
  }
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    size_t fds = 0;
    for (struct dirent *e; (e = readdir(d));)
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    metric_set(p->open_fds, (double)(fds ? fds - 1 : 0)); /* less the one opendir holds */
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) metric_set(p->max_fds, (double)rl.rlim_cur);
}

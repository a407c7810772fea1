/* A small metrics registry rendered in the Prometheus text exposition format 0.0.4.
 * Every series (a family plus one fixed set of label values) is registered up front, so
 * updating one is a store into memory that already exists: no allocation, no lookup. */
#ifndef FLEETARC_OPS_METRICS_H
#define FLEETARC_OPS_METRICS_H

#include <stddef.h>

#include "util/buf.h"

typedef struct metrics metrics_t;
typedef struct metric_family metric_family_t; /* owned by its metrics_t */
typedef struct metric metric_t;               /* one series; owned by its family */

typedef enum {
  METRIC_COUNTER = 0,
  METRIC_GAUGE,
  METRIC_HISTOGRAM,
} metric_type_t;

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 16

/* NULL on out of memory. */
metrics_t *metrics_new(void) __attribute__((warn_unused_result));
/* Frees the registry, its families and series; NULL is a no-op. */
void metrics_free(metrics_t *m);

/* Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: one line (escaped on
 * output); label_names: n_labels (<= METRICS_MAX_LABELS) valid label names, none
 * starting with "__" nor "le" for a histogram. Histograms take n_buckets (1 to
 * METRICS_MAX_BUCKETS) strictly increasing finite upper bounds; +Inf is implied. All
 * strings are copied. Returns NULL for a bad argument, a duplicate name, or no memory. */
metric_family_t *metrics_family(metrics_t *m, const char *name, const char *help,
                                metric_type_t type, const char *const *label_names,
                                size_t n_labels, const double *buckets, size_t n_buckets)
    __attribute__((warn_unused_result));

/* Registers (or finds) the series of f with these label values (one per label name; any
 * bytes but NUL, escaped on output). Copies them. NULL on out of memory or NULL values. */
metric_t *metrics_series(metric_family_t *f, const char *const *label_values)
    __attribute__((warn_unused_result));

/* Hot-path updates: no allocation. A NULL series is a no-op, so an optional metric
 * costs nothing to leave unregistered. inc/add are for counters and gauges (a counter
 * never goes down: negative adds are ignored on it); set for gauges, and for counters
 * mirrored from another module's monotonic count; observe for histograms. */
void metric_inc(metric_t *s);
void metric_add(metric_t *s, double v);
void metric_set(metric_t *s, double v);
void metric_observe(metric_t *s, double v);
/* The current value (histograms: the count of observations). */
double metric_value(const metric_t *s);

/* Appends the whole exposition (families in registration order, series in registration
 * order; HELP, TYPE, samples) to out. 0, -ENOMEM or -EFBIG (out's limit). */
int metrics_render(const metrics_t *m, buf_t *out) __attribute__((warn_unused_result));

/* The standard process metrics of the Prometheus client libraries, for this process:
 * process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds. metrics_process_register adds them to m (0 or -ENOMEM);
 * metrics_process_update reads /proc/self (Linux) into them, e.g. before a render
 * (a value that cannot be read is left as it was). */
typedef struct metrics_process {
  metric_t *cpu, *rss, *vsize, *open_fds, *max_fds, *start_time;
} metrics_process_t;
int metrics_process_register(metrics_t *m, metrics_process_t *p) __attribute__((warn_unused_result));
void metrics_process_update(const metrics_process_t *p);

/* The content type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif

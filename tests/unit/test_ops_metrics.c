/* Unit tests for ops/metrics (exact exposition text: HELP/TYPE, label escaping, cumulative
 * histogram buckets, registration errors). The listener's request parser is net/httpserv's
 * (test_net_httpserv.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ops/metrics.h"

/* process_*: plausible values of this very process, after a known amount of work. */
static void test_process_metrics(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  assert_non_null(m);
  metrics_process_t p;
  assert_int_equal(metrics_process_register(m, &p), 0);
  metrics_process_update(&p);
  double cpu0 = metric_value(p.cpu);
  /* burn about 0.2 s of CPU and hold 64 MiB touched, 3 more descriptors */
  size_t big = 64u << 20;
  char *mem = malloc(big);
  assert_non_null(mem);
  memset(mem, 1, big);
  int fds[3] = {dup(0), dup(1), dup(2)};
  double fds0 = metric_value(p.open_fds);
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  volatile unsigned long x = 0;
  do {
    for (int i = 0; i < 100000; i++) x += (unsigned long)i * 7u;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  } while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < 0.2);
  metrics_process_update(&p);
  assert_true(metric_value(p.cpu) >= cpu0 + 0.15);
  assert_true(metric_value(p.rss) >= (double)big);
  assert_true(metric_value(p.vsize) >= metric_value(p.rss));
  assert_true(metric_value(p.open_fds) >= 6 && metric_value(p.open_fds) >= fds0);
  assert_true(metric_value(p.max_fds) >= metric_value(p.open_fds));
  double now = (double)time(NULL);
  assert_true(metric_value(p.start_time) > now - 600 && metric_value(p.start_time) <= now + 1);
  buf_t out = BUF_INIT;
  assert_int_equal(metrics_render(m, &out), 0);
  assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter\n"));
  assert_non_null(strstr(out.data, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "));
  assert_non_null(strstr(out.data, "\nprocess_open_fds "));
  assert_non_null(strstr(out.data, "\nprocess_max_fds "));
  assert_non_null(strstr(out.data, "\nprocess_start_time_seconds "));
  buf_free(&out);
  for (int i = 0; i < 3; i++) close(fds[i]);
  free(mem);
  metrics_free(m);
}

static void test_render_exact(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  assert_non_null(m);
  const char *lbl[] = {"endpoint", "outcome"};
  metric_family_t *req = metrics_family(m, "fleetarc_api_requests_total",
                                        "API calls by endpoint and outcome.\nSecond \\ line",
                                        METRIC_COUNTER, lbl, 2, NULL, 0);
  assert_non_null(req);
  metric_t *ok = metrics_series(req, (const char *[]){"track", "ok"});
  metric_t *odd = metrics_series(req, (const char *[]){"a\"b\\c\nd", "error"});
  assert_non_null(ok);
  assert_non_null(odd);
  assert_ptr_equal(metrics_series(req, (const char *[]){"track", "ok"}), ok);
  metric_inc(ok);
  metric_add(ok, 2);
  metric_add(ok, -5); /* a counter never goes down */
  metric_set(odd, 7);
  metric_family_t *q = metrics_family(m, "fleetarc_queue_rows", "Rows held.", METRIC_GAUGE, NULL, 0, NULL, 0);
  metric_t *qs = metrics_series(q, NULL);
  metric_set(qs, 12.5);
  metric_add(qs, -2.5);
  const double b[] = {0.01, 0.1, 1};
  metric_family_t *h = metrics_family(m, "fleetarc_write_seconds", "Write latency.", METRIC_HISTOGRAM,
                                      NULL, 0, b, 3);
  metric_t *hs = metrics_series(h, NULL);
  metric_observe(hs, 0.005);
  metric_observe(hs, 0.1); /* on a bound: counts in that bucket (le) */
  metric_observe(hs, 5);
  assert_true(metric_value(hs) == 3);
  buf_t out = BUF_INIT;
  assert_int_equal(metrics_render(m, &out), 0);
  assert_string_equal(out.data,
    "# HELP fleetarc_api_requests_total API calls by endpoint and outcome.\\nSecond \\\\ line\n"
    "# TYPE fleetarc_api_requests_total counter\n"
    "fleetarc_api_requests_total{endpoint=\"track\",outcome=\"ok\"} 3\n"
    "fleetarc_api_requests_total{endpoint=\"a\\\"b\\\\c\\nd\",outcome=\"error\"} 7\n"
    "# HELP fleetarc_queue_rows Rows held.\n"
    "# TYPE fleetarc_queue_rows gauge\n"
    "fleetarc_queue_rows 10\n"
    "# HELP fleetarc_write_seconds Write latency.\n"
    "# TYPE fleetarc_write_seconds histogram\n"
    "fleetarc_write_seconds_bucket{le=\"0.01\"} 1\n"
    "fleetarc_write_seconds_bucket{le=\"0.1\"} 2\n"
    "fleetarc_write_seconds_bucket{le=\"1\"} 2\n"
    "fleetarc_write_seconds_bucket{le=\"+Inf\"} 3\n"
    "fleetarc_write_seconds_sum 5.105\n"
    "fleetarc_write_seconds_count 3\n");
  buf_free(&out);
  metrics_free(m);
}

static void test_register_errors(void **state) {
  (void)state;
  metrics_t *m = metrics_new();
  const char *le[] = {"le"}, *dunder[] = {"__x"}, *bad[] = {"a-b"};
  const double up[] = {1, 2}, down[] = {2, 1}, inf[] = {INFINITY};
  assert_null(metrics_family(m, "1abc", "h", METRIC_GAUGE, NULL, 0, NULL, 0));
  assert_null(metrics_family(m, "a b", "h", METRIC_GAUGE, NULL, 0, NULL, 0));
  assert_null(metrics_family(m, "x", "h", METRIC_GAUGE, bad, 1, NULL, 0));
  assert_null(metrics_family(m, "x", "h", METRIC_GAUGE, dunder, 1, NULL, 0));
  assert_null(metrics_family(m, "x", "h", METRIC_HISTOGRAM, le, 1, up, 2));
  assert_null(metrics_family(m, "x", "h", METRIC_HISTOGRAM, NULL, 0, down, 2));
  assert_null(metrics_family(m, "x", "h", METRIC_HISTOGRAM, NULL, 0, inf, 1));
  assert_null(metrics_family(m, "x", "h", METRIC_HISTOGRAM, NULL, 0, NULL, 0));
  assert_null(metrics_family(m, "x", "h", METRIC_GAUGE, NULL, 0, up, 2));
  assert_non_null(metrics_family(m, "x:y_1", "h", METRIC_GAUGE, NULL, 0, NULL, 0));
  assert_null(metrics_family(m, "x:y_1", "h", METRIC_GAUGE, NULL, 0, NULL, 0)); /* duplicate */
  /* NULL series: updates are no-ops, never a crash */
  metric_inc(NULL);
  metric_observe(NULL, 1);
  assert_true(metric_value(NULL) == 0);
  metrics_free(m);
  metrics_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_render_exact),
    cmocka_unit_test(test_process_metrics),
    cmocka_unit_test(test_register_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

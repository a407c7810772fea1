/* Benchmark (not a test): parse a realistic 1000-record playback page N times through the
 * full JSON path and through the record-string parser alone; prints records per second
 * and ns per record. Usage: bench_parse [N] (default 2000). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "api/api.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A vehicle driving around Shenzhen, one fix every 10 s, six-decimal coordinates. */
static int build_page(buf_t *b, size_t *record_start, size_t *record_len) {
  int rc = buf_puts(b, "{\"code\":0,\"record\":\"");
  *record_start = b->len;
  double lon = 113.97196, lat = 22.568616;
  unsigned seed = 12345;
  for (int i = 0; i < 1000 && !rc; i++) {
    seed = seed * 1103515245u + 12345u;
    lon += ((double)((seed >> 8) % 200) - 100.0) * 1e-6;
    lat += ((double)((seed >> 16) % 200) - 100.0) * 1e-6;
    rc = buf_printf(b, "%s%.6f,%.6f,%d,%u,%u", i ? ";" : "", lon, lat, 1406858664 + 10 * i,
                    (seed >> 4) % 120, (seed >> 12) % 361);
  }
  *record_len = b->len - *record_start;
  if (!rc) rc = buf_puts(b, "\"}");
  return rc;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
  if (n <= 0) n = 2000;
  buf_t page = BUF_INIT;
  size_t rs, rl;
  if (build_page(&page, &rs, &rl)) return 1;
  api_points_t pts = {0};
  api_error_t err;

  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    if (api_parse_playback(page.data, page.len, &pts, &err) || pts.n != 1000) {
      fprintf(stderr, "bench_parse: playback parse failed: %s\n", err.message);
      return 1;
    }
  }
  double json_s = now_s() - t0;

  t0 = now_s();
  for (long i = 0; i < n; i++) {
    if (api_records_parse_points(page.data + rs, rl, &pts, &err) || pts.n != 1000) {
      fprintf(stderr, "bench_parse: record parse failed: %s\n", err.message);
      return 1;
    }
  }
  double rec_s = now_s() - t0;

  double rows = (double)n * 1000.0;
  printf("page: %zu bytes, 1000 records, %ld iterations\n", page.len, n);
  printf("api_parse_playback (full JSON):   %12.0f records/s  %7.1f ns/record\n",
         rows / json_s, json_s * 1e9 / rows);
  printf("api_records_parse_points (alone): %12.0f records/s  %7.1f ns/record\n",
         rows / rec_s, rec_s * 1e9 / rows);
  api_points_free(&pts);
  buf_free(&page);
  return 0;
}

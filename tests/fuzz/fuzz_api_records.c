/* libFuzzer target: both record-string parsers (2.3 playback, 2.8 alarms) on arbitrary
 * bytes, not NUL-terminated; checks the invariants the archiver relies on. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void check(bool ok) {
  if (!ok) abort(); /* a broken invariant: libFuzzer reports the input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: ASan flags any read past the end. */
  char *s = malloc(size ? size : 1);
  if (!s) return 0;
  if (size) memcpy(s, data, size);
  api_error_t err;
  api_points_t p = {0};
  int rc = api_records_parse_points(s, size, &p, &err);
  check(rc == 0 || (rc == -EBADMSG && err.kind == API_ERR_RECORD) || rc == -ENOMEM);
  if (rc == 0) {
    for (size_t i = 0; i < p.n; i++) {
      check(p.items[i].longitude >= -180 && p.items[i].longitude <= 180);
      check(p.items[i].latitude >= -90 && p.items[i].latitude <= 90);
      check(p.items[i].gpstime >= 0);
      check(p.items[i].course >= 0 && p.items[i].course <= 360);
    }
  } else {
    check(strlen(err.message) < sizeof err.message);
  }
  api_points_free(&p);
  api_alarms_t a = {0};
  rc = api_records_parse_alarms(s, size, &a, &err);
  check(rc == 0 || (rc == -EBADMSG && err.kind == API_ERR_RECORD) || rc == -ENOMEM);
  for (size_t i = 0; rc == 0 && i < a.n; i++) check(a.items[i].systemtime >= 0);
  api_alarms_free(&a);
  free(s);
  return 0;
}

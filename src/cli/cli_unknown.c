/* What `export` and `report` say on stderr when their answer is empty: which IMEIs the
 * archive has never heard of (a typo), or that the range holds nothing. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "db/query.h"

static const char unknown_sql[] =
    "SELECT x FROM unnest(string_to_array($1, ',')) AS x"
    " WHERE NOT EXISTS (SELECT 1 FROM fleetarc.devices d WHERE d.imei = x)"
    "   AND NOT EXISTS (SELECT 1 FROM fleetarc.cursors c WHERE c.imei = x)"
    "   AND NOT EXISTS (SELECT 1 FROM fleetarc.device_state s WHERE s.imei = x)"
    "   AND NOT EXISTS (SELECT 1 FROM fleetarc.positions p WHERE p.imei = x)"
    "   AND NOT EXISTS (SELECT 1 FROM fleetarc.alarms a WHERE a.imei = x)"
    " ORDER BY 1";

int cli_say_unknown(const char *cmd, const char *conninfo, const char *imeis, size_t rows) {
  int unknown = 0;
  if (imeis && *imeis) {
    db_result_t *res = NULL;
    char err[512];
    const char *params[1] = {imeis};
    if (db_query(conninfo, unknown_sql, 1, params, &res, err, sizeof err) < 0) {
      fprintf(stderr, "fleetarc %s: %s\n", cmd, err[0] ? err : "out of memory");
      return -1;
    }
    size_t n = db_result_rows(res);
    for (size_t i = 0; i < n; i++) {
      const char *v = db_result_value(res, i, 0);
      fprintf(stderr, "fleetarc %s: unknown IMEI %s: never listed nor archived (a typo?)\n", cmd,
              v ? v : "");
    }
    unknown = (int)n;
    db_result_free(res);
  }
  if (rows == 0 && unknown == 0)
    fprintf(stderr, "fleetarc %s: nothing stored in this range%s\n", cmd,
            imeis && *imeis ? " for the IMEIs given" : "");
  return unknown;
}

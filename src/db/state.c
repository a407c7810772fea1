/* Startup reads of the archiver's state (db/state.h): blocking libpq, before the loop. */
#include "db/state.h"

#include "db/conn.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int db_load_cursors(const char *conninfo, const char *const *stream_keys, size_t n_keys,
                    db_cursor_cb cb, void *arg, char *errbuf, size_t errlen) {
  int rc = 0;
  PGresult *res = NULL;
  char *array = NULL;
  PGconn *conn = db_connect(conninfo, "fleetarc", errbuf, errlen);
  if (!conn) {
    rc = -EIO;
    goto out;
  }
  /* The keys as a text[] literal: they are our own names (letters, digits, '@', '-'). */
  size_t len = 3;
  for (size_t i = 0; i < n_keys; i++) len += strlen(stream_keys[i]) + 3;
  array = malloc(len);
  if (!array) {
    rc = -ENOMEM;
    goto out;
  }
  char *p = array;
  *p++ = '{';
  for (size_t i = 0; i < n_keys; i++) p += sprintf(p, "%s\"%s\"", i ? "," : "", stream_keys[i]);
  *p++ = '}';
  *p = '\0';
  const char *params[1] = {array};
  res = PQexecParams(conn,
                     "SELECT imei, stream, extract(epoch FROM cursor)::bigint FROM fleetarc.cursors"
                     " WHERE stream = ANY($1::text[])",
                     1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    if (errbuf) snprintf(errbuf, errlen, "reading fleetarc.cursors: %s", PQerrorMessage(conn));
    rc = -EIO;
    goto out;
  }
  for (int i = 0; i < PQntuples(res) && rc == 0; i++)
    rc = cb(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
            strtoll(PQgetvalue(res, i, 2), NULL, 10));
out:
  if (errbuf && rc == -EIO) errbuf[strcspn(errbuf, "\n")] = '\0';
  free(array);
  PQclear(res);
  PQfinish(conn);
  return rc;
}

typedef struct {
  db_device_cb cb;
  void *arg;
} device_read_t;

static int device_row(void *arg, const PGresult *res, int i) {
  const device_read_t *r = arg;
  return r->cb(r->arg, PQgetvalue(res, i, 0), strcmp(PQgetvalue(res, i, 1), "t") == 0);
}

int db_load_devices(const char *conninfo, db_device_cb cb, void *arg, char *errbuf,
                    size_t errlen) {
  device_read_t r = {cb, arg};
  return db_read_rows(conninfo, "SELECT imei, removed_at IS NOT NULL FROM fleetarc.devices",
                      "fleetarc.devices", device_row, &r, errbuf, errlen);
}

typedef struct {
  db_coverage_cb cb;
  void *arg;
} coverage_read_t;

static int coverage_row(void *arg, const PGresult *res, int i) {
  const coverage_read_t *r = arg;
  return r->cb(r->arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               strtoll(PQgetvalue(res, i, 2), NULL, 10), strtoll(PQgetvalue(res, i, 3), NULL, 10));
}

int db_load_coverage(const char *conninfo, db_coverage_cb cb, void *arg, char *errbuf,
                     size_t errlen) {
  coverage_read_t r = {cb, arg};
  return db_read_rows(conninfo,
                      "SELECT imei, stream, extract(epoch FROM \"from\")::bigint,"
                      " extract(epoch FROM \"to\")::bigint FROM fleetarc.coverage"
                      " ORDER BY imei, stream, \"from\"",
                      "fleetarc.coverage", coverage_row, &r, errbuf, errlen);
}

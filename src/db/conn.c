/* db_connect: PQconnectdbParams with expand_dbname, so that the conninfo's own settings
 * (written after our defaults) win. */
#include "db/conn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *db_connect(const char *conninfo, const char *appname, char *errbuf, size_t errlen) {
  const char *keys[4] = {"fallback_application_name", "connect_timeout", NULL, NULL};
  const char *vals[4] = {appname, "10", NULL, NULL};
  if (conninfo && *conninfo) {
    keys[2] = "dbname";
    vals[2] = conninfo;
  }
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
  if (errbuf && errlen) {
    const char *why = conn ? PQerrorMessage(conn) : "out of memory";
    int n = snprintf(errbuf, errlen, "cannot connect to PostgreSQL: %s", why);
    if (n > 0) errbuf[strcspn(errbuf, "\n")] = '\0';
  }
  PQfinish(conn);
  return NULL;
}

static bool keyword_is_secret(const char *kw) { return strstr(kw, "password") != NULL; }

static void conninfo_wipe_free(PQconninfoOption *opts) {
  if (!opts) return;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val) explicit_bzero(o->val, strlen(o->val));
  PQconninfoFree(opts);
}

char *db_conninfo_masked(const char *conninfo) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
  if (!opts) {
    PQfreemem(err); /* it may quote a part of the conninfo */
    return strdup("(not shown: libpq cannot parse it)");
  }
  size_t cap = 1;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val) cap += strlen(o->keyword) + 2 * strlen(o->val) + 8;
  char *out = malloc(cap), *w = out;
  if (out) {
    *w = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
      if (!o->val) continue;
      if (w != out) *w++ = ' ';
      w += sprintf(w, "%s=", o->keyword);
      if (keyword_is_secret(o->keyword)) {
        w += sprintf(w, "***");
        continue;
      }
      /* quoted when needed, the way libpq reads it back */
      bool quote = !o->val[0] || strpbrk(o->val, " \t\n\r\\'") != NULL;
      if (quote) *w++ = '\'';
      for (const char *c = o->val; *c; c++) {
        if (*c == '\'' || *c == '\\') *w++ = '\\';
        *w++ = *c;
      }
      if (quote) *w++ = '\'';
      *w = '\0';
    }
  }
  conninfo_wipe_free(opts);
  return out;
}

int db_conninfo_has_password(const char *conninfo) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
  if (!opts) {
    int rc = err ? -EINVAL : -ENOMEM;
    PQfreemem(err);
    return rc;
  }
  int found = 0;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val && o->val[0] && keyword_is_secret(o->keyword)) found = 1;
  conninfo_wipe_free(opts);
  return found;
}

int db_read_rows(const char *conninfo, const char *sql, const char *what, db_row_fn row,
                 void *arg, char *errbuf, size_t errlen) {
  int rc = 0;
  PGresult *res = NULL;
  PGconn *conn = db_connect(conninfo, "fleetarc", errbuf, errlen);
  if (!conn) {
    rc = -EIO;
    goto out;
  }
  res = PQexec(conn, sql);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    if (errbuf) snprintf(errbuf, errlen, "reading %s: %s", what, PQerrorMessage(conn));
    rc = -EIO;
    goto out;
  }
  for (int i = 0; i < PQntuples(res) && rc == 0; i++) rc = row(arg, res, i);
out:
  if (errbuf && rc == -EIO) errbuf[strcspn(errbuf, "\n")] = '\0';
  PQclear(res);
  PQfinish(conn);
  return rc;
}

/* The SQL side of the account leases (db/leasedb.h): blocking libpq, on a worker thread. */
#include "db/leasedb.h"

#include "db/conn.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct leasedb {
  char *conninfo, *instance;
  unsigned timeout_ms;
  PGconn *conn;
};

leasedb_t *leasedb_new(const char *conninfo, const char *instance, unsigned timeout_ms) {
  leasedb_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->conninfo = strdup(conninfo ? conninfo : "");
  l->instance = strdup(instance);
  l->timeout_ms = timeout_ms;
  if (!l->conninfo || !l->instance) {
    leasedb_free(l);
    return NULL;
  }
  return l;
}

void leasedb_free(leasedb_t *l) {
  if (!l) return;
  if (l->conn) PQfinish(l->conn);
  if (l->conninfo) explicit_bzero(l->conninfo, strlen(l->conninfo)); /* may hold a password */
  free(l->conninfo);
  free(l->instance);
  free(l);
}

static void oneline(char *err) {
  if (err) err[strcspn(err, "\n")] = '\0';
}

static int ensure(leasedb_t *l, char *err, size_t errlen) {
  if (l->conn && PQstatus(l->conn) == CONNECTION_OK) return 0;
  if (l->conn) PQfinish(l->conn);
  l->conn = db_connect(l->conninfo, "fleetarc-lease", err, errlen);
  if (!l->conn) {
    oneline(err);
    return -EIO;
  }
  char sql[96];
  snprintf(sql, sizeof sql, "SET statement_timeout = %u", l->timeout_ms);
  PGresult *r = PQexec(l->conn, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    if (err) snprintf(err, errlen, "setting statement_timeout: %s", PQerrorMessage(l->conn));
    oneline(err);
    PQfinish(l->conn);
    l->conn = NULL;
    return -EIO;
  }
  return 0;
}

/* Runs one statement returning one value; *out borrowed until PQclear(*res). */
static int one_value(leasedb_t *l, const char *what, const char *sql, int n, const char *const *p,
                     PGresult **res, const char **out, char *err, size_t errlen) {
  *res = NULL;
  int rc = ensure(l, err, errlen);
  if (rc) return rc;
  *res = PQexecParams(l->conn, sql, n, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(*res) != PGRES_TUPLES_OK || PQntuples(*res) != 1) {
    if (err) snprintf(err, errlen, "%s: %s", what, PQerrorMessage(l->conn));
    oneline(err);
    PQclear(*res);
    *res = NULL;
    PQfinish(l->conn); /* whatever it was: a fresh connection next time */
    l->conn = NULL;
    return -EIO;
  }
  *out = PQgetisnull(*res, 0, 0) ? NULL : PQgetvalue(*res, 0, 0);
  return 0;
}

int leasedb_share(leasedb_t *l, double ttl_s, int n_accounts, int *share, char *err, size_t errlen) {
  char ttl[32], n[16];
  snprintf(ttl, sizeof ttl, "%.3f", ttl_s);
  snprintf(n, sizeof n, "%d", n_accounts);
  const char *p[] = {l->instance, ttl, n};
  PGresult *r;
  const char *v;
  int rc = one_value(l, "lease_share", "SELECT fleetarc.lease_share($1, $2, $3)", 3, p, &r, &v,
                     err, errlen);
  if (rc) return rc;
  *share = v ? atoi(v) : n_accounts;
  PQclear(r);
  return 0;
}

int leasedb_take(leasedb_t *l, const char *account, double ttl_s, int64_t *gen, char *err,
                 size_t errlen) {
  char ttl[32];
  snprintf(ttl, sizeof ttl, "%.3f", ttl_s);
  const char *p[] = {account, l->instance, ttl};
  PGresult *r;
  const char *v;
  int rc = one_value(l, "lease_take", "SELECT fleetarc.lease_take($1, $2, $3)", 3, p, &r, &v, err,
                     errlen);
  if (rc) return rc;
  *gen = v ? strtoll(v, NULL, 10) : 0;
  PQclear(r);
  return 0;
}

int leasedb_renew(leasedb_t *l, const char *account, int64_t gen, double ttl_s, bool *held,
                  char *err, size_t errlen) {
  char ttl[32], g[32];
  snprintf(ttl, sizeof ttl, "%.3f", ttl_s);
  snprintf(g, sizeof g, "%lld", (long long)gen);
  const char *p[] = {account, l->instance, g, ttl};
  PGresult *r;
  const char *v;
  int rc = one_value(l, "lease_renew", "SELECT fleetarc.lease_renew($1, $2, $3, $4)", 4, p, &r,
                     &v, err, errlen);
  if (rc) return rc;
  *held = v && strcmp(v, "t") == 0;
  PQclear(r);
  return 0;
}

int leasedb_release(leasedb_t *l, const char *account, int64_t gen, char *err, size_t errlen) {
  char g[32];
  snprintf(g, sizeof g, "%lld", (long long)gen);
  const char *p[] = {account, l->instance, g};
  PGresult *r;
  const char *v;
  int rc = one_value(l, "lease_release", "SELECT fleetarc.lease_release($1, $2, $3)", 3, p, &r,
                     &v, err, errlen);
  if (rc) return rc;
  PQclear(r);
  return 0;
}

int leasedb_token_put(leasedb_t *l, const char *account, int64_t gen, const char *token,
                      const char *credential, int64_t expires_at, bool *stored, char *err,
                      size_t errlen) {
  char g[24], e[24];
  snprintf(g, sizeof g, "%lld", (long long)gen);
  snprintf(e, sizeof e, "%lld", (long long)expires_at);
  const char *p[] = {account, l->instance, g, token, credential, e};
  PGresult *r;
  const char *v;
  int rc = one_value(l, "token_put",
                     "SELECT fleetarc_secret.token_put($1, $2, $3, $4, $5, $6)", 6, p, &r, &v,
                     err, errlen);
  if (rc) return rc;
  *stored = v && v[0] == 't';
  PQclear(r);
  return 0;
}

int leasedb_token_get(leasedb_t *l, const char *account, int64_t min_left_s, char **token,
                      char credential[33], int64_t *expires_at, char *err, size_t errlen) {
  *token = NULL;
  credential[0] = '\0';
  *expires_at = 0;
  int rc = ensure(l, err, errlen);
  if (rc) return rc;
  char m[24];
  snprintf(m, sizeof m, "%lld", (long long)min_left_s);
  const char *p[] = {account, m};
  PGresult *r = PQexecParams(l->conn,
                             "SELECT token, credential, extract(epoch FROM expires_at)::bigint "
                             "FROM fleetarc_secret.tokens WHERE account = $1 "
                             "AND expires_at > clock_timestamp() + make_interval(secs => $2::int)",
                             2, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    if (err) snprintf(err, errlen, "token_get: %s", PQerrorMessage(l->conn));
    oneline(err);
    PQclear(r);
    PQfinish(l->conn);
    l->conn = NULL;
    return -EIO;
  }
  if (PQntuples(r) == 1) {
    const char *t = PQgetvalue(r, 0, 0);
    snprintf(credential, 33, "%s", PQgetvalue(r, 0, 1));
    *expires_at = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    if (!(*token = strdup(t))) rc = -ENOMEM;
    explicit_bzero((char *)t, strlen(t)); /* the result's copy of the secret */
  }
  PQclear(r);
  return rc;
}

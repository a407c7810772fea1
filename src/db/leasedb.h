/* The SQL side of the account leases (096_leases.sql; the design is in archive/lease.h).
 * BLOCKING calls on a connection of their own: archive/lease.c runs them on libuv's
 * thread pool, never on the loop's thread. One leasedb_t is used by one thread at a
 * time. A failed call drops the connection; the next call connects again. */
#ifndef FLEETARC_DB_LEASEDB_H
#define FLEETARC_DB_LEASEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct leasedb leasedb_t;

/* NULL on out of memory. timeout_ms bounds each statement (statement_timeout) and the
 * connection attempt. Strings are copied. */
leasedb_t *leasedb_new(const char *conninfo, const char *instance, unsigned timeout_ms);
void leasedb_free(leasedb_t *l);

/* Records this instance's heartbeat; *share = ceil(n_accounts / live instances).
 * 0 or -EIO (err says why, one line, no password). */
int leasedb_share(leasedb_t *l, double ttl_s, int n_accounts, int *share, char *err, size_t errlen);
/* Takes the account's lease if free or expired: *gen = its new generation, else 0. */
int leasedb_take(leasedb_t *l, const char *account, double ttl_s, int64_t *gen, char *err,
                 size_t errlen);
/* Extends a held lease: *held false when it was lost (expired, taken). */
int leasedb_renew(leasedb_t *l, const char *account, int64_t gen, double ttl_s, bool *held,
                  char *err, size_t errlen);
int leasedb_release(leasedb_t *l, const char *account, int64_t gen, char *err, size_t errlen);

/* The shared access tokens (130_tokens.sql; secrets: never logged). token_put stores the
 * holder's token while it holds the account at gen (*stored false otherwise).
 * token_get reads the account's token if it has at least min_left_s to live: *token
 * (malloc'd, the caller wipes and frees it) and credential (33 bytes), or *token NULL. */
int leasedb_token_put(leasedb_t *l, const char *account, int64_t gen, const char *token,
                      const char *credential, int64_t expires_at, bool *stored, char *err,
                      size_t errlen);
int leasedb_token_get(leasedb_t *l, const char *account, int64_t min_left_s, char **token,
                      char credential[33], int64_t *expires_at, char *err, size_t errlen);

#endif

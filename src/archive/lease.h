/* Account leases: several `run` instances on one database, each account worked by one
 * instance at a time (issue 19; cluster.enabled, cluster.lease_ttl, cluster.instance).
 *
 * Design. A lease is a row of fleetarc.leases (096_leases.sql): account, holder,
 * generation, expires_at (the database's clock). An instance takes a free or expired
 * lease (the generation goes up by one), renews what it holds every lease_ttl/3, and
 * works an account only while it holds its lease. Every batch of rows carries a fence
 * per account it writes for (pgw_batch_add_fence): fleetarc.lease_fence checks holder,
 * generation and expiry inside the batch's transaction and share-locks the lease row
 * until the COMMIT, so a taker's UPDATE waits for that COMMIT, and a batch written under
 * a lost lease is rolled back (no rows, no coverage). Rows are idempotent anyway (unique
 * keys), so the fence is what keeps coverage and gap bookkeeping single-writer.
 *
 * Why lease rows and not session advisory locks: an advisory lock lives as long as a
 * session, which needs a dedicated session-mode connection per instance (not PgBouncer
 * in transaction mode), and the holder cannot tell from its own side how long the server
 * will keep it after a partition (TCP keepalive decides); a lock also carries no
 * generation to fence a COMMIT with. Rows with an expiry work through any pooler, carry
 * the generation, and make the timing explicit.
 *
 * The lease statements run on libuv's thread pool with a blocking connection of their own
 * (db/leasedb.h), never on the loop, and never queued behind the writer's batches (a
 * full writer must not starve the renewals).
 *
 * Timing and partitions. A holder counts its lease as valid until T0 + 0.8 * ttl, T0
 * being the loop time at which it STARTED the round that renewed (or took) it; the
 * database set expiry = (its clock at the UPDATE, later than T0) + ttl. So the holder
 * stops asking for an account at least 0.2 * ttl before anyone else can take it, with
 * no assumption on clock offsets (only on rates). Cut off from the database, the holder
 * cannot renew: its rounds fail or hang (statement and connect timeouts), its leases
 * lapse locally, it stops working them, and its batches could not commit anyway (the
 * writer cannot reach the database; a batch of a lapsed lease fails its fence when it
 * gets through). Another instance takes the accounts once expires_at has passed, reloads
 * the committed coverage and continues from there. An instance that dies loses its
 * leases within lease_ttl; one that stops cleanly releases them. */
#ifndef FLEETARC_ARCHIVE_LEASE_H
#define FLEETARC_ARCHIVE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct lease lease_t;

/* The archiver's side. names(arg, i) is the name of account i (NULL: removed), for
 * i < count(arg), asked at each round. changed(arg, i, held) after account i was taken
 * (held: its coverage reload, if any, has been applied) or lost. coverage(arg, imei,
 * stream, from, to) for each committed interval read after a take, on the loop. */
typedef struct lease_hooks {
  void *arg;
  size_t (*count)(void *arg);
  const char *(*name)(void *arg, size_t i);
  void (*changed)(void *arg, size_t i, bool held);
  int (*coverage)(void *arg, const char *imei, const char *stream, int64_t from, int64_t to);
  /* Optional (NULL: tokens are not shared). After account i was taken, before changed():
   * the access token a previous holder stored (a secret: never log it), the fingerprint of
   * the credentials it was obtained with, and its expiry (UNIX seconds). */
  void (*token)(void *arg, size_t i, const char *token, const char *credential, int64_t expires_at);
  /* A one-shot job (backfill): it takes every free lease it names, without a heartbeat in
   * fleetarc.lease_instances, so that it neither counts in nor waits for the share of the
   * `run` instances; it works what it took and releases it when it ends. */
  bool no_share;
} lease_hooks_t;

/* Starts the rounds at once. NULL on out of memory. */
lease_t *lease_new(uv_loop_t *loop, const char *conninfo, const char *instance, int64_t ttl_ms,
                   const lease_hooks_t *hooks);
/* Stores a token this instance obtained for account i (copied; a secret) in the database
 * at the next round while the lease is held, for the next holder (130_tokens.sql).
 * 0 or -ENOMEM. */
int lease_publish_token(lease_t *l, size_t i, const char *token, const char *credential,
                        int64_t expires_at);
/* Whether account i may be worked now; *gen (may be NULL) its generation. */
bool lease_holds(const lease_t *l, size_t i, int64_t *gen);
const char *lease_instance(const lease_t *l);
size_t lease_held_count(const lease_t *l);
/* Stops the rounds, releases the leases held (one last round on the pool), frees it and
 * calls cb(arg) on the loop. */
void lease_close(lease_t *l, void (*cb)(void *arg), void *arg);

#endif

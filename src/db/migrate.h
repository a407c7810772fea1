/* Schema migrations: applies the embedded sql/ files that a database has not seen yet,
 * all in one transaction under an advisory lock, and records each with its checksum. */
#ifndef FLEETARC_DB_MIGRATE_H
#define FLEETARC_DB_MIGRATE_H

#include <stddef.h>

/* Connects with `conninfo` (a libpq conninfo string or URI; NULL or "" uses the PG*
 * environment), creates schema fleetarc and fleetarc.schema_migrations if missing, then
 * applies every embedded migration not yet recorded, in version order, and commits.
 * Either all pending migrations are applied or none is.
 * *applied is the number applied (0: the schema was up to date).
 * Returns 0; -EIO when the database cannot be reached or a migration fails; -EINVAL
 * when an applied migration's checksum differs from the embedded file or the database
 * records a version this binary does not know. errbuf (errlen bytes, may be NULL) gets a
 * one-line reason on failure; it never holds the password. */
int db_migrate(const char *conninfo, size_t *applied, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* The state `fleetarc check` reports: connects with conninfo (as db_migrate), reads
 * fleetarc.schema_migrations without changing anything, and closes. *applied_version is
 * the highest version recorded (0: none, or no schema yet), *latest_embedded the highest
 * this binary embeds, *pending how many embedded migrations are not recorded (0: up to
 * date). Returns 0; -EIO when the database cannot be reached or read (errbuf says why,
 * never the password); -EINVAL when it records a version this binary does not know
 * (migrated by a newer fleetarc; errbuf names it). */
int db_check(const char *conninfo, int *applied_version, int *latest_embedded, size_t *pending,
             char *errbuf, size_t errlen) __attribute__((warn_unused_result));

/* How many migrations this binary embeds (the highest version it knows is the last). */
size_t db_migrate_known(void);

#endif

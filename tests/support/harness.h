/* Integration-test harness: a fresh database on the PostgreSQL that scripts/test
 * started (PG* variables), and fleetarc-sim started as a child process. */
#ifndef FLEETARC_TESTS_HARNESS_H
#define FLEETARC_TESTS_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

/* Exits 77 (skipped) when no PostgreSQL is configured, unless FLEETARC_REQUIRE_PG=1,
 * then fails. Creates (dropping first) database `name`; returns its conninfo (static). */
const char *harness_pg_fresh_db(const char *name);

typedef struct harness_sim {
  pid_t pid;
  int port;
  char base_url[64];   /* http://127.0.0.1:PORT */
  char account[64];
  char password[64];
} harness_sim_t;

/* Starts fleetarc-sim with --listen 127.0.0.1:0 and the extra arguments (NULL-ended),
 * and waits for it to print where it listens. Returns 0 or -1. */
int harness_sim_start(harness_sim_t *sim, const char *const *extra_args);
/* SIGTERM, then waits. */
void harness_sim_stop(harness_sim_t *sim);

/* Removes a flat directory (a simulator's --truth output): its files, then itself. */
void harness_rm_dir(const char *dir);

#endif

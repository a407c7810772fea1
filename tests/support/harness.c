/* Harness for integration tests; see harness.h. fleetarc-sim prints, on stdout, lines
 * "listen HOST:PORT", "account NAME", "password SECRET" and then "ready". */
#include "harness.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *harness_pg_fresh_db(const char *name) {
  static char conninfo[512];
  if (!getenv("PGHOST") && !getenv("PGPORT")) {
    const char *req = getenv("FLEETARC_REQUIRE_PG");
    if (req && strcmp(req, "1") == 0) {
      fprintf(stderr, "harness: FLEETARC_REQUIRE_PG=1 but no PGHOST/PGPORT set\n");
      exit(1);
    }
    fprintf(stderr, "harness: no PostgreSQL configured (PGHOST), skipping\n");
    exit(77);
  }
  PGconn *c = PQconnectdb("dbname=postgres");
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "harness: cannot connect: %s", PQerrorMessage(c));
    exit(1);
  }
  char sql[256];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
  PQclear(PQexec(c, sql));
  snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
    exit(1);
  }
  PQclear(r);
  PQfinish(c);
  snprintf(conninfo, sizeof conninfo, "dbname=%s", name);
  return conninfo;
}

/* Copies src into dst, cut to fit (the simulator's names and passwords are short). */
static void copy_field(char *dst, size_t size, const char *src) {
  size_t n = strnlen(src, size - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

int harness_sim_start(harness_sim_t *sim, const char *const *extra_args) {
  memset(sim, 0, sizeof *sim);
  const char *bin = getenv("FLEETARC_SIM_BIN");
  if (!bin) bin = "./fleetarc-sim";
  const char *argv[64];
  int n = 0;
  argv[n++] = bin;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  for (int i = 0; extra_args && extra_args[i] && n < 62; i++) argv[n++] = extra_args[i];
  argv[n] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(bin, (char *const *)argv);
    perror("exec fleetarc-sim");
    _exit(127);
  }
  close(fds[1]);
  sim->pid = pid;
  FILE *f = fdopen(fds[0], "r");
  char line[256];
  int ready = 0;
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    char host[40];
    if (sscanf(line, "listen %39[^:]:%d", host, &sim->port) == 2) {
      snprintf(sim->base_url, sizeof sim->base_url, "http://%s:%d", host, sim->port);
    } else if (strncmp(line, "account ", 8) == 0) {
      copy_field(sim->account, sizeof sim->account, line + 8);
    } else if (strncmp(line, "password ", 9) == 0) {
      copy_field(sim->password, sizeof sim->password, line + 9);
    } else if (strcmp(line, "ready") == 0) {
      ready = 1;
      break;
    }
  }
  if (f) fclose(f); /* the simulator's later stdout goes nowhere: it must not block on it */
  if (!ready || !sim->port) {
    harness_sim_stop(sim);
    return -1;
  }
  return 0;
}

void harness_sim_stop(harness_sim_t *sim) {
  if (sim->pid <= 0) return;
  kill(sim->pid, SIGTERM);
  int st;
  waitpid(sim->pid, &st, 0);
  sim->pid = 0;
}

void harness_rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

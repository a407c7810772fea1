/* fleetarc-sim --inject: see sim_inject.h. */
#include "sim/sim_inject.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_inject_none(sim_inject_t *out) {
  *out = (sim_inject_t){.course_dev = -1, .group_dev = -1, .device_dev = -1,
                        .hugetime_dev = -1, .status_dev = -1, .jump_for_s = 8};
}

static int parse_u(const char *s, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > max) return -EINVAL;
  *out = v;
  return 0;
}

static int parse_dev(const char *s, const sim_fleet_t *fleet, int64_t *out) {
  long long v;
  if (s[0] == '#') {
    if (parse_u(s + 1, INT32_MAX, &v) || (size_t)v >= sim_fleet_device_count(fleet)) return -EINVAL;
    *out = v;
    return 0;
  }
  int64_t d = sim_fleet_device_find(fleet, s);
  if (d < 0) return -EINVAL;
  *out = d;
  return 0;
}

int sim_inject_parse(const char *spec, const sim_fleet_t *fleet, sim_inject_t *out) {
  sim_inject_none(out);
  char *copy = strdup(spec);
  if (!copy) return -ENOMEM;
  int rc = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1]) {
      rc = -EINVAL;
      break;
    }
    *eq = '\0';
    const char *k = tok, *v = eq + 1;
    long long n;
    if (strcmp(k, "course") == 0) rc = parse_dev(v, fleet, &out->course_dev);
    else if (strcmp(k, "group") == 0) rc = parse_dev(v, fleet, &out->group_dev);
    else if (strcmp(k, "device") == 0) rc = parse_dev(v, fleet, &out->device_dev);
    else if (strcmp(k, "hugetime") == 0) rc = parse_dev(v, fleet, &out->hugetime_dev);
    else if (strcmp(k, "status") == 0) rc = parse_dev(v, fleet, &out->status_dev);
    else if (strcmp(k, "jump") == 0) rc = parse_u(v, 100000000, &n), out->jump_s = n;
    else if (strcmp(k, "jump_after") == 0) rc = parse_u(v, 100000000, &n), out->jump_after_s = n;
    else if (strcmp(k, "jump_for") == 0) rc = parse_u(v, 100000000, &n), out->jump_for_s = n;
    else if (strcmp(k, "fanout") == 0) rc = parse_u(v, 500, &n), out->fanout = (uint32_t)n;
    else rc = -EINVAL;
  }
  free(copy);
  return rc;
}

void sim_inject_track(sim_inject_t *inj, uint32_t dev, double elapsed_s, sim_inject_track_t *t) {
  if (inj->jump_s && elapsed_s >= (double)inj->jump_after_s &&
      elapsed_s < (double)(inj->jump_after_s + inj->jump_for_s)) {
    t->servertime += inj->jump_s;
    inj->injected++;
  }
  if ((int64_t)dev == inj->course_dev) {
    t->course = 361;
    inj->injected++;
  }
  if ((int64_t)dev == inj->hugetime_dev) {
    t->gpstime = INT64_C(9007199254740991);
    inj->injected++;
  }
  if ((int64_t)dev == inj->status_dev) {
    t->accstatus = 40000;
    inj->injected++;
  }
}

bool sim_inject_group(const sim_inject_t *inj, uint32_t dev) { return (int64_t)dev == inj->group_dev; }

bool sim_inject_device(const sim_inject_t *inj, uint32_t dev) { return (int64_t)dev == inj->device_dev; }

bool sim_inject_fan_name(const char *account) { return account && strncmp(account, "fan-", 4) == 0; }

void sim_inject_print(const sim_inject_t *inj, const sim_fleet_t *fleet, FILE *out) {
  const struct {
    const char *key;
    int64_t dev;
  } kinds[] = {{"course", inj->course_dev}, {"group", inj->group_dev}, {"device", inj->device_dev},
               {"hugetime", inj->hugetime_dev}, {"status", inj->status_dev}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kinds[i].dev >= 0)
      fprintf(out, "inject %s %s\n", kinds[i].key, sim_fleet_device(fleet, (size_t)kinds[i].dev)->imei);
}

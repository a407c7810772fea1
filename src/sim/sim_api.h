/* The Open API's rules over the synthetic fleet: signatures, tokens, permissions,
 * parameter checks, paging, rate limits and injected faults, plus /sim/stats. It
 * turns one parsed HTTP request into one response; the server does the I/O.
 *
 * Decisions the spec leaves open (documented in docs-worthy detail in sim_api.c):
 * a request refused with 10009 does not count as the last request for spacing; faults
 * http500/http502/syserr/ratelimit answer before the request is processed, while
 * slow/timeout/reset/truncate process it and damage only the answer (a login whose
 * answer was lost still invalidated the old token, as on a real platform). */
#ifndef FLEETARC_SIM_SIM_API_H
#define FLEETARC_SIM_SIM_API_H

#include <stdint.h>

#include "api/endpoints.h"
#include "sim/fleet.h"
#include "sim/http_server.h"
#include "sim/sim_inject.h"
#include "sim/sim_options.h"

typedef struct sim_api sim_api_t;

/* /api/track answers for device dev as if the present were at (when it is later): its
 * gpstime, hearttime, systemtime and state stay behind what playback and alarms hold. */
typedef struct sim_track_behind {
  uint32_t dev;
  int64_t at;
} sim_track_behind_t;

typedef struct sim_api_options {
  uint64_t seed;                  /* also seeds the fault PRNG */
  uint64_t token_seed;            /* the tokens' key: random per start unless given
                                   * (--token-seed), so that two simulators never accept
                                   * each other's tokens */
  int64_t present;                /* the simulated present at start (UNIX seconds) */
  double speed;                   /* simulated seconds per real second (0: frozen) */
  int64_t history_s;              /* the window the platform holds before the present */
  int64_t token_ttl_s;            /* expires_in, 7200 by default */
  int64_t clock_skew_s;           /* the server's clock = real clock + this (10014) */
  int64_t limit_ms[API_EP_COUNT]; /* least spacing per account and endpoint; <= 0: none */
  double fault_prob[SIM_FAULT_COUNT];
  unsigned slow_ms;               /* delay of the slow fault (2000) */
  const sim_track_behind_t *track_behind; /* borrowed for the api's life; n entries */
  size_t ntrack_behind;
  sim_nodata_t nodata;            /* how "no data" is said (--nodata) */
  sim_inject_t inject;            /* --inject: bad values on purpose (sim_inject.h);
                                     zero-initialised options inject nothing */
  bool inject_on;
} sim_api_options_t;

/* fleet is borrowed for the api's life (geofences are added to it). NULL on failure. */
sim_api_t *sim_api_new(sim_fleet_t *fleet, const sim_api_options_t *opt);
void sim_api_free(sim_api_t *api);

/* The simulated present: start present + elapsed real time x speed. */
int64_t sim_api_present(const sim_api_t *api);

/* A sim_http_handler_fn: arg is the sim_api_t. */
void sim_api_handle(void *arg, const sim_http_request_t *req, sim_http_response_t *resp);

#endif

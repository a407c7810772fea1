/* Pacing lanes (account x endpoint): each keeps when it last sent and its current spacing,
 * which never drops below the configured floor and never exceeds the cap. */
#include "net/pacer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct pacer_lane {
  uint64_t spacing_ms;
  uint64_t last_sent;
  uint64_t widened_at;
  bool sent_once;
  bool widened;
} pacer_lane_t;

struct pacer {
  pacer_options_t opt;
  uint64_t global_gap_ms;
  uint64_t global_last;
  bool global_sent;
  pacer_lane_t (*lanes)[API_EP_COUNT];
  int accounts;
};

pacer_t *pacer_new(const pacer_options_t *opt) {
  pacer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (opt) p->opt = *opt;
  if (p->opt.widen_factor < 1.0) p->opt.widen_factor = 2.0;
  if (!p->opt.widen_min_ms) p->opt.widen_min_ms = 1000;
  if (!p->opt.max_spacing_ms) p->opt.max_spacing_ms = 120000;
  if (p->opt.narrow_fraction <= 0.0 || p->opt.narrow_fraction >= 1.0) p->opt.narrow_fraction = 0.1;
  for (int i = 0; i < API_EP_COUNT; i++)
    if (p->opt.spacing_ms[i] > p->opt.max_spacing_ms) p->opt.max_spacing_ms = p->opt.spacing_ms[i];
  if (p->opt.global_rate > 0) p->global_gap_ms = (uint64_t)(1000.0 / p->opt.global_rate);
  return p;
}

void pacer_free(pacer_t *p) {
  if (!p) return;
  free(p->lanes);
  free(p);
}

int pacer_account_add(pacer_t *p) {
  pacer_lane_t(*lanes)[API_EP_COUNT] = realloc(p->lanes, sizeof *lanes * (size_t)(p->accounts + 1));
  if (!lanes) return -ENOMEM;
  p->lanes = lanes;
  pacer_lane_t *row = p->lanes[p->accounts];
  for (int i = 0; i < API_EP_COUNT; i++) row[i] = (pacer_lane_t){.spacing_ms = p->opt.spacing_ms[i]};
  return p->accounts++;
}

static pacer_lane_t *lane(const pacer_t *p, int account, api_endpoint_t ep) {
  /* An unknown account or endpoint is a broken invariant of the caller. */
  if (account < 0 || account >= p->accounts || (unsigned)ep >= API_EP_COUNT) abort();
  return &p->lanes[account][ep];
}

uint64_t pacer_next(const pacer_t *p, int account, api_endpoint_t ep, uint64_t now) {
  const pacer_lane_t *l = lane(p, account, ep);
  uint64_t at = now;
  if (l->sent_once && l->last_sent + l->spacing_ms > at) at = l->last_sent + l->spacing_ms;
  if (p->global_sent && p->global_last + p->global_gap_ms > at) at = p->global_last + p->global_gap_ms;
  return at;
}

void pacer_sent(pacer_t *p, int account, api_endpoint_t ep, uint64_t now) {
  pacer_lane_t *l = lane(p, account, ep);
  l->last_sent = now;
  l->sent_once = true;
  if (p->global_gap_ms) {
    p->global_last = now;
    p->global_sent = true;
  }
}

void pacer_throttled(pacer_t *p, int account, api_endpoint_t ep, uint64_t sent_at, uint64_t now) {
  pacer_lane_t *l = lane(p, account, ep);
  if (l->widened && sent_at < l->widened_at) return; /* this burst already widened it */
  double wider = (double)l->spacing_ms * p->opt.widen_factor;
  uint64_t s = wider > (double)p->opt.max_spacing_ms ? p->opt.max_spacing_ms : (uint64_t)wider;
  if (s < p->opt.widen_min_ms) s = p->opt.widen_min_ms;
  if (s > p->opt.max_spacing_ms) s = p->opt.max_spacing_ms;
  l->spacing_ms = s;
  l->widened = true;
  l->widened_at = now;
  /* The server just refused: the next request waits a full spacing from now. */
  l->last_sent = now;
  l->sent_once = true;
}

void pacer_succeeded(pacer_t *p, int account, api_endpoint_t ep) {
  pacer_lane_t *l = lane(p, account, ep);
  uint64_t floor = p->opt.spacing_ms[ep];
  if (l->spacing_ms <= floor) return;
  uint64_t step = (uint64_t)((double)l->spacing_ms * p->opt.narrow_fraction);
  if (step == 0) step = 1;
  l->spacing_ms = l->spacing_ms - step < floor ? floor : l->spacing_ms - step;
}

void pacer_set_limits(pacer_t *p, const pacer_options_t *opt) {
  for (int a = 0; a < p->accounts; a++)
    for (int i = 0; i < API_EP_COUNT; i++) {
      pacer_lane_t *l = &p->lanes[a][i];
      uint64_t floor = opt->spacing_ms[i];
      if (l->spacing_ms == p->opt.spacing_ms[i] || l->spacing_ms < floor) l->spacing_ms = floor;
    }
  for (int i = 0; i < API_EP_COUNT; i++) {
    p->opt.spacing_ms[i] = opt->spacing_ms[i];
    if (p->opt.spacing_ms[i] > p->opt.max_spacing_ms) p->opt.max_spacing_ms = p->opt.spacing_ms[i];
  }
  p->opt.global_rate = opt->global_rate;
  p->global_gap_ms = opt->global_rate > 0 ? (uint64_t)(1000.0 / opt->global_rate) : 0;
}

uint64_t pacer_spacing(const pacer_t *p, int account, api_endpoint_t ep) {
  return lane(p, account, ep)->spacing_ms;
}

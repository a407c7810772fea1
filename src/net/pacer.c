/* Pacing lanes (account x endpoint): each keeps when it last sent and its current spacing,
 * which never drops below the configured floor and never exceeds the cap, plus a margin
 * over a configured floor learned from refusals of requests that kept it (jitter). */
#include "net/pacer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* The last sends of a lane, to tell a refusal of a request that kept the floor (the
 * host saw it early: network or scheduling jitter) from one of a floor set too low. */
#define PACER_RECENT 8

typedef struct pacer_lane {
  uint64_t spacing_ms;
  uint64_t margin_ms;  /* added to the spacing: jitter seen at the floor */
  uint64_t last_sent;
  uint64_t widened_at;
  uint64_t recent_at[PACER_RECENT], recent_gap[PACER_RECENT]; /* send time, gap before it */
  unsigned recent_pos;
  unsigned calm;       /* successes since the margin last changed */
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
  uint64_t at = now, spacing = l->spacing_ms + l->margin_ms;
  if (l->sent_once && l->last_sent + spacing > at) at = l->last_sent + spacing;
  if (p->global_sent && p->global_last + p->global_gap_ms > at) at = p->global_last + p->global_gap_ms;
  return at;
}

void pacer_sent(pacer_t *p, int account, api_endpoint_t ep, uint64_t now) {
  pacer_lane_t *l = lane(p, account, ep);
  l->recent_at[l->recent_pos] = now;
  l->recent_gap[l->recent_pos] = l->sent_once && now >= l->last_sent ? now - l->last_sent : 0;
  l->recent_pos = (l->recent_pos + 1) % PACER_RECENT;
  l->last_sent = now;
  l->sent_once = true;
  if (p->global_gap_ms) {
    p->global_last = now;
    p->global_sent = true;
  }
}

static uint64_t margin_step(uint64_t floor) {
  return floor / PACER_MARGIN_STEP_DIV ? floor / PACER_MARGIN_STEP_DIV : 1;
}

/* The gap before the send at sent_at, if it is among the lane's recent ones; else 0. */
static uint64_t recent_gap(const pacer_lane_t *l, uint64_t sent_at) {
  for (unsigned i = 0; i < PACER_RECENT; i++)
    if (l->recent_at[i] == sent_at && l->recent_gap[i]) return l->recent_gap[i];
  return 0;
}

void pacer_throttled(pacer_t *p, int account, api_endpoint_t ep, uint64_t sent_at, uint64_t now) {
  pacer_lane_t *l = lane(p, account, ep);
  uint64_t floor = p->opt.spacing_ms[ep];
  if (floor && l->spacing_ms <= floor && recent_gap(l, sent_at) >= floor) {
    /* Refused though it kept the configured floor after the lane's previous request: the
     * host saw the two closer (network or scheduling jitter), the floor is right. A small
     * margin (1/16 of the floor, at most 1/4 in all) instead of doubling: each doubling
     * cost ~15 requests' worth of the budget while narrowing back. */
    uint64_t step = margin_step(floor);
    l->margin_ms = l->margin_ms + step > floor / 4 ? floor / 4 : l->margin_ms + step;
    l->calm = 0;
    l->last_sent = now; /* as below: the next request waits a full spacing from now */
    l->sent_once = true;
    return;
  }
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
  if (l->margin_ms && ++l->calm >= PACER_MARGIN_CALM) { /* the jitter may have passed */
    uint64_t step = margin_step(floor);
    l->margin_ms = l->margin_ms > step ? l->margin_ms - step : 0;
    l->calm = 0;
  }
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
      if (floor != p->opt.spacing_ms[i]) l->margin_ms = 0; /* learned for the old floor */
    }
  for (int i = 0; i < API_EP_COUNT; i++) {
    p->opt.spacing_ms[i] = opt->spacing_ms[i];
    if (p->opt.spacing_ms[i] > p->opt.max_spacing_ms) p->opt.max_spacing_ms = p->opt.spacing_ms[i];
  }
  p->opt.global_rate = opt->global_rate;
  p->global_gap_ms = opt->global_rate > 0 ? (uint64_t)(1000.0 / opt->global_rate) : 0;
}

uint64_t pacer_spacing(const pacer_t *p, int account, api_endpoint_t ep) {
  const pacer_lane_t *l = lane(p, account, ep);
  return l->spacing_ms + l->margin_ms;
}

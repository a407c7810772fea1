/* Gap healing bookkeeping; see gapheal.h. A few open gaps per fleet at a time: plain
 * arrays, linear scans. */
#include "archive/gapheal.h"
#include "util/grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct last_pos {
  int64_t gpstime; /* INT64_MIN: none */
  int speed;
} last_pos_t;

struct gapheal {
  gapheal_options_t opt;
  last_pos_t *last; /* [dev] */
  size_t nlast;
  gapheal_gap_t *gaps; /* open gaps */
  size_t n, cap;
  size_t healed;
};

gapheal_t *gapheal_new(const gapheal_options_t *opt) {
  gapheal_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  gapheal_set_options(g, opt);
  return g;
}

void gapheal_free(gapheal_t *g) {
  if (!g) return;
  free(g->last);
  free(g->gaps);
  free(g);
}

void gapheal_set_options(gapheal_t *g, const gapheal_options_t *opt) {
  g->opt = *opt;
  if (g->opt.max_attempts < 1) g->opt.max_attempts = 1;
  if (g->opt.settle_s < 0) g->opt.settle_s = 0;
}

static int grow_last(gapheal_t *g, uint32_t dev) {
  if (dev < g->nlast) return 0;
  size_t n = g->nlast;
  if (GROW(g->last, n, (size_t)dev + 1) != 0) return -ENOMEM;
  for (size_t i = g->nlast; i < n; i++) g->last[i] = (last_pos_t){INT64_MIN, 0};
  g->nlast = n;
  return 0;
}

static gapheal_gap_t *find(gapheal_t *g, uint32_t dev, int64_t from, int64_t to) {
  for (size_t i = 0; i < g->n; i++)
    if (g->gaps[i].dev == dev && g->gaps[i].from == from && g->gaps[i].to == to) return &g->gaps[i];
  return NULL;
}

int gapheal_add(gapheal_t *g, const gapheal_gap_t *gap) {
  if (find(g, gap->dev, gap->from, gap->to)) return 0;
  if (GROW(g->gaps, g->cap, g->n + 1) != 0) return -ENOMEM;
  g->gaps[g->n] = *gap;
  g->gaps[g->n].busy = false;
  if (gap->resume < gap->from || gap->resume > gap->to) g->gaps[g->n].resume = gap->from;
  g->n++;
  return 0;
}

int gapheal_observe(gapheal_t *g, uint32_t dev, int64_t gpstime, int speed, int64_t asked_at,
                    gapheal_gap_t *out) {
  if (grow_last(g, dev) != 0) return -ENOMEM;
  last_pos_t *l = &g->last[dev];
  if (l->gpstime != INT64_MIN && gpstime <= l->gpstime) return 0; /* repeated second */
  last_pos_t prev = *l;
  *l = (last_pos_t){gpstime, speed};
  if (prev.gpstime == INT64_MIN) return 0;
  if (gpstime - prev.gpstime <= g->opt.min_s) return 0;
  if (prev.speed <= 0 && speed <= 0) return 0;
  if (asked_at >= gpstime + g->opt.settle_s) return 0; /* read after it had settled */
  gapheal_gap_t gap = {.dev = dev, .from = prev.gpstime + 1, .to = gpstime - 1,
                       .resume = prev.gpstime + 1, .detected_at = asked_at,
                       .next_at = gpstime + g->opt.settle_s};
  if (find(g, dev, gap.from, gap.to)) return 0;
  int rc = gapheal_add(g, &gap);
  if (rc) return rc;
  *out = gap;
  return 1;
}

int gapheal_seed(gapheal_t *g, uint32_t dev, int64_t gpstime, int speed) {
  if (grow_last(g, dev) != 0) return -ENOMEM;
  last_pos_t *l = &g->last[dev];
  if (l->gpstime == INT64_MIN || gpstime > l->gpstime) *l = (last_pos_t){gpstime, speed};
  return 0;
}

void gapheal_reset_device(gapheal_t *g, uint32_t dev) {
  if (dev < g->nlast) g->last[dev] = (last_pos_t){INT64_MIN, 0};
}

gapheal_gap_t *gapheal_due(gapheal_t *g, int64_t now, int64_t *wake) {
  gapheal_gap_t *best = NULL;
  for (size_t i = 0; i < g->n; i++) {
    gapheal_gap_t *x = &g->gaps[i];
    if (x->busy) continue;
    if (x->next_at > now) {
      if (wake && x->next_at < *wake) *wake = x->next_at;
      continue;
    }
    if (!best || x->next_at < best->next_at) best = x;
  }
  return best;
}

static void drop(gapheal_t *g, gapheal_gap_t *gap) {
  size_t i = (size_t)(gap - g->gaps);
  g->gaps[i] = g->gaps[--g->n];
}

void gapheal_done(gapheal_t *g, gapheal_gap_t *gap, int64_t now, int64_t recovered,
                  gapheal_gap_t *out) {
  gap->busy = false;
  gap->last_asked = now;
  gap->recovered += recovered;
  if (recovered == 0) gap->attempts++;
  gap->healed = gap->recovered > 0 || gap->attempts >= g->opt.max_attempts;
  gap->next_at = now + g->opt.settle_s;
  *out = *gap;
  if (gap->healed) {
    g->healed++;
    drop(g, gap);
  }
}

void gapheal_continue(gapheal_t *g, gapheal_gap_t *gap, int64_t now, int64_t last,
                      int64_t recovered, gapheal_gap_t *out) {
  if (last <= gap->resume || last >= gap->to) { /* no progress: as an ask that is over */
    gapheal_done(g, gap, now, recovered, out);
    return;
  }
  gap->busy = false;
  gap->last_asked = now;
  gap->recovered += recovered;
  gap->resume = last;
  gap->next_at = now;
  *out = *gap;
}

gapheal_gap_t *gapheal_find(gapheal_t *g, uint32_t dev, int64_t from, int64_t to) {
  return find(g, dev, from, to);
}

void gapheal_failed(gapheal_t *g, gapheal_gap_t *gap, int64_t now) {
  gap->busy = false;
  gap->next_at = now + g->opt.settle_s;
}

size_t gapheal_open(const gapheal_t *g) { return g->n; }
size_t gapheal_healed(const gapheal_t *g) { return g->healed; }

/* In-memory coverage (coverage.h): one small sorted vector per device and stream. Most
 * devices hold one interval (run extends it at its end); a backfill ahead of or behind
 * it adds a second until the gap between them is fetched. */
#include "archive/coverage.h"
#include "util/grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct covlist {
  coverage_iv_t *iv;
  uint32_t n, cap;
} covlist_t;

struct coverage {
  covlist_t *lists; /* [dev * COVERAGE_STREAMS + stream] */
  size_t n_devs;
  size_t cap;       /* lists allocated, >= n_devs * COVERAGE_STREAMS */
};

coverage_t *coverage_new(void) { return calloc(1, sizeof(coverage_t)); }

void coverage_free(coverage_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n_devs * COVERAGE_STREAMS; i++) free(c->lists[i].iv);
  free(c->lists);
  free(c);
}

static const covlist_t *list_of(const coverage_t *c, size_t dev, int stream) {
  if (stream < 0 || stream >= COVERAGE_STREAMS || dev >= c->n_devs) return NULL;
  return &c->lists[dev * COVERAGE_STREAMS + (size_t)stream];
}

static int grow_devs(coverage_t *c, size_t dev) {
  if (dev < c->n_devs) return 0;
  if (GROW(c->lists, c->cap, (dev + 1) * COVERAGE_STREAMS) != 0) return -ENOMEM;
  size_t n = c->cap / COVERAGE_STREAMS;
  memset(c->lists + c->n_devs * COVERAGE_STREAMS, 0,
         (n - c->n_devs) * COVERAGE_STREAMS * sizeof *c->lists);
  c->n_devs = n;
  return 0;
}

/* x + 1 without overflow (INT64_MAX stays). */
static int64_t next_s(int64_t x) { return x == INT64_MAX ? x : x + 1; }

int coverage_add(coverage_t *c, size_t dev, int stream, int64_t from, int64_t to) {
  if (stream < 0 || stream >= COVERAGE_STREAMS || to < from) return -EINVAL;
  if (grow_devs(c, dev)) return -ENOMEM;
  covlist_t *l = &c->lists[dev * COVERAGE_STREAMS + (size_t)stream];
  /* [lo, hi): the intervals that overlap or touch [from, to]. */
  uint32_t lo = 0;
  while (lo < l->n && next_s(l->iv[lo].to) < from) lo++;
  uint32_t hi = lo;
  while (hi < l->n && l->iv[hi].from <= next_s(to)) hi++;
  if (hi > lo) {
    if (l->iv[lo].from < from) from = l->iv[lo].from;
    if (l->iv[hi - 1].to > to) to = l->iv[hi - 1].to;
    l->iv[lo] = (coverage_iv_t){from, to};
    memmove(&l->iv[lo + 1], &l->iv[hi], (l->n - hi) * sizeof *l->iv);
    l->n -= hi - lo - 1;
    return 0;
  }
  /* Not GROW: capacity starts at 1 here (most device streams hold one interval, and a
   * fleet has hundreds of thousands of them) and n, cap are 32 bits to keep covlist_t
   * small. */
  if (l->n == l->cap) {
    uint32_t cap = l->cap ? l->cap * 2 : 1;
    coverage_iv_t *v = realloc(l->iv, cap * sizeof *v);
    if (!v) return -ENOMEM;
    l->iv = v;
    l->cap = cap;
  }
  memmove(&l->iv[lo + 1], &l->iv[lo], (l->n - lo) * sizeof *l->iv);
  l->iv[lo] = (coverage_iv_t){from, to};
  l->n++;
  return 0;
}

bool coverage_covers(const coverage_t *c, size_t dev, int stream, int64_t t) {
  const covlist_t *l = list_of(c, dev, stream);
  for (uint32_t i = 0; l && i < l->n && l->iv[i].from <= t; i++)
    if (t <= l->iv[i].to) return true;
  return false;
}

void coverage_gap(const coverage_t *c, size_t dev, int stream, int64_t t, int64_t *gap_from,
                  int64_t *gap_to) {
  const covlist_t *l = list_of(c, dev, stream);
  *gap_from = t;
  *gap_to = INT64_MAX;
  if (!l) return;
  for (uint32_t i = 0; i < l->n; i++) {
    if (l->iv[i].to < *gap_from) continue;
    if (l->iv[i].from <= *gap_from) { /* t inside: the gap starts after this interval */
      *gap_from = next_s(l->iv[i].to);
      continue;
    }
    *gap_to = l->iv[i].from - 1;
    return;
  }
}

size_t coverage_count(const coverage_t *c, size_t dev, int stream) {
  const covlist_t *l = list_of(c, dev, stream);
  return l ? l->n : 0;
}

const coverage_iv_t *coverage_at(const coverage_t *c, size_t dev, int stream, size_t i) {
  const covlist_t *l = list_of(c, dev, stream);
  return l && i < l->n ? &l->iv[i] : NULL;
}

const coverage_iv_t *coverage_last(const coverage_t *c, size_t dev, int stream) {
  const covlist_t *l = list_of(c, dev, stream);
  return l && l->n ? &l->iv[l->n - 1] : NULL;
}

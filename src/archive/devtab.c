/* Device table: a dense array plus an open-addressing index on the IMEI (FNV-1a), and
 * two-level bitmaps of device indices (the sets). Invariant: no bit at or past count. */
#include "archive/devtab.h"
#include "util/grow.h"

#include <stdlib.h>
#include <string.h>

/* A set: bit i of bits is device i; bit w of summary says bits[w] is not zero, so a
 * search skips 4096 absent devices per summary word. */
typedef struct devset {
  uint64_t *bits, *summary;
  size_t size;
} devset_t;

struct devtab {
  devtab_device_t *devices;
  size_t count, cap;
  uint32_t *slots;   /* index + 1; 0 = empty */
  size_t nslots;     /* power of two, at least twice count */
  devset_t sets[DEVTAB_SET_COUNT];
  size_t words, swords; /* allocated words of every set's bits and summary */
};

static uint64_t imei_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

devtab_t *devtab_new(void) { return calloc(1, sizeof(devtab_t)); }

void devtab_free(devtab_t *t) {
  if (!t) return;
  free(t->devices);
  free(t->slots);
  for (int s = 0; s < DEVTAB_SET_COUNT; s++) {
    free(t->sets[s].bits);
    free(t->sets[s].summary);
  }
  free(t);
}

static bool imei_ok(const char *imei) {
  size_t n = 0;
  for (; imei[n]; n++)
    if (n >= DEVTAB_IMEI_MAX || imei[n] <= ' ' || imei[n] > '~') return false;
  return n > 0;
}

static int64_t slot_of(const devtab_t *t, const char *imei, size_t *free_slot) {
  if (!t->nslots) return -1;
  size_t mask = t->nslots - 1;
  for (size_t i = imei_hash(imei) & mask;; i = (i + 1) & mask) {
    uint32_t v = t->slots[i];
    if (!v) {
      if (free_slot) *free_slot = i;
      return -1;
    }
    if (strcmp(t->devices[v - 1].imei, imei) == 0) return (int64_t)v - 1;
  }
}

static int rehash(devtab_t *t, size_t nslots) {
  uint32_t *slots = calloc(nslots, sizeof *slots);
  if (!slots) return -1;
  free(t->slots);
  t->slots = slots;
  t->nslots = nslots;
  for (size_t d = 0; d < t->count; d++) {
    size_t i = imei_hash(t->devices[d].imei) & (nslots - 1);
    while (slots[i]) i = (i + 1) & (nslots - 1);
    slots[i] = (uint32_t)d + 1;
  }
  return 0;
}

/* Room in every set for cap devices: the new words zeroed (a new device is in none). */
static int sets_grow(devtab_t *t, size_t cap) {
  size_t words = (cap + 63) / 64, swords = (words + 63) / 64;
  for (int s = 0; s < DEVTAB_SET_COUNT; s++) {
    devset_t *set = &t->sets[s];
    if (words > t->words) {
      uint64_t *b = realloc(set->bits, words * sizeof *b);
      if (!b) return -1;
      set->bits = b;
      memset(b + t->words, 0, (words - t->words) * sizeof *b);
    }
    if (swords > t->swords) {
      uint64_t *m = realloc(set->summary, swords * sizeof *m);
      if (!m) return -1;
      set->summary = m;
      memset(m + t->swords, 0, (swords - t->swords) * sizeof *m);
    }
  }
  /* Only now: a failure above left some sets longer, never one shorter than recorded. */
  if (words > t->words) t->words = words;
  if (swords > t->swords) t->swords = swords;
  return 0;
}

devtab_device_t *devtab_get_or_add(devtab_t *t, const char *imei, bool *added) {
  if (added) *added = false;
  if (!imei_ok(imei)) return NULL;
  int64_t at = slot_of(t, imei, NULL);
  if (at >= 0) return &t->devices[at];
  if (t->count >= UINT32_MAX - 1) return NULL;
  if ((t->count + 1) * 2 > t->nslots && rehash(t, t->nslots ? t->nslots * 2 : 1024)) return NULL;
  if (t->count == t->cap) {
    /* The sets must hold every device the array can: t->cap moves only once both grew
     * (a failure leaves the array longer, never the sets shorter). */
    size_t cap = t->cap;
    if (GROW(t->devices, cap, t->count + 1) != 0 || sets_grow(t, cap)) return NULL;
    t->cap = cap;
  }
  size_t free_slot = 0;
  slot_of(t, imei, &free_slot);
  devtab_device_t *dev = &t->devices[t->count];
  memset(dev, 0, sizeof *dev);
  strcpy(dev->imei, imei);
  t->slots[free_slot] = (uint32_t)++t->count;
  if (added) *added = true;
  return dev;
}

int64_t devtab_find(const devtab_t *t, const char *imei) { return slot_of(t, imei, NULL); }

size_t devtab_count(const devtab_t *t) { return t->count; }

devtab_device_t *devtab_at(devtab_t *t, size_t i) { return i < t->count ? &t->devices[i] : NULL; }

size_t devtab_index(const devtab_t *t, const devtab_device_t *d) { return (size_t)(d - t->devices); }

void devtab_set_add(devtab_t *t, devtab_set_t s, size_t i) {
  if (i >= t->count) return;
  devset_t *set = &t->sets[s];
  uint64_t bit = 1ull << (i % 64);
  if (set->bits[i / 64] & bit) return;
  set->bits[i / 64] |= bit;
  set->summary[i / 4096] |= 1ull << (i / 64 % 64);
  set->size++;
}

void devtab_set_del(devtab_t *t, devtab_set_t s, size_t i) {
  if (i >= t->count) return;
  devset_t *set = &t->sets[s];
  uint64_t bit = 1ull << (i % 64);
  if (!(set->bits[i / 64] & bit)) return;
  set->bits[i / 64] &= ~bit;
  if (!set->bits[i / 64]) set->summary[i / 4096] &= ~(1ull << (i / 64 % 64));
  set->size--;
}

bool devtab_set_has(const devtab_t *t, devtab_set_t s, size_t i) {
  return i < t->count && (t->sets[s].bits[i / 64] >> (i % 64) & 1u);
}

void devtab_set_add_all(devtab_t *t, devtab_set_t s) {
  devset_t *set = &t->sets[s];
  size_t full = t->count / 64, rest = t->count % 64;
  if (t->words == 0) return; /* no device was ever added */
  memset(set->bits, 0xff, full * sizeof *set->bits);
  if (rest) set->bits[full] = (1ull << rest) - 1;
  size_t used = full + (rest != 0); /* words holding a device */
  memset(set->summary, 0, t->swords * sizeof *set->summary);
  memset(set->summary, 0xff, used / 64 * sizeof *set->summary);
  if (used % 64) set->summary[used / 64] = (1ull << (used % 64)) - 1;
  set->size = t->count;
}

size_t devtab_set_size(const devtab_t *t, devtab_set_t s) { return t->sets[s].size; }

int64_t devtab_set_next(const devtab_t *t, devtab_set_t s, size_t from, size_t to) {
  const devset_t *set = &t->sets[s];
  if (to > t->count) to = t->count;
  if (from >= to || set->size == 0) return -1;
  size_t w = from / 64, nwords = (to + 63) / 64;
  uint64_t word = set->bits[w] & (~0ull << (from % 64));
  while (!word) {
    /* the next non-zero word after w, by the summary */
    size_t next = w + 1;
    if (next >= nwords) return -1;
    size_t sw = next / 64;
    uint64_t sword = set->summary[sw] & (~0ull << (next % 64));
    while (!sword) {
      if (++sw * 64 >= nwords) return -1;
      sword = set->summary[sw];
    }
    w = sw * 64 + (size_t)__builtin_ctzll(sword);
    if (w >= nwords) return -1;
    word = set->bits[w];
  }
  size_t i = w * 64 + (size_t)__builtin_ctzll(word);
  return i < to ? (int64_t)i : -1;
}

/* Device table: a dense array plus an open-addressing index on the IMEI (FNV-1a). */
#include "archive/devtab.h"

#include <stdlib.h>
#include <string.h>

struct devtab {
  devtab_device_t *devices;
  size_t count, cap;
  uint32_t *slots;   /* index + 1; 0 = empty */
  size_t nslots;     /* power of two, at least twice count */
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

devtab_device_t *devtab_get_or_add(devtab_t *t, const char *imei, bool *added) {
  if (added) *added = false;
  if (!imei_ok(imei)) return NULL;
  int64_t at = slot_of(t, imei, NULL);
  if (at >= 0) return &t->devices[at];
  if (t->count >= UINT32_MAX - 1) return NULL;
  if ((t->count + 1) * 2 > t->nslots && rehash(t, t->nslots ? t->nslots * 2 : 1024)) return NULL;
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    devtab_device_t *d = realloc(t->devices, cap * sizeof *d);
    if (!d) return NULL;
    t->devices = d;
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

/* nameset.h */
#include "archive/nameset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

static size_t find(char **slots, size_t cap, const char *s) {
  size_t i = (size_t)(hash(s) & (cap - 1));
  while (slots[i] && strcmp(slots[i], s) != 0) i = (i + 1) & (cap - 1);
  return i;
}

bool nameset_has(const nameset_t *set, const char *s) {
  if (!set->cap) return false;
  return set->slots[find(set->slots, set->cap, s)] != NULL;
}

static int grow(nameset_t *set) {
  size_t cap = set->cap ? set->cap * 2 : 64;
  char **slots = calloc(cap, sizeof *slots);
  if (!slots) return -ENOMEM;
  for (size_t i = 0; i < set->cap; i++)
    if (set->slots[i]) slots[find(slots, cap, set->slots[i])] = set->slots[i];
  free(set->slots);
  set->slots = slots;
  set->cap = cap;
  return 0;
}

int nameset_add(nameset_t *set, const char *s) {
  if ((set->n + 1) * 2 > set->cap && grow(set) != 0) return -ENOMEM;
  size_t i = find(set->slots, set->cap, s);
  if (set->slots[i]) return 0;
  if (!(set->slots[i] = strdup(s))) return -ENOMEM;
  set->n++;
  return 1;
}

void nameset_clear(nameset_t *set) {
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i]);
  free(set->slots);
  *set = (nameset_t){0};
}

/* A set of strings (sub-account names seen in one discovery): open addressing on FNV-1a
 * hashes, strings copied. O(1) per look-up where the list it replaces was O(n): a
 * user/list that keeps returning new names costs memory bounded by the caller's cap,
 * not CPU quadratic in it. */
#ifndef FLEETARC_ARCHIVE_NAMESET_H
#define FLEETARC_ARCHIVE_NAMESET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nameset {
  char **slots;
  size_t cap, n;
} nameset_t;

/* 1 added, 0 already there, -ENOMEM. s is copied. */
int nameset_add(nameset_t *set, const char *s) __attribute__((warn_unused_result));
bool nameset_has(const nameset_t *set, const char *s);
/* Empties the set (keeps nothing); the struct can be reused. */
void nameset_clear(nameset_t *set);

#endif

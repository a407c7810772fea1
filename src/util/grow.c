#include "util/grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int grow_array(void *itemsp, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) {
    if (c > SIZE_MAX / 2) return -ENOMEM;
    c *= 2;
  }
  if (size == 0 || c > SIZE_MAX / size) return -ENOMEM;
  /* The pointer is read and written through memcpy: itemsp may point at any T *. */
  void *old;
  memcpy(&old, itemsp, sizeof old);
  void *p = realloc(old, c * size);
  if (!p) return -ENOMEM;
  memcpy(itemsp, &p, sizeof p);
  *cap = c;
  return 0;
}

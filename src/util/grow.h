/* Growth of a heap array by doubling: the one helper for "make room for n elements",
 * instead of a realloc-doubling loop at every site. */
#ifndef FLEETARC_UTIL_GROW_H
#define FLEETARC_UTIL_GROW_H

#include <stddef.h>

/* Makes the array whose pointer is at *itemsp (of *cap elements of `size` bytes) hold at
 * least `need` elements: capacity doubles from 16, overflow-checked. 0, or -ENOMEM with
 * the array and *cap unchanged (still valid, still owned by the caller). itemsp is the
 * address of any object pointer (T **), passed as void * so that no cast is needed. */
int grow_array(void *itemsp, size_t *cap, size_t need, size_t size)
    __attribute__((warn_unused_result));

/* GROW(v, cap, n): grow_array(&v, &cap, n, sizeof *v); cap must be a size_t. */
#define GROW(arr, cap, need) grow_array(&(arr), &(cap), (need), sizeof *(arr))

#endif

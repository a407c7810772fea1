/* A hand-written JSON writer over buf_t for the simulator's answers: numbers formatted
 * without printf (a track page is 100 records of 20 fields, thousands of times a
 * second), strings escaped per RFC 8259 with UTF-8 passed through. Errors are sticky:
 * write everything, check json.err once. */
#ifndef FLEETARC_SIM_JSON_OUT_H
#define FLEETARC_SIM_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct sim_json {
  buf_t *b;  /* borrowed */
  int err;   /* first error of buf_append (-ENOMEM, -EFBIG), 0 if none */
} sim_json_t;

void sim_json_raw(sim_json_t *j, const char *s, size_t n);
/* lit must be a string literal ("" lit "" rejects anything else at compile time). */
#define sim_json_lit(j, lit) sim_json_raw((j), "" lit "", sizeof(lit) - 1)
/* A quoted, escaped string; NULL writes "". */
void sim_json_string(sim_json_t *j, const char *s);
void sim_json_int(sim_json_t *j, int64_t v);
/* Fixed point with `decimals` (0..9) digits, rounded half away from zero: 6 for
 * coordinates. Non-finite values are written as 0. */
void sim_json_fixed(sim_json_t *j, double v, int decimals);

/* Writers into a char array (no NUL), returning the length: the building blocks. */
size_t sim_fmt_int(char *out, int64_t v);       /* out: 21 bytes */
size_t sim_fmt_fixed(char *out, double v, int decimals); /* out: 40 bytes */

#endif

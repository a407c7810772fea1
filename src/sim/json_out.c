/* JSON output for the simulator; see json_out.h. */
#include "sim/json_out.h"

#include <math.h>
#include <string.h>

void sim_json_raw(sim_json_t *j, const char *s, size_t n) {
  if (j->err) return;
  int rc = buf_append(j->b, s, n);
  if (rc) j->err = rc;
}

void sim_json_string(sim_json_t *j, const char *s) {
  static const char hex[] = "0123456789abcdef";
  sim_json_raw(j, "\"", 1);
  if (s) {
    const char *run = s;
    for (const char *p = s; *p; p++) {
      unsigned char c = (unsigned char)*p;
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      sim_json_raw(j, run, (size_t)(p - run));
      char esc[6] = {'\\', 0};
      size_t en = 2;
      switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
          memcpy(esc, "\\u00", 4);
          esc[4] = hex[c >> 4];
          esc[5] = hex[c & 15];
          en = 6;
      }
      sim_json_raw(j, esc, en);
      run = p + 1;
    }
    sim_json_raw(j, run, strlen(run));
  }
  sim_json_raw(j, "\"", 1);
}

size_t sim_fmt_int(char *out, int64_t v) {
  char tmp[21];
  size_t n = 0, o = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) out[o++] = '-';
  while (n) out[o++] = tmp[--n];
  return o;
}

size_t sim_fmt_fixed(char *out, double v, int decimals) {
  static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  if (decimals < 0) decimals = 0;
  if (decimals > 9) decimals = 9;
  if (!isfinite(v) || fabs(v) > 9e9) v = 0;
  double scaled = round(fabs(v) * pow10[decimals]);
  uint64_t u = (uint64_t)scaled, div = (uint64_t)pow10[decimals];
  size_t o = 0;
  if (v < 0 && u != 0) out[o++] = '-';
  o += sim_fmt_int(out + o, (int64_t)(u / div));
  if (decimals) {
    out[o++] = '.';
    uint64_t frac = u % div;
    for (int d = decimals - 1; d >= 0; d--) {
      out[o + (size_t)d] = (char)('0' + frac % 10);
      frac /= 10;
    }
    o += (size_t)decimals;
  }
  return o;
}

void sim_json_int(sim_json_t *j, int64_t v) {
  char tmp[24];
  sim_json_raw(j, tmp, sim_fmt_int(tmp, v));
}

void sim_json_fixed(sim_json_t *j, double v, int decimals) {
  char tmp[48];
  sim_json_raw(j, tmp, sim_fmt_fixed(tmp, v, decimals));
}

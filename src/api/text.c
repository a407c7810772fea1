/* Text helpers of the codec: UTF-8 validation and the error record (api_error_t),
 * whose messages are built only from what the caller passes: never a secret. */
#include "api/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool api_utf8_valid(const char *str, size_t len, size_t *chars) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, count = 0;
  while (i < len) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      count++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* > U+10FFFF */
    } else {
      return false;
    }
    if (len - i - 1 < need) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= need; k++)
      if ((s[i + k] & 0xC0) != 0x80) return false;
    i += need + 1;
    count++;
  }
  if (chars) *chars = count;
  return true;
}

const char *api_error_kind_name(api_error_kind_t kind) {
  switch (kind) {
  case API_ERR_NONE: return "none";
  case API_ERR_SERVER: return "server error";
  case API_ERR_EMPTY: return "empty body";
  case API_ERR_HTML: return "HTML page instead of JSON";
  case API_ERR_TRUNCATED: return "truncated body";
  case API_ERR_SYNTAX: return "malformed JSON";
  case API_ERR_TYPE: return "wrong type";
  case API_ERR_MISSING: return "missing key";
  case API_ERR_RANGE: return "number out of range";
  case API_ERR_UTF8: return "non-UTF-8 text";
  case API_ERR_RECORD: return "bad record string";
  }
  return "unknown";
}

void api_error_clear(api_error_t *err) {
  if (!err) return;
  err->kind = API_ERR_NONE;
  err->code = 0;
  err->offset = 0;
  err->message[0] = '\0';
  /* envelope is the body parsers' (doc_open sets it): the record-string parsers, called
   * by them after the envelope, keep it */
}

int api_error_set(api_error_t *err, api_error_kind_t kind, size_t offset, const char *fmt,
                  ...) {
  if (err) {
    err->kind = kind;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return kind == API_ERR_SERVER ? -EREMOTEIO : -EBADMSG;
}

void api_text_excerpt(const char *s, size_t len, size_t max, char *out) {
  size_t n = len < max ? len : max;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
  }
  if (len > max) {
    memcpy(out + n, "...", 4);
  } else {
    out[n] = '\0';
  }
}

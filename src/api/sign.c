/* The signatures over util/md5 (which holds the one md5 through OpenSSL's EVP). */
#include "api/sign.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int api_md5_hex(const void *data, size_t n, char out[API_MD5_HEX_LEN + 1]) {
  return md5_hex(data, n, out);
}

bool api_is_md5_hex(const char *s) { return md5_is_hex(s); }

int api_signature(const char *password_md5, int64_t time, char out[API_MD5_HEX_LEN + 1]) {
  if (!api_is_md5_hex(password_md5)) return -EINVAL;
  char msg[API_MD5_HEX_LEN + 24];
  for (int i = 0; i < API_MD5_HEX_LEN; i++) msg[i] = (char)tolower((unsigned char)password_md5[i]);
  int n = snprintf(msg + API_MD5_HEX_LEN, 24, "%" PRId64, time);
  int rc = api_md5_hex(msg, (size_t)API_MD5_HEX_LEN + (size_t)n, out);
  memset(msg, 0, sizeof msg);
  return rc;
}

/* md5 through OpenSSL's EVP interface (no hand-written md5). */
#include "api/sign.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int api_md5_hex(const void *data, size_t n, char out[API_MD5_HEX_LEN + 1]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (!EVP_Digest(data, n, digest, &dlen, EVP_md5(), NULL) || dlen != 16) return -EIO;
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 16; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[API_MD5_HEX_LEN] = '\0';
  return 0;
}

bool api_is_md5_hex(const char *s) {
  if (!s) return false;
  size_t i = 0;
  for (; s[i]; i++)
    if (i >= API_MD5_HEX_LEN || !isxdigit((unsigned char)s[i])) return false;
  return i == API_MD5_HEX_LEN;
}

int api_signature(const char *password_md5, int64_t time, char out[API_MD5_HEX_LEN + 1]) {
  if (!api_is_md5_hex(password_md5)) return -EINVAL;
  char msg[API_MD5_HEX_LEN + 24];
  for (int i = 0; i < API_MD5_HEX_LEN; i++) msg[i] = (char)tolower((unsigned char)password_md5[i]);
  int n = snprintf(msg + API_MD5_HEX_LEN, 24, "%" PRId64, time);
  int rc = api_md5_hex(msg, (size_t)API_MD5_HEX_LEN + (size_t)n, out);
  memset(msg, 0, sizeof msg);
  return rc;
}

/* md5 through OpenSSL's EVP interface (no hand-written md5). */
#include "util/md5.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>

int md5_hex(const void *data, size_t n, char out[MD5_HEX_LEN + 1]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (!EVP_Digest(data, n, digest, &dlen, EVP_md5(), NULL) || dlen != 16) return -EIO;
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 16; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[MD5_HEX_LEN] = '\0';
  return 0;
}

bool md5_is_hex(const char *s) {
  if (!s) return false;
  size_t i = 0;
  for (; s[i]; i++)
    if (i >= MD5_HEX_LEN || !isxdigit((unsigned char)s[i])) return false;
  return i == MD5_HEX_LEN;
}

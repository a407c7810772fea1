/* md5 in 32 lower-case hex characters: the form in which the Open API takes a password
 * (spec 2.1, 2.16), so the configuration and the codec share it without depending on
 * each other. */
#ifndef FLEETARC_UTIL_MD5_H
#define FLEETARC_UTIL_MD5_H

#include <stdbool.h>
#include <stddef.h>

#define MD5_HEX_LEN 32

/* md5 of n bytes into out (33 bytes: 32 hex + NUL). Returns 0 or -EIO. */
int md5_hex(const void *data, size_t n, char out[MD5_HEX_LEN + 1]) __attribute__((warn_unused_result));

/* True when s is exactly 32 hex digits (either case). */
bool md5_is_hex(const char *s);

#endif

/* The Open API's signatures (spec 2.1, 2.16): md5 in 32 lower-case hex characters.
 * The plain password need not be kept: a stored md5(password) signs just as well. */
#ifndef FLEETARC_API_SIGN_H
#define FLEETARC_API_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/md5.h"

#define API_MD5_HEX_LEN MD5_HEX_LEN /* util/md5.h: shared with the configuration */

/* md5 of n bytes into out (33 bytes: 32 hex + NUL). Returns 0 or -EIO. */
int api_md5_hex(const void *data, size_t n, char out[API_MD5_HEX_LEN + 1])
    __attribute__((warn_unused_result));

/* True when s is exactly 32 hex digits (either case). */
bool api_is_md5_hex(const char *s);

/* signature = md5(password_md5 + decimal time), password_md5 as 32 lower-case hex
 * (upper-case input is folded). Returns 0, -EINVAL (not 32 hex digits) or -EIO. */
int api_signature(const char *password_md5, int64_t time, char out[API_MD5_HEX_LEN + 1])
    __attribute__((warn_unused_result));

#endif

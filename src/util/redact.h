/* Secrets in text: the one list of parameter names whose values are secrets (token,
 * signature, password and its md5 forms) and the one function that masks their values
 * wherever a URL, a body excerpt, an error message or a log line may quote them. */
#ifndef FLEETARC_UTIL_REDACT_H
#define FLEETARC_UTIL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the parameter name (n bytes, not NUL-terminated, compared without case and
 * after percent-decoding) names a secret: access_token, token, signature, sign,
 * password, passwd, pwd, newpassword, oldpassword, password_md5, pwd_md5, md5 ... */
bool redact_is_secret_name(const char *name, size_t n);

/* Copies in (len bytes) into out (size n, always terminated) with the value of every
 * secret parameter replaced by "***". A parameter is a secret name (percent-encoded
 * letters allowed: "pass%77ord") at a word boundary followed by '=' or "%3D"
 * (query strings, form bodies, conninfo: a quoted 'value' is masked to its closing
 * quote) or, quoted, by ':' ("password":"x", JSON). The value ends at '&', white space,
 * a quote, '<', '>', ',', ';', '}' or ')'. Returns the length written. */
size_t redact_copy(const char *in, size_t len, char *out, size_t n);

/* The same in place on a NUL-terminated string held in a buffer of cap bytes (the text
 * may grow: a one-letter secret becomes "***"; it is cut to fit). */
void redact_inplace(char *s, size_t cap);

#endif

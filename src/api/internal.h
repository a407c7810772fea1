/* Helpers shared by the codec's own files (request.c, response.c, records.c, text.c);
 * not part of the public contract in api.h. */
#ifndef FLEETARC_API_INTERNAL_H
#define FLEETARC_API_INTERNAL_H

#include "api/api.h"

/* Fills err (when not NULL) with kind, offset and a formatted message; returns the
 * errno-style value for the kind (-EREMOTEIO for API_ERR_SERVER, else -EBADMSG). */
int api_error_set(api_error_t *err, api_error_kind_t kind, size_t offset, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
void api_error_clear(api_error_t *err);

/* Copies at most max bytes of s[0..len) into out (size >= max + 4) for a message:
 * bytes outside printable ASCII become '?', and "..." marks a cut. */
void api_text_excerpt(const char *s, size_t len, size_t max, char *out);

#endif

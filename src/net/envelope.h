/* The response envelope {"code":N,"message":"..."} and the login record, as the client
 * needs them to decide retry / throttle / re-login. A stand-in until the codec's
 * api_parse_envelope() is merged: the only file of src/net/ that sees cJSON. */
#ifndef FLEETARC_NET_ENVELOPE_H
#define FLEETARC_NET_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct net_envelope {
  int code;
  char message[160];
  char token[512];      /* login only: record.access_token (secret) */
  int64_t expires_in;   /* login only: record.expires_in, seconds */
} net_envelope_t;

/* 0, or -EBADMSG when body is not a JSON object with an integer "code" (an HTML error
 * page, a truncated body), or when want_login and code == 0 but the record lacks a
 * string access_token. */
int net_envelope_parse(const char *body, size_t len, int want_login, net_envelope_t *out)
    __attribute__((warn_unused_result));

#endif

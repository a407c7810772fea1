/* Envelope parsing with cJSON; see envelope.h. The tree never leaves this file. */
#include "net/envelope.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int net_envelope_parse(const char *body, size_t len, int want_login, net_envelope_t *out) {
  memset(out, 0, sizeof *out);
  int rc = -EBADMSG;
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (!root || !cJSON_IsObject(root)) goto out;
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
  if (cJSON_IsString(code) && code->valuestring[0]) { /* some hosts quote it */
    char *end;
    long v = strtol(code->valuestring, &end, 10);
    if (*end) goto out;
    out->code = (int)v;
  } else if (cJSON_IsNumber(code) && floor(code->valuedouble) == code->valuedouble) {
    out->code = (int)code->valuedouble;
  } else {
    goto out;
  }
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
  if (cJSON_IsString(msg)) snprintf(out->message, sizeof out->message, "%s", msg->valuestring);
  if (want_login && out->code == 0) {
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(root, "record");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(rec, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rec, "expires_in");
    if (!cJSON_IsString(tok) || !tok->valuestring[0] || strlen(tok->valuestring) >= sizeof out->token)
      goto out;
    snprintf(out->token, sizeof out->token, "%s", tok->valuestring);
    out->expires_in = cJSON_IsNumber(exp) ? (int64_t)exp->valuedouble : 0;
  }
  rc = 0;
out:
  cJSON_Delete(root);
  return rc;
}

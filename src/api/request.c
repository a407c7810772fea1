/* Request builders of the 16 endpoints: validate the arguments against the spec's
 * limits and percent-encode the parameters (UTF-8, RFC 3986 unreserved kept). The
 * access token is added only at send time (api_request_query): tokens change on replay. */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sign.h"
#include "util/log.h"
#include "util/redact.h"


static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

static int put_encoded(buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int rc;
    if (is_unreserved(c)) {
      rc = buf_putc(b, (char)c);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = buf_append(b, esc, 3);
    }
    if (rc) return rc;
  }
  return 0;
}

/* "&key=" (no '&' first) then the encoded value. */
static int put_param(buf_t *b, const char *key, const char *value) {
  int rc = 0;
  if (b->len) rc = buf_putc(b, '&');
  if (!rc) rc = buf_puts(b, key);
  if (!rc) rc = buf_putc(b, '=');
  if (!rc) rc = put_encoded(b, value, strlen(value));
  return rc;
}

static int put_int(buf_t *b, const char *key, int64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%" PRId64, v);
  return put_param(b, key, tmp);
}

/* Fixed six decimals (about 0.1 m), trailing zeros dropped; no printf("%f"), whose
 * decimal point follows the C locale. */
static int put_degrees(buf_t *b, const char *key, double v) {
  long long micro = llround(v * 1e6);
  char tmp[40];
  unsigned long long a = micro < 0 ? (unsigned long long)-micro : (unsigned long long)micro;
  int n = snprintf(tmp, sizeof tmp, "%s%llu.%06llu", micro < 0 ? "-" : "", a / 1000000,
                   a % 1000000);
  while (n > 0 && tmp[n - 1] == '0') tmp[--n] = '\0';
  if (n > 0 && tmp[n - 1] == '.') tmp[--n] = '\0';
  return put_param(b, key, tmp);
}

/* A comma-joined list: every item encoded, the separators too (as %2C). */
static int put_list(buf_t *b, const char *key, const char *const *items, size_t n) {
  int rc = 0;
  if (b->len) rc = buf_putc(b, '&');
  if (!rc) rc = buf_puts(b, key);
  if (!rc) rc = buf_putc(b, '=');
  for (size_t i = 0; i < n && !rc; i++) {
    if (i) rc = buf_puts(b, "%2C");
    if (!rc) rc = put_encoded(b, items[i], strlen(items[i]));
  }
  return rc;
}

static bool imei_ok(const char *s) {
  if (!s) return false;
  size_t n = strlen(s);
  if (n == 0 || n > API_IMEI_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static bool imeis_ok(const char *const *imeis, size_t n) {
  if (!imeis || n == 0 || n > API_MAX_IMEIS) return false;
  for (size_t i = 0; i < n; i++)
    if (!imei_ok(imeis[i])) return false;
  return true;
}

static bool text_ok(const char *s) {
  return s && s[0] && api_utf8_valid(s, strlen(s), NULL);
}

/* An item of a comma-separated list: text_ok and no ','. */
static bool list_item_ok(const char *s) { return text_ok(s) && !strchr(s, ','); }

static bool range_ok(int64_t begin, int64_t end) { return begin >= 0 && end >= begin; }

/* Takes b's content into req. */
static int finish(api_request_t *req, api_endpoint_t ep, buf_t *b, int rc) {
  if (rc) {
    buf_free(b);
    return rc;
  }
  req->endpoint = ep;
  req->method = api_endpoint_method(ep);
  req->needs_token = ep != API_EP_AUTHORIZATION;
  req->params_len = b->len;
  req->params = buf_steal(b);
  return req->params ? 0 : -ENOMEM;
}

void api_request_free(api_request_t *req) {
  if (!req) return;
  if (req->params) {
    /* The authorization and password requests hold secrets. */
    explicit_bzero(req->params, req->params_len);
    free(req->params);
  }
  *req = (api_request_t){0};
}

int api_request_authorization(api_request_t *req, const char *account,
                              const char *password_md5, int64_t time) {
  if (!text_ok(account) || time < 0) return -EINVAL;
  char sig[API_MD5_HEX_LEN + 1];
  int rc = api_signature(password_md5, time, sig);
  if (rc) return rc;
  buf_t b = BUF_INIT;
  rc = put_int(&b, "time", time);
  if (!rc) rc = put_param(&b, "account", account);
  if (!rc) rc = put_param(&b, "signature", sig);
  memset(sig, 0, sizeof sig);
  return finish(req, API_EP_AUTHORIZATION, &b, rc);
}

int api_request_track(api_request_t *req, const char *const *imeis, size_t n) {
  if (!imeis_ok(imeis, n)) return -EINVAL;
  buf_t b = BUF_INIT;
  return finish(req, API_EP_TRACK, &b, put_list(&b, "imeis", imeis, n));
}

static int imei_range(api_request_t *req, api_endpoint_t ep, const char *imei,
                      int64_t begin, int64_t end) {
  if (!imei_ok(imei) || !range_ok(begin, end)) return -EINVAL;
  buf_t b = BUF_INIT;
  int rc = put_param(&b, "imei", imei);
  if (!rc) rc = put_int(&b, "begintime", begin);
  if (!rc) rc = put_int(&b, "endtime", end);
  return finish(req, ep, &b, rc);
}

int api_request_playback(api_request_t *req, const char *imei, int64_t begin, int64_t end) {
  return imei_range(req, API_EP_PLAYBACK, imei, begin, end);
}

int api_request_alarm_list(api_request_t *req, const char *imei, int64_t begin,
                           int64_t end) {
  return imei_range(req, API_EP_ALARM_LIST, imei, begin, end);
}

int api_request_geofence_create(api_request_t *req, const char *imei, const char *name,
                                int alarmtype, double longitude, double latitude,
                                int radius) {
  if (!imei_ok(imei) || !text_ok(name) || alarmtype < 0 || alarmtype > 2 ||
      !(longitude >= -180.0 && longitude <= 180.0) ||
      !(latitude >= -90.0 && latitude <= 90.0) || radius < 100 || radius > 5000)
    return -EINVAL;
  buf_t b = BUF_INIT;
  int rc = put_param(&b, "imei", imei);
  if (!rc) rc = put_param(&b, "efencename", name);
  if (!rc) rc = put_int(&b, "alarmtype", alarmtype);
  if (!rc) rc = put_degrees(&b, "longitude", longitude);
  if (!rc) rc = put_degrees(&b, "latitude", latitude);
  if (!rc) rc = put_int(&b, "radius", radius);
  return finish(req, API_EP_GEOFENCE_CREATE, &b, rc);
}

int api_request_command_send(api_request_t *req, const char *imei, const char *command,
                             const char *param_data) {
  static const char *const commands[] = {"RELAY,1",  "RELAY,0",    "RESET",
                                         "LOCKDOOR", "UNLOCKDOOR", "SET_MILEAGE"};
  if (!imei_ok(imei) || !command) return -EINVAL;
  bool known = false;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(command, commands[i]) == 0) known = true;
  if (!known) return -EINVAL;
  bool set_mileage = strcmp(command, "SET_MILEAGE") == 0;
  if (set_mileage ? !text_ok(param_data) : param_data != NULL) return -EINVAL;
  buf_t b = BUF_INIT;
  int rc = put_param(&b, "imei", imei);
  if (!rc) rc = put_param(&b, "command", command);
  if (!rc && set_mileage) rc = put_param(&b, "paramData", param_data);
  return finish(req, API_EP_COMMAND_SEND, &b, rc);
}

int api_request_command_query(api_request_t *req, const char *commandid) {
  if (!text_ok(commandid)) return -EINVAL;
  buf_t b = BUF_INIT;
  return finish(req, API_EP_COMMAND_QUERY, &b, put_param(&b, "commandid", commandid));
}

/* account optional (NULL) or required. */
static int account_only(api_request_t *req, api_endpoint_t ep, const char *account,
                        bool required) {
  if (account ? !text_ok(account) : required) return -EINVAL;
  buf_t b = BUF_INIT;
  return finish(req, ep, &b, account ? put_param(&b, "account", account) : 0);
}

int api_request_device_list(api_request_t *req, const char *account) {
  return account_only(req, API_EP_DEVICE_LIST, account, false);
}

int api_request_user_list(api_request_t *req, const char *account) {
  return account_only(req, API_EP_USER_LIST, account, false);
}

int api_request_user_block(api_request_t *req, const char *account) {
  return account_only(req, API_EP_USER_BLOCK, account, true);
}

int api_request_user_unblock(api_request_t *req, const char *account) {
  return account_only(req, API_EP_USER_UNBLOCK, account, true);
}

int api_request_user_info(api_request_t *req, const char *account) {
  return account_only(req, API_EP_USER_INFO, account, true);
}

int api_request_device_detail(api_request_t *req, const char *const *imeis, size_t n) {
  if (!imeis_ok(imeis, n)) return -EINVAL;
  buf_t b = BUF_INIT;
  return finish(req, API_EP_DEVICE_DETAIL, &b, put_list(&b, "imeis", imeis, n));
}

int api_request_message_send(api_request_t *req, const char *const *accounts, size_t n,
                             const char *content) {
  if (!accounts || n == 0 || n > API_MAX_ACCOUNTS || !content) return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!list_item_ok(accounts[i])) return -EINVAL;
  size_t chars = 0;
  if (!content[0] || !api_utf8_valid(content, strlen(content), &chars) ||
      chars > API_MAX_MESSAGE_CHARS)
    return -EINVAL;
  buf_t b = BUF_INIT;
  int rc = put_list(&b, "accounts", accounts, n);
  if (!rc) rc = put_param(&b, "content", content);
  return finish(req, API_EP_MESSAGE_SEND, &b, rc);
}

int api_request_mileage(api_request_t *req, const char *const *imeis, size_t n,
                        int64_t begin, int64_t end) {
  if (!imeis_ok(imeis, n) || begin < 0 || end <= begin || begin % 1800 || end % 1800 ||
      end - begin > API_MILEAGE_MAX_SPAN)
    return -EINVAL;
  buf_t b = BUF_INIT;
  int rc = put_list(&b, "imeis", imeis, n);
  if (!rc) rc = put_int(&b, "begintime", begin);
  if (!rc) rc = put_int(&b, "endtime", end);
  return finish(req, API_EP_DEVICE_MILEAGE, &b, rc);
}

int api_request_user_password_set(api_request_t *req, const char *account,
                                  const char *password_md5) {
  if (!text_ok(account) || !api_is_md5_hex(password_md5)) return -EINVAL;
  char lower[API_MD5_HEX_LEN + 1];
  for (int i = 0; i <= API_MD5_HEX_LEN; i++)
    lower[i] = (char)(password_md5[i] >= 'A' && password_md5[i] <= 'F'
                          ? password_md5[i] - 'A' + 'a'
                          : password_md5[i]);
  buf_t b = BUF_INIT;
  int rc = put_param(&b, "account", account);
  if (!rc) rc = put_param(&b, "password", lower);
  memset(lower, 0, sizeof lower);
  return finish(req, API_EP_USER_PASSWORD_SET, &b, rc);
}

int api_request_query(const api_request_t *req, const char *token, buf_t *out) {
  if (!req || !req->params) return -EINVAL;
  int rc = 0;
  if (req->needs_token) {
    if (!token || !token[0]) return -EINVAL;
    rc = buf_puts(out, "access_token=");
    if (!rc) rc = put_encoded(out, token, strlen(token));
    if (!rc && req->params_len) rc = buf_putc(out, '&');
  }
  if (!rc) rc = buf_append(out, req->params, req->params_len);
  return rc;
}

int api_request_url(const api_request_t *req, const char *base_url, const char *token,
                    buf_t *out) {
  if (!req || !base_url) return -EINVAL;
  size_t n = strlen(base_url);
  while (n && base_url[n - 1] == '/') n--;
  int rc = buf_append(out, base_url, n);
  if (!rc) rc = buf_puts(out, api_endpoint_path(req->endpoint));
  if (!rc) rc = buf_putc(out, '?');
  if (!rc) rc = api_request_query(req, token, out);
  return rc;
}

int api_request_describe(const api_request_t *req, buf_t *out) {
  if (!req || !req->params) return -EINVAL;
  int rc = buf_printf(out, "%s %s?", req->method == API_METHOD_POST ? "POST" : "GET",
                      api_endpoint_path(req->endpoint));
  if (!rc && req->needs_token) rc = buf_puts(out, "access_token=" LOG_MASK);
  /* Keys and values are percent-encoded: '&' and '=' only ever separate them. */
  const char *p = req->params, *end = req->params + req->params_len;
  bool first = !req->needs_token;
  while (!rc && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    if (!amp) amp = end;
    const char *eq = memchr(p, '=', (size_t)(amp - p));
    if (!eq) eq = amp;
    bool secret = redact_is_secret_name(p, (size_t)(eq - p)); /* the one list */
    if (!first) rc = buf_putc(out, '&');
    first = false;
    if (!rc && secret) {
      rc = buf_append(out, p, (size_t)(eq - p));
      if (!rc) rc = buf_puts(out, "=" LOG_MASK);
    } else if (!rc) {
      rc = buf_append(out, p, (size_t)(amp - p));
    }
    p = amp < end ? amp + 1 : end;
  }
  return rc;
}

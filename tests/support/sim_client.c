/* The blocking fleetarc-sim client of the integration tests; see sim_client.h. */
#include "sim_client.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/sign.h"

static size_t cb_write(char *p, size_t size, size_t n, void *arg) {
  sc_t *c = arg;
  size_t add = size * n;
  char *nb = realloc(c->body, c->body_len + add + 1);
  if (!nb) return 0;
  memcpy(nb + c->body_len, p, add);
  c->body = nb;
  c->body_len += add;
  c->body[c->body_len] = '\0';
  return add;
}

int sc_start(sc_t *c, const char *const *args) {
  memset(c, 0, sizeof *c);
  if (harness_sim_start(&c->sim, args) != 0) return -1;
  c->curl = curl_easy_init();
  return c->curl ? 0 : -1;
}

int sc_stop(sc_t *c) {
  int st = -1;
  if (c->curl) curl_easy_cleanup(c->curl);
  c->curl = NULL;
  free(c->body);
  c->body = NULL;
  if (c->sim.pid > 0) {
    kill(c->sim.pid, SIGTERM);
    int ws;
    if (waitpid(c->sim.pid, &ws, 0) == c->sim.pid && WIFEXITED(ws)) st = WEXITSTATUS(ws);
    c->sim.pid = 0;
  }
  return st;
}

cJSON *sc_call(sc_t *c, const char *method, const char *path, const char *form) {
  char url[16384];
  snprintf(url, sizeof url, "%s%s", c->sim.base_url, path);
  free(c->body);
  c->body = NULL;
  c->body_len = 0;
  c->http_status = 0;
  curl_easy_reset(c->curl);
  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, cb_write);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms ? c->timeout_ms : 20000L);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, form ? form : "");
  }
  c->curl_rc = curl_easy_perform(c->curl);
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->http_status);
  if (c->curl_rc != CURLE_OK || !c->body) return NULL;
  return cJSON_ParseWithLength(c->body, c->body_len);
}

/* A GET of a formatted path, the token appended when there is one (sc_getf, sc_get_code). */
static cJSON *vgetf(sc_t *c, const char *fmt, va_list ap) {
  char path[16000];
  int n = vsnprintf(path, sizeof path, fmt, ap);
  if (c->token[0] && n > 0 && (size_t)n < sizeof path)
    snprintf(path + n, sizeof path - (size_t)n, "%saccess_token=%s", strchr(path, '?') ? "&" : "?",
             c->token);
  return sc_call(c, "GET", path, NULL);
}

cJSON *sc_getf(sc_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cJSON *j = vgetf(c, fmt, ap);
  va_end(ap);
  return j;
}

int sc_code(const cJSON *j) {
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
  return cJSON_IsNumber(code) ? code->valueint : -1;
}

int sc_get_code(sc_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cJSON *j = vgetf(c, fmt, ap);
  va_end(ap);
  int code = sc_code(j);
  cJSON_Delete(j);
  return code;
}

int sc_signature_at(const char *password, long long t, char out[33]) {
  char md5[33];
  if (api_md5_hex(password, strlen(password), md5) != 0) return -1;
  return api_signature(md5, t, out) == 0 ? 0 : -1;
}

int sc_login_at(sc_t *c, const char *account, const char *password, long offset) {
  long long t = (long long)time(NULL) + offset;
  char sig[33];
  if (sc_signature_at(password, t, sig) != 0) return -1;
  char *acc = curl_easy_escape(c->curl, account, 0);
  char path[512];
  snprintf(path, sizeof path, "/api/authorization?time=%lld&account=%s&signature=%s", t, acc, sig);
  curl_free(acc);
  cJSON *j = sc_call(c, "GET", path, NULL);
  int code = sc_code(j);
  if (code == 0) {
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(rec, "access_token");
    if (cJSON_IsString(tok)) snprintf(c->token, sizeof c->token, "%s", tok->valuestring);
  }
  cJSON_Delete(j);
  return code;
}

int sc_login(sc_t *c) { return sc_login_at(c, c->sim.account, c->sim.password, 0); }

cJSON *sc_stats(sc_t *c) { return sc_call(c, "GET", "/sim/stats", NULL); }

double sc_stat(const cJSON *stats, const char *group, const char *key) {
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(stats, group);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int sc_record_count(const cJSON *j) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "record");
  return cJSON_IsArray(r) ? cJSON_GetArraySize(r) : -1;
}

const char *sc_record_string(const cJSON *j) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "record");
  return cJSON_IsString(r) ? r->valuestring : NULL;
}

int sc_groups(const char *s) {
  if (!s || !*s) return 0;
  int n = 1;
  for (; *s; s++) n += *s == ';';
  return n;
}

int sc_walk_tree(sc_t *c, const char *account, char (*imeis)[16], char (*owners)[64], int *n,
                 int cap) {
  char *acc = curl_easy_escape(c->curl, account, 0);
  cJSON *j = sc_getf(c, "/api/device/list?account=%s", acc);
  int rc = -1, accounts = 1, nkids = 0;
  char (*kids)[64] = NULL;
  if (sc_code(j) != 0 || sc_record_count(j) > 500) goto out;
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j, "record")) {
    if (*n >= cap) goto out;
    snprintf(imeis[*n], 16, "%s", cJSON_GetObjectItemCaseSensitive(d, "imei")->valuestring);
    if (owners) snprintf(owners[*n], 64, "%s", account);
    (*n)++;
  }
  cJSON_Delete(j);
  j = sc_getf(c, "/api/user/list?account=%s", acc);
  if (sc_code(j) != 0 || sc_record_count(j) > 500) goto out;
  nkids = sc_record_count(j);
  kids = calloc((size_t)nkids + 1, sizeof *kids);
  if (!kids) goto out;
  for (int i = 0; i < nkids; i++) {
    const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), i);
    snprintf(kids[i], 64, "%s", cJSON_GetObjectItemCaseSensitive(u, "account")->valuestring);
  }
  for (int i = 0; i < nkids; i++) {
    int sub = sc_walk_tree(c, kids[i], imeis, owners, n, cap);
    if (sub < 0) goto out;
    accounts += sub;
  }
  rc = accounts;
out:
  free(kids);
  curl_free(acc);
  cJSON_Delete(j);
  return rc;
}

int sc_connect(const sc_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->sim.port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

size_t sc_read_all(int fd, char *buf, size_t cap, const char *until) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
    buf[n] = '\0';
    if (until && strstr(buf, until)) break;
  }
  buf[n] = '\0';
  return n;
}

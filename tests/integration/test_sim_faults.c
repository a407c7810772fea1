/* The simulator's injected faults: each kind, at probability 1, is observed as a client
 * sees it and counted in /sim/stats; /sim/ endpoints are never faulted; the fault
 * sequence is a function of the seed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_client.h"

/* Starts a simulator with --faults spec. */
static void start(sc_t *c, const char *spec, const char *seed) {
  const char *args[] = {"--devices", "12", "--seed", seed, "--faults", spec, NULL};
  assert_int_equal(sc_start(c, args), 0);
}

/* faults.<kind> in /sim/stats (which itself must never be faulted). */
static int fault_count(sc_t *c, const char *kind) {
  cJSON *st = sc_stats(c);
  assert_int_equal(c->http_status, 200);
  assert_int_equal(sc_code(st), 0);
  int n = (int)sc_stat(st, "faults", kind);
  cJSON_Delete(st);
  return n;
}

static void login_path(sc_t *c, char *path, size_t n) {
  long long t = (long long)time(NULL);
  char sig[33];
  assert_int_equal(sc_signature_at(c->sim.password, t, sig), 0);
  snprintf(path, n, "/api/authorization?time=%lld&account=%s&signature=%s", t, c->sim.account, sig);
}

static void test_http_errors(void **state) {
  (void)state;
  const char *kinds[] = {"http500", "http502"};
  for (int k = 0; k < 2; k++) {
    sc_t c;
    char spec[64];
    snprintf(spec, sizeof spec, "%s=1", kinds[k]);
    start(&c, spec, "1");
    char path[256];
    login_path(&c, path, sizeof path);
    for (int i = 0; i < 3; i++) {
      cJSON *j = sc_call(&c, "GET", path, NULL);
      assert_null(j); /* HTML, not JSON */
      assert_int_equal(c.http_status, k == 0 ? 500 : 502);
      assert_non_null(strstr(c.body, "<html>"));
    }
    assert_int_equal(fault_count(&c, kinds[k]), 3);
    cJSON *st = sc_stats(&c);
    assert_int_equal((int)sc_stat(st, "http_status", k == 0 ? "500" : "502"), 3);
    assert_int_equal((int)sc_stat(st, "requests", "authorization"), 3);
    cJSON_Delete(st);
    assert_int_equal(sc_stop(&c), 0);
  }
}

static void test_api_codes(void **state) {
  (void)state;
  const char *kinds[] = {"syserr", "ratelimit"};
  const int codes[] = {10000, 10009};
  for (int k = 0; k < 2; k++) {
    sc_t c;
    char spec[64];
    snprintf(spec, sizeof spec, "%s=1", kinds[k]);
    start(&c, spec, "1");
    assert_int_equal(sc_login(&c), codes[k]);
    assert_int_equal(sc_get_code(&c, "/api/track?imeis=1"), codes[k]);
    assert_int_equal(fault_count(&c, kinds[k]), 2);
    assert_int_equal(sc_stop(&c), 0);
  }
}

static void test_slow(void **state) {
  (void)state;
  sc_t c;
  start(&c, "slow=1", "1");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(sc_login(&c), 0); /* processed, only late */
  clock_gettime(CLOCK_MONOTONIC, &b);
  double el = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  assert_true(el >= 1.9 && el < 5);
  assert_int_equal(fault_count(&c, "slow"), 1);
  assert_int_equal(sc_stop(&c), 0);
}

static void test_timeout(void **state) {
  (void)state;
  sc_t c;
  start(&c, "timeout=1", "1");
  c.timeout_ms = 1200;
  char path[256];
  login_path(&c, path, sizeof path);
  assert_null(sc_call(&c, "GET", path, NULL));
  assert_int_equal(c.curl_rc, CURLE_OPERATION_TIMEDOUT);
  assert_int_equal(fault_count(&c, "timeout"), 1);
  /* the server shuts down cleanly with such a connection open */
  int fd = sc_connect(&c);
  const char *req = "GET /api/track HTTP/1.1\r\n\r\n";
  assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  usleep(100000);
  assert_int_equal(sc_stop(&c), 0);
  close(fd);
}

static void test_reset(void **state) {
  (void)state;
  sc_t c;
  start(&c, "reset=1", "1");
  int fd = sc_connect(&c);
  assert_true(fd >= 0);
  const char *req = "GET /api/track?imeis=1 HTTP/1.1\r\n\r\n";
  assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  char buf[256];
  errno = 0;
  ssize_t r = read(fd, buf, sizeof buf);
  assert_int_equal(r, -1);
  assert_int_equal(errno, ECONNRESET);
  close(fd);
  char path[256];
  login_path(&c, path, sizeof path);
  assert_null(sc_call(&c, "GET", path, NULL));
  assert_int_equal(c.curl_rc, CURLE_RECV_ERROR);
  assert_int_equal(fault_count(&c, "reset"), 2);
  assert_int_equal(sc_stop(&c), 0);
}

static void test_truncate(void **state) {
  (void)state;
  sc_t c;
  start(&c, "truncate=1", "1");
  char path[256];
  login_path(&c, path, sizeof path);
  assert_null(sc_call(&c, "GET", path, NULL));
  assert_int_equal(c.curl_rc, CURLE_PARTIAL_FILE);
  /* on the wire: a Content-Length bigger than what comes before the close */
  int fd = sc_connect(&c);
  char req[400];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", path);
  assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  char buf[4096];
  size_t n = sc_read_all(fd, buf, sizeof buf, NULL);
  close(fd);
  const char *cl = strstr(buf, "Content-Length: ");
  const char *body = strstr(buf, "\r\n\r\n");
  assert_non_null(cl);
  assert_non_null(body);
  size_t want = strtoul(cl + 16, NULL, 10), got = n - (size_t)(body + 4 - buf);
  assert_true(got > 0 && got < want);
  assert_memory_equal(body + 4, "{\"code\":", 8);
  assert_int_equal(fault_count(&c, "truncate"), 2);
  assert_int_equal(sc_stop(&c), 0);
}

static void test_revoke(void **state) {
  (void)state;
  sc_t c;
  start(&c, "revoke=1", "1");
  assert_int_equal(sc_login(&c), 0); /* authorization is never revoked */
  assert_int_equal(sc_get_code(&c, "/api/user/list"), 10011);
  assert_int_equal(sc_get_code(&c, "/api/user/list"), 10011); /* stays revoked */
  assert_int_equal(fault_count(&c, "revoke"), 1);
  assert_int_equal(sc_login(&c), 0);
  assert_int_equal(sc_get_code(&c, "/api/user/list"), 10011);
  assert_int_equal(fault_count(&c, "revoke"), 2);
  cJSON *st = sc_stats(&c);
  assert_int_equal((int)sc_stat(st, "logins", "total"), 2);
  assert_int_equal((int)sc_stat(st, "responses", "10011"), 3);
  cJSON_Delete(st);
  assert_int_equal(sc_stop(&c), 0);
}

/* The outcomes of a fixed request sequence, as a string of status/code pairs. */
static void outcomes(const char *seed, char *out, size_t n) {
  sc_t c;
  start(&c, "http500=0.15,http502=0.15,syserr=0.15,ratelimit=0.15", seed);
  out[0] = '\0';
  for (int i = 0; i < 40; i++) {
    cJSON *j = sc_call(&c, "GET", "/api/user/list", NULL);
    snprintf(out + strlen(out), n - strlen(out), "%ld/%d ", c.http_status, sc_code(j));
    cJSON_Delete(j);
  }
  cJSON *st = sc_stats(&c);
  int total = (int)sc_stat(st, "faults", "total");
  int injected = 0;
  for (const char *p = out; (p = strstr(p, "/")) != NULL; p++)
    if (strncmp(p - 3, "500", 3) == 0 || strncmp(p - 3, "502", 3) == 0 ||
        strncmp(p + 1, "10000", 5) == 0 || strncmp(p + 1, "10009", 5) == 0)
      injected++;
  assert_int_equal(total, injected);
  cJSON_Delete(st);
  assert_int_equal(sc_stop(&c), 0);
}

static void test_deterministic_sequence(void **state) {
  (void)state;
  char a[1024], b[1024], d[1024];
  outcomes("42", a, sizeof a);
  outcomes("42", b, sizeof b);
  outcomes("43", d, sizeof d);
  assert_string_equal(a, b);
  assert_string_not_equal(a, d);
  assert_non_null(strstr(a, "200/10005")); /* some requests got through to the rules */
}

static void test_bad_specs(void **state) {
  (void)state;
  sc_t c;
  const char *bad1[] = {"--faults", "http500=2", NULL};
  assert_int_equal(sc_start(&c, bad1), -1);
  const char *bad2[] = {"--faults", "gremlins=0.1", NULL};
  assert_int_equal(sc_start(&c, bad2), -1);
  const char *bad3[] = {"--limits", "nowhere=1s", NULL};
  assert_int_equal(sc_start(&c, bad3), -1);
  const char *bad4[] = {"--faults", "http500=0.6,http502=0.6", NULL};
  assert_int_equal(sc_start(&c, bad4), -1);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_http_errors),
    cmocka_unit_test(test_api_codes),
    cmocka_unit_test(test_slow),
    cmocka_unit_test(test_timeout),
    cmocka_unit_test(test_reset),
    cmocka_unit_test(test_truncate),
    cmocka_unit_test(test_revoke),
    cmocka_unit_test(test_deterministic_sequence),
    cmocka_unit_test(test_bad_specs),
  };
  int rc = cmocka_run_group_tests_name("sim_faults", tests, NULL, NULL);
  curl_global_cleanup();
  return rc ? 1 : 0;
}

/* The simulator's HTTP layer: the request parser on crafted bytes, and the running
 * server on raw sockets (keep-alive, 400/413 on garbage, form bodies, percent-decoding,
 * many connections, clean shutdown with exit status 0 under the sanitizers). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/http_request.h"
#include "sim/json_out.h"
#include "sim_client.h"

static int parse(sim_http_request_t *r, const char *s, size_t *used) {
  return sim_http_request_parse(r, s, strlen(s), used);
}

static void test_parse_get_query(void **state) {
  (void)state;
  sim_http_request_t r = {0};
  size_t used = 0;
  const char *s = "GET /api/track?imeis=1,2&name=a%20b+c&x=%E2%82%AC&flag HTTP/1.1\r\nHost: h\r\n\r\nrest";
  assert_int_equal(parse(&r, s, &used), 0);
  assert_int_equal(used, strlen(s) - 4);
  assert_string_equal(r.method, "GET");
  assert_string_equal(r.path, "/api/track");
  assert_int_equal(r.nparams, 4);
  assert_string_equal(sim_http_request_param(&r, "imeis"), "1,2");
  assert_string_equal(sim_http_request_param(&r, "name"), "a b c");
  assert_string_equal(sim_http_request_param(&r, "x"), "\xe2\x82\xac");
  assert_string_equal(sim_http_request_param(&r, "flag"), "");
  assert_null(sim_http_request_param(&r, "nope"));
  assert_true(r.keep_alive);
  sim_http_request_free(&r);
}

static void test_parse_form_body(void **state) {
  (void)state;
  sim_http_request_t r = {0};
  size_t used = 0;
  const char *s = "POST /api/message/send?accounts=a HTTP/1.1\r\n"
                  "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
                  "Content-Length: 27\r\nConnection: close\r\n\r\ncontent=hi+there%21&x=1%2B1";
  assert_int_equal(parse(&r, s, &used), 0);
  assert_int_equal(used, strlen(s));
  assert_string_equal(sim_http_request_param(&r, "accounts"), "a");
  assert_string_equal(sim_http_request_param(&r, "content"), "hi there!");
  assert_string_equal(sim_http_request_param(&r, "x"), "1+1");
  assert_false(r.keep_alive);
  /* the body is incomplete: more bytes are needed */
  assert_int_equal(sim_http_request_parse(&r, s, strlen(s) - 1, &used), -EAGAIN);
  sim_http_request_free(&r);
}

static void test_parse_errors(void **state) {
  (void)state;
  sim_http_request_t r = {0};
  size_t used;
  assert_int_equal(parse(&r, "GET /a HTTP/1.1\r\nHost: x\r\n", &used), -EAGAIN);
  assert_int_equal(parse(&r, "hello world\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET nopath HTTP/1.1\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET /a HTTP/2.0\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET /a?x=%zz HTTP/1.1\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET /a?x=%4 HTTP/1.1\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET /a?x=%00 HTTP/1.1\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "GET /a?x=%C3%28 HTTP/1.1\r\n\r\n", &used), -EINVAL); /* bad UTF-8 */
  assert_int_equal(parse(&r, "GET /a?x=%ED%A0%80 HTTP/1.1\r\n\r\n", &used), -EINVAL); /* surrogate */
  assert_int_equal(parse(&r, "GET /a HTTP/1.1\r\nNoColon\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "POST /a HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &used), -EINVAL);
  assert_int_equal(parse(&r, "POST /a HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", &used), -EFBIG);
  assert_int_equal(parse(&r, "POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &used),
                   -EINVAL);
  /* headers that never end, beyond the cap */
  size_t big = SIM_HTTP_MAX_HEADER + 100;
  char *s = malloc(big + 1);
  memcpy(s, "GET /a HTTP/1.1\r\nX: ", 20);
  memset(s + 20, 'a', big - 20);
  s[big] = '\0';
  assert_int_equal(sim_http_request_parse(&r, s, big, &used), -EFBIG);
  free(s);
  /* HTTP/1.0 closes unless asked, bare LF lines are fine */
  assert_int_equal(parse(&r, "\r\nGET /b HTTP/1.0\nConnection: Keep-Alive\n\n", &used), 0);
  assert_true(r.keep_alive);
  assert_int_equal(parse(&r, "GET /b HTTP/1.0\r\n\r\n", &used), 0);
  assert_false(r.keep_alive);
  sim_http_request_free(&r);
}

static void test_json_out(void **state) {
  (void)state;
  buf_t b = BUF_INIT;
  sim_json_t j = {&b, 0};
  sim_json_string(&j, "a\"b\\c\n\x01\xe2\x82\xac");
  sim_json_lit(&j, " ");
  sim_json_fixed(&j, 113.9718126, 6);
  sim_json_lit(&j, " ");
  sim_json_fixed(&j, -0.0000004, 6);
  sim_json_lit(&j, " ");
  sim_json_fixed(&j, -22.5, 6);
  sim_json_lit(&j, " ");
  sim_json_int(&j, INT64_MIN);
  sim_json_lit(&j, " ");
  sim_json_fixed(&j, 12.3456, 3);
  assert_int_equal(j.err, 0);
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xe2\x82\xac\" 113.971813 0.000000 -22.500000 "
                              "-9223372036854775808 12.346");
  buf_free(&b);
}

/* ---- against the running simulator ---- */

static sc_t sim;

static int setup_sim(void **state) {
  (void)state;
  const char *args[] = {"--devices", "20", "--seed", "5", "--now", "2026-11-01", "--speed", "0", NULL};
  return sc_start(&sim, args);
}

static int teardown_sim(void **state) {
  (void)state;
  return sc_stop(&sim) == 0 ? 0 : -1;
}

static void test_keep_alive_and_pipelining(void **state) {
  (void)state;
  int fd = sc_connect(&sim);
  assert_true(fd >= 0);
  const char *two = "GET /sim/stats HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(write(fd, two, strlen(two)), (ssize_t)strlen(two));
  char buf[65536];
  size_t n = sc_read_all(fd, buf, sizeof buf, "HTTP/1.1 404");
  assert_true(n > 0);
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "Content-Type: application/json; charset=UTF-8\r\n"));
  assert_non_null(strstr(buf, "\r\nDate: "));
  assert_non_null(strstr(buf, "Connection: keep-alive"));
  /* the same connection still answers */
  const char *three = "GET /sim/stats HTTP/1.1\r\n\r\n";
  assert_int_equal(write(fd, three, strlen(three)), (ssize_t)strlen(three));
  n = sc_read_all(fd, buf, sizeof buf, "\"records\"");
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
  close(fd);
}

static void expect_refusal(const char *req, size_t len, const char *status_line) {
  int fd = sc_connect(&sim);
  assert_true(fd >= 0);
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, req + off, len - off);
    if (w <= 0) break; /* the server may close before reading everything */
    off += (size_t)w;
  }
  char buf[4096];
  sc_read_all(fd, buf, sizeof buf, NULL); /* until the server closes */
  assert_non_null(strstr(buf, status_line));
  assert_non_null(strstr(buf, "Connection: close"));
  close(fd);
}

static void test_garbage_is_refused(void **state) {
  (void)state;
  const char *g = "\x16\x03\x01 garbage that is not http\r\n\r\n";
  expect_refusal(g, strlen(g), "HTTP/1.1 400 Bad Request");
  const char *bad_pct = "GET /api/track?imeis=%G1 HTTP/1.1\r\n\r\n";
  expect_refusal(bad_pct, strlen(bad_pct), "HTTP/1.1 400");
  const char *huge_cl = "POST /api/track HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n";
  expect_refusal(huge_cl, strlen(huge_cl), "HTTP/1.1 413");
  size_t big = 40000;
  char *hdr = malloc(big);
  memset(hdr, 'a', big);
  memcpy(hdr, "GET / HTTP/1.1\r\nX-Long: ", 24);
  expect_refusal(hdr, big, "HTTP/1.1 413");
  free(hdr);
  /* the server is alive after all that */
  cJSON *j = sc_stats(&sim);
  assert_int_equal(sc_code(j), 0);
  cJSON_Delete(j);
}

static void test_form_body_and_percent_decoding(void **state) {
  (void)state;
  /* login through a POST form body, the account name percent-encoded */
  long long t = (long long)time(NULL);
  char sig[33], form[256], enc[64] = "";
  assert_int_equal(sc_signature_at(sim.sim.password, t, sig), 0);
  for (const char *p = sim.sim.account; *p; p++)
    snprintf(enc + strlen(enc), sizeof enc - strlen(enc), "%%%02X", (unsigned char)*p);
  snprintf(form, sizeof form, "time=%lld&account=%s&signature=%s", t, enc, sig);
  cJSON *j = sc_call(&sim, "POST", "/api/authorization", form);
  assert_int_equal(sc_code(j), 0);
  assert_int_equal(sim.http_status, 200);
  cJSON_Delete(j);
  /* query string and body mixed */
  snprintf(form, sizeof form, "signature=%s", sig);
  char path[256];
  snprintf(path, sizeof path, "/api/authorization?time=%lld&account=%s", t, sim.sim.account);
  j = sc_call(&sim, "POST", path, form);
  assert_int_equal(sc_code(j), 0);
  cJSON_Delete(j);
}

static void test_unknown_paths_and_methods(void **state) {
  (void)state;
  cJSON *j = sc_call(&sim, "GET", "/api/nothing", NULL);
  assert_int_equal(sc_code(j), 10001);
  assert_int_equal(sim.http_status, 200);
  cJSON_Delete(j);
  j = sc_call(&sim, "GET", "/index.html", NULL);
  assert_int_equal(sim.http_status, 404);
  cJSON_Delete(j);
  int fd = sc_connect(&sim);
  const char *del = "DELETE /api/track HTTP/1.1\r\nConnection: close\r\n\r\n";
  assert_int_equal(write(fd, del, strlen(del)), (ssize_t)strlen(del));
  char buf[4096];
  sc_read_all(fd, buf, sizeof buf, NULL);
  assert_non_null(strstr(buf, "HTTP/1.1 405"));
  close(fd);
}

static void test_many_connections(void **state) {
  (void)state;
  enum { N = 300 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = sc_connect(&sim);
    assert_true(fds[i] >= 0);
  }
  const char *req = "GET /sim/stats HTTP/1.1\r\n\r\n";
  for (int i = 0; i < N; i++) assert_int_equal(write(fds[i], req, strlen(req)), (ssize_t)strlen(req));
  char buf[8192];
  for (int i = N - 1; i >= 0; i--) {
    sc_read_all(fds[i], buf, sizeof buf, "\"records\"");
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    close(fds[i]);
  }
}

static void test_shutdown_with_open_connections(void **state) {
  (void)state;
  sc_t s2;
  const char *args[] = {"--devices", "5", NULL};
  assert_int_equal(sc_start(&s2, args), 0);
  int idle = sc_connect(&s2);
  int half = sc_connect(&s2);
  assert_true(idle >= 0 && half >= 0);
  const char *part = "GET /sim/stats HTTP/1.1\r\nHost:";
  assert_int_equal(write(half, part, strlen(part)), (ssize_t)strlen(part));
  usleep(100000);
  /* every handle closed, uv_loop_close() == 0, no leak: exit status 0 */
  assert_int_equal(sc_stop(&s2), 0);
  char buf[16];
  assert_int_equal(read(idle, buf, sizeof buf), 0); /* the server closed it */
  close(idle);
  close(half);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest pure[] = {
    cmocka_unit_test(test_parse_get_query),
    cmocka_unit_test(test_parse_form_body),
    cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_json_out),
  };
  const struct CMUnitTest live[] = {
    cmocka_unit_test(test_keep_alive_and_pipelining),
    cmocka_unit_test(test_garbage_is_refused),
    cmocka_unit_test(test_form_body_and_percent_decoding),
    cmocka_unit_test(test_unknown_paths_and_methods),
    cmocka_unit_test(test_many_connections),
    cmocka_unit_test(test_shutdown_with_open_connections),
  };
  int rc = cmocka_run_group_tests_name("sim_http_pure", pure, NULL, NULL);
  rc |= cmocka_run_group_tests_name("sim_http_live", live, setup_sim, teardown_sim);
  curl_global_cleanup();
  return rc ? 1 : 0;
}

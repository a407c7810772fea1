/* Unit tests for net/httpserv: the request parser on crafted bytes (the cases the
 * operations listener and the simulator each tested on their own parser before), header
 * lookup, and the server on a loop against raw sockets: keep-alive with pipelining, a
 * HEAD without body, refusals (400, 431, 413), the idle and request timeouts, the
 * per-peer cap dropping the oldest idle connection, each fault hook, and a clean close
 * with uv_loop_close() == 0. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/httpserv.h"

#define HEAD_MAX 8192
#define BODY_MAX 64

static int parse(const char *s, httpserv_request_t *r, size_t *used) {
  return httpserv_parse(s, strlen(s), HEAD_MAX, BODY_MAX, r, used);
}

static void test_parse_request_line(void **state) {
  (void)state;
  httpserv_request_t r;
  size_t used = 0;
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(parse(get, &r, &used), 0);
  assert_int_equal(used, strlen(get));
  assert_string_equal(r.method, "GET");
  assert_int_equal(r.path_len, 8);
  assert_memory_equal(r.target, "/metrics", 8);
  assert_true(r.http11 && r.keep_alive);
  assert_int_equal(parse("GET /healthz?verbose=1 HTTP/1.0\n\n", &r, &used), 0);
  assert_int_equal(r.path_len, 8);
  assert_int_equal(r.target_len, 18);
  assert_false(r.keep_alive);
  assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r, &used), -EAGAIN);
  assert_int_equal(parse("", &r, &used), -EAGAIN);
  assert_int_equal(parse("GET /metrics\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("GET /m HTTP/2.0\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse(" /m HTTP/1.1\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("G(T /m HTTP/1.1\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("hello world\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", &r, &used), -EFBIG);
  char big[HEAD_MAX + 16];
  memset(big, 'a', sizeof big);
  assert_int_equal(httpserv_parse(big, sizeof big, HEAD_MAX, BODY_MAX, &r, &used), -EFBIG);
  /* every prefix of a valid request is "more bytes", never an error */
  const char *req = "GET /metrics HTTP/1.1\r\nAccept: */*\r\n\r\n";
  for (size_t i = 0; i < strlen(req); i++)
    assert_int_equal(httpserv_parse(req, i, HEAD_MAX, BODY_MAX, &r, &used), -EAGAIN);
  /* one leading empty line is skipped (RFC 9112 2.2), bare LF lines are fine */
  assert_int_equal(parse("\r\nGET /b HTTP/1.0\nConnection: Keep-Alive\n\n", &r, &used), 0);
  assert_true(r.keep_alive);
}

static void test_parse_headers_and_body(void **state) {
  (void)state;
  httpserv_request_t r;
  size_t used = 0;
  const char *post = "POST /a?x=1 HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                     "Connection: close\r\nX-Empty:\r\n\r\nhelloGET /next HTTP/1.1\r\n\r\n";
  assert_int_equal(parse(post, &r, &used), 0);
  assert_int_equal(used, strlen(post) - strlen("GET /next HTTP/1.1\r\n\r\n"));
  assert_int_equal(r.body_len, 5);
  assert_memory_equal(r.body, "hello", 5);
  assert_false(r.keep_alive);
  const char *v;
  size_t vlen;
  assert_int_equal(httpserv_header(&r, "content-type", &v, &vlen), 0);
  assert_int_equal(vlen, 10);
  assert_memory_equal(v, "text/plain", 10);
  assert_int_equal(httpserv_header(&r, "x-empty", &v, &vlen), 0);
  assert_int_equal(vlen, 0);
  assert_int_equal(httpserv_header(&r, "content", &v, &vlen), -ENOENT);
  assert_int_equal(httpserv_header(&r, "host", &v, &vlen), -ENOENT);
  /* the body is incomplete: more bytes are needed */
  assert_int_equal(httpserv_parse(post, 70, HEAD_MAX, BODY_MAX, &r, &used), -EAGAIN);
  assert_int_equal(parse("GET /a HTTP/1.1\r\nNoColon\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("GET /a HTTP/1.1\r\n Folded: x\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("GET /a HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r, &used), -EINVAL);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nContent-Length: 65\r\n\r\n", &r, &used), -E2BIG);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nContent-Length: 9999999999999\r\n\r\n", &r, &used), -E2BIG);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r, &used),
                   -EINVAL);
  assert_int_equal(parse("POST /a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", &r, &used), 0);
}

/* ---- the server on a loop, against raw sockets ---- */

typedef struct fixture {
  uv_loop_t loop;
  httpserv_t *srv;
  bool closed;
  httpserv_req_t *held; /* a request answered later */
} fixture_t;

static void on_request(void *arg, httpserv_req_t *req, const httpserv_request_t *r) {
  fixture_t *f = arg;
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)r->path_len, r->target);
  httpserv_response_t out = {.content_type = "text/plain", .body = path, .body_len = strlen(path)};
  if (strcmp(path, "/reset") == 0) out.fault = HTTPSERV_FAULT_RESET;
  else if (strcmp(path, "/close") == 0) out.fault = HTTPSERV_FAULT_CLOSE;
  else if (strcmp(path, "/hang") == 0) out.fault = HTTPSERV_FAULT_HANG;
  else if (strcmp(path, "/truncate") == 0) out.fault = HTTPSERV_FAULT_TRUNCATE;
  else if (strcmp(path, "/slow") == 0) out.delay_ms = 50;
  else if (strcmp(path, "/later") == 0) {
    f->held = req;
    return;
  }
  httpserv_respond(req, &out);
}

static void on_closed(void *arg) { ((fixture_t *)arg)->closed = true; }

static void start(fixture_t *f, const httpserv_options_t *opt) {
  memset(f, 0, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  struct sockaddr_storage ss;
  assert_int_equal(httpserv_addr("127.0.0.1", 0, &ss), 0);
  int err = 1;
  f->srv = httpserv_new(&f->loop, (const struct sockaddr *)&ss, opt, on_request, f, &err);
  assert_non_null(f->srv);
  assert_int_equal(err, 0);
  assert_true(httpserv_port(f->srv) > 0);
}

static void stop(fixture_t *f) {
  httpserv_close(f->srv, on_closed, f);
  assert_false(f->closed); /* never from inside the call */
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_true(f->closed);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A blocking client on its own thread would need threads; instead the client socket is
 * non-blocking and the loop runs between its steps. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int client(fixture_t *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)httpserv_port(f->srv)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

static void send_all(fixture_t *f, int fd, const char *s, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, s + off, n - off);
    if (w > 0) off += (size_t)w;
    else if (w < 0 && errno != EAGAIN) break; /* the server may close before reading all */
    uv_run(&f->loop, UV_RUN_NOWAIT);
  }
}

/* Runs the loop and reads until `until` appears in what arrived, or the peer closes
 * (until NULL), or a reset (returns -1). Returns the byte count, NUL-terminated in out. */
static long read_until(fixture_t *f, int fd, char *out, size_t cap, const char *until) {
  size_t n = 0;
  out[0] = '\0';
  for (int spins = 0; spins < 20000; spins++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ssize_t got = read(fd, out + n, cap - 1 - n);
    if (got > 0) {
      n += (size_t)got;
      out[n] = '\0';
      if (until && strstr(out, until)) return (long)n;
      continue;
    }
    if (got == 0) return (long)n;
    if (errno == ECONNRESET) return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 1);
  }
  fail_msg("no answer: %s", out);
  return -1;
}

static void test_keep_alive_pipelining_head(void **state) {
  (void)state;
  fixture_t f;
  httpserv_options_t opt = {.headers = "Server: t\r\n"};
  start(&f, &opt);
  int fd = client(&f);
  const char *two = "GET /one HTTP/1.1\r\n\r\nHEAD /two HTTP/1.1\r\n\r\n";
  send_all(&f, fd, two, strlen(two));
  char buf[4096];
  read_until(&f, fd, buf, sizeof buf, "Content-Length: 4\r\nConnection: keep-alive\r\n\r\n");
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\nDate: "));
  assert_non_null(strstr(buf, "Server: t\r\n"));
  assert_non_null(strstr(buf, "\r\n\r\n/oneHTTP/1.1 200 OK")); /* HEAD: no body */
  const char *last = "GET /three HTTP/1.1\r\nConnection: close\r\n\r\n";
  send_all(&f, fd, last, strlen(last));
  long n = read_until(&f, fd, buf, sizeof buf, NULL);
  assert_true(n > 0);
  assert_non_null(strstr(buf, "Connection: close\r\n\r\n/three"));
  assert_int_equal(httpserv_stats(f.srv).requests, 3);
  assert_int_equal(httpserv_stats(f.srv).accepted, 1);
  close(fd);
  stop(&f);
}

static void expect_refusal(fixture_t *f, const char *req, size_t n, const char *status_line) {
  int fd = client(f);
  send_all(f, fd, req, n);
  char buf[4096];
  read_until(f, fd, buf, sizeof buf, NULL);
  assert_non_null(strstr(buf, status_line));
  assert_non_null(strstr(buf, "Connection: close"));
  close(fd);
}

static void test_refusals(void **state) {
  (void)state;
  fixture_t f;
  httpserv_options_t opt = {.max_head = 1024, .max_body = 16};
  start(&f, &opt);
  const char *g = "\x16\x03\x01 garbage\r\n\r\n";
  expect_refusal(&f, g, strlen(g), "HTTP/1.1 400 Bad Request");
  const char *cl = "POST /a HTTP/1.1\r\nContent-Length: 17\r\n\r\n";
  expect_refusal(&f, cl, strlen(cl), "HTTP/1.1 413 Content Too Large");
  char big[20000];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  expect_refusal(&f, big, sizeof big, "HTTP/1.1 431");
  stop(&f);
  opt.head_too_large_status = 413;
  start(&f, &opt);
  expect_refusal(&f, big, sizeof big, "HTTP/1.1 413");
  stop(&f);
}

static void test_timeouts(void **state) {
  (void)state;
  fixture_t f;
  httpserv_options_t opt = {.idle_timeout_ms = 30, .request_timeout_ms = 30};
  start(&f, &opt);
  int idle = client(&f), half = client(&f);
  send_all(&f, half, "GET /x HTTP/1.1\r\n", 17);
  char buf[1024];
  assert_int_equal(read_until(&f, idle, buf, sizeof buf, NULL), 0); /* closed without a word */
  read_until(&f, half, buf, sizeof buf, NULL);
  assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout"));
  close(idle);
  close(half);
  stop(&f);
}

static void test_peer_cap_drops_oldest_idle(void **state) {
  (void)state;
  fixture_t f;
  httpserv_options_t opt = {.max_per_peer = 2};
  start(&f, &opt);
  int a = client(&f), b = client(&f);
  for (int i = 0; i < 10; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
  int c = client(&f); /* a, the oldest idle one, makes room */
  char buf[1024];
  assert_int_equal(read_until(&f, a, buf, sizeof buf, NULL), 0);
  const char *get = "GET /c HTTP/1.1\r\n\r\n";
  send_all(&f, c, get, strlen(get));
  read_until(&f, c, buf, sizeof buf, "/c");
  assert_non_null(strstr(buf, "200 OK"));
  assert_int_equal(httpserv_stats(f.srv).open, 2);
  close(a);
  close(b);
  close(c);
  stop(&f);
}

static void test_faults_and_later_answers(void **state) {
  (void)state;
  fixture_t f;
  httpserv_options_t opt = {0};
  start(&f, &opt);
  char buf[1024];
  int fd = client(&f);
  send_all(&f, fd, "GET /reset HTTP/1.1\r\n\r\n", 23);
  assert_int_equal(read_until(&f, fd, buf, sizeof buf, NULL), -1);
  close(fd);
  fd = client(&f);
  send_all(&f, fd, "GET /close HTTP/1.1\r\n\r\n", 23);
  assert_int_equal(read_until(&f, fd, buf, sizeof buf, NULL), 0);
  close(fd);
  fd = client(&f);
  send_all(&f, fd, "GET /truncate HTTP/1.1\r\n\r\n", 26);
  read_until(&f, fd, buf, sizeof buf, NULL);
  assert_non_null(strstr(buf, "Content-Length: 9\r\nConnection: close\r\n\r\n/tru"));
  assert_null(strstr(buf, "/trun"));
  close(fd);
  fd = client(&f);
  send_all(&f, fd, "GET /slow HTTP/1.1\r\n\r\n", 22);
  read_until(&f, fd, buf, sizeof buf, "/slow");
  close(fd);
  /* a hang: nothing comes; the peer's close ends it */
  fd = client(&f);
  send_all(&f, fd, "GET /hang HTTP/1.1\r\n\r\n", 22);
  for (int i = 0; i < 50; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_int_equal(read(fd, buf, sizeof buf), -1);
  assert_int_equal(errno, EAGAIN);
  assert_int_equal(httpserv_stats(f.srv).open, 1);
  close(fd);
  while (httpserv_stats(f.srv).open) uv_run(&f.loop, UV_RUN_ONCE);
  /* an answer given later, after the client half-closed: sent, then the close */
  fd = client(&f);
  send_all(&f, fd, "GET /later HTTP/1.1\r\n\r\n", 23);
  while (!f.held) uv_run(&f.loop, UV_RUN_ONCE);
  shutdown(fd, SHUT_WR);
  for (int i = 0; i < 20; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
  httpserv_response_t late = {.status = 200, .body = "late", .body_len = 4};
  httpserv_respond(f.held, &late);
  read_until(&f, fd, buf, sizeof buf, NULL);
  assert_non_null(strstr(buf, "Connection: close\r\n\r\nlate"));
  close(fd);
  while (httpserv_stats(f.srv).open) uv_run(&f.loop, UV_RUN_ONCE);
  /* one still waiting when the server closes: the answer is only freed */
  fd = client(&f);
  f.held = NULL;
  send_all(&f, fd, "GET /later HTTP/1.1\r\n\r\n", 23);
  while (!f.held) uv_run(&f.loop, UV_RUN_ONCE);
  stop(&f);
  httpserv_respond(f.held, &late);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_request_line),
    cmocka_unit_test(test_parse_headers_and_body),
    cmocka_unit_test(test_keep_alive_pipelining_head),
    cmocka_unit_test(test_refusals),
    cmocka_unit_test(test_timeouts),
    cmocka_unit_test(test_peer_cap_drops_oldest_idle),
    cmocka_unit_test(test_faults_and_later_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

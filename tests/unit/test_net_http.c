/* Loop tests for net/http against a tiny in-process HTTP server: status, Date header,
 * body, each error kind, the in-flight cap with keep-alive reuse, cancellation on close,
 * and URL masking. Every test ends with all handles closed and uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/http.h"
#include "test_net_server.h"

typedef struct fixture {
  uv_loop_t loop;
  uv_timer_t tick;
  testsrv_t srv;
  http_t *http;
  char url[256];
  int done;
  bool closed;
  http_response_t last;     /* copied; body and message kept below */
  char body[8192];
  char message[512];
  char last_method[8];
  char last_target[512];
} fixture_t;

static void handler(void *arg, const char *method, const char *target, ts_reply_t *out) {
  fixture_t *f = arg;
  snprintf(f->last_method, sizeof f->last_method, "%s", method);
  snprintf(f->last_target, sizeof f->last_target, "%s", target);
  if (strncmp(target, "/ok", 3) == 0) {
    out->body = ts_strdup("{\"code\":0,\"record\":[]}");
  } else if (strncmp(target, "/skew", 5) == 0) {
    out->body = ts_strdup("{\"code\":0}");
    out->date_offset = 3600;
  } else if (strncmp(target, "/html500", 8) == 0) {
    out->status = 500;
    out->content_type = "text/html";
    out->body = ts_strdup("<html>\n<body>\tInternal   Server Error</body></html>");
  } else if (strncmp(target, "/echo", 5) == 0 || strncmp(target, "/api/", 5) == 0) {
    /* a proxy's error page that quotes the request line, parameters and all */
    out->status = 400;
    out->content_type = "text/html";
    char page[1024];
    snprintf(page, sizeof page, "<html><body><h1>Bad Request</h1><p>%s %s HTTP/1.1</p></body></html>",
             method, target);
    out->body = ts_strdup(page);
  } else if (strncmp(target, "/big", 4) == 0) {
    out->body = malloc(5000);
    memset(out->body, 'x', 5000);
    out->body_len = 5000;
  } else if (strncmp(target, "/hang", 5) == 0) {
    out->action = TS_HANG;
  } else if (strncmp(target, "/close", 6) == 0) {
    out->action = TS_CLOSE;
  } else if (strncmp(target, "/reset", 6) == 0) {
    out->action = TS_RESET;
  } else if (strncmp(target, "/truncate", 9) == 0) {
    out->action = TS_TRUNCATE;
    out->body = ts_strdup("{\"code\":0,\"record\":\"1,2,3;4,5,6;7,8,9\"}");
  } else if (strncmp(target, "/slow", 5) == 0) {
    out->delay_ms = 30;
    out->body = ts_strdup("{\"code\":0}");
  } else {
    out->status = 404;
    out->body = ts_strdup("not found");
  }
}

static void on_tick(uv_timer_t *t) { (void)t; }

static void setup(fixture_t *f, const http_options_t *opt) {
  memset(f, 0, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  /* UV_RUN_ONCE may block in poll after the last timer fired: a tick bounds each turn */
  assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
  assert_int_equal(uv_timer_start(&f->tick, on_tick, 20, 20), 0);
  uv_unref((uv_handle_t *)&f->tick);
  assert_int_equal(testsrv_start(&f->srv, &f->loop, handler, f), 0);
  f->http = http_new(&f->loop, opt);
  assert_non_null(f->http);
}

static void on_http_closed(void *arg) { ((fixture_t *)arg)->closed = true; }

static void teardown(fixture_t *f) {
  http_close(f->http, on_http_closed, f);
  testsrv_close(&f->srv);
  uv_close((uv_handle_t *)&f->tick, NULL);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_true(f->closed);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void cb_done(void *arg, const http_response_t *res) {
  fixture_t *f = arg;
  f->done++;
  f->last = *res;
  snprintf(f->body, sizeof f->body, "%.*s", (int)res->body_len, res->body);
  snprintf(f->message, sizeof f->message, "%s", res->message);
  f->last.body = f->last.message = NULL;
}

static void run_one(fixture_t *f, api_method_t method, const char *path) {
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", f->srv.port, path);
  int before = f->done;
  assert_int_equal(http_request(f->http, method, f->url, cb_done, f), 0);
  assert_int_equal(f->done, before); /* never called from inside http_request */
  while (f->done == before) assert_int_equal(uv_run(&f->loop, UV_RUN_ONCE) >= 0, 1);
}

static void test_get_status_body_date(void **state) {
  (void)state;
  fixture_t f;
  setup(&f, NULL);
  run_one(&f, API_METHOD_GET, "/ok?imeis=1,2");
  assert_int_equal(f.last.error, HTTP_OK);
  assert_int_equal(f.last.status, 200);
  assert_string_equal(f.body, "{\"code\":0,\"record\":[]}");
  assert_int_equal(f.last.body_len, strlen(f.body));
  int64_t now = (int64_t)time(NULL);
  assert_true(f.last.date >= now - 5 && f.last.date <= now + 5);
  assert_string_equal(f.last_method, "GET");
  assert_string_equal(f.last_target, "/ok?imeis=1,2");
  run_one(&f, API_METHOD_GET, "/skew");
  assert_true(f.last.date >= now + 3595 && f.last.date <= now + 3605);
  assert_int_equal(testsrv_connections(&f.srv), 1); /* the second request reused the connection */
  teardown(&f);
}

static void test_post_keeps_query(void **state) {
  (void)state;
  fixture_t f;
  setup(&f, NULL);
  run_one(&f, API_METHOD_POST, "/ok?imei=1&efencename=a%20b");
  assert_int_equal(f.last.error, HTTP_OK);
  assert_string_equal(f.last_method, "POST");
  assert_string_equal(f.last_target, "/ok?imei=1&efencename=a%20b");
  assert_non_null(strcasestr(f.srv.last_head, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
  assert_non_null(strcasestr(f.srv.last_head, "\r\nContent-Length: 0\r\n"));
  run_one(&f, API_METHOD_GET, "/ok");
  assert_null(strcasestr(f.srv.last_head, "Content-Type"));
  teardown(&f);
}

static void test_status_error_has_sanitized_excerpt(void **state) {
  (void)state;
  fixture_t f;
  setup(&f, NULL);
  run_one(&f, API_METHOD_GET, "/html500");
  assert_int_equal(f.last.error, HTTP_ERR_STATUS);
  assert_int_equal(f.last.status, 500);
  assert_string_equal(f.message, "HTTP 500: <html> <body> Internal Server Error</body></html>");
  run_one(&f, API_METHOD_GET, "/nothing");
  assert_int_equal(f.last.error, HTTP_ERR_STATUS);
  assert_int_equal(f.last.status, 404);
  teardown(&f);
}

/* An error page that echoes the request: no secret parameter value in the message, and
 * nothing at all of the answers of the login and password endpoints. */
static void test_echoing_error_page_masked(void **state) {
  (void)state;
  fixture_t f;
  setup(&f, NULL);
  run_one(&f, API_METHOD_GET, "/echo?imeis=1&access_token=Tok3nValue&pwd=PwdValue&password_md5=Md5Value");
  assert_int_equal(f.last.error, HTTP_ERR_STATUS);
  assert_non_null(strstr(f.message, "access_token=***"));
  assert_non_null(strstr(f.message, "imeis=1"));
  assert_null(strstr(f.message, "Tok3nValue"));
  assert_null(strstr(f.message, "PwdValue"));
  assert_null(strstr(f.message, "Md5Value"));
  run_one(&f, API_METHOD_GET, "/api/authorization?time=1764650000&account=demo&signature=Sig0123456789");
  assert_int_equal(f.last.status, 400);
  assert_null(strstr(f.message, "Sig0123456789"));
  assert_null(strstr(f.message, "1764650000")); /* the body is not quoted at all */
  assert_non_null(strstr(f.message, "not shown"));
  run_one(&f, API_METHOD_POST, "/api/user/password/set?access_token=T&account=a&password=0123456789abcdef");
  assert_null(strstr(f.message, "0123456789abcdef"));
  assert_non_null(strstr(f.message, "not shown"));
  teardown(&f);
}

static void test_body_cap(void **state) {
  (void)state;
  fixture_t f;
  http_options_t opt = {.max_body = 1000};
  setup(&f, &opt);
  run_one(&f, API_METHOD_GET, "/big");
  assert_int_equal(f.last.error, HTTP_ERR_TOO_LARGE);
  assert_string_equal(f.message, "body larger than 1000 bytes");
  run_one(&f, API_METHOD_GET, "/ok"); /* the client goes on */
  assert_int_equal(f.last.error, HTTP_OK);
  teardown(&f);
}

static void test_timeout_reset_truncate_refused(void **state) {
  (void)state;
  fixture_t f;
  http_options_t opt = {.timeout_ms = 300};
  setup(&f, &opt);
  uint64_t t0 = uv_now(&f.loop);
  run_one(&f, API_METHOD_GET, "/hang");
  assert_int_equal(f.last.error, HTTP_ERR_TIMEOUT);
  assert_true(uv_now(&f.loop) - t0 >= 250 && uv_now(&f.loop) - t0 < 5000);
  assert_string_equal(f.message, "timed out after 300 ms");
  assert_false(f.last.unsent); /* the request was read: it may have been acted on */
  run_one(&f, API_METHOD_GET, "/reset");
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_true(strlen(f.message) > 0);
  assert_false(f.last.unsent);
  run_one(&f, API_METHOD_GET, "/truncate");
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_int_equal(f.last.status, 200);
  assert_false(f.last.unsent);
  run_one(&f, API_METHOD_GET, "/ok");
  assert_int_equal(f.last.error, HTTP_OK);
  /* a port nobody listens on */
  uv_tcp_t probe;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  assert_int_equal(uv_tcp_init(&f.loop, &probe), 0);
  assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&probe, NULL);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok?access_token=SECRET", port);
  int before = f.done;
  assert_int_equal(http_request(f.http, API_METHOD_GET, url, cb_done, &f), 0);
  while (f.done == before) uv_run(&f.loop, UV_RUN_ONCE);
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_null(strstr(f.message, "SECRET"));
  assert_true(f.last.unsent); /* refused: it never left */
  before = f.done;
  assert_int_equal(http_request(f.http, API_METHOD_POST, url, cb_done, &f), 0);
  while (f.done == before) uv_run(&f.loop, UV_RUN_ONCE);
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_true(f.last.unsent);
  teardown(&f);
}

/* A POST never rides a reused connection and leaves none behind, so curl has nothing to
 * resend it on: the connection dying before any answer byte costs one request, not two.
 * A GET on a reused connection that dies so is resent by curl itself (why POSTs differ). */
static void test_post_fresh_connection_sent_once(void **state) {
  (void)state;
  fixture_t f;
  setup(&f, NULL);
  run_one(&f, API_METHOD_GET, "/ok");
  assert_int_equal(testsrv_connections(&f.srv), 1);
  run_one(&f, API_METHOD_POST, "/ok");
  assert_int_equal(f.last.error, HTTP_OK);
  assert_int_equal(testsrv_connections(&f.srv), 2);
  run_one(&f, API_METHOD_POST, "/ok");
  assert_int_equal(testsrv_connections(&f.srv), 3);
  run_one(&f, API_METHOD_GET, "/ok"); /* the GET connection is still there */
  assert_int_equal(testsrv_connections(&f.srv), 3);
  int requests = testsrv_requests(&f.srv);
  run_one(&f, API_METHOD_POST, "/close");
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_false(f.last.unsent);
  assert_int_equal(testsrv_requests(&f.srv), requests + 1);
  requests = testsrv_requests(&f.srv);
  run_one(&f, API_METHOD_GET, "/close"); /* reused connection: curl resends it once */
  assert_int_equal(f.last.error, HTTP_ERR_NETWORK);
  assert_int_equal(testsrv_requests(&f.srv), requests + 2);
  teardown(&f);
}

static void test_in_flight_cap_and_reuse(void **state) {
  (void)state;
  fixture_t f;
  http_options_t opt = {.max_in_flight = 2};
  setup(&f, &opt);
  snprintf(f.url, sizeof f.url, "http://127.0.0.1:%d/slow", f.srv.port);
  for (int i = 0; i < 10; i++) assert_int_equal(http_request(f.http, API_METHOD_GET, f.url, cb_done, &f), 0);
  assert_int_equal(http_pending(f.http), 10);
  while (f.done < 10) uv_run(&f.loop, UV_RUN_ONCE);
  assert_int_equal(f.last.error, HTTP_OK);
  assert_int_equal(testsrv_requests(&f.srv), 10);
  assert_int_equal(testsrv_connections(&f.srv), 2); /* never more than 2 at once, and reused */
  assert_int_equal(http_pending(f.http), 0);
  teardown(&f);
}

static int cancelled;
static void cb_count_cancel(void *arg, const http_response_t *res) {
  (void)arg;
  if (res->error == HTTP_ERR_CANCELLED) cancelled++;
}

static void test_close_cancels_pending(void **state) {
  (void)state;
  fixture_t f;
  http_options_t opt = {.max_in_flight = 2};
  setup(&f, &opt);
  snprintf(f.url, sizeof f.url, "http://127.0.0.1:%d/hang", f.srv.port);
  cancelled = 0;
  for (int i = 0; i < 5; i++) assert_int_equal(http_request(f.http, API_METHOD_GET, f.url, cb_count_cancel, &f), 0);
  for (int i = 0; i < 20 && testsrv_requests(&f.srv) < 2; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
  while (testsrv_requests(&f.srv) < 2) uv_run(&f.loop, UV_RUN_ONCE);
  http_close(f.http, on_http_closed, &f);
  assert_int_equal(cancelled, 5);
  testsrv_close(&f.srv);
  uv_close((uv_handle_t *)&f.tick, NULL);
  assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  assert_true(f.closed);
  assert_int_equal(uv_loop_close(&f.loop), 0);
}

static void test_url_mask(void **state) {
  (void)state;
  char out[256];
  http_url_mask("https://h/api/track?access_token=abc123&imeis=1,2", out, sizeof out);
  assert_string_equal(out, "https://h/api/track?access_token=***&imeis=1,2");
  http_url_mask("https://h/api/authorization?time=1&account=a%20b&signature=deadbeef", out, sizeof out);
  assert_string_equal(out, "https://h/api/authorization?time=1&account=a%20b&signature=***");
  http_url_mask("https://h/api/x", out, sizeof out);
  assert_string_equal(out, "https://h/api/x");
  http_url_mask("https://h/api/x?password=p&Access_Token=t", out, sizeof out);
  assert_string_equal(out, "https://h/api/x?password=***&Access_Token=***");
}

/* libcurl's global state, as main sets it up. */
static int curl_setup(void **state) {
  (void)state;
  return http_global_init();
}

static int curl_teardown(void **state) {
  (void)state;
  http_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_get_status_body_date),
    cmocka_unit_test(test_post_keeps_query),
    cmocka_unit_test(test_status_error_has_sanitized_excerpt),
    cmocka_unit_test(test_echoing_error_page_masked),
    cmocka_unit_test(test_body_cap),
    cmocka_unit_test(test_timeout_reset_truncate_refused),
    cmocka_unit_test(test_post_fresh_connection_sent_once),
    cmocka_unit_test(test_in_flight_cap_and_reuse),
    cmocka_unit_test(test_close_cancels_pending),
    cmocka_unit_test(test_url_mask),
  };
  return cmocka_run_group_tests(tests, curl_setup, curl_teardown);
}

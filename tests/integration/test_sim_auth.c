/* The simulator's account rules: signature, request time, token lifetime and
 * replacement, blocking, password change, and the --limits spacing (10009). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/sign.h"
#include "sim_client.h"

static sc_t sim;

static int setup_sim(void **state) {
  (void)state;
  const char *args[] = {"--devices", "30", "--seed", "11", NULL};
  return sc_start(&sim, args);
}

static int teardown_sim(void **state) {
  (void)state;
  return sc_stop(&sim) == 0 ? 0 : -1;
}

/* The first direct sub-account of the root, into name. */
static void first_subaccount(sc_t *c, char *name, size_t n) {
  cJSON *j = sc_getf(c, "/api/user/list");
  assert_int_equal(sc_code(j), 0);
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
  assert_true(cJSON_GetArraySize(rec) > 0);
  const cJSON *acc = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rec, 0), "account");
  assert_true(cJSON_IsString(acc));
  snprintf(name, n, "%s", acc->valuestring);
  cJSON_Delete(j);
}

static void test_login(void **state) {
  (void)state;
  long long t = (long long)time(NULL);
  char sig[33], path[256];
  assert_int_equal(sc_signature_at(sim.sim.password, t, sig), 0);
  snprintf(path, sizeof path, "/api/authorization?time=%lld&account=%s&signature=%s", t,
           sim.sim.account, sig);
  cJSON *j = sc_call(&sim, "GET", path, NULL);
  assert_int_equal(sc_code(j), 0);
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(rec, "access_token");
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rec, "expires_in");
  assert_true(cJSON_IsString(tok));
  assert_int_equal(strlen(tok->valuestring), 32);
  assert_int_equal(exp->valueint, 7200);
  cJSON_Delete(j);
  /* upper-case signatures are the same md5 */
  for (char *p = sig; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
  snprintf(path, sizeof path, "/api/authorization?time=%lld&account=%s&signature=%s", t,
           sim.sim.account, sig);
  assert_int_equal(sc_get_code(&sim, "%s", path), 0);
}

static void test_bad_credentials_and_time(void **state) {
  (void)state;
  sim.token[0] = '\0';
  assert_int_equal(sc_login_at(&sim, sim.sim.account, "wrong-password", 0), 20001);
  assert_int_equal(sc_login_at(&sim, "no-such-account", sim.sim.password, 0), 20001);
  assert_int_equal(sc_login_at(&sim, sim.sim.account, sim.sim.password, -400), 10014);
  assert_int_equal(sc_login_at(&sim, sim.sim.account, sim.sim.password, 400), 10014);
  assert_int_equal(sc_login_at(&sim, sim.sim.account, sim.sim.password, -200), 0);
  assert_int_equal(sc_get_code(&sim, "/api/authorization?time=1&account=demo"), 10005);
  assert_int_equal(sc_get_code(&sim, "/api/authorization?time=abc&account=demo&signature=x"), 10004);
}

static void test_tokens(void **state) {
  (void)state;
  assert_int_equal(sc_login(&sim), 0);
  char first[64];
  snprintf(first, sizeof first, "%s", sim.token);
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 0);
  assert_int_equal(sc_login(&sim), 0);
  assert_string_not_equal(first, sim.token);
  char second[64];
  snprintf(second, sizeof second, "%s", sim.token);
  /* the old token is invalid at once, the new one works */
  snprintf(sim.token, sizeof sim.token, "%s", first);
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 10011);
  snprintf(sim.token, sizeof sim.token, "%s", second);
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 0);
  /* made-up and missing tokens */
  snprintf(sim.token, sizeof sim.token, "0123456789abcdef0123456789abcdef");
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 10010);
  snprintf(sim.token, sizeof sim.token, "nothex");
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 10010);
  sim.token[0] = '\0';
  assert_int_equal(sc_get_code(&sim, "/api/user/list"), 10005);
  cJSON *j = sc_getf(&sim, "/api/user/list");
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
  assert_string_equal(msg->valuestring, "Missing required parameter");
  cJSON_Delete(j);
}

static void test_token_expiry(void **state) {
  (void)state;
  sc_t s2;
  const char *args[] = {"--devices", "5", "--token-ttl", "2", NULL};
  assert_int_equal(sc_start(&s2, args), 0);
  assert_int_equal(sc_login(&s2), 0);
  cJSON *j = sc_getf(&s2, "/api/user/list");
  assert_int_equal(sc_code(j), 0);
  cJSON_Delete(j);
  sleep(3);
  assert_int_equal(sc_get_code(&s2, "/api/user/list"), 10012);
  j = sc_getf(&s2, "/api/user/info?account=%s", s2.sim.account);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "message")->valuestring,
                      "Access token is out of date");
  cJSON_Delete(j);
  assert_int_equal(sc_login(&s2), 0);
  assert_int_equal(sc_get_code(&s2, "/api/user/list"), 0);
  assert_int_equal(sc_stop(&s2), 0);
}

static void test_clock_skew(void **state) {
  (void)state;
  sc_t s2;
  const char *args[] = {"--devices", "5", "--clock-skew", "3600", NULL};
  assert_int_equal(sc_start(&s2, args), 0);
  assert_int_equal(sc_login_at(&s2, s2.sim.account, s2.sim.password, 0), 10014);
  assert_int_equal(sc_login_at(&s2, s2.sim.account, s2.sim.password, 3600), 0);
  assert_int_equal(sc_stop(&s2), 0);
}

static void test_block_unblock_and_password(void **state) {
  (void)state;
  assert_int_equal(sc_login(&sim), 0);
  char sub[128], root_token[64], md5[33];
  first_subaccount(&sim, sub, sizeof sub);
  snprintf(root_token, sizeof root_token, "%s", sim.token);
  /* give the sub-account a password we know */
  assert_int_equal(api_md5_hex("Sub@pass1", 9, md5), 0);
  cJSON *j = sc_call(&sim, "POST", "/api/user/password/set", NULL); /* no token */
  assert_int_equal(sc_code(j), 10005);
  cJSON_Delete(j);
  char form[512];
  snprintf(form, sizeof form, "access_token=%s&account=%s&password=%s", root_token, sub, md5);
  j = sc_call(&sim, "POST", "/api/user/password/set", form);
  assert_int_equal(sc_code(j), 0);
  cJSON_Delete(j);
  sc_t other = sim; /* same simulator, a second session */
  other.curl = curl_easy_init();
  other.body = NULL;
  assert_int_equal(sc_login_at(&other, sub, "Sub@pass1", 0), 0);
  /* block: login refused with 10016, the sub's token too, info shows blockstatus 0 */
  assert_int_equal(sc_get_code(&sim, "/api/user/block?account=%s", sub), 0);
  assert_int_equal(sc_get_code(&other, "/api/user/list"), 10016);
  assert_int_equal(sc_login_at(&other, sub, "Sub@pass1", 0), 10016);
  j = sc_getf(&sim, "/api/user/info?account=%s", sub);
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(rec, "blockstatus")->valueint, 0);
  cJSON_Delete(j);
  /* a wrong password still says 20001 on a blocked account */
  assert_int_equal(sc_login_at(&other, sub, "nope", 0), 20001);
  assert_int_equal(sc_get_code(&sim, "/api/user/unblock?account=%s", sub), 0);
  assert_int_equal(sc_login_at(&other, sub, "Sub@pass1", 0), 0);
  /* a sub-account may not block its parent; the root not itself; unknown account */
  assert_int_equal(sc_get_code(&other, "/api/user/block?account=%s", sim.sim.account), 10007);
  assert_int_equal(sc_get_code(&sim, "/api/user/block?account=%s", sim.sim.account), 10007);
  assert_int_equal(sc_get_code(&sim, "/api/user/block?account=no-such-one"), 20005);
  assert_int_equal(sc_get_code(&sim, "/api/user/block"), 10005);
  /* password set: the old password stops working, the new one works */
  assert_int_equal(api_md5_hex("Sub@pass2", 9, md5), 0);
  assert_int_equal(sc_get_code(&sim, "/api/user/password/set?account=%s&password=%s", sub, md5), 0);
  assert_int_equal(sc_login_at(&other, sub, "Sub@pass1", 0), 20001);
  assert_int_equal(sc_login_at(&other, sub, "Sub@pass2", 0), 0);
  assert_int_equal(sc_get_code(&sim, "/api/user/password/set?account=%s&password=xyz", sub), 10004);
  curl_easy_cleanup(other.curl);
  free(other.body);
}

static void test_rate_limits(void **state) {
  (void)state;
  sc_t s2;
  const char *args[] = {"--devices", "5", "--limits", "user/list=1s,authorization=2s,default=0ms",
                        NULL};
  assert_int_equal(sc_start(&s2, args), 0);
  assert_int_equal(sc_login(&s2), 0);
  assert_int_equal(sc_login(&s2), 10009); /* authorization spacing, per account */
  assert_int_equal(sc_get_code(&s2, "/api/user/list"), 0);
  usleep(500000);
  assert_int_equal(sc_get_code(&s2, "/api/user/list"), 10009);
  /* other endpoints are not limited (default=0ms) */
  assert_int_equal(sc_get_code(&s2, "/api/user/info?account=%s", s2.sim.account), 0);
  assert_int_equal(sc_get_code(&s2, "/api/user/info?account=%s", s2.sim.account), 0);
  /* the refused call did not count: 1.05 s after the accepted one is enough */
  usleep(550000);
  assert_int_equal(sc_get_code(&s2, "/api/user/list"), 0);
  cJSON *st = sc_stats(&s2);
  assert_int_equal((int)sc_stat(st, "responses", "10009"), 2);
  cJSON_Delete(st);
  assert_int_equal(sc_stop(&s2), 0);
}

/* Tokens are random per start: two simulators of the same seed do not accept each
 * other's tokens (10010 both ways), as two real hosts would not. --token-seed makes them
 * reproducible: the same seed gives the same first token. */
static void test_tokens_per_simulator(void **state) {
  (void)state;
  sc_t a, b;
  const char *args[] = {"--devices", "5", "--seed", "11", NULL};
  assert_int_equal(sc_start(&a, args), 0);
  assert_int_equal(sc_start(&b, args), 0);
  assert_int_equal(sc_login(&a), 0);
  assert_int_equal(sc_login(&b), 0);
  assert_string_not_equal(a.token, b.token);
  char ta[64], tb[64];
  snprintf(ta, sizeof ta, "%s", a.token);
  snprintf(tb, sizeof tb, "%s", b.token);
  snprintf(a.token, sizeof a.token, "%s", tb);
  assert_int_equal(sc_get_code(&a, "/api/user/list"), 10010);
  snprintf(b.token, sizeof b.token, "%s", ta);
  assert_int_equal(sc_get_code(&b, "/api/user/list"), 10010);
  snprintf(a.token, sizeof a.token, "%s", ta);
  assert_int_equal(sc_get_code(&a, "/api/user/list"), 0);
  assert_int_equal(sc_stop(&a), 0);
  assert_int_equal(sc_stop(&b), 0);
  const char *fixed[] = {"--devices", "5", "--seed", "11", "--token-seed", "42", NULL};
  assert_int_equal(sc_start(&a, fixed), 0);
  assert_int_equal(sc_start(&b, fixed), 0);
  assert_int_equal(sc_login(&a), 0);
  assert_int_equal(sc_login(&b), 0);
  assert_string_equal(a.token, b.token);
  assert_int_equal(sc_stop(&a), 0);
  assert_int_equal(sc_stop(&b), 0);
  const char *bad[] = {"--devices", "5", "--token-seed", "x", NULL};
  assert_int_equal(sc_start(&a, bad), -1);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_login),
    cmocka_unit_test(test_bad_credentials_and_time),
    cmocka_unit_test(test_tokens),
    cmocka_unit_test(test_tokens_per_simulator),
    cmocka_unit_test(test_token_expiry),
    cmocka_unit_test(test_clock_skew),
    cmocka_unit_test(test_block_unblock_and_password),
    cmocka_unit_test(test_rate_limits),
  };
  int rc = cmocka_run_group_tests_name("sim_auth", tests, setup_sim, teardown_sim);
  curl_global_cleanup();
  return rc ? 1 : 0;
}

/* Unit tests for the codec's request builders: parameters, percent-encoding, the
 * spec's limits, the token added at send time, and masking of secrets for logs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"

static const char *const imeis2[] = {"358899051025339", "355139000000234"};

static void test_authorization_signature_and_no_token(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(
      api_request_authorization(&req, "test", "9d591136280b3ec563e3062dbb6f915b", 1556243443),
      0);
  assert_int_equal(req.endpoint, API_EP_AUTHORIZATION);
  assert_int_equal(req.method, API_METHOD_GET);
  assert_false(req.needs_token);
  assert_string_equal(req.params,
                      "time=1556243443&account=test&signature=3844afd2c3bf68f0f3f4aa0a9ee8ee6c");
  buf_t q = BUF_INIT;
  assert_int_equal(api_request_query(&req, NULL, &q), 0);
  assert_string_equal(q.data, req.params);
  buf_reset(&q);
  assert_int_equal(api_request_url(&req, "https://api.mygps.mu/", NULL, &q), 0);
  assert_string_equal(q.data, "https://api.mygps.mu/api/authorization?time=1556243443&"
                              "account=test&signature=3844afd2c3bf68f0f3f4aa0a9ee8ee6c");
  buf_free(&q);
  /* Masked for logs: the signature never shows. */
  buf_t d = BUF_INIT;
  assert_int_equal(api_request_describe(&req, &d), 0);
  assert_string_equal(d.data, "GET /api/authorization?time=1556243443&account=test&signature=***");
  assert_null(strstr(d.data, "3844afd2"));
  buf_free(&d);
  api_request_free(&req);
  assert_null(req.params);
  api_request_free(NULL);
  /* Upper-case md5 input signs the same. */
  assert_int_equal(
      api_request_authorization(&req, "test", "9D591136280B3EC563E3062DBB6F915B", 1556243443),
      0);
  assert_non_null(strstr(req.params, "signature=3844afd2c3bf68f0f3f4aa0a9ee8ee6c"));
  api_request_free(&req);
  assert_int_equal(api_request_authorization(&req, "test", "Abc@34590", 1), -EINVAL);
  assert_int_equal(api_request_authorization(&req, "", "9d591136280b3ec563e3062dbb6f915b", 1),
                   -EINVAL);
  assert_null(req.params);
}

static void test_track_token_prepended_and_masked(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(api_request_track(&req, imeis2, 2), 0);
  assert_true(req.needs_token);
  assert_string_equal(req.params, "imeis=358899051025339%2C355139000000234");
  buf_t q = BUF_INIT;
  assert_int_equal(api_request_query(&req, NULL, &q), -EINVAL);
  assert_int_equal(api_request_query(&req, "", &q), -EINVAL);
  assert_int_equal(api_request_query(&req, "tok+en/1=", &q), 0);
  assert_string_equal(q.data, "access_token=tok%2Ben%2F1%3D&imeis=358899051025339%2C355139000000234");
  buf_free(&q);
  buf_t d = BUF_INIT;
  assert_int_equal(api_request_describe(&req, &d), 0);
  assert_string_equal(d.data, "GET /api/track?access_token=***&imeis=358899051025339%2C355139000000234");
  buf_free(&d);
  api_request_free(&req);
}

static void test_imei_limits(void **state) {
  (void)state;
  static char store[101][16];
  const char *many[101];
  for (int i = 0; i < 101; i++) {
    snprintf(store[i], sizeof store[i], "35889905%07d", i);
    many[i] = store[i];
  }
  api_request_t req = {0};
  assert_int_equal(api_request_track(&req, many, 0), -EINVAL);
  assert_int_equal(api_request_track(&req, many, 101), -EINVAL);
  assert_int_equal(api_request_device_detail(&req, many, 101), -EINVAL);
  assert_int_equal(api_request_mileage(&req, many, 101, 1631721600, 1631808000), -EINVAL);
  assert_null(req.params);
  assert_int_equal(api_request_track(&req, many, 100), 0);
  assert_int_equal(strlen(req.params), strlen("imeis=") + 100 * 15 + 99 * 3);
  api_request_free(&req);
  assert_int_equal(api_request_device_detail(&req, many, 100), 0);
  assert_int_equal(req.endpoint, API_EP_DEVICE_DETAIL);
  api_request_free(&req);
  /* Not digits, empty, too long. */
  const char *bad[] = {"35889905102533X"};
  assert_int_equal(api_request_track(&req, bad, 1), -EINVAL);
  const char *empty[] = {""};
  assert_int_equal(api_request_track(&req, empty, 1), -EINVAL);
  const char *longer[] = {"123456789012345678901"};
  assert_int_equal(api_request_track(&req, longer, 1), -EINVAL);
  /* Leading zeros are kept. */
  const char *zeros[] = {"000000000000001"};
  assert_int_equal(api_request_track(&req, zeros, 1), 0);
  assert_string_equal(req.params, "imeis=000000000000001");
  api_request_free(&req);
}

static void test_playback_and_alarms(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(api_request_playback(&req, "358899051025339", 1406746394, 1407746394), 0);
  assert_int_equal(req.endpoint, API_EP_PLAYBACK);
  assert_string_equal(req.params, "imei=358899051025339&begintime=1406746394&endtime=1407746394");
  api_request_free(&req);
  assert_int_equal(api_request_alarm_list(&req, "358899051025339", 1406746394, 1407746394), 0);
  assert_int_equal(req.endpoint, API_EP_ALARM_LIST);
  assert_string_equal(req.params, "imei=358899051025339&begintime=1406746394&endtime=1407746394");
  api_request_free(&req);
  assert_int_equal(api_request_playback(&req, "358899051025339", 20, 10), -EINVAL);
  assert_int_equal(api_request_playback(&req, "358899051025339", -1, 10), -EINVAL);
  assert_int_equal(api_request_alarm_list(&req, "35889905102533a", 1, 10), -EINVAL);
}

static void test_mileage_alignment_and_span(void **state) {
  (void)state;
  const char *four[] = {"351000091413001", "351000091413002", "351000091413003",
                        "351000091413004"};
  api_request_t req = {0};
  assert_int_equal(api_request_mileage(&req, four, 4, 1631721600, 1631808000), 0);
  assert_string_equal(req.params,
                      "imeis=351000091413001%2C351000091413002%2C351000091413003%2C351000091413004"
                      "&begintime=1631721600&endtime=1631808000");
  assert_int_equal(req.endpoint, API_EP_DEVICE_MILEAGE);
  api_request_free(&req);
  /* 01:30 and 02:00 are aligned; 01:15 is not; neither is 01:30:01. */
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600 + 5400, 1631721600 + 7200), 0);
  api_request_free(&req);
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600 + 900, 1631808000), -EINVAL);
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600, 1631808000 + 1), -EINVAL);
  /* end <= begin, more than 7 days. */
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600, 1631721600), -EINVAL);
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600, 1631721600 - 1800), -EINVAL);
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600, 1631721600 + 7 * 86400), 0);
  api_request_free(&req);
  assert_int_equal(api_request_mileage(&req, four, 1, 1631721600, 1631721600 + 7 * 86400 + 1800),
                   -EINVAL);
  assert_null(req.params);
}

static void test_geofence_encoding_and_limits(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "Zürich Süd & Co", 2,
                                               113.97196, -22.56861, 300),
                   0);
  assert_int_equal(req.method, API_METHOD_POST);
  assert_string_equal(req.params, "imei=358899051025339&efencename=Z%C3%BCrich%20S%C3%BCd%20%26%20Co"
                                  "&alarmtype=2&longitude=113.97196&latitude=-22.56861&radius=300");
  api_request_free(&req);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 0, 0, 0, 100), 0);
  assert_non_null(strstr(req.params, "longitude=0&latitude=0&radius=100"));
  api_request_free(&req);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 0, 1, 1, 99), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 0, 1, 1, 5001), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 3, 1, 1, 300), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", -1, 1, 1, 300), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 0, 181, 1, 300), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "home", 0, 1, 91, 300), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "", 0, 1, 1, 300), -EINVAL);
  assert_int_equal(api_request_geofence_create(&req, "358899051025339", "bad\xff", 0, 1, 1, 300), -EINVAL);
  assert_null(req.params);
}

static void test_commands(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(api_request_command_send(&req, "358899051025339", "RELAY,1", NULL), 0);
  assert_string_equal(req.params, "imei=358899051025339&command=RELAY%2C1");
  assert_int_equal(req.endpoint, API_EP_COMMAND_SEND);
  api_request_free(&req);
  assert_int_equal(api_request_command_send(&req, "358899051025339", "SET_MILEAGE",
                                            "{\"mileage\":\"30\"}"),
                   0);
  assert_string_equal(req.params, "imei=358899051025339&command=SET_MILEAGE"
                                  "&paramData=%7B%22mileage%22%3A%2230%22%7D");
  api_request_free(&req);
  const char *ok[] = {"RELAY,0", "RESET", "LOCKDOOR", "UNLOCKDOOR"};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(api_request_command_send(&req, "358899051025339", ok[i], NULL), 0);
    api_request_free(&req);
  }
  assert_int_equal(api_request_command_send(&req, "358899051025339", "SET_MILEAGE", NULL), -EINVAL);
  assert_int_equal(api_request_command_send(&req, "358899051025339", "RESET", "{}"), -EINVAL);
  assert_int_equal(api_request_command_send(&req, "358899051025339", "relay,1", NULL), -EINVAL);
  assert_int_equal(api_request_command_send(&req, "358899051025339", "REBOOT", NULL), -EINVAL);
  assert_int_equal(api_request_command_query(&req, "1B454"), 0);
  assert_string_equal(req.params, "commandid=1B454");
  assert_int_equal(req.endpoint, API_EP_COMMAND_QUERY);
  api_request_free(&req);
  assert_int_equal(api_request_command_query(&req, ""), -EINVAL);
}

static void test_accounts(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(api_request_device_list(&req, NULL), 0);
  assert_string_equal(req.params, "");
  buf_t q = BUF_INIT;
  assert_int_equal(api_request_query(&req, "T", &q), 0);
  assert_string_equal(q.data, "access_token=T");
  buf_free(&q);
  api_request_free(&req);
  assert_int_equal(api_request_device_list(&req, "demo"), 0);
  assert_string_equal(req.params, "account=demo");
  api_request_free(&req);
  assert_int_equal(api_request_user_list(&req, NULL), 0);
  assert_int_equal(req.endpoint, API_EP_USER_LIST);
  api_request_free(&req);
  assert_int_equal(api_request_user_info(&req, "a b"), 0);
  assert_string_equal(req.params, "account=a%20b");
  assert_int_equal(req.endpoint, API_EP_USER_INFO);
  api_request_free(&req);
  assert_int_equal(api_request_user_block(&req, "demo"), 0);
  assert_int_equal(req.endpoint, API_EP_USER_BLOCK);
  assert_int_equal(req.method, API_METHOD_POST);
  api_request_free(&req);
  assert_int_equal(api_request_user_unblock(&req, "demo"), 0);
  assert_int_equal(req.endpoint, API_EP_USER_UNBLOCK);
  api_request_free(&req);
  assert_int_equal(api_request_user_info(&req, NULL), -EINVAL);
  assert_int_equal(api_request_user_block(&req, ""), -EINVAL);
}

static void test_password_set_masked(void **state) {
  (void)state;
  api_request_t req = {0};
  assert_int_equal(
      api_request_user_password_set(&req, "monitorcenter", "9D591136280B3EC563E3062DBB6F915B"), 0);
  assert_string_equal(req.params, "account=monitorcenter&password=9d591136280b3ec563e3062dbb6f915b");
  buf_t d = BUF_INIT;
  assert_int_equal(api_request_describe(&req, &d), 0);
  assert_string_equal(d.data,
                      "POST /api/user/password/set?access_token=***&account=monitorcenter&password=***");
  buf_free(&d);
  api_request_free(&req);
  assert_int_equal(api_request_user_password_set(&req, "monitorcenter", "Abc@34590"), -EINVAL);
}

static void test_message_limits_in_code_points(void **state) {
  (void)state;
  api_request_t req = {0};
  const char *to[] = {"test", "name"};
  assert_int_equal(api_request_message_send(&req, to, 2, "Hello"), 0);
  assert_string_equal(req.params, "accounts=test%2Cname&content=Hello");
  api_request_free(&req);
  /* 300 two-byte characters (600 bytes) fit; 301 ASCII characters do not. */
  char text[1024];
  for (int i = 0; i < 300; i++) memcpy(text + 2 * i, "\xc3\xbc", 2);
  text[600] = '\0';
  assert_int_equal(api_request_message_send(&req, to, 1, text), 0);
  api_request_free(&req);
  for (int i = 0; i < 100; i++) memcpy(text + 3 * i, "\xe2\x82\xac", 3); /* 100 euro signs */
  memset(text + 300, 'a', 200);
  text[500] = '\0';
  assert_int_equal(api_request_message_send(&req, to, 1, text), 0);
  api_request_free(&req);
  memset(text, 'a', 301);
  text[301] = '\0';
  assert_int_equal(api_request_message_send(&req, to, 1, text), -EINVAL);
  text[300] = '\0';
  assert_int_equal(api_request_message_send(&req, to, 1, text), 0);
  api_request_free(&req);
  /* Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong. */
  assert_int_equal(api_request_message_send(&req, to, 1, "a\x80"), -EINVAL);
  assert_int_equal(api_request_message_send(&req, to, 1, "a\xc3"), -EINVAL);
  assert_int_equal(api_request_message_send(&req, to, 1, "\xc0\xaf"), -EINVAL);
  assert_int_equal(api_request_message_send(&req, to, 1, ""), -EINVAL);
  /* 200 accounts fit, 201 do not; an account holding ',' cannot be listed. */
  const char *many[201];
  for (int i = 0; i < 201; i++) many[i] = "acct";
  assert_int_equal(api_request_message_send(&req, many, 201, "x"), -EINVAL);
  assert_int_equal(api_request_message_send(&req, many, 200, "x"), 0);
  api_request_free(&req);
  const char *comma[] = {"a,b"};
  assert_int_equal(api_request_message_send(&req, comma, 1, "x"), -EINVAL);
  assert_null(req.params);
}

static void test_utf8_validator(void **state) {
  (void)state;
  size_t n = 0;
  assert_true(api_utf8_valid("Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x9a\x97", 16, &n));
  assert_int_equal(n, 10);
  assert_false(api_utf8_valid("\xed\xa0\x80", 3, NULL));     /* surrogate */
  assert_false(api_utf8_valid("\xf4\x90\x80\x80", 4, NULL)); /* > U+10FFFF */
  assert_false(api_utf8_valid("\xe0\x80\xaf", 3, NULL));     /* overlong */
  assert_false(api_utf8_valid("\xf0\x9f\x9a", 3, NULL));     /* cut */
  assert_false(api_utf8_valid("\xfe", 1, NULL));
  assert_true(api_utf8_valid("", 0, &n));
  assert_int_equal(n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_authorization_signature_and_no_token),
    cmocka_unit_test(test_track_token_prepended_and_masked),
    cmocka_unit_test(test_imei_limits),
    cmocka_unit_test(test_playback_and_alarms),
    cmocka_unit_test(test_mileage_alignment_and_span),
    cmocka_unit_test(test_geofence_encoding_and_limits),
    cmocka_unit_test(test_commands),
    cmocka_unit_test(test_accounts),
    cmocka_unit_test(test_password_set_masked),
    cmocka_unit_test(test_message_limits_in_code_points),
    cmocka_unit_test(test_utf8_validator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

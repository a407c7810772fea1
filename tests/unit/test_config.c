/* Unit tests for config/config: exact FILE:LINE:COLUMN messages, defaults, secrets kept
 * out of errors and output, ${VAR} expansion, password files, the reload diff, and
 * conf/fleetarc.yaml against the key table (every key, its default, its "(restart)"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <yaml.h>

#include "config/config.h"
#include "util/grow.h"

#define MD5_ABC "9d591136280b3ec563e3062dbb6f915b" /* md5("Abc@34590"), spec 2.16 */
#define HEAD "api:\n  base_url: https://api.mygps.mu\n"
#define ACCOUNT "accounts:\n  - account: demo\n    password_md5: " MD5_ABC "\n"

static buf_t errors = BUF_INIT;

/* Loads text as "t.yaml"; returns the config (NULL on failure, errors in `errors`). */
static config_t *load(const char *text) {
  config_t *cfg = (config_t *)(uintptr_t)1;
  buf_reset(&errors);
  int rc = config_load_string(text, strlen(text), "t.yaml", &cfg, &errors);
  if (rc == 0) {
    assert_non_null(cfg);
    assert_int_equal(errors.len, 0);
  } else {
    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    assert_true(errors.len > 0);
  }
  return cfg;
}

static void expect_error(const char *text, const char *message) {
  config_t *cfg = load(text);
  if (cfg) {
    config_free(cfg);
    fail_msg("loaded, expected: %s", message);
  }
  if (!strstr(errors.data, message)) fail_msg("errors:\n%s\nlack:\n%s", errors.data, message);
}

static void expect_only_error(const char *text, const char *line) {
  expect_error(text, line);
  char full[1024];
  snprintf(full, sizeof full, "%s\n", line);
  assert_string_equal(errors.data, full);
}

static void test_typo_key_has_line_column_path(void **state) {
  (void)state;
  expect_only_error(HEAD "  rate_limits:\n    default: 2s\n    playbak: 12s\n" ACCOUNT,
                    "t.yaml:5:5: key 'api.rate_limits.playbak': unknown key (expected one of: default, "
                    "authorization, track, playback, geofence/create, command/send, command/query, "
                    "device/list, alarm/list, user/block, user/unblock, user/info, device/detail, "
                    "message/send, device/mileage, user/list, user/password/set; did you mean 'playback'?)");
  expect_only_error(HEAD "  timout: 5s\n" ACCOUNT,
                    "t.yaml:3:3: key 'api.timout': unknown key (expected one of: base_url, rate_limits, "
                    "timeout, ca_file, max_in_flight, max_body_bytes, global_rate, retry, token_dir; did you "
                    "mean "
                    "'timeout'?)");
  /* far from every key: no suggestion */
  expect_only_error(HEAD ACCOUNT "plugins: {}\n",
                    "t.yaml:6:1: key 'plugins': unknown key (expected one of: api, accounts, database, "
                    "archive, log, metrics, retention, reports, console, cluster)");
}

static void test_errors_in_file_order_and_capped(void **state) {
  (void)state;
  /* the walk finds api.timout before the rate_limits key; the report is in file order */
  expect_error(HEAD "  rate_limits:\n    trak: 1s\n  timout: 5s\n" ACCOUNT, "t.yaml:4:5: key 'api.rate_limits.trak'");
  const char *first = strstr(errors.data, "t.yaml:4:5:"), *second = strstr(errors.data, "t.yaml:5:3: key 'api.timout'");
  assert_non_null(second);
  assert_ptr_equal(first, errors.data);

  buf_t text = BUF_INIT;
  assert_int_equal(buf_puts(&text, HEAD ACCOUNT), 0);
  for (int i = 0; i < 25; i++) assert_int_equal(buf_printf(&text, "extra%d: 1\n", i), 0);
  expect_error(text.data, "t.yaml:6:1: key 'extra0': unknown key");
  assert_non_null(strstr(errors.data, "t.yaml:25:1: key 'extra19': unknown key"));
  assert_null(strstr(errors.data, "extra20"));
  const char *tail = "\nt.yaml: 5 more errors not shown\n";
  assert_string_equal(errors.data + errors.len - strlen(tail), tail);
  buf_free(&text);
}

static void test_wrong_type(void **state) {
  (void)state;
  expect_only_error("api: [1, 2]\n" ACCOUNT, "t.yaml:1:6: key 'api': expected a mapping, got a list");
  expect_only_error(HEAD "  timeout: [30s]\n" ACCOUNT,
                    "t.yaml:3:12: key 'api.timeout': expected a duration (e.g. 30s), got a list");
  expect_only_error(HEAD "accounts:\n  account: demo\n",
                    "t.yaml:4:3: key 'accounts': expected a list (- account: NAME ...), got a mapping");
  expect_only_error(HEAD ACCOUNT "    subaccounts: yes\n",
                    "t.yaml:6:18: key 'accounts[0].subaccounts': expected true or false, got 'yes'");
  expect_only_error(HEAD "  max_in_flight: 16.5\n" ACCOUNT,
                    "t.yaml:3:18: key 'api.max_in_flight': '16.5' is not an integer");
  expect_only_error(HEAD "  max_in_flight: 0\n" ACCOUNT,
                    "t.yaml:3:18: key 'api.max_in_flight': 0 out of range (1 to 1024)");
  expect_only_error("[1]\n", "t.yaml:1:1: the configuration must be a mapping (api:, accounts:, ...), got a list");
}

static void test_bad_duration(void **state) {
  (void)state;
  expect_only_error(HEAD "  timeout: 30\n" ACCOUNT,
                    "t.yaml:3:12: key 'api.timeout': bad duration '30': missing unit (a duration needs "
                    "one of d, h, m, s, ms: e.g. 30s)");
  expect_only_error(HEAD "  timeout: 2h\n" ACCOUNT,
                    "t.yaml:3:12: key 'api.timeout': duration '2h' out of range (1s to 1h)");
  expect_only_error(HEAD ACCOUNT "archive:\n  lookback: 1.5d\n",
                    "t.yaml:7:13: key 'archive.lookback': bad duration '1.5d': fractions are not "
                    "supported (write 1h30m, not 1.5h)");
  expect_only_error(HEAD ACCOUNT "archive:\n  alarm_idle_interval: 30s\n",
                    "t.yaml:7:24: key 'archive.alarm_idle_interval': duration '30s' out of range (1m to 30d)");
  expect_only_error(HEAD ACCOUNT "archive:\n  gap_max_attempts: 101\n",
                    "t.yaml:7:21: key 'archive.gap_max_attempts': 101 out of range (0 to 100)");
  expect_only_error(HEAD ACCOUNT "archive:\n  give_up_after: 500ms\n",
                    "t.yaml:7:18: key 'archive.give_up_after': duration '500ms' out of range (1s to 1d)");
}

static void test_bad_password_md5_not_echoed(void **state) {
  (void)state;
  const char *secret = "9d591136280b3ec563e3062dbb6f915";  /* 31 digits */
  char text[512];
  snprintf(text, sizeof text, HEAD "accounts:\n  - account: demo\n    password_md5: %s\n", secret);
  expect_only_error(text, "t.yaml:5:19: key 'accounts[0].password_md5': not 32 hex digits (the md5 of the password)");
  assert_null(strstr(errors.data, secret));
  assert_null(strstr(errors.data, "915"));
  /* nor a password of a wrong type, nor the values of two passwords given at once */
  expect_only_error(HEAD "accounts:\n  - account: demo\n    password: s3cr3t-pw\n    password_md5: " MD5_ABC "\n",
                    "t.yaml:6:5: key 'accounts[0]': give only one of password, password_md5 and password_file");
  assert_null(strstr(errors.data, "s3cr3t"));
  expect_only_error(HEAD "accounts:\n  - account: demo\n    password: \"\"\n",
                    "t.yaml:5:15: key 'accounts[0].password': empty password");
  expect_only_error(HEAD "accounts:\n  - account: demo\n",
                    "t.yaml:4:5: key 'accounts[0]': needs one of password, password_md5 or password_file");
}

static void test_password_and_md5_stored_as_md5(void **state) {
  (void)state;
  config_t *cfg = load(HEAD "accounts:\n  - account: a\n    password: Abc@34590\n"
                            "  - account: b\n    password_md5: 9D591136280B3EC563E3062DBB6F915B\n"
                            "    subaccounts: false\n");
  assert_non_null(cfg);
  assert_int_equal(cfg->n_accounts, 2);
  assert_string_equal(cfg->accounts[0].account, "a");
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  assert_true(cfg->accounts[0].subaccounts);
  assert_string_equal(cfg->accounts[1].password_md5, MD5_ABC); /* folded to lower case */
  assert_false(cfg->accounts[1].subaccounts);
  assert_ptr_equal(config_account_find(cfg, "b"), &cfg->accounts[1]);
  assert_null(config_account_find(cfg, "c"));
  config_free(cfg);
}

static void test_password_file(void **state) {
  (void)state;
  buf_reset(&errors);
  config_t *cfg = NULL;
  /* relative to the configuration's folder, trailing newline stripped */
  assert_int_equal(config_load_file(FLEETARC_TEST_DATA "/config/password_file.yaml", &cfg, &errors), 0);
  assert_string_equal(cfg->accounts[0].account, "filed");
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  assert_false(cfg->accounts[0].subaccounts);
  assert_string_equal(cfg->api.base_url, "http://127.0.0.1:8080");
  config_free(cfg);

  char dir[] = "/tmp/fleetarc-test-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char pw[128], text[512];
  snprintf(pw, sizeof pw, "%s/pw", dir);
  FILE *f = fopen(pw, "w");
  assert_non_null(f);
  fputs("Abc@34590\r\n\n", f);
  fclose(f);
  snprintf(text, sizeof text, HEAD "accounts:\n  - account: demo\n    password_file: %s\n", pw);
  cfg = load(text);
  assert_non_null(cfg);
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  config_free(cfg);

  f = fopen(pw, "w");
  fputs("\n", f);
  fclose(f);
  expect_error(text, "t.yaml:5:20: key 'accounts[0].password_file': '");
  assert_non_null(strstr(errors.data, "' holds an empty password\n"));
  assert_int_equal(unlink(pw), 0);
  /* a file that is not there: the load succeeds (commands that never log in work), the
   * account says why it has no password, and so does config_credentials_check */
  cfg = load(text);
  assert_non_null(cfg);
  assert_string_equal(cfg->accounts[0].password_md5, "");
  assert_non_null(strstr(cfg->accounts[0].credential_error,
                         "t.yaml:5:20: key 'accounts[0].password_file': no password file can be read here: '/tmp/"));
  assert_non_null(strstr(cfg->accounts[0].credential_error, "' (No such file or directory)"));
  buf_reset(&errors);
  assert_int_equal(config_credentials_check(cfg, NULL, &errors), -EINVAL);
  assert_non_null(strstr(errors.data, "no password file can be read here"));
  assert_int_equal(config_credentials_check(cfg, "other", NULL), 0);
  config_free(cfg);
  snprintf(text, sizeof text, HEAD "accounts:\n  - account: demo\n    password_file: %s\n", dir);
  expect_error(text, "' is not a regular file\n");
  assert_int_equal(rmdir(dir), 0);
}

/* password_file as a list: the first file that can be read here wins; an unset variable
 * or a missing file moves on; a file that is there but wrong is an error of the file. */
static void test_password_file_list(void **state) {
  (void)state;
  char dir[] = "/tmp/fleetarc-test-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char pw[128], text[1024];
  snprintf(pw, sizeof pw, "%s/pw", dir);
  FILE *f = fopen(pw, "w");
  assert_non_null(f);
  fputs("Abc@34590\n", f);
  fclose(f);
  unsetenv("FLEETARC_T_CRED");
  const char *fmt = HEAD "accounts:\n  - account: demo\n    password_file:\n"
                         "      - ${FLEETARC_T_CRED}/fleetarc-password\n      - %s/missing\n      - %s\n";
  snprintf(text, sizeof text, fmt, dir, pw);
  config_t *cfg = load(text);
  assert_non_null(cfg);
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  assert_string_equal(cfg->accounts[0].credential_error, "");
  assert_int_equal(config_credentials_check(cfg, NULL, NULL), 0);
  config_free(cfg);

  /* the credential directory set (as systemd's LoadCredential= does): it comes first */
  setenv("FLEETARC_T_CRED", dir, 1);
  char cred[160];
  snprintf(cred, sizeof cred, "%s/fleetarc-password", dir);
  f = fopen(cred, "w");
  fputs("other\n", f);
  fclose(f);
  cfg = load(text);
  assert_non_null(cfg);
  assert_string_not_equal(cfg->accounts[0].password_md5, MD5_ABC);
  assert_string_equal(cfg->accounts[0].credential_error, "");
  config_free(cfg);
  assert_int_equal(unlink(cred), 0);
  unsetenv("FLEETARC_T_CRED");

  /* none can be read: every reason, in order, and never an error of the file */
  assert_int_equal(chmod(pw, 0), 0);
  bool root = geteuid() == 0; /* root reads a 0000 file */
  if (!root) {
    cfg = load(text);
    assert_non_null(cfg);
    assert_non_null(strstr(cfg->accounts[0].credential_error,
                           "t.yaml:5:7: key 'accounts[0].password_file': no password file can be read here: "
                           "'${FLEETARC_T_CRED}/fleetarc-password' (environment variable FLEETARC_T_CRED is not set); '"));
    assert_non_null(strstr(cfg->accounts[0].credential_error, "/missing' (No such file or directory); '"));
    assert_non_null(strstr(cfg->accounts[0].credential_error, "/pw' (Permission denied)"));
    config_free(cfg);
  }
  assert_int_equal(unlink(pw), 0);
  cfg = load(text);
  assert_non_null(cfg);
  assert_non_null(strstr(cfg->accounts[0].credential_error,
                         "'${FLEETARC_T_CRED}/fleetarc-password' (environment variable FLEETARC_T_CRED is not set); '"));
  assert_non_null(strstr(cfg->accounts[0].credential_error, "/pw' (No such file or directory)"));
  assert_null(strstr(cfg->accounts[0].credential_error, "Abc"));
  config_free(cfg);

  /* a file that is there but empty, and a list item that is no file name: errors */
  f = fopen(pw, "w");
  fclose(f);
  expect_error(text, "t.yaml:8:9: key 'accounts[0].password_file[2]': '");
  assert_non_null(strstr(errors.data, "' holds an empty password\n"));
  expect_only_error(HEAD "accounts:\n  - account: demo\n    password_file:\n      - {a: b}\n",
                    "t.yaml:6:9: key 'accounts[0].password_file[0]': expected a file name, got a mapping");
  expect_only_error(HEAD "accounts:\n  - account: demo\n    password_file: []\n",
                    "t.yaml:5:20: key 'accounts[0].password_file': an empty list: give at least one file name");
  assert_int_equal(unlink(pw), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_env_expansion(void **state) {
  (void)state;
  setenv("FLEETARC_T_HOST", "sim.example:9000", 1);
  setenv("FLEETARC_T_PW", "Abc@34590", 1);
  unsetenv("FLEETARC_T_UNSET");
  config_t *cfg = load("api:\n  base_url: http://${FLEETARC_T_HOST}\n"
                       "accounts:\n  - account: \"$${literal}$x\"\n    password: ${FLEETARC_T_PW}\n");
  assert_non_null(cfg);
  assert_string_equal(cfg->api.base_url, "http://sim.example:9000");
  assert_string_equal(cfg->accounts[0].account, "${literal}$x");
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  config_free(cfg);

  /* an unset variable in a password: noted for the commands that log in, not an error */
  cfg = load(HEAD "accounts:\n  - account: demo\n    password: ${FLEETARC_T_UNSET}\n"
                  "  - account: two\n    password_md5: ${FLEETARC_T_UNSET}\n");
  assert_non_null(cfg);
  assert_string_equal(cfg->accounts[0].credential_error,
                      "t.yaml:5:15: key 'accounts[0].password': environment variable FLEETARC_T_UNSET is not set");
  assert_string_equal(cfg->accounts[1].credential_error,
                      "t.yaml:7:19: key 'accounts[1].password_md5': environment variable FLEETARC_T_UNSET is not set");
  buf_reset(&errors);
  assert_int_equal(config_credentials_check(cfg, "two", &errors), -EINVAL);
  assert_string_equal(errors.data,
                      "t.yaml:7:19: key 'accounts[1].password_md5': environment variable FLEETARC_T_UNSET is not set\n");
  config_free(cfg);
  /* elsewhere an unset variable stays an error of the file */
  expect_only_error(HEAD "accounts:\n  - account: ${FLEETARC_T_UNSET}\n    password: a\n",
                    "t.yaml:4:14: key 'accounts[0].account': environment variable FLEETARC_T_UNSET is not set");
  expect_only_error(HEAD "accounts:\n  - account: x${FLEETARC_T_PW\n    password: a\n",
                    "t.yaml:4:14: key 'accounts[0].account': unterminated ${ (write $${ for a literal ${)");
  expect_only_error(HEAD "accounts:\n  - account: ${A-B}\n    password: a\n",
                    "t.yaml:4:14: key 'accounts[0].account': bad variable name '${A-B}' (letters, digits and _)");
}

/* api.token_dir: the default follows the environment (RUNTIME_DIRECTORY first, then
 * /run/fleetarc if writable, XDG_RUNTIME_DIR, /tmp/fleetarc-<uid>); "" is off; a relative
 * name is relative to the file; config_print shows it. */
static void test_token_dir(void **state) {
  (void)state;
  char *old_rd = getenv("RUNTIME_DIRECTORY") ? strdup(getenv("RUNTIME_DIRECTORY")) : NULL;
  char *old_xdg = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
  char dir[512];
  assert_int_equal(setenv("RUNTIME_DIRECTORY", "/run/fa-test:/run/other", 1), 0);
  assert_int_equal(config_token_dir_default(dir, sizeof dir), 0);
  assert_string_equal(dir, "/run/fa-test");
  config_t *cfg = load(HEAD ACCOUNT);
  assert_non_null(cfg);
  assert_string_equal(cfg->api.token_dir, "/run/fa-test");
  config_free(cfg);
  assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
  assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1), 0);
  assert_int_equal(config_token_dir_default(dir, sizeof dir), 0);
  char want[64];
  if (access("/run/fleetarc", W_OK | X_OK) == 0) assert_string_equal(dir, "/run/fleetarc");
  else assert_string_equal(dir, "/run/user/4242/fleetarc");
  assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
  assert_int_equal(config_token_dir_default(dir, sizeof dir), 0);
  snprintf(want, sizeof want, "/tmp/fleetarc-%lu", (unsigned long)geteuid());
  if (access("/run/fleetarc", W_OK | X_OK) != 0) assert_string_equal(dir, want);
  assert_int_equal(config_token_dir_default(dir, 8), -ENAMETOOLONG);

  cfg = load("api:\n  base_url: https://api.mygps.mu\n  token_dir: \"\"\n" ACCOUNT);
  assert_non_null(cfg);
  assert_string_equal(cfg->api.token_dir, ""); /* off */
  config_free(cfg);
  cfg = load("api:\n  base_url: https://api.mygps.mu\n  token_dir: /srv/tok\n" ACCOUNT);
  assert_non_null(cfg);
  assert_string_equal(cfg->api.token_dir, "/srv/tok");
  FILE *f = tmpfile();
  assert_non_null(f);
  config_print(cfg, f);
  rewind(f);
  char line[256];
  bool shown = false;
  while (fgets(line, sizeof line, f))
    if (strcmp(line, "  token_dir: \"/srv/tok\"\n") == 0) shown = true;
  fclose(f);
  assert_true(shown);
  config_free(cfg);
  expect_only_error("api:\n  base_url: https://api.mygps.mu\n  token_dir: [a]\n" ACCOUNT,
                    "t.yaml:3:14: key 'api.token_dir': expected a directory (\"\": off), got a list");
  if (old_rd) setenv("RUNTIME_DIRECTORY", old_rd, 1);
  if (old_xdg) setenv("XDG_RUNTIME_DIR", old_xdg, 1);
  free(old_rd);
  free(old_xdg);
}

static void test_defaults_applied(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_non_null(cfg);
  assert_string_equal(cfg->source, "t.yaml");
  assert_string_equal(cfg->api.base_url, "https://api.mygps.mu");
  assert_null(cfg->api.ca_file);
  assert_int_equal(cfg->api.timeout_ms, 30000);
  assert_int_equal(cfg->api.max_in_flight, 16);
  assert_int_equal(cfg->api.max_body_bytes, 16 * 1024 * 1024);
  assert_int_equal(cfg->api.global_rate, 0);
  assert_int_equal(cfg->api.retry_max_attempts, 8);
  assert_int_equal(cfg->api.retry_base_delay_ms, 1000);
  assert_int_equal(cfg->api.retry_max_delay_ms, 300000);
  assert_int_equal(cfg->api.rate_limit_default_ms, 1000);
  assert_string_equal(cfg->database.conninfo, "postgresql:///fleetarc");
  assert_int_equal(cfg->database.batch_rows, 10000);
  assert_int_equal(cfg->database.flush_interval_ms, 1000);
  assert_int_equal(cfg->database.queue_rows, 100000);
  assert_int_equal(cfg->archive.track_interval_ms, 60000);
  assert_int_equal(cfg->archive.discovery_interval_ms, 3600000);
  assert_int_equal(cfg->archive.lookback_ms, 7 * 86400000);
  assert_int_equal(cfg->archive.give_up_after_ms, 120000);
  assert_int_equal(cfg->archive.alarm_interval_ms, 600000);
  assert_int_equal(cfg->archive.alarm_idle_interval_ms, 6 * 3600000);
  assert_int_equal(cfg->archive.gap_settle_ms, 30 * 60000);
  assert_int_equal(cfg->archive.gap_min_ms, 5 * 60000);
  assert_int_equal(cfg->archive.gap_max_attempts, 3);
  assert_int_equal(cfg->archive.streams, STREAM_BIT(STREAM_PLAYBACK) | STREAM_BIT(STREAM_ALARMS) | STREAM_BIT(STREAM_MILEAGE));
  assert_int_equal(cfg->log.level, LOG_LEVEL_INFO);
  assert_int_equal(cfg->log.format, LOG_FORMAT_TEXT);
  config_free(cfg);

  /* empty sections and ~ values keep the defaults too */
  cfg = load(HEAD "  timeout: ~\n" ACCOUNT "database:\nlog:\n  level:\n");
  assert_non_null(cfg);
  assert_int_equal(cfg->api.timeout_ms, 30000);
  assert_int_equal(cfg->log.level, LOG_LEVEL_INFO);
  config_free(cfg);
}

static void test_values_set(void **state) {
  (void)state;
  config_t *cfg = load(HEAD "  max_body_bytes: 2MiB\n  global_rate: 5\n  retry:\n    max_attempts: 3\n"
                            "    base_delay: 250ms\n    max_delay: 1m30s\n" ACCOUNT
                            "database:\n  conninfo: host=db dbname=x\n  batch_rows: 500\n  queue_rows: 500\n"
                            "archive:\n  streams: [mileage, playback]\n  lookback: 0s\n  give_up_after: 15s\n"
                            "  alarm_interval: 2m\n  alarm_idle_interval: 3h\n"
                            "  gap_settle: 12m\n  gap_min: 90s\n  gap_max_attempts: 0\n"
                            "log:\n  level: debug\n  format: json\n");
  assert_non_null(cfg);
  assert_int_equal(cfg->api.max_body_bytes, 2 * 1024 * 1024);
  assert_int_equal(cfg->api.global_rate, 5);
  assert_int_equal(cfg->api.retry_max_attempts, 3);
  assert_int_equal(cfg->api.retry_base_delay_ms, 250);
  assert_int_equal(cfg->api.retry_max_delay_ms, 90000);
  assert_string_equal(cfg->database.conninfo, "host=db dbname=x");
  assert_int_equal(cfg->database.batch_rows, 500);
  assert_int_equal(cfg->archive.streams, STREAM_BIT(STREAM_MILEAGE) | STREAM_BIT(STREAM_PLAYBACK));
  assert_int_equal(cfg->archive.lookback_ms, 0);
  assert_int_equal(cfg->archive.give_up_after_ms, 15000);
  assert_int_equal(cfg->archive.alarm_interval_ms, 120000);
  assert_int_equal(cfg->archive.alarm_idle_interval_ms, 3 * 3600000);
  assert_int_equal(cfg->archive.gap_settle_ms, 12 * 60000);
  assert_int_equal(cfg->archive.gap_min_ms, 90000);
  assert_int_equal(cfg->archive.gap_max_attempts, 0);
  assert_int_equal(cfg->log.level, LOG_LEVEL_DEBUG);
  assert_int_equal(cfg->log.format, LOG_FORMAT_JSON);
  config_free(cfg);

  expect_only_error(HEAD ACCOUNT "database:\n  batch_rows: 500\n  queue_rows: 499\n",
                    "t.yaml:8:15: key 'database.queue_rows': queue_rows (499) must be at least batch_rows (500)");
  expect_only_error(HEAD "  retry:\n    base_delay: 10s\n    max_delay: 5s\n" ACCOUNT,
                    "t.yaml:5:16: key 'api.retry.max_delay': max_delay must not be shorter than base_delay");
  expect_only_error(HEAD ACCOUNT "archive:\n  streams: [playback, alarm, playback]\n",
                    "t.yaml:7:23: key 'archive.streams[1]': unknown stream 'alarm' (expected one of: "
                    "playback, alarms, mileage; did you mean 'alarms'?)\n"
                    "t.yaml:7:30: key 'archive.streams[2]': stream 'playback' listed twice");
  expect_only_error(HEAD ACCOUNT "archive:\n  streams: []\n",
                    "t.yaml:7:12: key 'archive.streams': the list is empty: give at least one of playback, alarms, mileage");
  expect_only_error(HEAD ACCOUNT "log:\n  level: verbose\n",
                    "t.yaml:7:10: key 'log.level': unknown level 'verbose' (expected one of: error, warn, info, debug)");
  expect_only_error(HEAD "  max_body_bytes: 2GiB\n" ACCOUNT,
                    "t.yaml:3:19: key 'api.max_body_bytes': 2GiB out of range (1024 to 1073741824)");
}

static void test_rate_limit_lookup(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_non_null(cfg);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_AUTHORIZATION), 12000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_TRACK), 10000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_PLAYBACK), 12000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_ALARM_LIST), 12000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_DEVICE_LIST), 6000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_USER_LIST), 6000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_DEVICE_DETAIL), 6000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_DEVICE_MILEAGE), 10000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_USER_INFO), 1000);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_COMMAND_SEND), 1000);
  config_free(cfg);

  cfg = load(HEAD "  rate_limits:\n    default: 3s\n    playback: 500ms\n    user/info: 0s\n" ACCOUNT);
  assert_non_null(cfg);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_PLAYBACK), 500);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_USER_INFO), 0);
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_COMMAND_SEND), 3000); /* default */
  assert_int_equal(config_rate_limit_ms(cfg, API_EP_TRACK), 10000);      /* built-in kept */
  config_free(cfg);
}

static void test_duplicates(void **state) {
  (void)state;
  expect_only_error(HEAD "accounts:\n  - account: demo\n    password: a\n  - account: demo\n    password: b\n",
                    "t.yaml:6:14: key 'accounts[1].account': duplicate account 'demo' (already accounts[0])");
  expect_only_error(HEAD "  timeout: 5s\n  timeout: 6s\n" ACCOUNT,
                    "t.yaml:4:3: key 'api.timeout': duplicate key (first at line 3, column 3)");
  expect_only_error(HEAD "  rate_limits: {track: 1s, track: 2s}\n" ACCOUNT,
                    "t.yaml:3:28: key 'api.rate_limits.track': duplicate key (first at line 3, column 17)");
}

static void test_required_and_base_url(void **state) {
  (void)state;
  expect_only_error(ACCOUNT, "t.yaml:1:1: key 'api': required key is missing (api: base_url: ...)");
  expect_only_error(HEAD, "t.yaml:1:1: key 'accounts': required: a list of at least one account");
  expect_only_error("api:\n  timeout: 5s\n" ACCOUNT,
                    "t.yaml:2:3: key 'api.base_url': required key is missing (e.g. base_url: https://api.mygps.mu)");
  expect_only_error(HEAD "accounts: []\n", "t.yaml:3:11: key 'accounts': the list is empty: give at least one account");
  expect_only_error("", "t.yaml: empty configuration (api.base_url and accounts are required)");
  expect_only_error("api:\n  base_url: ftp://x\n" ACCOUNT,
                    "t.yaml:2:13: key 'api.base_url': bad URL: the scheme must be http:// or https://");
  expect_only_error("api:\n  base_url: https://h/api\n" ACCOUNT,
                    "t.yaml:2:13: key 'api.base_url': bad URL: give no path: /api/... is appended to scheme://host[:port]");
  expect_only_error("api:\n  base_url: https://h:70000\n" ACCOUNT,
                    "t.yaml:2:13: key 'api.base_url': bad URL: the port must be 1 to 65535");
  expect_only_error("api:\n  base_url: https://u:topsecret@h\n" ACCOUNT,
                    "t.yaml:2:13: key 'api.base_url': bad URL: a user or password does not belong in the URL");
  config_t *cfg = load("api:\n  base_url: HTTP://[::1]:8080/\n" ACCOUNT);
  assert_non_null(cfg);
  assert_string_equal(cfg->api.base_url, "http://[::1]:8080");
  config_free(cfg);
}

static void test_yaml_syntax_error(void **state) {
  (void)state;
  expect_only_error(HEAD "  timeout: [30s\n" ACCOUNT,
                    "t.yaml:4:9: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
                    "sequence (line 3 column 12)");
  expect_error(HEAD ACCOUNT "---\nfoo: 1\n", "t.yaml:7:1: only one YAML document is allowed");
}

/* Prints cfg into a string (free it). */
static char *print_to_string(const config_t *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  config_print(cfg, f);
  assert_int_equal(fclose(f), 0);
  return text;
}

static void test_cluster_keys(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_non_null(cfg);
  assert_false(cfg->cluster.enabled);
  assert_int_equal(cfg->cluster.lease_ttl_ms, 15000);
  assert_null(cfg->cluster.instance);
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "cluster:\n  enabled: true\n  lease_ttl: 4s\n  instance: a1\n");
  assert_non_null(cfg);
  assert_true(cfg->cluster.enabled);
  assert_int_equal(cfg->cluster.lease_ttl_ms, 4000);
  assert_string_equal(cfg->cluster.instance, "a1");
  char *text = print_to_string(cfg);
  assert_non_null(strstr(text, "cluster:\n  enabled: true\n  lease_ttl: 4s\n  instance: \"a1\"\n"));
  free(text);
  config_free(cfg);
  expect_only_error(HEAD ACCOUNT "cluster:\n  lease_ttl: 1s\n",
                    "t.yaml:7:14: key 'cluster.lease_ttl': duration '1s' out of range (3s to 1h)");
}

static void test_print_masks_secrets(void **state) {
  (void)state;
  setenv("FLEETARC_T_PW", "Abc@34590", 1);
  config_t *cfg = load(HEAD "accounts:\n  - account: demo\n    password: ${FLEETARC_T_PW}\n"
                            "database:\n  conninfo: \"host=db password='pg secret' user=u\"\n");
  assert_non_null(cfg);
  char *text = print_to_string(cfg);
  assert_null(strstr(text, "Abc@34590"));
  assert_null(strstr(text, MD5_ABC));
  assert_null(strstr(text, "pg secret"));
  assert_non_null(strstr(text, "\n    password_md5: \"***\"\n"));
  assert_non_null(strstr(text, "password=***"));
  assert_non_null(strstr(text, "host=db"));
  assert_non_null(strstr(text, "user=u"));
  free(text);
  config_free(cfg);

  cfg = load(HEAD ACCOUNT "database:\n  conninfo: \"postgresql://u:pgpw@db:5432/x?sslpassword=kp&application_name=b\"\n");
  assert_non_null(cfg);
  text = print_to_string(cfg);
  assert_null(strstr(text, "pgpw"));
  assert_null(strstr(text, "=kp"));
  assert_non_null(strstr(text, "password=***"));
  assert_non_null(strstr(text, "sslpassword=***"));
  assert_non_null(strstr(text, "dbname=x"));
  free(text);
  config_free(cfg);
}

/* The conninfo is masked by keyword after libpq has parsed it: a percent-encoded
 * keyword in a URI is the password libpq will send, so it is masked too; one that
 * libpq cannot parse is not shown at all. */
static void test_print_masks_encoded_conninfo_keyword(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT "database:\n  conninfo: \"postgresql://u@db/x?pass%77ord=Enc0ded-Secret\"\n");
  assert_non_null(cfg);
  char *text = print_to_string(cfg);
  assert_null(strstr(text, "Enc0ded-Secret"));
  assert_non_null(strstr(text, "password=***"));
  free(text);
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "database:\n  conninfo: \"postgresql://u@db/x?%zz=Bad-Secret\"\n");
  assert_non_null(cfg);
  text = print_to_string(cfg);
  assert_null(strstr(text, "Bad-Secret"));
  free(text);
  config_free(cfg);
}

/* A ${VAR} that held a password leaves the environment once read (its value wiped
 * where the environment held it); a reload expands it again from the loader's copy. */
static void test_secret_env_removed(void **state) {
  (void)state;
  setenv("FLEETARC_T_SECRET", "Env-Secret-991", 1);
  char *held = getenv("FLEETARC_T_SECRET");
  setenv("FLEETARC_T_PLAIN", "demo", 1);
  config_t *cfg = load(HEAD "accounts:\n  - account: ${FLEETARC_T_PLAIN}\n    password: ${FLEETARC_T_SECRET}\n");
  assert_non_null(cfg);
  assert_null(getenv("FLEETARC_T_SECRET"));
  assert_null(strstr(held, "Env-Secret")); /* wiped in place, not only unlinked */
  assert_string_equal(getenv("FLEETARC_T_PLAIN"), "demo"); /* not a secret: stays */
  config_t *again = load(HEAD "accounts:\n  - account: demo\n    password: ${FLEETARC_T_SECRET}\n");
  assert_non_null(again);
  assert_string_equal(again->accounts[0].password_md5, cfg->accounts[0].password_md5);
  config_free(again);
  /* a later plain use of the same variable still expands */
  again = load(HEAD "accounts:\n  - account: ${FLEETARC_T_SECRET}\n    password: x\n");
  assert_non_null(again);
  assert_string_equal(again->accounts[0].account, "Env-Secret-991");
  config_free(again);
  config_free(cfg);
}

/* The printed configuration is YAML that loads back to the same values once the masked
 * md5 is filled in: proof that it shows what the program runs with. */
static void test_print_reloads(void **state) {
  (void)state;
  config_t *cfg = load(HEAD "  rate_limits:\n    default: 2s\n    track: 1m30s\n  timeout: 45s\n"
                            "accounts:\n  - account: \"odd \\\"one\\\" $${x}\"\n    password_md5: " MD5_ABC "\n"
                            "    subaccounts: false\n"
                            "archive:\n  streams: [alarms]\n  lookback: 36h\n  give_up_after: 90s\nlog:\n  format: json\n");
  assert_non_null(cfg);
  char *text = print_to_string(cfg);
  buf_t fixed = BUF_INIT;
  for (const char *p = text; *p;) {
    const char *m = strstr(p, "\"***\"");
    size_t n = m ? (size_t)(m - p) : strlen(p);
    assert_int_equal(buf_append(&fixed, p, n), 0);
    if (!m) break;
    assert_int_equal(buf_puts(&fixed, MD5_ABC), 0);
    p = m + 5;
  }
  config_t *again = load(fixed.data);
  if (!again) fail_msg("reload failed:\n%s\n%s", errors.data, fixed.data);
  assert_string_equal(again->accounts[0].account, "odd \"one\" ${x}");
  assert_string_equal(again->accounts[0].password_md5, MD5_ABC);
  assert_false(again->accounts[0].subaccounts);
  assert_memory_equal(&again->api.rate_limit_ms, &cfg->api.rate_limit_ms, sizeof cfg->api.rate_limit_ms);
  assert_int_equal(again->api.rate_limit_ms[API_EP_TRACK], 90000);
  assert_int_equal(again->api.timeout_ms, 45000);
  assert_int_equal(again->archive.streams, STREAM_BIT(STREAM_ALARMS));
  assert_int_equal(again->archive.lookback_ms, 36 * 3600000);
  assert_int_equal(again->archive.give_up_after_ms, 90000);
  assert_int_equal(again->log.format, LOG_FORMAT_JSON);
  char *text2 = print_to_string(again);
  assert_string_equal(text, text2);
  free(text2);
  config_free(again);
  buf_free(&fixed);
  free(text);
  config_free(cfg);
}

static void test_example_file_loads(void **state) {
  (void)state;
  const char *path = FLEETARC_TEST_DATA "/../../conf/fleetarc.yaml";
  config_t *cfg = NULL;
  unsetenv("DEMO_PASSWORD");
  buf_reset(&errors);
  assert_int_equal(config_load_file(path, &cfg, &errors), 0);
  assert_non_null(strstr(cfg->accounts[0].credential_error,
                         "key 'accounts[0].password': environment variable DEMO_PASSWORD is not set"));
  config_free(cfg);
  cfg = NULL;

  setenv("DEMO_PASSWORD", "Abc@34590", 1);
  buf_reset(&errors);
  int rc = config_load_file(path, &cfg, &errors);
  if (rc != 0) fail_msg("conf/fleetarc.yaml: %s", errors.data);
  /* the example states the defaults: it must equal the built-in configuration */
  config_t *min = NULL;
  assert_int_equal(config_load_file(FLEETARC_TEST_DATA "/config/minimal.yaml", &min, &errors), 0);
  char *a = print_to_string(cfg), *b = print_to_string(min);
  const char *a_body = strchr(a, '\n'), *b_body = strchr(b, '\n'); /* skip the "from FILE" line */
  assert_string_equal(a_body, b_body);
  assert_string_equal(cfg->accounts[0].password_md5, MD5_ABC);
  free(a);
  free(b);
  config_free(min);
  config_free(cfg);
  unsetenv("DEMO_PASSWORD");
}

/* metrics.* and retention.*: off by default, set, and bad values named (ops). */
static void test_metrics_and_retention(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_null(cfg->metrics.listen);
  assert_int_equal(cfg->metrics.unhealthy_after_ms, 60000);
  assert_int_equal(cfg->retention.positions_ms, 0);
  assert_int_equal(cfg->retention.alarms_ms, 0);
  assert_int_equal(cfg->retention.interval_ms, 6 * 3600 * 1000);
  assert_int_equal(cfg->retention.rejected_ms, 90LL * 86400 * 1000);
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "metrics:\n  listen: 127.0.0.1:9187\n  unhealthy_after: 2m\n"
                          "retention: { positions: 400d, alarms: 60d, interval: 1h, rejected: 30d }\n");
  assert_string_equal(cfg->metrics.listen, "127.0.0.1:9187");
  assert_int_equal(cfg->metrics.unhealthy_after_ms, 120000);
  assert_int_equal(cfg->retention.positions_ms, 400LL * 86400 * 1000);
  assert_int_equal(cfg->retention.alarms_ms, 60LL * 86400 * 1000);
  assert_int_equal(cfg->retention.interval_ms, 3600000);
  assert_int_equal(cfg->retention.rejected_ms, 30LL * 86400 * 1000);
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "metrics:\n  listen: \"[::1]:0\"\n");
  assert_string_equal(cfg->metrics.listen, "[::1]:0");
  config_free(cfg);
  expect_only_error(HEAD ACCOUNT "metrics:\n  listen: localhost:9187\n",
                    "t.yaml:7:11: key 'metrics.listen': bad address 'localhost:9187' (expected "
                    "HOST:PORT with an IPv4 address or [IPv6], e.g. 127.0.0.1:9187)");
  expect_error(HEAD ACCOUNT "metrics:\n  listen: 127.0.0.1:65536\n", "key 'metrics.listen': bad address");
  expect_only_error(HEAD ACCOUNT "retention:\n  positions: 7d\n",
                    "t.yaml:7:14: key 'retention.positions': duration '7d' out of range (32d to 36500d)");
  expect_error(HEAD ACCOUNT "retention:\n  rejected: 1h\n", "key 'retention.rejected': duration '1h' out of range");
}

static void test_reports_timezone(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_string_equal(cfg->reports.timezone, "UTC");
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "reports:\n  timezone: America/Los_Angeles\n");
  assert_string_equal(cfg->reports.timezone, "America/Los_Angeles");
  config_free(cfg);
  expect_only_error(HEAD ACCOUNT "reports:\n  timezone: ../etc/passwd\n",
                    "t.yaml:7:13: key 'reports.timezone': bad time zone '../etc/passwd' (expected "
                    "an IANA name such as Europe/Berlin or UTC)");
}

/* console.tiles / console.attribution: OpenStreetMap's by default, set, or "none". */
static void test_console_keys(void **state) {
  (void)state;
  config_t *cfg = load(HEAD ACCOUNT);
  assert_string_equal(cfg->console.tiles, CONFIG_CONSOLE_TILES_DEFAULT);
  assert_string_equal(cfg->console.attribution, CONFIG_CONSOLE_ATTRIBUTION_DEFAULT);
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "console:\n  tiles: http://tiles.local/{z}/{x}/{y}.png\n"
                          "  attribution: local tiles\n");
  assert_string_equal(cfg->console.tiles, "http://tiles.local/{z}/{x}/{y}.png");
  assert_string_equal(cfg->console.attribution, "local tiles");
  config_free(cfg);
  cfg = load(HEAD ACCOUNT "console:\n  conninfo: \"dbname=fa user=grafana password=s3cret\"\n");
  assert_string_equal(cfg->console.conninfo, "dbname=fa user=grafana password=s3cret");
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  config_print(cfg, f);
  fclose(f);
  assert_null(strstr(out, "s3cret"));
  assert_non_null(strstr(out, "user=grafana password=***"));
  free(out);
  config_free(cfg);
  expect_error(HEAD ACCOUNT "console:\n  tile: none\n", "key 'console.tile': unknown key");
}

static void test_unreadable_file(void **state) {
  (void)state;
  config_t *cfg = (config_t *)(uintptr_t)1;
  buf_reset(&errors);
  assert_int_equal(config_load_file("/nonexistent/fleetarc.yaml", &cfg, &errors), -ENOENT);
  assert_null(cfg);
  assert_string_equal(errors.data, "/nonexistent/fleetarc.yaml: cannot read the configuration: No such file or directory\n");
  config_free(NULL);
}

/* ---- the key table against conf/fleetarc.yaml ---- */

/* A key of the example file: its dotted path, its value as written ("[a, b]" for a
 * list of scalars) and whether "(restart)" marks it (its line, the comment lines right
 * above it, or those of a section it is in). */
typedef struct example_key {
  char path[96];
  char value[256];
  bool restart;
  bool seen; /* matched by a row of the table */
} example_key_t;

typedef struct example {
  char **lines;
  size_t n_lines, cap_lines;
  yaml_document_t doc;
  example_key_t keys[128];
  size_t n_keys;
} example_t;

static bool marked_restart(const example_t *ex, size_t line) {
  if (line < ex->n_lines && strstr(ex->lines[line], "(restart)")) return true;
  while (line-- > 0) {
    const char *l = ex->lines[line] + strspn(ex->lines[line], " ");
    if (*l != '#') return false;
    if (strstr(l, "(restart)")) return true;
  }
  return false;
}

static void example_walk(example_t *ex, yaml_node_t *map, const char *prefix, bool restart) {
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(&ex->doc, p->key), *v = yaml_document_get_node(&ex->doc, p->value);
    char path[96];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", (const char *)k->data.scalar.value);
    bool r = restart || marked_restart(ex, k->start_mark.line);
    if (v->type == YAML_MAPPING_NODE) {
      example_walk(ex, v, path, r);
      continue;
    }
    if (v->type == YAML_SEQUENCE_NODE) {
      yaml_node_t *first = v->data.sequence.items.start < v->data.sequence.items.top
                             ? yaml_document_get_node(&ex->doc, *v->data.sequence.items.start) : NULL;
      if (first && first->type == YAML_MAPPING_NODE) { /* accounts: the keys of its items */
        snprintf(path + strlen(path), sizeof path - strlen(path), "[]");
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
          example_walk(ex, yaml_document_get_node(&ex->doc, *it), path, r);
        continue;
      }
    }
    assert_true(ex->n_keys < sizeof ex->keys / sizeof ex->keys[0]);
    example_key_t *e = &ex->keys[ex->n_keys++];
    *e = (example_key_t){.restart = r};
    snprintf(e->path, sizeof e->path, "%s", path);
    if (v->type == YAML_SCALAR_NODE) {
      snprintf(e->value, sizeof e->value, "%s", (const char *)v->data.scalar.value);
    } else { /* a list of scalars, as the table writes it */
      size_t o = (size_t)snprintf(e->value, sizeof e->value, "[");
      for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
        o += (size_t)snprintf(e->value + o, sizeof e->value - o, "%s%s", it == v->data.sequence.items.start ? "" : ", ",
                              (const char *)yaml_document_get_node(&ex->doc, *it)->data.scalar.value);
      snprintf(e->value + o, sizeof e->value - o, "]");
    }
  }
}

static example_key_t *example_find(example_t *ex, const char *path) {
  for (size_t i = 0; i < ex->n_keys; i++)
    if (!strcmp(ex->keys[i].path, path)) return &ex->keys[i];
  return NULL;
}

/* Every key of the table is in conf/fleetarc.yaml with the table's default (or empty
 * when the table has none), marked "(restart)" exactly when the table says so, and the
 * file has no key the table lacks: the commented example is the reference, kept true. */
static void test_reference_matches_example(void **state) {
  (void)state;
  example_t *ex = calloc(1, sizeof *ex);
  assert_non_null(ex);
  FILE *f = fopen(FLEETARC_TEST_DATA "/../../conf/fleetarc.yaml", "r");
  assert_non_null(f);
  char line[512];
  while (fgets(line, sizeof line, f)) {
    assert_int_equal(GROW(ex->lines, ex->cap_lines, ex->n_lines + 1), 0);
    ex->lines[ex->n_lines++] = strdup(line);
  }
  rewind(f);
  yaml_parser_t parser;
  assert_true(yaml_parser_initialize(&parser));
  yaml_parser_set_input_file(&parser, f);
  assert_true(yaml_parser_load(&parser, &ex->doc));
  example_walk(ex, yaml_document_get_root_node(&ex->doc), "", false);

  int failures = 0;
  size_t rows = 0;
  config_key_t k;
  for (size_t i = 0; config_key_at(i, &k) == 0; i++, rows++) {
    assert_non_null(k.doc);
    assert_true(k.doc[0] != '\0');
    if (!strcmp(k.path, "accounts")) continue; /* a list: its items' keys below */
    example_key_t *e = example_find(ex, k.path);
    bool derived = !k.def && !strncmp(k.path, "api.rate_limits.", 16); /* = default */
    bool account_key = !strncmp(k.path, "accounts[].", 11); /* the example's one account */
    if (e) e->seen = true;
    if (derived || account_key) {
      if (e && derived) fail_msg("conf/fleetarc.yaml: %s has no built-in value; it is not listed", k.path);
      continue;
    }
    if (!e) {
      print_error("conf/fleetarc.yaml lacks %s\n", k.path);
      failures++;
    } else if (k.def && strcmp(e->value, k.def) != 0) {
      print_error("conf/fleetarc.yaml: %s is '%s', its default is '%s'\n", k.path, e->value, k.def);
      failures++;
    } else if (!k.def && e->value[0] && strcmp(k.path, "api.base_url") != 0) { /* required: an example */
      print_error("conf/fleetarc.yaml: %s is '%s' but has no default\n", k.path, e->value);
      failures++;
    }
    if (e && e->restart != k.restart) {
      print_error("conf/fleetarc.yaml: %s is %smarked (restart), the table says %s\n", k.path,
                  e->restart ? "" : "not ", k.restart ? "restart" : "reload");
      failures++;
    }
  }
  for (size_t i = 0; i < ex->n_keys; i++) {
    if (ex->keys[i].seen) continue;
    bool account_key = !strncmp(ex->keys[i].path, "accounts[].", 11);
    bool listed = false;
    for (size_t j = 0; account_key && config_key_at(j, &k) == 0; j++) listed |= !strcmp(k.path, ex->keys[i].path);
    if (!listed) {
      print_error("conf/fleetarc.yaml: %s is not a key of the table\n", ex->keys[i].path);
      failures++;
    }
  }
  assert_true(rows > 60); /* 44 rows, api.rate_limits and accounts expanded */
  yaml_document_delete(&ex->doc);
  yaml_parser_delete(&parser);
  fclose(f);
  for (size_t i = 0; i < ex->n_lines; i++) free(ex->lines[i]);
  free(ex->lines);
  free(ex);
  assert_int_equal(failures, 0);
}

/* ---- the reload diff ---- */

typedef struct diff_seen {
  char text[2048]; /* "path!" for a restart, "path" else, each followed by a space */
  int calls;
} diff_seen_t;

static void cb_diff(void *ud, const char *path, bool needs_restart) {
  diff_seen_t *d = ud;
  size_t n = strlen(d->text);
  snprintf(d->text + n, sizeof d->text - n, "%s%s ", path, needs_restart ? "!" : "");
  d->calls++;
}

static const char *diff_of(const char *a, const char *b, diff_seen_t *d) {
  config_t *x = load(a), *y;
  assert_non_null(x);
  y = load(b);
  assert_non_null(y);
  memset(d, 0, sizeof *d);
  config_diff(x, y, cb_diff, d);
  config_free(x);
  config_free(y);
  return d->text;
}

static void test_diff(void **state) {
  (void)state;
  diff_seen_t d;
  /* the same file, and the same accounts in another order: nothing */
  assert_string_equal(diff_of(HEAD ACCOUNT, HEAD ACCOUNT, &d), "");
  assert_string_equal(diff_of(HEAD ACCOUNT "  - account: b\n    password: x\n",
                              HEAD "accounts:\n  - account: b\n    password: x\n  - account: demo\n"
                              "    password_md5: " MD5_ABC "\n", &d), "");
  /* applied and restart keys, in table order, each once */
  assert_string_equal(diff_of(HEAD ACCOUNT,
                              HEAD "  timeout: 45s\n  global_rate: 3\n  retry: {write_max_time: 1m}\n" ACCOUNT
                              "archive: {track_interval: 2m, streams: [playback]}\n"
                              "metrics: {listen: \"127.0.0.1:9187\", auth: s3cret-token}\n"
                              "log: {level: debug}\ncluster: {enabled: true}\n", &d),
                      "api.timeout! api.global_rate api.retry.write_max_time! archive.track_interval "
                      "archive.streams log.level metrics.listen! metrics.auth! cluster.enabled! ");
  assert_null(strstr(d.text, "s3cret"));
  /* a password, a new account or subaccounts: "accounts", applied */
  assert_string_equal(diff_of(HEAD ACCOUNT, HEAD "accounts:\n  - account: demo\n    password: other\n", &d),
                      "accounts ");
  assert_string_equal(diff_of(HEAD ACCOUNT, HEAD ACCOUNT "    subaccounts: false\n", &d), "accounts ");
  /* rate limits compare resolved: a new default moves every endpoint without a value of
   * its own or a built-in one; a key set to its built-in value changes nothing */
  assert_string_equal(diff_of(HEAD ACCOUNT, HEAD "  rate_limits: {track: 10s, playback: 20s}\n" ACCOUNT, &d),
                      "api.rate_limits.playback ");
  diff_of(HEAD ACCOUNT, HEAD "  rate_limits: {default: 2s}\n" ACCOUNT, &d);
  assert_int_equal(d.calls, 1 + API_EP_COUNT - 8);
  assert_non_null(strstr(d.text, "api.rate_limits.default "));
  assert_non_null(strstr(d.text, "api.rate_limits.user/info "));
  assert_null(strstr(d.text, "api.rate_limits.track "));
  /* the connection strings: restart, never their text */
  assert_string_equal(diff_of(HEAD ACCOUNT, HEAD ACCOUNT "database: {conninfo: \"password=pw1\"}\n"
                              "console: {conninfo: \"password=pw2\"}\n", &d),
                      "database.conninfo! console.conninfo! ");
}

static int teardown(void **state) {
  (void)state;
  buf_free(&errors);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_typo_key_has_line_column_path),
    cmocka_unit_test(test_errors_in_file_order_and_capped),
    cmocka_unit_test(test_wrong_type),
    cmocka_unit_test(test_bad_duration),
    cmocka_unit_test(test_bad_password_md5_not_echoed),
    cmocka_unit_test(test_password_and_md5_stored_as_md5),
    cmocka_unit_test(test_password_file),
    cmocka_unit_test(test_password_file_list),
    cmocka_unit_test(test_env_expansion),
    cmocka_unit_test(test_defaults_applied),
    cmocka_unit_test(test_values_set),
    cmocka_unit_test(test_rate_limit_lookup),
    cmocka_unit_test(test_duplicates),
    cmocka_unit_test(test_required_and_base_url),
    cmocka_unit_test(test_yaml_syntax_error),
    cmocka_unit_test(test_print_masks_secrets),
    cmocka_unit_test(test_print_masks_encoded_conninfo_keyword),
    cmocka_unit_test(test_secret_env_removed),
    cmocka_unit_test(test_cluster_keys),
    cmocka_unit_test(test_print_reloads),
    cmocka_unit_test(test_example_file_loads),
    cmocka_unit_test(test_unreadable_file),
    cmocka_unit_test(test_metrics_and_retention),
    cmocka_unit_test(test_reports_timezone),
    cmocka_unit_test(test_console_keys),
    cmocka_unit_test(test_token_dir),
    cmocka_unit_test(test_reference_matches_example),
    cmocka_unit_test(test_diff),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}

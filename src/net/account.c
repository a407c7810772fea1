/* Account token state; see account.h. The generation counter is what keeps one login
 * per token death however many requests fail with that token. */
#include "net/account.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sign.h"

account_t *account_new(const char *name, const char *password_md5) {
  if (!name || !password_md5 || !api_is_md5_hex(password_md5)) return NULL;
  account_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  if (!(a->name = strdup(name))) {
    free(a);
    return NULL;
  }
  for (int i = 0; i < 32; i++) a->password_md5[i] = (char)tolower((unsigned char)password_md5[i]);
  a->password_md5[32] = '\0';
  a->lane = -1;
  return a;
}

void account_free(account_t *a) {
  if (!a) return;
  if (a->token) {
    explicit_bzero(a->token, strlen(a->token));
    free(a->token);
  }
  explicit_bzero(a->password_md5, sizeof a->password_md5);
  free(a->name);
  free(a);
}

bool account_token_usable(const account_t *a, uint64_t now_ms) {
  return a->state == ACCOUNT_READY && a->token && now_ms < a->refresh_at;
}

int account_logged_in(account_t *a, const char *token, int64_t expires_in, double refresh_fraction,
                      uint64_t now_ms) {
  if (expires_in <= 0) expires_in = 3600; /* the spec says 2 h; one host gives 1 h */
  if (refresh_fraction <= 0.0 || refresh_fraction > 1.0) refresh_fraction = 0.75;
  /* a token of our own login is taken like one adopted: until refresh_at */
  return account_adopted(a, token, now_ms + (uint64_t)((double)expires_in * 1000.0 * refresh_fraction));
}

int account_adopted(account_t *a, const char *token, uint64_t refresh_at) {
  char *copy = strdup(token);
  if (!copy) return -ENOMEM;
  if (a->token) {
    explicit_bzero(a->token, strlen(a->token));
    free(a->token);
  }
  a->token = copy;
  a->gen++;
  a->refresh_at = refresh_at;
  a->state = ACCOUNT_READY;
  a->time_errors = 0;
  a->fruitless_logins++;
  return 0;
}

bool account_token_failed(account_t *a, uint64_t gen) {
  if (a->state != ACCOUNT_READY || gen != a->gen) return false;
  a->state = ACCOUNT_NO_TOKEN;
  return true;
}

void account_stop(account_t *a, int code, const char *message) {
  a->state = ACCOUNT_STOPPED;
  a->stop_code = code;
  snprintf(a->stop_message, sizeof a->stop_message, "%s", message);
  if (a->token) {
    explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    a->token = NULL;
  }
}

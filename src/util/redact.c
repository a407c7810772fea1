/* Masking of secret parameters in free text; see redact.h. Over-masking is fine, a
 * secret that slips through is not: names match without case, percent-encoded or not. */
#include "util/redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

static const char *const secret_names[] = {
  "access_token", "accesstoken", "token", "signature", "sign", "password", "passwd", "pwd",
  "newpassword", "oldpassword", "new_password", "old_password", "password_md5", "passwordmd5",
  "pwd_md5", "pwdmd5", "md5", "secret",
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* One character of s (len bytes) at *i, a %XX escape decoded; -1 at the end. */
static int next_char(const char *s, size_t len, size_t *i) {
  if (*i >= len) return -1;
  unsigned char c = (unsigned char)s[*i];
  if (c == '%' && *i + 2 < len && hexval(s[*i + 1]) >= 0 && hexval(s[*i + 2]) >= 0) {
    int v = hexval(s[*i + 1]) * 16 + hexval(s[*i + 2]);
    *i += 3;
    return v;
  }
  (*i)++;
  return c;
}

static bool name_char(int c) { return isalnum(c) || c == '_'; }

/* The longest name starting at in[i] (decoded); *end: the index after it. */
static bool match_name(const char *in, size_t len, size_t i, size_t *end) {
  char name[32];
  size_t n = 0, j = i;
  size_t ends[32];
  while (n < sizeof name) {
    size_t k = j;
    int c = next_char(in, len, &k);
    if (c < 0 || !name_char(c)) break;
    name[n] = (char)c;
    ends[n] = k;
    n++;
    j = k;
  }
  if (n == 0 || n == sizeof name) return false;
  /* A whole word only: "md5" must not match inside "password_md5x" and vice versa. */
  if (redact_is_secret_name(name, n)) {
    *end = ends[n - 1];
    return true;
  }
  return false;
}

bool redact_is_secret_name(const char *name, size_t n) {
  char dec[64];
  size_t m = 0, i = 0;
  while (m < sizeof dec) {
    int c = next_char(name, n, &i);
    if (c < 0) break;
    dec[m++] = (char)c;
  }
  if (m == sizeof dec) return false;
  for (size_t k = 0; k < sizeof secret_names / sizeof secret_names[0]; k++)
    if (strlen(secret_names[k]) == m && strncasecmp(dec, secret_names[k], m) == 0) return true;
  return false;
}

static bool value_end(unsigned char c) {
  return c == '&' || isspace(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == ',' ||
         c == ';' || c == '}' || c == ')' || c == '\0';
}

/* Where the value starting at in[i] ends. */
static size_t skip_value(const char *in, size_t len, size_t i) {
  if (i < len && (in[i] == '\'' || in[i] == '"')) { /* conninfo 'a b', JSON "x" */
    char q = in[i++];
    while (i < len && in[i] != q) {
      if (in[i] == '\\' && i + 1 < len) i++;
      i++;
    }
    return i < len ? i + 1 : len;
  }
  if (i + 2 < len && in[i] == '%' && in[i + 1] == '2' && in[i + 2] == '2') { /* %22 */
    size_t k = i + 3;
    while (k < len && !(in[k] == '%' && k + 2 < len && in[k + 1] == '2' && in[k + 2] == '2') &&
           in[k] != '&')
      k++;
    return k < len && in[k] == '%' ? k + 3 : k;
  }
  while (i < len && !value_end((unsigned char)in[i])) i++;
  return i;
}

/* When a secret parameter starts at in[i]: *vstart, *vend delimit its value. */
static bool secret_at(const char *in, size_t len, size_t i, size_t *vstart, size_t *vend) {
  /* a word boundary before it; the tail of a %XX escape counts as one: "%26password" */
  bool escaped = i >= 3 && in[i - 3] == '%' && hexval(in[i - 2]) >= 0 && hexval(in[i - 1]) >= 0;
  if (i > 0 && !escaped && name_char((unsigned char)in[i - 1])) return false;
  size_t j;
  if (!match_name(in, len, i, &j)) return false;
  bool quoted = i > 0 && in[i - 1] == '"';
  if (quoted && j < len && in[j] == '"') j++;
  while (j < len && in[j] == ' ') j++;
  if (j < len && in[j] == '=') j++;
  else if (j + 2 < len && in[j] == '%' && in[j + 1] == '3' && (in[j + 2] == 'D' || in[j + 2] == 'd')) j += 3;
  else if (quoted && j < len && in[j] == ':') j++;
  else return false;
  while (j < len && in[j] == ' ') j++;
  *vstart = j;
  *vend = skip_value(in, len, j);
  return true;
}

size_t redact_copy(const char *in, size_t len, char *out, size_t n) {
  if (!n) return 0;
  size_t o = 0;
  for (size_t i = 0; i < len && o + 1 < n;) {
    size_t vs, ve;
    if (secret_at(in, len, i, &vs, &ve)) {
      for (size_t k = i; k < vs && o + 1 < n; k++) out[o++] = in[k];
      for (const char *m = LOG_MASK; *m && o + 1 < n; m++) out[o++] = *m;
      i = ve;
      continue;
    }
    out[o++] = in[i++];
  }
  out[o] = '\0';
  return o;
}

void redact_inplace(char *s, size_t cap) {
  if (!s || !cap) return;
  size_t len = strnlen(s, cap);
  char stackbuf[2048];
  char *tmp = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
  if (!tmp) { /* cannot copy: never show it */
    s[0] = '\0';
    return;
  }
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  redact_copy(tmp, len, s, cap);
  if (tmp != stackbuf) free(tmp);
}

/* Logging to stderr: a timestamp, a level and the message, or one JSON object a line. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/redact.h"

log_level_t log_current_level = LOG_LEVEL_INFO;
static log_format_t log_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level_t level) { log_current_level = level; }
void log_set_format(log_format_t format) { log_format = format; }

const char *log_level_name(log_level_t level) {
  if (level > LOG_LEVEL_DEBUG) return "?";
  return level_names[level];
}

int log_level_parse(const char *name, log_level_t *out) {
  for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (log_level_t)i;
      return 0;
    }
  }
  return -EINVAL;
}

static void json_escape_to(FILE *f, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
}

/* Text lines: one event, one line. A control byte (a newline in a sub-account name)
 * is written as \n, \r, \t or \xHH, so no value can forge a line of its own. out
 * holds at least 4 * strlen(s) + 1 bytes. */
static void text_escape(const char *s, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != 0x7f) {
      *out++ = (char)c;
      continue;
    }
    *out++ = '\\';
    if (c == '\n') *out++ = 'n';
    else if (c == '\r') *out++ = 'r';
    else if (c == '\t') *out++ = 't';
    else {
      *out++ = 'x';
      *out++ = hex[c >> 4];
      *out++ = hex[c & 15];
    }
  }
  *out = '\0';
}

static log_recent_t recent[LOG_RECENT_MAX];
static size_t recent_n, recent_next; /* one thread logs: the loop's (the pool's seldom) */

size_t log_recent(log_recent_t *out, size_t max) {
  size_t n = recent_n < max ? recent_n : max;
  for (size_t i = 0; i < n; i++) out[i] = recent[(recent_next + LOG_RECENT_MAX - 1 - i) % LOG_RECENT_MAX];
  return n;
}

/* ,"key":"value" with the value redacted and escaped, when it is set. */
static void json_field(const char *key, const char *value) {
  if (!value) return;
  char v[512];
  snprintf(v, sizeof v, "%s", value);
  redact_inplace(v, sizeof v);
  fprintf(stderr, ",\"%s\":\"", key);
  json_escape_to(stderr, v);
  fputc('"', stderr);
}

static void log_emit(log_level_t level, const log_fields_t *fields, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void log_vwrite(log_level_t level, const char *fmt, va_list ap) { log_emit(level, NULL, fmt, ap); }

static void log_emit(log_level_t level, const log_fields_t *fields, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  redact_inplace(msg, sizeof msg); /* the last line of defence: no secret parameter value */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (level <= LOG_LEVEL_WARN) {
    log_recent_t *r = &recent[recent_next];
    r->time = (long long)ts.tv_sec;
    r->level = level;
    size_t n = strnlen(msg, sizeof r->msg - 1);
    memcpy(r->msg, msg, n);
    r->msg[n] = '\0';
    recent_next = (recent_next + 1) % LOG_RECENT_MAX;
    if (recent_n < LOG_RECENT_MAX) recent_n++;
  }
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  if (log_format == LOG_FORMAT_JSON) {
    fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when,
            ts.tv_nsec / 1000000, log_level_name(level));
    json_escape_to(stderr, msg);
    fputc('"', stderr);
    if (fields) {
      json_field("account", fields->account);
      json_field("imei", fields->imei);
      json_field("endpoint", fields->endpoint);
      json_field("stream", fields->stream);
      if (fields->code) fprintf(stderr, ",\"code\":%d", fields->code);
    }
    fputs("}\n", stderr);
  } else {
    char line[4 * sizeof msg + 1];
    text_escape(msg, line);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, log_level_name(level), line);
  }
}

void log_write(log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vwrite(level, fmt, ap);
  va_end(ap);
}

void log_fwrite(log_level_t level, const log_fields_t *fields, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_emit(level, fields, fmt, ap);
  va_end(ap);
}

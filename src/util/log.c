/* Logging to stderr: a timestamp, a level and the message, or one JSON object a line. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

void log_vwrite(log_level_t level, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  if (log_format == LOG_FORMAT_JSON) {
    fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when,
            ts.tv_nsec / 1000000, log_level_name(level));
    json_escape_to(stderr, msg);
    fputs("\"}\n", stderr);
  } else {
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, log_level_name(level), msg);
  }
}

void log_write(log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vwrite(level, fmt, ap);
  va_end(ap);
}

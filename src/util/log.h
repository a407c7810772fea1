/* Logging: one event per line on stderr, level checked before arguments are evaluated.
 * Never pass a password, md5 of a password, signature or token: use log_mask(). */
#ifndef FLEETARC_UTIL_LOG_H
#define FLEETARC_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
  LOG_LEVEL_ERROR = 0,
  LOG_LEVEL_WARN = 1,
  LOG_LEVEL_INFO = 2,
  LOG_LEVEL_DEBUG = 3,
} log_level_t;

typedef enum {
  LOG_FORMAT_TEXT = 0,
  LOG_FORMAT_JSON = 1,
} log_format_t;

extern log_level_t log_current_level;

void log_set_level(log_level_t level);
void log_set_format(log_format_t format);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, log_level_t *out) __attribute__((warn_unused_result));
const char *log_level_name(log_level_t level);

/* The structured fields of an event: what it is about, as separate keys of a JSON line
 * (log.format: json) for log pipelines to filter on; a text line carries them in its
 * message already and prints nothing more. NULL (or 0 for code) means absent. */
typedef struct log_fields {
  const char *account;  /* the configured account name */
  const char *imei;     /* a device, or several as "a,b,c" */
  const char *endpoint; /* the API endpoint's key: "track", "alarm/list" */
  const char *stream;   /* "playback", "alarms", "mileage" (domain/stream.h) */
  int code;             /* the API's code (spec chapter 3), 0: none */
} log_fields_t;

/* LOG_FIELDS(.account = a, .imei = i): a pointer to a temporary log_fields_t. */
#define LOG_FIELDS(...) (&(const log_fields_t){__VA_ARGS__})

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_fwrite(log_level_t level, const log_fields_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_at(level, ...) \
  do { if ((level) <= log_current_level) log_write((level), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* The same with structured fields: log_warn_f(LOG_FIELDS(.account = a), "...", ...). */
#define log_at_f(level, fields, ...) \
  do { if ((level) <= log_current_level) log_fwrite((level), (fields), __VA_ARGS__); } while (0)
#define log_error_f(fields, ...) log_at_f(LOG_LEVEL_ERROR, fields, __VA_ARGS__)
#define log_warn_f(fields, ...) log_at_f(LOG_LEVEL_WARN, fields, __VA_ARGS__)
#define log_info_f(fields, ...) log_at_f(LOG_LEVEL_INFO, fields, __VA_ARGS__)
#define log_debug_f(fields, ...) log_at_f(LOG_LEVEL_DEBUG, fields, __VA_ARGS__)

/* The last LOG_RECENT_MAX warnings and errors, kept in memory for the console. */
#define LOG_RECENT_MAX 20
typedef struct log_recent {
  long long time;    /* UNIX seconds */
  log_level_t level; /* error or warn */
  char msg[512];     /* as printed (redacted), cut */
} log_recent_t;
/* Copies up to max of them to out, newest first; returns how many. */
size_t log_recent(log_recent_t *out, size_t max);

/* The text to print in place of a secret: "***" (never any of its characters). */
#define LOG_MASK "***"

#endif

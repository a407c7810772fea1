/* Inside src/config: the key table (keys.c), read by the loader (config.c, the only file
 * that sees libyaml), the printer, the reload diff and the reference (keys.c), and the
 * conversions, defaults and checks that need no YAML (values.c). */
#ifndef FLEETARC_CONFIG_INTERNAL_H
#define FLEETARC_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define SEC_MS ((int64_t)1000)
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

typedef enum {
  T_STRING,   /* char *, NULL when unset */
  T_DURATION, /* int64_t ms, "30s" */
  T_INT,      /* int */
  T_BYTES,    /* int64_t, with a KiB, MiB or GiB suffix allowed */
  T_BOOL,     /* bool */
  T_ENUM,     /* int: the index of the value in names */
  T_STREAMS,  /* unsigned STREAM_BIT() set, a list of stream names */
  T_RATES,    /* api.rate_limits: `default` and a key per endpoint (domain/endpoint.h) */
  T_ACCOUNTS, /* the list of accounts (account_rows) */
} row_type_t;

enum {
  K_RESTART = 1u << 0,  /* a reload keeps the running value until a restart */
  K_SECRET = 1u << 1,   /* never printed; its ${VAR}s leave the environment once read */
  K_REQUIRED = 1u << 2, /* the key must be given (required says how) */
  K_CONNINFO = 1u << 3, /* a libpq conninfo: printed with its password masked */
  K_ZERO_OFF = 1u << 4, /* a duration whose 0 means "off": printed empty */
};

/* A string key's own check and conversion after ${VAR} expansion (the loader's hooks). */
typedef enum {
  CHECK_NONE = 0,
  CHECK_URL,       /* api.base_url: scheme://host[:port], stored without a trailing / */
  CHECK_CA_FILE,   /* a readable file, relative to the configuration's folder */
  CHECK_TOKEN_DIR, /* a directory relative to the configuration's folder, or "" */
  CHECK_LISTEN,    /* HOST:PORT with an IPv4 literal or [IPv6] */
  CHECK_AUTH,      /* a bearer token or file:PATH, stored as the Authorization value */
  CHECK_TIMEZONE,  /* an IANA zone name */
  CHECK_COUNT
} row_check_t;

/* One configuration key. Rows of one section follow each other; a section's keys are
 * listed (in "unknown key" messages) in table order. */
typedef struct row {
  const char *path;         /* dotted: "api.retry.max_attempts" */
  row_type_t type;
  size_t off;               /* of the field in config_t (config_account_t for account_rows) */
  const char *def;          /* the default as conf/fleetarc.yaml writes it; NULL: none */
  int64_t min, max;         /* T_DURATION (ms), T_INT, T_BYTES */
  unsigned flags;           /* K_* */
  const char *expected;     /* what belongs there, for "expected X, got a list"; T_ENUM:
                             * "a NOUN", NOUN for "unknown NOUN 'x'" */
  const char *const *names; /* T_ENUM: the values, NULL-terminated */
  row_check_t check;        /* T_STRING: its own check, if any */
  const char *required;     /* K_REQUIRED: the message when the key is missing */
  const char *doc;          /* one line for the reference */
} row_t;

extern const row_t config_rows[];
extern const size_t config_n_rows;
/* The keys of one item of `accounts`. */
extern const row_t account_rows[];
extern const size_t account_n_rows;

/* Built-in spacings of the endpoints (what real hosts enforce: README.md), as written in
 * conf/fleetarc.yaml; the other endpoints take api.rate_limits.default. */
typedef struct builtin_rate {
  api_endpoint_t ep;
  const char *def;
} builtin_rate_t;
extern const builtin_rate_t config_builtin_rates[];
extern const size_t config_n_builtin_rates;

#define ROW_FIELD(base, r, T) ((T *)(void *)((char *)(base) + (r)->off))
#define ROW_CFIELD(base, r, T) ((const T *)(const void *)((const char *)(base) + (r)->off))

/* ---- values.c: conversions, defaults and checks that need no YAML ---- */

/* s made safe to show in a message: control bytes escaped, cut to about 48 chars. */
const char *values_shown(const char *s, size_t len, char *out, size_t n);
/* "expected one of: a, b, c; did you mean 'b'?" into out. */
void values_expected_list(char *out, size_t n, const char *got, const char *const *names, size_t count);
/* Converts s, the expanded text of a scalar key (raw: as written, to quote), into the
 * field of r in base (s may be changed). 0, or -1 with the reason in why. */
int values_convert(const row_t *r, char *s, const char *raw, void *base, char *why, size_t n);
/* Every endpoint's spacing from api.rate_limits.default and the built-in values. */
void values_rates_resolve(config_t *cfg);
/* The defaults of the scalar rows into base: 0, or -ENOMEM. */
int values_defaults_apply(const row_t *rows, size_t n, void *base);
/* Every default of cfg (zeroed): 0, or -ENOMEM. */
int values_defaults(config_t *cfg);

/* NULL when s is scheme://host[:port] with at most one trailing slash (then *end is
 * where the kept part ends), else why not. */
const char *values_url_problem(const char *s, size_t *end);
/* "HOST:PORT" with an IPv4 literal or a bracketed IPv6 one, port 0 to 65535. */
bool values_listen_valid(const char *s);
/* An IANA zone name as PostgreSQL takes it. */
bool values_timezone_valid(const char *s);
/* Reads a secret file into buf (NUL-terminated, trailing CR/LF stripped): 0, -errno,
 * -EFBIG (longer than cap - 1) or -EINVAL (not a regular file). */
int values_secret_file_read(const char *path, char *buf, size_t cap, size_t *len);
/* RFC 4648 base64 of in[0..n) into out (4 * ((n + 2) / 3) + 1 bytes). */
void values_base64(const unsigned char *in, size_t n, char *out);
/* A variable read for a secret: taken out of the environment (and wiped there) the
 * first time, kept for later reloads. NULL when unset. */
const char *values_env_secret(const char *name);
/* A variable for any other value: the environment, else one a secret already took. */
const char *values_env(const char *name);
/* Frees a string that may have held a secret. */
void values_secret_free(char *s);
bool values_parse_int64(const char *s, int64_t *out);

#endif

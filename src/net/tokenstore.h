/* The token store shared by the processes of one host: per account (base_url + account)
 * a lock file and a token file in one 0700 directory, so that `fleetarc run` and a CLI
 * command on the same account log in one at a time and adopt each other's token instead
 * of invalidating it (a new token kills the old one at once). Plain blocking file I/O on
 * tiny files in a runtime directory (tmpfs); the lock itself is only ever tried
 * (LOCK_NB), never waited for, so no call here blocks the loop for long. */
#ifndef FLEETARC_NET_TOKENSTORE_H
#define FLEETARC_NET_TOKENSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tokenstore tokenstore_t;

#define TOKENSTORE_TOKEN_MAX 255 /* longer tokens are not stored (the file is refused) */

/* One token as the file holds it. token is a SECRET: never log it. */
typedef struct tokenstore_entry {
  char token[TOKENSTORE_TOKEN_MAX + 1];
  int64_t expires_at;   /* UNIX seconds, local clock: obtained_at + expires_in */
  int64_t obtained_at;  /* UNIX seconds, local clock, when the login was sent */
  uint64_t generation;  /* 1 for the first token written, +1 per write */
  bool same_credentials; /* written by a process with the password this store was opened
                          * with: a process configured with another (wrong) password must
                          * not borrow a token its own login would not get */
} tokenstore_entry_t;

/* Makes dir usable: creates it (and missing parents) with mode 0700 when it is missing,
 * and checks that it is a directory owned by this user that neither group nor others
 * may write. An existing directory is never chmod'ed: a wrong one is refused. Returns 0
 * or -errno (-ENOTDIR, -EPERM when another user owns it or it is group/world-writable,
 * ...) with the reason in why (n bytes; may be NULL). */
int tokenstore_dir_check(const char *dir, char *why, size_t n) __attribute__((warn_unused_result));
/* tokenstore_dir_check without the reason. */
int tokenstore_dir_prepare(const char *dir) __attribute__((warn_unused_result));

/* The file name stem of an account in the store: "acct-" and the md5 of base_url, a
 * newline and account, in hex (never the plain name: it may hold anything). out holds
 * at least 38 bytes. Returns 0 or -EIO. */
int tokenstore_stem(const char *base_url, const char *account, char out[38])
    __attribute__((warn_unused_result));

/* The store of one account in dir (which tokenstore_dir_prepare accepted); the strings
 * are copied, password_md5 (secret) only as a salted md5 that the token file carries to
 * tell same_credentials. The lock file is opened on the first tokenstore_lock_try. NULL on ENOMEM
 * or when the stem cannot be computed. */
tokenstore_t *tokenstore_new(const char *dir, const char *base_url, const char *account,
                             const char *password_md5);
/* Closes the lock file (which releases the lock); NULL is a no-op. */
void tokenstore_free(tokenstore_t *ts);

/* The path of the token file (for messages: it holds no secret). */
const char *tokenstore_token_path(const tokenstore_t *ts);

/* Tries to take the account's lock (flock LOCK_EX | LOCK_NB), never waits. 0: held
 * (also when it was held already), -EWOULDBLOCK: another process (or another open of the
 * file) holds it, else -errno (the lock file cannot be opened). The kernel releases it
 * when the process dies, so a crashed holder wedges nobody. */
int tokenstore_lock_try(tokenstore_t *ts) __attribute__((warn_unused_result));
/* Releases the lock if held. */
void tokenstore_unlock(tokenstore_t *ts);
bool tokenstore_locked(const tokenstore_t *ts);

/* Reads the token file into *out. 0, -ENOENT (no token yet), -EBADMSG (a corrupt or
 * foreign file: logged as a warning naming the file, never its content) or -errno. */
int tokenstore_read(tokenstore_t *ts, tokenstore_entry_t *out) __attribute__((warn_unused_result));

/* Writes token (secret; 1..TOKENSTORE_TOKEN_MAX printable characters without space) with
 * its times, atomically (a 0600 temporary file renamed over the token file); the
 * generation is the file's previous one plus 1, returned in *generation if not NULL.
 * Meant to be called with the lock held. Returns 0, -EINVAL (bad token) or -errno. */
int tokenstore_write(tokenstore_t *ts, const char *token, int64_t obtained_at, int64_t expires_at,
                     uint64_t *generation) __attribute__((warn_unused_result));

/* The wall-clock time (UNIX seconds) from which e should be refreshed: obtained_at plus
 * refresh_fraction of its lifetime, the same margin a process applies to its own logins. */
int64_t tokenstore_refresh_at(const tokenstore_entry_t *e, double refresh_fraction);

#endif

/* libcurl multi on libuv (after curl's multi-uv.c and tool_operate.c's parallel_event):
 * one uv_poll per socket curl tells us about (never two on one fd), one uv_timer for
 * curl's timeouts, curl_multi_info_read after every socket_action. A POST never rides a
 * reused connection: curl's silent resend exists only for reused ones. */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/version.h"

/* One socket curl asked us to watch. Freed in on_sock_close only. */
typedef struct http_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  http_t *h;
  struct http_sock *prev, *next;
} http_sock_t;

typedef struct http_req {
  http_t *h;
  CURL *easy;
  char *url;
  api_method_t method;
  http_done_cb cb;
  void *arg;
  buf_t body;
  bool too_large;
  int64_t date;
  uint64_t started_ms;
  char errbuf[CURL_ERROR_SIZE];
  struct http_req *prev, *next; /* on the queue or on the in-flight list */
} http_req_t;

typedef struct http_list {
  http_req_t *head, *tail;
  size_t n;
} http_list_t;

struct http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  http_options_t opt;
  char *ca_file, *user_agent;
  struct curl_slist *post_headers;
  http_list_t queue;     /* waiting for a free slot, FIFO */
  http_list_t in_flight; /* added to the multi */
  http_sock_t *socks;
  int dispatching;       /* >0 while completion callbacks may run */
  bool closing;          /* http_close() was called */
  bool shut;             /* curl is cleaned up; only handle closes remain */
  int open_handles;      /* timer + sockets not yet through on_close */
  void (*on_closed)(void *arg);
  void *closed_arg;
};

static void list_push(http_list_t *l, http_req_t *r) {
  r->next = NULL;
  r->prev = l->tail;
  if (l->tail) l->tail->next = r;
  else l->head = r;
  l->tail = r;
  l->n++;
}

static void list_unlink(http_list_t *l, http_req_t *r) {
  if (r->prev) r->prev->next = r->next;
  else l->head = r->next;
  if (r->next) r->next->prev = r->prev;
  else l->tail = r->prev;
  r->prev = r->next = NULL;
  l->n--;
}

static void req_free(http_req_t *r) {
  if (!r) return;
  if (r->easy) curl_easy_cleanup(r->easy);
  /* The URL holds a token or a signature; a login's answer holds the new token. */
  if (r->body.data) explicit_bzero(r->body.data, r->body.len);
  if (r->url) explicit_bzero(r->url, strlen(r->url));
  buf_free(&r->body);
  free(r->url);
  free(r);
}

/* ---- URL masking ---- */

void http_url_mask(const char *url, char *out, size_t n) {
  if (!n) return;
  redact_copy(url, strlen(url), out, n);
}

/* ---- curl callbacks ---- */

static size_t cb_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  http_req_t *r = userdata;
  size_t n = size * nmemb;
  int rc = buf_append(&r->body, ptr, n);
  if (rc == -EFBIG) r->too_large = true;
  return rc ? 0 : n; /* short count: curl fails the transfer with CURLE_WRITE_ERROR */
}

static size_t cb_header(char *ptr, size_t size, size_t nitems, void *userdata) {
  http_req_t *r = userdata;
  size_t n = size * nitems;
  if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
    r->date = 0; /* a new response (after 100 Continue, say): forget the last one's */
  } else if (n > 5 && strncasecmp(ptr, "Date:", 5) == 0) {
    char value[128];
    size_t len = n - 5 < sizeof value - 1 ? n - 5 : sizeof value - 1;
    memcpy(value, ptr + 5, len);
    value[len] = '\0';
    time_t t = curl_getdate(value, NULL);
    if (t > 0) r->date = (int64_t)t;
  }
  return n;
}

/* The last handle through on_close frees h: the owner is freed in on_close only. */
static void handle_closed(http_t *h) {
  h->open_handles--;
  if (h->shut && h->open_handles == 0) {
    void (*on_closed)(void *) = h->on_closed;
    void *arg = h->closed_arg;
    free(h);
    if (on_closed) on_closed(arg);
  }
}

static void on_sock_close(uv_handle_t *handle) {
  http_sock_t *s = handle->data;
  http_t *h = s->h;
  free(s);
  handle_closed(h);
}

static void sock_close(http_t *h, http_sock_t *s) {
  if (s->prev) s->prev->next = s->next;
  else h->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_sock_close);
}

static void check_multi_info(http_t *h);

/* curl_multi_socket_action, then the finished transfers (read whatever it returned). A
 * failure of the multi handle itself (out of memory, a socket it does not know, one of
 * our callbacks refused) would otherwise pass unseen: it is logged with its cause. */
static void socket_action(http_t *h, curl_socket_t fd, int flags) {
  int running = 0;
  CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
  if (mc != CURLM_OK) {
    if (fd == CURL_SOCKET_TIMEOUT)
      log_error("http: curl_multi_socket_action on curl's timeout failed: %s (CURLMcode %d)",
                curl_multi_strerror(mc), (int)mc);
    else
      log_error("http: curl_multi_socket_action on socket %d failed: %s (CURLMcode %d)",
                (int)fd, curl_multi_strerror(mc), (int)mc);
  }
  check_multi_info(h);
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  http_sock_t *s = poll->data;
  http_t *h = s->h;
  curl_socket_t fd = s->fd; /* s may be closed inside socket_action */
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  socket_action(h, fd, flags);
}

static int cb_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp) {
  (void)easy;
  http_t *h = userp;
  http_sock_t *s = socketp;
  if (h->shut) return 0;
  if (action == CURL_POLL_REMOVE) {
    if (s) {
      sock_close(h, s);
      curl_multi_assign(h->multi, fd, NULL); /* the fd may come back at once, fresh */
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return -1;
    if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->fd = fd;
    s->h = h;
    s->poll.data = s;
    s->next = h->socks;
    if (h->socks) h->socks->prev = s;
    h->socks = s;
    h->open_handles++;
    curl_multi_assign(h->multi, fd, s);
  }
  int events = 0;
  if (action == CURL_POLL_IN || action == CURL_POLL_INOUT) events |= UV_READABLE;
  if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT) events |= UV_WRITABLE;
  return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timer(uv_timer_t *timer) { socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0); }

/* Never calls socket_action itself: 0 ms means "on the next loop iteration". */
static int cb_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  http_t *h = userp;
  if (h->shut) return 0;
  if (timeout_ms < 0) uv_timer_stop(&h->timer);
  else uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- completion ---- */

/* A short printable excerpt of an error body: secret parameters masked first (an error
 * page may echo the request line), then control bytes and runs of white space become
 * one space and non-ASCII becomes '?'. */
static void body_excerpt(const char *body, size_t len, char *out, size_t n) {
  /* Only the head is ever shown: mask a few KiB of it. A body cut here loses its last
   * bytes, where a secret name may have been cut in half. */
  enum { HEAD = 4096, CUT_SLACK = 64 };
  char head[HEAD + 8];
  size_t take = len > HEAD ? HEAD : len;
  size_t hlen = redact_copy(body, take, head, sizeof head);
  if (len > HEAD) hlen = hlen > CUT_SLACK ? hlen - CUT_SLACK : 0;
  size_t o = 0;
  bool space = false;
  size_t i = 0;
  for (; i < hlen && o + 4 < n && o < 160; i++) {
    unsigned char c = (unsigned char)head[i];
    if (c <= 0x20 || c == 0x7f) {
      if (!space && o) out[o++] = ' ';
      space = true;
      continue;
    }
    space = false;
    out[o++] = c < 0x80 ? (char)c : '?';
  }
  while (o && out[o - 1] == ' ') o--;
  if (o + 4 <= n && (i < hlen || len > HEAD) && o > 0) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  explicit_bzero(head, sizeof head);
}

/* The answers of the login and password endpoints are never quoted: an error page there
 * may echo the signature or the password's md5 in a form no mask knows. */
static bool url_is_credential_endpoint(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : url;
  if (!p) return false;
  size_t plen = strcspn(p, "?#");
  static const api_endpoint_t eps[] = {API_EP_AUTHORIZATION, API_EP_USER_PASSWORD_SET};
  for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
    const char *ep = api_endpoint_path(eps[i]);
    size_t elen = strlen(ep);
    /* base_url may carry a prefix: the endpoint is the path's tail */
    if (plen >= elen && strncmp(p + plen - elen, ep, elen) == 0) return true;
  }
  return false;
}

/* True only when the request cannot have left: curl failed before it had a connection to
 * send on. A connect timeout is CURLE_OPERATION_TIMEDOUT like any other, so it counts only
 * while the TCP connection (and for https the TLS handshake) was not complete. Meaningful
 * for a fresh connection (every POST); on a reused one connect times are not this
 * request's, which is why GETs need not ask. */
static bool req_unsent(http_req_t *r, CURLcode result) {
  if (result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_COULDNT_RESOLVE_PROXY ||
      result == CURLE_COULDNT_CONNECT)
    return true;
  if (result != CURLE_OPERATION_TIMEDOUT) return false;
  curl_off_t connect_us = 0, appconnect_us = 0;
  if (curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK) return false;
  if (connect_us == 0) return true;
  if (strncasecmp(r->url, "https:", 6) != 0) return false;
  if (curl_easy_getinfo(r->easy, CURLINFO_APPCONNECT_TIME_T, &appconnect_us) != CURLE_OK) return false;
  return appconnect_us == 0;
}

static void req_finish(http_t *h, http_req_t *r, CURLcode result, bool cancelled) {
  http_response_t res = {.error = HTTP_OK, .body = "", .message = ""};
  char message[512];
  message[0] = '\0';
  long status = 0;
  if (r->easy && !cancelled) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  res.status = status;
  res.date = r->date;
  if (r->body.data) {
    res.body = r->body.data;
    res.body_len = r->body.len;
  }
  if (r->easy && !cancelled && result != CURLE_OK) res.unsent = req_unsent(r, result);
  if (cancelled) {
    res.error = HTTP_ERR_CANCELLED;
    snprintf(message, sizeof message, "cancelled: the HTTP client is closing");
  } else if (result == CURLE_WRITE_ERROR && r->too_large) {
    res.error = HTTP_ERR_TOO_LARGE;
    snprintf(message, sizeof message, "body larger than %zu bytes", h->opt.max_body);
  } else if (result == CURLE_OPERATION_TIMEDOUT) {
    res.error = HTTP_ERR_TIMEOUT;
    snprintf(message, sizeof message, "timed out after %ld ms", h->opt.timeout_ms);
  } else if (result != CURLE_OK) {
    res.error = HTTP_ERR_NETWORK;
    char raw[CURL_ERROR_SIZE + 64];
    snprintf(raw, sizeof raw, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
    http_url_mask(raw, message, sizeof message); /* curl's text may quote the URL */
  } else if (status >= 400) {
    res.error = HTTP_ERR_STATUS;
    char excerpt[200];
    if (url_is_credential_endpoint(r->url))
      snprintf(excerpt, sizeof excerpt, "(%zu bytes, not shown: an answer of a credential endpoint)",
               res.body_len);
    else body_excerpt(res.body, res.body_len, excerpt, sizeof excerpt);
    snprintf(message, sizeof message, "HTTP %ld: %s", status, excerpt[0] ? excerpt : "(empty body)");
  }
  res.message = message;
  if (log_current_level >= LOG_LEVEL_DEBUG) {
    char masked[1024];
    http_url_mask(r->url, masked, sizeof masked);
    log_debug("http: %s %s -> %ld %s%s (%zu bytes, %llu ms)", r->method == API_METHOD_POST ? "POST" : "GET",
              masked, status, res.error == HTTP_OK ? "ok" : message, res.unsent ? " (not sent)" : "",
              res.body_len, (unsigned long long)(uv_now(h->loop) - r->started_ms));
  }
  r->cb(r->arg, &res);
  req_free(r);
}

static void http_shutdown(http_t *h);

/* Completion callbacks run between dispatch_begin/end; an http_close() from one of them
 * takes effect at the outermost end. */
static void dispatch_begin(http_t *h) { h->dispatching++; }
static void dispatch_end(http_t *h) {
  h->dispatching--;
  if (h->closing && !h->dispatching && !h->shut) http_shutdown(h);
}

static void start_queued(http_t *h) {
  while (!h->closing && h->queue.head && h->in_flight.n < h->opt.max_in_flight) {
    http_req_t *r = h->queue.head;
    list_unlink(&h->queue, r);
    r->started_ms = uv_now(h->loop);
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
      snprintf(r->errbuf, sizeof r->errbuf, "curl_multi_add_handle failed");
      dispatch_begin(h);
      req_finish(h, r, CURLE_FAILED_INIT, false);
      dispatch_end(h);
      continue;
    }
    list_push(&h->in_flight, r);
  }
}

static void check_multi_info(http_t *h) {
  if (h->shut) return;
  dispatch_begin(h);
  CURLMsg *msg;
  int left = 0;
  while ((msg = curl_multi_info_read(h->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    http_req_t *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_multi_remove_handle(h->multi, easy);
    list_unlink(&h->in_flight, r);
    req_finish(h, r, result, false);
    if (h->closing) break;
  }
  start_queued(h);
  dispatch_end(h);
}

/* ---- public ---- */

int http_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void) { curl_global_cleanup(); }

http_t *http_new(uv_loop_t *loop, const http_options_t *opt) {
  http_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->loop = loop;
  if (opt) h->opt = *opt;
  if (!h->opt.timeout_ms) h->opt.timeout_ms = 30000;
  if (!h->opt.connect_timeout_ms) h->opt.connect_timeout_ms = 10000;
  if (!h->opt.max_in_flight) h->opt.max_in_flight = 16;
  if (!h->opt.max_body) h->opt.max_body = 16u << 20;
  if (h->opt.ca_file && !(h->ca_file = strdup(h->opt.ca_file))) goto fail;
  if (h->opt.user_agent) {
    h->user_agent = strdup(h->opt.user_agent);
  } else if ((h->user_agent = malloc(sizeof "fleetarc/" + strlen(fleetarc_version)))) {
    strcpy(h->user_agent, "fleetarc/");
    strcat(h->user_agent, fleetarc_version);
  }
  if (!h->user_agent) goto fail;
  h->opt.ca_file = h->ca_file;
  h->opt.user_agent = h->user_agent;
  h->post_headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
  if (!h->post_headers) goto fail;
  h->multi = curl_multi_init();
  if (!h->multi) goto fail;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, cb_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->opt.max_in_flight + 4);
  if (uv_timer_init(loop, &h->timer) != 0) goto fail;
  h->timer.data = h;
  h->open_handles = 1;
  return h;
fail:
  if (h->multi) curl_multi_cleanup(h->multi);
  curl_slist_free_all(h->post_headers);
  free(h->user_agent);
  free(h->ca_file);
  free(h);
  return NULL;
}

int http_request(http_t *h, api_method_t method, const char *url, http_done_cb cb, void *arg) {
  if (h->closing) return -ESHUTDOWN;
  int rc = -ENOMEM;
  http_req_t *r = calloc(1, sizeof *r);
  if (!r) goto fail;
  r->h = h;
  r->method = method;
  r->cb = cb;
  r->arg = arg;
  r->body.limit = h->opt.max_body;
  if (!(r->url = strdup(url))) goto fail;
  if (!(r->easy = curl_easy_init())) goto fail;
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cb_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cb_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->opt.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->opt.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (h->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
  curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (method == API_METHOD_POST) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->post_headers);
    /* At most once: curl resends a request by itself only when a reused connection died
     * before any answer byte (and on an HTTP/2 REFUSED_STREAM, which the server promises
     * it did not act on). A connection of its own, closed after, leaves nothing to resend
     * on; redirects are not followed (curl's default). */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  if (h->queue.n || h->in_flight.n >= h->opt.max_in_flight) {
    list_push(&h->queue, r); /* FIFO: started by a completion */
    return 0;
  }
  /* curl only starts the transfer through the timer it arms: cb never runs from inside
   * this call. */
  r->started_ms = uv_now(h->loop);
  if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
    rc = -EIO;
    goto fail;
  }
  list_push(&h->in_flight, r);
  return 0;
fail:
  req_free(r);
  return rc;
}

size_t http_pending(const http_t *h) { return h->queue.n + h->in_flight.n; }

static void on_timer_close(uv_handle_t *handle) { handle_closed(handle->data); }

/* Order matters: cancel transfers, stop and close every poll (so no watcher outlives its
 * fd), curl_multi_cleanup while the loop still runs, then close the timer. */
static void http_shutdown(http_t *h) {
  h->dispatching++; /* a cancel callback calling http_close() again must not recurse here */
  while (h->queue.head) {
    http_req_t *r = h->queue.head;
    list_unlink(&h->queue, r);
    req_finish(h, r, CURLE_OK, true);
  }
  while (h->in_flight.head) {
    http_req_t *r = h->in_flight.head;
    list_unlink(&h->in_flight, r);
    curl_multi_remove_handle(h->multi, r->easy);
    req_finish(h, r, CURLE_OK, true);
  }
  h->dispatching--;
  while (h->socks) {
    http_sock_t *s = h->socks;
    curl_multi_assign(h->multi, s->fd, NULL);
    sock_close(h, s);
  }
  h->shut = true;
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  curl_slist_free_all(h->post_headers);
  h->post_headers = NULL;
  free(h->user_agent);
  free(h->ca_file);
  h->user_agent = h->ca_file = NULL;
  uv_timer_stop(&h->timer);
  uv_close((uv_handle_t *)&h->timer, on_timer_close);
}

void http_close(http_t *h, void (*on_closed)(void *arg), void *arg) {
  if (!h || h->closing) return;
  h->closing = true;
  h->on_closed = on_closed;
  h->closed_arg = arg;
  if (!h->dispatching) http_shutdown(h);
}

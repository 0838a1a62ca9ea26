// onair's binding of libsrt: one SRT listener per server object.
//
// - The listen callback (libsrt's receiving thread) asks JavaScript for a verdict on the caller's
//   streamid before the connection is accepted: accept, with an optional per-stream passphrase,
//   or reject with an SRT reject reason. It waits at most `verdictWaitMs` for the answer and
//   rejects when none came (SRT_REJX_OVERLOAD), so a busy event loop never stalls libsrt long.
// - A native thread runs srt_epoll_uwait over the listener and every accepted socket: it
//   accepts, reads whole SRT messages into batches of up to BATCH_BYTES per socket per wakeup,
//   and hands events (accept, data, closed, writable) to JavaScript through a thread-safe
//   function whose queue is bounded (the thread blocks when it is full, and libsrt's own
//   receive buffer then holds or drops, as it does for any slow reader).
// - JavaScript sends (non-blocking; a full send buffer arms a writable event), reads statistics
//   and closes sockets on its own thread.
#include <node_api.h>
#include <srt/srt.h>
#include <srt/access_control.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define MAX_EVENTS 64
#define MAX_MESSAGE 1500
#define BATCH_BYTES (64 * 1316)
#define EVENT_QUEUE 256
#define MAX_STREAMID 512
#define MAX_PASSPHRASE 80

enum { EV_ACCEPT = 1, EV_DATA = 2, EV_CLOSED = 3, EV_WRITABLE = 4 };

typedef struct {
  int type;
  SRTSOCKET sock;
  char *data; // EV_DATA: the bytes; EV_ACCEPT: the streamid (NUL-terminated)
  size_t len;
  char ip[INET6_ADDRSTRLEN];
  int port;
  int reason; // EV_CLOSED: the socket's SRT_SOCKSTATUS
} event_t;

typedef struct {
  SRTSOCKET sock;
  char streamid[MAX_STREAMID + 1];
  char ip[INET6_ADDRSTRLEN];
  int port;
  int done;
  int abandoned;
  int accept;
  int reject;
  int has_passphrase;
  char passphrase[MAX_PASSPHRASE + 1];
} verdict_t;

typedef struct {
  SRTSOCKET ls;
  int eid;
  pthread_t thread;
  int thread_started;
  atomic_int stopping;
  int closed;
  int verdict_wait_ms;
  int in_hook;
  atomic_int refs; // the JavaScript handle and the verdict function's finalizer
  pthread_mutex_t mu;
  pthread_cond_t cv;
  napi_threadsafe_function events;
  napi_threadsafe_function verdicts;
} server_t;

static atomic_int started = 0;

#define CHECK(env, call)                                                                           \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error((env), NULL, "onair-srt: " #call " failed");                                \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static napi_value throw_srt(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, srt_getlasterror_str());
  napi_throw_error(env, "ERR_SRT", message);
  return NULL;
}

static void address_of(const struct sockaddr *sa, char *ip, int *port) {
  ip[0] = '\0';
  *port = 0;
  if (sa == NULL) return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, INET6_ADDRSTRLEN);
    *port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, INET6_ADDRSTRLEN);
    *port = ntohs(in6->sin6_port);
  }
}

// ---- the listen callback (libsrt's thread) ----

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec += 1;
    ts->tv_nsec -= 1000000000L;
  }
}

static int listen_hook(void *opaque, SRTSOCKET ns, int hsversion, const struct sockaddr *peer,
                       const char *streamid) {
  (void)hsversion;
  server_t *s = opaque;
  if (atomic_load(&s->stopping)) {
    srt_setrejectreason(ns, SRT_REJX_DOWN);
    return -1;
  }
  size_t length = streamid == NULL ? 0 : strnlen(streamid, MAX_STREAMID + 1);
  if (length > MAX_STREAMID) {
    srt_setrejectreason(ns, SRT_REJX_BAD_REQUEST);
    return -1;
  }
  verdict_t *v = calloc(1, sizeof *v);
  if (v == NULL) {
    srt_setrejectreason(ns, SRT_REJX_OVERLOAD);
    return -1;
  }
  v->sock = ns;
  if (length > 0) memcpy(v->streamid, streamid, length);
  address_of(peer, v->ip, &v->port);

  pthread_mutex_lock(&s->mu);
  if (atomic_load(&s->stopping)) {
    pthread_mutex_unlock(&s->mu);
    free(v);
    srt_setrejectreason(ns, SRT_REJX_DOWN);
    return -1;
  }
  s->in_hook++;
  pthread_mutex_unlock(&s->mu);

  int result = -1;
  int reject = SRT_REJX_OVERLOAD;
  if (napi_call_threadsafe_function(s->verdicts, v, napi_tsfn_nonblocking) != napi_ok) {
    free(v);
    v = NULL;
  }
  pthread_mutex_lock(&s->mu);
  if (v != NULL) {
    struct timespec until;
    deadline_in(&until, s->verdict_wait_ms);
    while (!v->done) {
      if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
    }
    if (!v->done) {
      v->abandoned = 1; // the JavaScript side frees it when it comes to it
    } else {
      if (v->accept) {
        result = 0;
        if (v->has_passphrase) {
          if (srt_setsockflag(ns, SRTO_PASSPHRASE, v->passphrase, (int)strlen(v->passphrase)) ==
              SRT_ERROR) {
            result = -1;
            reject = SRT_REJX_ISE;
          }
        }
      } else {
        reject = v->reject;
      }
      free(v);
    }
  }
  s->in_hook--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (result != 0) srt_setrejectreason(ns, reject);
  return result;
}

// JavaScript thread: (sock, streamid, ip, port) -> { accept, reject?, passphrase? }
static void verdict_call_js(napi_env env, napi_value callback, void *context, void *data) {
  server_t *s = context;
  verdict_t *v = data;
  int accept = 0;
  int reject = SRT_REJX_ISE;
  int has_passphrase = 0;
  char passphrase[MAX_PASSPHRASE + 1] = {0};

  pthread_mutex_lock(&s->mu);
  int abandoned = v->abandoned;
  pthread_mutex_unlock(&s->mu);

  if (env != NULL && callback != NULL && !abandoned) {
    napi_value argv[4], global, answer, field;
    napi_create_int32(env, v->sock, &argv[0]);
    napi_create_string_utf8(env, v->streamid, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_string_utf8(env, v->ip, NAPI_AUTO_LENGTH, &argv[2]);
    napi_create_int32(env, v->port, &argv[3]);
    napi_get_global(env, &global);
    if (napi_call_function(env, global, callback, 4, argv, &answer) == napi_ok) {
      bool present = false, flag = false;
      napi_valuetype type;
      if (napi_typeof(env, answer, &type) == napi_ok && type == napi_object) {
        if (napi_get_named_property(env, answer, "accept", &field) == napi_ok &&
            napi_get_value_bool(env, field, &flag) == napi_ok)
          accept = flag;
        if (napi_has_named_property(env, answer, "reject", &present) == napi_ok && present &&
            napi_get_named_property(env, answer, "reject", &field) == napi_ok)
          napi_get_value_int32(env, field, &reject);
        if (napi_has_named_property(env, answer, "passphrase", &present) == napi_ok && present &&
            napi_get_named_property(env, answer, "passphrase", &field) == napi_ok &&
            napi_typeof(env, field, &type) == napi_ok && type == napi_string) {
          size_t copied = 0;
          if (napi_get_value_string_utf8(env, field, passphrase, sizeof passphrase, &copied) ==
              napi_ok)
            has_passphrase = 1;
        }
      }
    } else {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error); // a verdict that throws is a rejection
      accept = 0;
    }
  }

  pthread_mutex_lock(&s->mu);
  if (v->abandoned) {
    pthread_mutex_unlock(&s->mu);
    free(v);
    return;
  }
  v->accept = accept;
  v->reject = reject;
  v->has_passphrase = has_passphrase;
  memcpy(v->passphrase, passphrase, sizeof passphrase);
  v->done = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

// ---- the epoll thread ----

static int post(server_t *s, event_t *ev) {
  if (napi_call_threadsafe_function(s->events, ev, napi_tsfn_blocking) != napi_ok) {
    free(ev->data);
    free(ev);
    return -1;
  }
  return 0;
}

static event_t *new_event(int type, SRTSOCKET sock) {
  event_t *ev = calloc(1, sizeof *ev);
  if (ev != NULL) {
    ev->type = type;
    ev->sock = sock;
  }
  return ev;
}

static void accept_all(server_t *s) {
  for (;;) {
    struct sockaddr_storage peer;
    int peer_len = sizeof peer;
    SRTSOCKET c = srt_accept(s->ls, (struct sockaddr *)&peer, &peer_len);
    if (c == SRT_INVALID_SOCK) return;
    event_t *ev = new_event(EV_ACCEPT, c);
    char streamid[MAX_STREAMID + 1] = {0};
    int length = (int)sizeof streamid;
    if (srt_getsockflag(c, SRTO_STREAMID, streamid, &length) == SRT_ERROR) length = 0;
    if (length > MAX_STREAMID) length = MAX_STREAMID;
    if (ev != NULL) ev->data = malloc((size_t)length + 1);
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    if (ev == NULL || ev->data == NULL || srt_epoll_add_usock(s->eid, c, &events) == SRT_ERROR) {
      if (ev != NULL) free(ev->data);
      free(ev);
      srt_close(c);
      continue;
    }
    memcpy(ev->data, streamid, (size_t)length);
    ev->data[length] = '\0';
    ev->len = (size_t)length;
    address_of((struct sockaddr *)&peer, ev->ip, &ev->port);
    if (post(s, ev) != 0) return;
  }
}

// A broken socket leaves the epoll set; JavaScript reads its last statistics, then closes it.
static void close_socket(server_t *s, SRTSOCKET sock) {
  srt_epoll_remove_usock(s->eid, sock);
  event_t *ev = new_event(EV_CLOSED, sock);
  if (ev == NULL) {
    srt_close(sock);
    return;
  }
  ev->reason = (int)srt_getsockstate(sock);
  if (post(s, ev) != 0) srt_close(sock);
}

// Reads what the socket has, in batches; 1 when the socket broke.
static int read_all(server_t *s, SRTSOCKET sock) {
  char message[MAX_MESSAGE];
  event_t *ev = NULL;
  for (;;) {
    int n = srt_recvmsg(sock, message, sizeof message);
    if (n <= 0) {
      int broken = n < 0 && srt_getlasterror(NULL) != SRT_EASYNCRCV;
      if (ev != NULL) post(s, ev);
      return broken;
    }
    if (ev == NULL) {
      ev = new_event(EV_DATA, sock);
      if (ev != NULL) ev->data = malloc(BATCH_BYTES);
      if (ev == NULL || ev->data == NULL) { // out of memory: this read is lost, as a drop
        if (ev != NULL) free(ev);
        ev = NULL;
        continue;
      }
    }
    memcpy(ev->data + ev->len, message, (size_t)n);
    ev->len += (size_t)n;
    if (ev->len + MAX_MESSAGE > BATCH_BYTES) {
      if (post(s, ev) != 0) return 0;
      ev = NULL;
    }
  }
}

static void *run(void *arg) {
  server_t *s = arg;
  SRT_EPOLL_EVENT events[MAX_EVENTS];
  while (!atomic_load(&s->stopping)) {
    int n = srt_epoll_uwait(s->eid, events, MAX_EVENTS, 100);
    if (n < 0) {
      struct timespec pause = {0, 10 * 1000000L};
      nanosleep(&pause, NULL);
      continue;
    }
    for (int i = 0; i < n && !atomic_load(&s->stopping); i++) {
      SRTSOCKET sock = events[i].fd;
      int what = events[i].events;
      if (sock == s->ls) {
        if (what & SRT_EPOLL_IN) accept_all(s);
        continue;
      }
      if (what & SRT_EPOLL_OUT) {
        int interest = SRT_EPOLL_IN | SRT_EPOLL_ERR;
        srt_epoll_update_usock(s->eid, sock, &interest);
        event_t *ev = new_event(EV_WRITABLE, sock);
        if (ev != NULL) post(s, ev);
      }
      int broken = (what & SRT_EPOLL_IN) ? read_all(s, sock) : 0;
      if (broken || (what & SRT_EPOLL_ERR)) close_socket(s, sock);
    }
  }
  return NULL;
}

// JavaScript thread: one event -> onEvent(type, sock, payload, ip, port, reason)
static void event_call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  event_t *ev = data;
  if (env != NULL && callback != NULL) {
    napi_value argv[6], global, result;
    napi_create_int32(env, ev->type, &argv[0]);
    napi_create_int32(env, ev->sock, &argv[1]);
    if (ev->type == EV_DATA) {
      void *copy = NULL;
      napi_create_buffer_copy(env, ev->len, ev->data, &copy, &argv[2]);
    } else if (ev->type == EV_ACCEPT) {
      napi_create_string_utf8(env, ev->data, ev->len, &argv[2]);
    } else {
      napi_get_null(env, &argv[2]);
    }
    napi_create_string_utf8(env, ev->ip, NAPI_AUTO_LENGTH, &argv[3]);
    napi_create_int32(env, ev->port, &argv[4]);
    napi_create_int32(env, ev->reason, &argv[5]);
    napi_get_global(env, &global);
    if (napi_call_function(env, global, callback, 6, argv, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error); // the wrapper catches its own errors; this is a bug
    }
  }
  free(ev->data);
  free(ev);
}

// ---- the JavaScript API ----

static int32_t get_int(napi_env env, napi_value object, const char *name, int32_t fallback) {
  bool present = false;
  napi_value value;
  int32_t out = fallback;
  if (napi_has_named_property(env, object, name, &present) == napi_ok && present &&
      napi_get_named_property(env, object, name, &value) == napi_ok)
    napi_get_value_int32(env, value, &out);
  return out;
}

static int get_string(napi_env env, napi_value object, const char *name, char *out, size_t size) {
  bool present = false;
  napi_value value;
  napi_valuetype type;
  size_t copied = 0;
  out[0] = '\0';
  if (napi_has_named_property(env, object, name, &present) != napi_ok || !present) return 0;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) return 0;
  return napi_get_value_string_utf8(env, value, out, size, &copied) == napi_ok;
}

static void server_unref(server_t *s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

static void server_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server_unref(data);
}

static server_t *server_of(napi_env env, napi_value value) {
  server_t *s = NULL;
  if (napi_get_value_external(env, value, (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "onair-srt: not a server");
    return NULL;
  }
  return s;
}

static int set_int(SRTSOCKET sock, SRT_SOCKOPT option, int value) {
  return srt_setsockflag(sock, option, &value, sizeof value);
}

// The verdict function is gone (after close): its queue was emptied, so its context can go.
static void verdicts_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server_unref(data);
}

// listen({ host, port, latencyMs, passphrase, pbkeylen, peerIdleTimeoutMs, backlog,
//          verdictWaitMs }, onVerdict, onEvent) -> { server, port }
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "listen(options, onVerdict, onEvent)");
    return NULL;
  }
  if (atomic_exchange(&started, 1) == 0) {
    srt_startup();
    srt_setloglevel(LOG_CRIT); // libsrt logs to stderr; onair logs what it needs itself
  }

  char host[INET6_ADDRSTRLEN] = {0};
  char passphrase[MAX_PASSPHRASE + 1] = {0};
  if (!get_string(env, argv[0], "host", host, sizeof host)) strcpy(host, "0.0.0.0");
  int has_passphrase = get_string(env, argv[0], "passphrase", passphrase, sizeof passphrase);
  int port = get_int(env, argv[0], "port", 0);
  int latency = get_int(env, argv[0], "latencyMs", 120);
  int pbkeylen = get_int(env, argv[0], "pbkeylen", 0);
  int idle = get_int(env, argv[0], "peerIdleTimeoutMs", 5000);
  int backlog = get_int(env, argv[0], "backlog", 64);

  struct sockaddr_storage address;
  memset(&address, 0, sizeof address);
  int address_len;
  int ipv6 = strchr(host, ':') != NULL;
  if (ipv6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
      napi_throw_error(env, "ERR_SRT", "onair-srt: host is not an IPv6 address");
      return NULL;
    }
    address_len = sizeof *in6;
  } else {
    struct sockaddr_in *in = (struct sockaddr_in *)&address;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
      napi_throw_error(env, "ERR_SRT", "onair-srt: host is not an IPv4 address");
      return NULL;
    }
    address_len = sizeof *in;
  }

  SRTSOCKET ls = srt_create_socket();
  if (ls == SRT_INVALID_SOCK) return throw_srt(env, "srt_create_socket");
  int no = 0;
  int failed = srt_setsockflag(ls, SRTO_RCVSYN, &no, sizeof no) == SRT_ERROR ||
               srt_setsockflag(ls, SRTO_SNDSYN, &no, sizeof no) == SRT_ERROR ||
               set_int(ls, SRTO_LATENCY, latency) == SRT_ERROR ||
               set_int(ls, SRTO_PEERIDLETIMEO, idle) == SRT_ERROR ||
               (ipv6 && set_int(ls, SRTO_IPV6ONLY, 0) == SRT_ERROR) ||
               (has_passphrase && passphrase[0] != '\0' &&
                srt_setsockflag(ls, SRTO_PASSPHRASE, passphrase, (int)strlen(passphrase)) ==
                    SRT_ERROR) ||
               (pbkeylen != 0 && set_int(ls, SRTO_PBKEYLEN, pbkeylen) == SRT_ERROR);
  if (failed) {
    napi_value error = throw_srt(env, "srt_setsockflag");
    srt_close(ls);
    return error;
  }
  if (srt_bind(ls, (struct sockaddr *)&address, address_len) == SRT_ERROR) {
    throw_srt(env, "srt_bind");
    srt_close(ls);
    return NULL;
  }

  server_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    srt_close(ls);
    napi_throw_error(env, NULL, "onair-srt: out of memory");
    return NULL;
  }
  s->ls = ls;
  atomic_store(&s->refs, 2);
  s->verdict_wait_ms = get_int(env, argv[0], "verdictWaitMs", 250);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);

  napi_value name;
  napi_create_string_utf8(env, "onair-srt", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 64, 1, s, verdicts_finalize, s,
                                      verdict_call_js, &s->verdicts) != napi_ok ||
      napi_create_threadsafe_function(env, argv[2], NULL, name, EVENT_QUEUE, 1, NULL, NULL, s,
                                      event_call_js, &s->events) != napi_ok) {
    srt_close(ls);
    napi_throw_error(env, NULL, "onair-srt: no thread-safe function");
    return NULL; // s leaks on this (never seen) path rather than racing a half-made tsfn
  }

  if (srt_listen_callback(ls, listen_hook, s) == SRT_ERROR || srt_listen(ls, backlog) == SRT_ERROR) {
    throw_srt(env, "srt_listen");
    srt_close(ls);
    napi_release_threadsafe_function(s->verdicts, napi_tsfn_abort);
    napi_release_threadsafe_function(s->events, napi_tsfn_abort);
    return NULL;
  }
  s->eid = srt_epoll_create();
  int interest = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (s->eid < 0 || srt_epoll_add_usock(s->eid, ls, &interest) == SRT_ERROR ||
      pthread_create(&s->thread, NULL, run, s) != 0) {
    throw_srt(env, "srt_epoll");
    srt_close(ls);
    napi_release_threadsafe_function(s->verdicts, napi_tsfn_abort);
    napi_release_threadsafe_function(s->events, napi_tsfn_abort);
    return NULL;
  }
  s->thread_started = 1;

  struct sockaddr_storage bound;
  int bound_len = sizeof bound;
  char ip[INET6_ADDRSTRLEN];
  int bound_port = port;
  if (srt_getsockname(ls, (struct sockaddr *)&bound, &bound_len) != SRT_ERROR)
    address_of((struct sockaddr *)&bound, ip, &bound_port);

  napi_value result, external, port_value;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_external(env, s, server_finalize, NULL, &external));
  CHECK(env, napi_create_int32(env, bound_port, &port_value));
  CHECK(env, napi_set_named_property(env, result, "server", external));
  CHECK(env, napi_set_named_property(env, result, "port", port_value));
  return result;
}

// close(server): stops accepting, ends the thread; accepted sockets are the caller's to close.
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = server_of(env, argv[0]);
  if (s == NULL || s->closed) return NULL;
  s->closed = 1;
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->stopping, 1);
  pthread_mutex_unlock(&s->mu);
  // A listen callback waiting for this thread's verdict gives up after verdictWaitMs.
  srt_close(s->ls);
  if (s->thread_started) {
    // The thread may be blocked handing an event over: let it through by closing the queue.
    napi_release_threadsafe_function(s->events, napi_tsfn_abort);
    pthread_join(s->thread, NULL);
  } else {
    napi_release_threadsafe_function(s->events, napi_tsfn_abort);
  }
  pthread_mutex_lock(&s->mu);
  while (s->in_hook > 0) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  napi_release_threadsafe_function(s->verdicts, napi_tsfn_abort);
  srt_epoll_release(s->eid);
  return NULL;
}

// send(server, sock, buffer) -> bytes taken (whole messages of at most 1316 bytes), -1 if broken.
// A full send buffer arms a writable event for the socket.
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  server_t *s = server_of(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t sock = 0;
  CHECK(env, napi_get_value_int32(env, argv[1], &sock));
  char *data = NULL;
  size_t length = 0;
  CHECK(env, napi_get_buffer_info(env, argv[2], (void **)&data, &length));
  size_t sent = 0;
  while (sent < length) {
    size_t chunk = length - sent > 1316 ? 1316 : length - sent;
    if (srt_sendmsg2(sock, data + sent, (int)chunk, NULL) == SRT_ERROR) {
      if (srt_getlasterror(NULL) == SRT_EASYNCSND && !s->closed) {
        int interest = SRT_EPOLL_IN | SRT_EPOLL_OUT | SRT_EPOLL_ERR;
        srt_epoll_update_usock(s->eid, sock, &interest);
        break;
      }
      CHECK(env, napi_create_int32(env, -1, &result));
      return result;
    }
    sent += chunk;
  }
  CHECK(env, napi_create_double(env, (double)sent, &result));
  return result;
}

// closeSocket(sock, rejectReason?)
static napi_value js_close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t sock = 0;
  CHECK(env, napi_get_value_int32(env, argv[0], &sock));
  srt_close(sock);
  return NULL;
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

// stats(sock) -> the socket's SRT statistics, or null when it is gone.
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t sock = 0;
  CHECK(env, napi_get_value_int32(env, argv[0], &sock));
  SRT_TRACEBSTATS perf;
  if (srt_bstats(sock, &perf, 0) == SRT_ERROR) {
    CHECK(env, napi_get_null(env, &result));
    return result;
  }
  CHECK(env, napi_create_object(env, &result));
  set_number(env, result, "rttMs", perf.msRTT);
  set_number(env, result, "bandwidthMbps", perf.mbpsBandwidth);
  set_number(env, result, "recvRateMbps", perf.mbpsRecvRate);
  set_number(env, result, "sendRateMbps", perf.mbpsSendRate);
  set_number(env, result, "packetsReceived", (double)perf.pktRecvTotal);
  set_number(env, result, "packetsSent", (double)perf.pktSentTotal);
  set_number(env, result, "bytesReceived", (double)perf.byteRecvTotal);
  set_number(env, result, "bytesSent", (double)perf.byteSentTotal);
  set_number(env, result, "packetsReceivedLost", perf.pktRcvLossTotal);
  set_number(env, result, "packetsSentLost", perf.pktSndLossTotal);
  set_number(env, result, "packetsRetransmitted", perf.pktRetransTotal);
  set_number(env, result, "packetsReceivedRetransmitted", perf.pktRcvRetrans);
  set_number(env, result, "packetsReceivedDropped", perf.pktRcvDropTotal);
  set_number(env, result, "packetsSentDropped", perf.pktSndDropTotal);
  set_number(env, result, "packetsUndecrypted", perf.pktRcvUndecryptTotal);
  set_number(env, result, "receiveBufferMs", perf.msRcvBuf);
  set_number(env, result, "receiveBufferBytes", perf.byteRcvBuf);
  set_number(env, result, "sendBufferMs", perf.msSndBuf);
  set_number(env, result, "latencyMs", perf.msRcvTsbPdDelay);
  return result;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  uint32_t v = srt_getversion();
  char text[32];
  snprintf(text, sizeof text, "%u.%u.%u", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  CHECK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"closeSocket", NULL, js_close_socket, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"version", NULL, js_version, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0],
                                    properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

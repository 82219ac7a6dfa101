/*
 * What the three parts of the compile server's native client share (see client.c): the package root and command
 * line, the ways to hand the command on, a byte-string builder, and the protocol constants, which must stay equal to
 * compiler/server/protocol.ts and client.ts.
 */
#ifndef TSBPF_CLIENT_H
#define TSBPF_CLIENT_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Keep in step with PROTOCOL_VERSION in compiler/server/protocol.ts. */
#define PROTOCOL_VERSION 2
/* protocol.ts SERVE_FLAG: the first argument that makes tsbpf a compile server. */
#define SERVE_FLAG "__tsbpf_serve"
/* Linux's sun_path holds 108 bytes including the terminating NUL. */
#define MAX_SOCKET_PATH 107

/* The package root (resolved), and the command line after it (args[0] is `build` or `check`). */
extern char root[PATH_MAX];
extern char **args;
extern int nargs;

/* client.c: hand the command on. */
_Noreturn void run_locally(const char *why);
_Noreturn void run_node_client(void);
double now_ms(void);

/* client-key.c: protocol.ts serverKey() and socketPath(). */
int find_node(char *out);
void server_key(const char *node, char out[17]);
int socket_path(const char *key, char *out, size_t size);

/* client-start.c: reach the server, starting one when nobody listens. */
int connect_to(const char *name);
int start_server(const char *node, const char *socket_name, const char *key);

/* A growable byte string, always NUL-terminated. */
typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static inline void buf_add(buf_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) abort();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

static inline void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static inline void buf_fmt(buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Appends `s` as a JSON string (quotes included); bytes >= 0x80 pass through, as UTF-8. */
static inline void buf_json(buf_t *b, const char *s) {
  buf_str(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char esc[2] = {'\\', (char)*c};
      buf_add(b, esc, 2);
    } else if (*c < 0x20) {
      buf_fmt(b, "\\u%04x", *c);
    } else {
      buf_add(b, c, 1);
    }
  }
  buf_str(b, "\"");
}

#endif

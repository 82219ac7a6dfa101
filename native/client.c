/*
 * tsbpf-client: the compile server's client in C (node-gyp builds it next to the addon, build/Release/tsbpf-client).
 *
 * `tsbpf build`/`tsbpf check` are sent to a warm tsbpf process (compiler/server/). A client written for node costs a
 * Node.js start-up (~60 ms of CPU, more than clang's whole compile), this one about a millisecond. It does what
 * compiler/server/client.ts does in the common cases and hands the rest to it:
 *
 *   a server listens at the socket          send the command, print the answer, exit with its code
 *   nobody listens                          start a server from the snapshot (client-start.c), then the same
 *   no snapshot blob, a start that failed   exec node dist/server/client.cjs ARGS (it starts a server without the
 *   (now or lately), a directory that is    snapshot, remembers failures, makes or tightens the directory)
 *   not private to the user
 *   the server declined, died, hung, or     log why, exec bin/tsbpf.js ARGS with TSBPF_SERVER=0 (a local run);
 *   answered something that is not the      output is held until `exit`, so nothing is printed twice
 *   protocol
 *
 * Three files: this one (what to run, the request and the answer), client-key.c (the key and socket path) and
 * client-start.c (connecting, starting a server). The package ships it prebuilt and linked statically
 * (native/build.mjs --prebuild), so it runs on any x86-64 Linux whatever its libc; from source it is linked like any
 * program.
 *
 * Usage (bin/tsbpf.js's sh lines): tsbpf-client ROOT build|check ARGS...; `tsbpf-client --key ROOT` prints the key
 * and socket path (tests compare them with protocol.ts); `tsbpf-client --probe` exits 0 (install-time check that a
 * prebuilt binary runs here).
 *
 * Everything these files compute must equal compiler/server/protocol.ts: the key text (keyText()), the hash (fnv64),
 * the socket path (socketPath()), the request (JSON line) and the answer frames:
 *
 *   +------+----------------------+----------------------+
 *   | type | length (u32, little) | payload (length bytes)|
 *   +------+----------------------+----------------------+
 *   type: 'h' hello (payload: server pid, decimal)   'o' stdout bytes   'e' stderr bytes
 *         'x' exit (payload: exit code, decimal)     'f' fallback (payload: why)
 */
#include "client.h"

#define DEFAULT_TIMEOUT_S 120.0
/* A frame longer than this is not the protocol (the whole output of a build is kilobytes). */
#define MAX_FRAME (1u << 30)

extern char **environ;

char root[PATH_MAX];
char **args;
int nargs;

/* Appends one line to $TSBPF_SERVER_LOG (tests learn from it which client and which process ran a command). */
static void log_line(const char *what) {
  const char *file = getenv("TSBPF_SERVER_LOG");
  if (!file || !*file) return;
  buf_t line = {0};
  buf_str(&line, "native: ");
  buf_str(&line, what);
  buf_str(&line, ": ");
  for (int i = 0; i < nargs; i++) {
    if (i) buf_str(&line, " ");
    buf_str(&line, args[i]);
  }
  buf_str(&line, "\n");
  int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd >= 0) {
    if (write(fd, line.p, line.len) < 0) { /* A log that cannot be written changes nothing else. */ }
    close(fd);
  }
  free(line.p);
}

/* Replaces this process with `path` run on `first` then the command line. Returns only if exec failed. */
static void exec_with(const char *path, const char *first) {
  char **argv = calloc((size_t)nargs + 3, sizeof *argv);
  if (!argv) abort();
  int n = 0;
  argv[n++] = (char *)path;
  if (first) argv[n++] = (char *)first;
  for (int i = 0; i < nargs; i++) argv[n++] = args[i];
  signal(SIGPIPE, SIG_DFL);
  execvp(path, argv);
  free(argv);
}

/* Runs the command without the server, exactly as TSBPF_SERVER=0 does (bin/tsbpf.js: the snapshot, or dist/cli.js). */
_Noreturn void run_locally(const char *why) {
  char what[600];
  snprintf(what, sizeof what, "local (%s)", why);
  log_line(what);
  char bin[PATH_MAX + 32];
  snprintf(bin, sizeof bin, "%s/bin/tsbpf.js", root);
  setenv("TSBPF_SERVER", "0", 1);
  exec_with(bin, NULL);
  fprintf(stderr, "tsbpf: cannot run %s: %s\n", bin, strerror(errno));
  exit(70);
}

/* Hands the command to the node client (it starts a server when none listens); a local run if node cannot start. */
_Noreturn void run_node_client(void) {
  char client[PATH_MAX + 32];
  snprintf(client, sizeof client, "%s/dist/server/client.cjs", root);
  if (access(client, R_OK) == 0) exec_with("node", client);
  run_locally("no node client");
}
/* ---- The request and the answer. ---- */

static void request_json(buf_t *b, const char *key) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) run_locally("no working directory");
  mode_t mask = umask(0);
  umask(mask);
  buf_fmt(b, "{\"v\":%d,\"key\":", PROTOCOL_VERSION);
  buf_json(b, key);
  buf_str(b, ",\"argv\":[");
  for (int i = 0; i < nargs; i++) {
    if (i) buf_str(b, ",");
    buf_json(b, args[i]);
  }
  buf_str(b, "],\"cwd\":");
  buf_json(b, cwd);
  buf_str(b, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    size_t n = (size_t)(eq - *e);
    int tsbpf = n > 6 && strncmp(*e, "TSBPF_", 6) == 0 && strncmp(*e, "TSBPF_SERVER", 12) != 0;
    int color = (n == 8 && strncmp(*e, "NO_COLOR", 8) == 0) || (n == 11 && strncmp(*e, "FORCE_COLOR", 11) == 0);
    if (!tsbpf && !color) continue;
    char name[256];
    if (n >= sizeof name) continue;
    memcpy(name, *e, n);
    name[n] = 0;
    if (!first) buf_str(b, ",");
    first = 0;
    buf_json(b, name);
    buf_str(b, ":");
    buf_json(b, eq + 1);
  }
  buf_fmt(b, "},\"umask\":%u,\"stdoutIsTTY\":%s,\"stderrIsTTY\":%s}\n", (unsigned)mask, isatty(1) ? "true" : "false", isatty(2) ? "true" : "false");
}

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Writes all of `data` to `fd`, waiting while a non-blocking descriptor is full; stops quietly at a closed reader. */
static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, -1);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return; /* EPIPE (`| head`): the rest has nowhere to go, as with a local run. */
    }
  }
}

/* Parses a decimal payload; -1 when it is not one. */
static long parse_number(const char *p, uint32_t len) {
  if (len == 0 || len > 12) return -1;
  long v = 0;
  for (uint32_t i = 0; i < len; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}
/* Sends the request to the server and prints the answer; returns the exit code, or runs the command some other way. */
static int ask(const char *node, const char *socket_name, const char *key) {
  int fd = connect_to(socket_name);
  if (fd < 0 && (errno == ENOENT || errno == ECONNREFUSED)) fd = start_server(node, socket_name, key);
  if (fd < 0) run_node_client();

  const char *t = getenv("TSBPF_SERVER_TIMEOUT");
  double timeout_s = t && *t ? strtod(t, NULL) : 0;
  if (!(timeout_s > 0) || timeout_s > 1e7) timeout_s = DEFAULT_TIMEOUT_S;
  double deadline = now_ms() + timeout_s * 1000;

  buf_t request = {0};
  request_json(&request, key);
  signal(SIGPIPE, SIG_IGN);
  for (size_t at = 0; at < request.len;) {
    ssize_t n = send(fd, request.p + at, request.len - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) run_locally("the server went away");
    at += (size_t)n;
  }

  buf_t in = {0};  /* bytes read and not yet parsed */
  buf_t out = {0}; /* out/err frames, printed when `exit` arrives */
  long pid = -1;
  char chunk[65536];
  for (;;) {
    size_t at = 0;
    while (in.len - at >= 5) {
      unsigned char type = (unsigned char)in.p[at];
      uint32_t len;
      memcpy(&len, in.p + at + 1, 4); /* little-endian, like every host we build for (x86-64, arm64) */
      if (type == 0 || !strchr("hoexf", type) || len > MAX_FRAME) run_locally("unreadable answer");
      if (in.len - at - 5 < len) break;
      const char *payload = in.p + at + 5;
      if (type == 'o' || type == 'e') {
        buf_add(&out, in.p + at, 5 + (size_t)len);
      } else if (type == 'h') {
        pid = parse_number(payload, len);
      } else if (type == 'f') {
        char why[512];
        snprintf(why, sizeof why, "%.*s", (int)(len < 500 ? len : 500), payload);
        close(fd);
        run_locally(why);
      } else {
        long code = parse_number(payload, len);
        if (code < 0 || code > 255) run_locally("unreadable answer");
        close(fd);
        char what[64];
        snprintf(what, sizeof what, "server %ld", pid);
        log_line(what);
        for (size_t i = 0; i < out.len;) {
          uint32_t n;
          memcpy(&n, out.p + i + 1, 4);
          write_all(out.p[i] == 'o' ? 1 : 2, out.p + i + 5, n);
          i += 5 + (size_t)n;
        }
        return (int)code;
      }
      at += 5 + (size_t)len;
    }
    if (at > 0) {
      memmove(in.p, in.p + at, in.len - at);
      in.len -= at;
    }

    int wait = (int)(deadline - now_ms());
    if (wait <= 0) {
      /* A server that does not answer in time is stuck: stop it, so the next build starts a fresh one. */
      if (pid > 0) kill((pid_t)pid, SIGKILL);
      run_locally("timed out");
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, wait);
    if (ready <= 0) continue; /* EINTR or the deadline: looked at above */
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) run_locally("the server went away");
    buf_add(&in, chunk, (size_t)n);
  }
}

/* protocol.ts isServerCommand(): one-shot build and check; `--watch` is a long-lived process of its own. */
static int is_server_command(void) {
  if (nargs < 1 || (strcmp(args[0], "build") != 0 && strcmp(args[0], "check") != 0)) return 0;
  for (int i = 1; i < nargs; i++)
    if (strcmp(args[i], "-w") == 0 || strcmp(args[i], "--watch") == 0 || strncmp(args[i], "--watch=", 8) == 0) return 0;
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--probe") == 0) return 0;
  int key_only = argc >= 3 && strcmp(argv[1], "--key") == 0;
  if (key_only) argv++, argc--;
  if (argc < 2 || !realpath(argv[1], root)) {
    fprintf(stderr, "usage: tsbpf-client ROOT build|check ARGS... (run by bin/tsbpf.js)\n");
    return 64;
  }
  args = argv + 2;
  nargs = argc - 2;

  char node[PATH_MAX];
  if (find_node(node) != 0) run_locally("node is not on PATH");
  char key[17];
  server_key(node, key);
  char socket_name[PATH_MAX];
  int where = socket_path(key, socket_name, sizeof socket_name);
  if (key_only) {
    printf("%s\n%s\n", key, where == 0 ? socket_name : "");
    return 0;
  }
  const char *off = getenv("TSBPF_SERVER");
  if ((off && strcmp(off, "0") == 0) || !is_server_command()) run_locally("not for the server");
  if (where > 0) run_node_client();
  if (where < 0) run_locally("no private directory for the socket");
  return ask(node, socket_name, key);
}

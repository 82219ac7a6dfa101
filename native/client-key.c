/*
 * The key that names a compile server and the socket it listens at, byte for byte as compiler/server/protocol.ts
 * computes them (keyText(), fnv64(), socketPath()); test/cli/server.test.ts compares the two.
 */
#include "client.h"

/* ---- The key: protocol.ts keyText() and fnv64(), byte for byte. ---- */

/* `size:mtimeNs:ino` of `path` (symlinks followed), or `-`. */
static void stamp_file(buf_t *b, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    buf_str(b, "-");
    return;
  }
  long long ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  buf_fmt(b, "%lld:%lld:%llu", (long long)st.st_size, ns, (unsigned long long)st.st_ino);
}

/* The first executable `node` on PATH, resolved (what `node` in bin/tsbpf.js runs: process.execPath there). */
int find_node(char *out) {
  const char *path = getenv("PATH");
  if (!path) return -1;
  while (*path) {
    const char *end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    char candidate[PATH_MAX];
    if (n == 0) snprintf(candidate, sizeof candidate, "node");
    else snprintf(candidate, sizeof candidate, "%.*s/node", (int)n, path);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0 && realpath(candidate, out)) return 0;
    path += n;
    if (*path == ':') path++;
  }
  return -1;
}

/* The CapEff line of /proc/self/status (the host probe's answer depends on the capabilities), or `?`. */
static void effective_caps(buf_t *b) {
  char text[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
  if (fd >= 0) close(fd);
  if (n > 0) {
    text[n] = 0;
    char *at = strstr(text, "\nCapEff:");
    if (at) {
      at += 8;
      while (*at == ' ' || *at == '\t') at++;
      size_t len = strcspn(at, " \t\n");
      if (len) return buf_add(b, at, len);
    }
  }
  buf_str(b, "?");
}

/* The files whose change means "another tsbpf" (protocol.ts KEY_FILES, in that order). */
static const char *const KEY_FILES[] = {"package.json", "dist/cli.js", "dist/chunks", "dist/server/client.cjs", "stdlib/index.d.ts"};

static void key_text(buf_t *b, const char *node) {
  buf_fmt(b, "%d\n", PROTOCOL_VERSION);
  buf_str(b, root);
  buf_str(b, "\n");
  buf_str(b, node);
  buf_str(b, "\n");
  stamp_file(b, node);
  for (size_t i = 0; i < sizeof KEY_FILES / sizeof *KEY_FILES; i++) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", root, KEY_FILES[i]);
    buf_str(b, "\n");
    stamp_file(b, path);
  }
  buf_fmt(b, "\n%u\n", (unsigned)getuid());
  effective_caps(b);
  const char *addon = getenv("TSBPF_NATIVE_ADDON");
  const char *no_snapshot = getenv("TSBPF_NO_SNAPSHOT");
  buf_str(b, "\n");
  buf_str(b, addon ? addon : "");
  buf_str(b, no_snapshot && *no_snapshot ? "\nno-snapshot" : "\nsnapshot");
}

/* Two FNV-1a-like 32-bit hashes of `text`: 16 hex digits (protocol.ts fnv64). */
static void fnv64(const buf_t *text, char out[17]) {
  uint32_t a = 0x811c9dc5u, b = 0x01000193u ^ 0x5bd1e995u;
  for (size_t i = 0; i < text->len; i++) {
    uint32_t c = (unsigned char)text->p[i];
    a = (a ^ c) * 0x01000193u;
    b = ((b ^ c) * 0x01000193u) ^ (b >> 15);
  }
  snprintf(out, 17, "%08x%08x", a, b);
}

/* ---- Where the server listens: protocol.ts socketPath(). ---- */

/* tsbpf's cache directory (compiler/cache-dir.ts): $TSBPF_CACHE_DIR, $XDG_CACHE_HOME/tsbpf or ~/.cache/tsbpf. */
static int cache_dir(char *out, size_t size) {
  const char *dir = getenv("TSBPF_CACHE_DIR");
  if (dir && *dir) return snprintf(out, size, "%s", dir) < (int)size ? 0 : -1;
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return snprintf(out, size, "%s/tsbpf", xdg) < (int)size ? 0 : -1;
  /* Without HOME, node asks the password database; so does the node client (getpwuid would tie a static binary to
   * the NSS libraries of the machine it was built on). */
  const char *home = getenv("HOME");
  if (!home || !*home) return -1;
  return snprintf(out, size, "%s/.cache/tsbpf", home) < (int)size ? 0 : -1;
}

/* Drops repeated and trailing slashes (node's path.resolve does; the length limit is counted on the result). */
static void tidy_path(char *p) {
  char *w = p;
  for (char *r = p; *r; r++)
    if (!(*r == '/' && w > p && w[-1] == '/')) *w++ = *r;
  if (w > p + 1 && w[-1] == '/') w--;
  *w = 0;
}

/* mkdir -p with mode 0700 for each directory it makes (node's mkdirSync(dir, { recursive: true, mode: 0o700 })). */
static void make_dirs(const char *dir) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(path, 0700);
    *p = '/';
  }
  mkdir(path, 0700);
}

/*
 * protocol.ts privateDir(): makes `dir` and checks that it is a real directory of this user that nobody else can
 * enter (mode 0700; tightened when it is ours but looser). The socket's directory is the only access control.
 */
static int private_dir(const char *dir) {
  make_dirs(dir);
  struct stat st;
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) return 0;
  return (st.st_mode & 077) == 0 || chmod(dir, 0700) == 0;
}

/* protocol.ts socketPath(): 0 and the path of the socket of `key`; 1 when the node client must find the cache
 * directory (no HOME); -1 when no private directory fits a socket path. */
int socket_path(const char *key, char *out, size_t size) {
  char dirs[2][PATH_MAX + 64];
  char dir[PATH_MAX];
  if (cache_dir(dir, sizeof dir) != 0) return 1;
  /* Absolute (a relative TSBPF_CACHE_DIR is taken from the working directory): the server runs in /. */
  char cwd[PATH_MAX] = "";
  if (dir[0] != '/' && !getcwd(cwd, sizeof cwd)) return 1;
  if (snprintf(dirs[0], sizeof dirs[0], "%s%s%s/server", cwd, *cwd ? "/" : "", dir) >= (int)sizeof dirs[0]) return 1;
  tidy_path(dirs[0]);
  snprintf(dirs[1], sizeof dirs[1], "/tmp/tsbpf-server-%u", (unsigned)getuid());
  for (int i = 0; i < 2; i++) {
    if (strlen(dirs[i]) + 1 + strlen(key) + 5 > MAX_SOCKET_PATH || !private_dir(dirs[i])) continue;
    snprintf(out, size, "%s/%s.sock", dirs[i], key);
    return 0;
  }
  return -1;
}

/* The key of the server for the installation at `root` run by `node`: 16 hex digits. */
void server_key(const char *node, char out[17]) {
  buf_t text = {0};
  key_text(&text, node);
  fnv64(&text, out);
  free(text.p);
}

/*
 * Reaching the compile server: a connection to its socket, or, when nobody listens there, a new server started the
 * way compiler/server/client.ts starts one.
 */
#include "client.h"

/* client.ts START_TIMEOUT_MS and RETRY_START_AFTER_MS. */
#define START_TIMEOUT_MS 15000.0
#define RETRY_START_AFTER_S (10 * 60)

/* A socket connected to `name`, or -1 with errno (ENOENT, ECONNREFUSED: nobody listens there). */
int connect_to(const char *name) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  if (len >= sizeof addr.sun_path) return errno = ENAMETOOLONG, -1;
  memcpy(addr.sun_path, name, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
  int err = errno;
  close(fd);
  return errno = err, -1;
}

/*
 * The start-up snapshot blob: the one dist/snapshot/tsbpf-*.blob (install keeps only the blob of the Node.js that made
 * it; its name holds that version, which this client cannot know without starting node). Node refuses a blob of
 * another version: that start fails and the node client takes over.
 */
static int find_blob(char *out, size_t size) {
  char dir[PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/dist/snapshot", root);
  DIR *d = opendir(dir);
  if (!d) return -1;
  int found = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    if (n > 11 && strncmp(e->d_name, "tsbpf-", 6) == 0 && strcmp(e->d_name + n - 5, ".blob") == 0) {
      found++;
      snprintf(out, size, "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
  return found == 1 ? 0 : -1;
}

/*
 * Nobody listens at `socket_name`: starts a server there as client.ts startServer() does (detached, from the snapshot,
 * in /) and waits for it to listen; returns the connected socket. What the node client does better (no snapshot, a
 * start that failed, remembering the failure) is left to it.
 */
int start_server(const char *node, const char *socket_name, const char *key) {
  char mark[PATH_MAX + 16], blob[PATH_MAX + 300];
  struct stat st;
  snprintf(mark, sizeof mark, "%s.failed", socket_name);
  if (stat(mark, &st) == 0 && time(NULL) - st.st_mtime < RETRY_START_AFTER_S) run_node_client();
  const char *no_snapshot = getenv("TSBPF_NO_SNAPSHOT");
  if ((no_snapshot && *no_snapshot) || find_blob(blob, sizeof blob) != 0) run_node_client();
  pid_t child = fork();
  if (child < 0) run_node_client();
  if (child == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0), dup2(null, 1), dup2(null, 2);
      if (null > 2) close(null);
    }
    if (chdir("/") == 0) execl(node, node, "--snapshot-blob", blob, SERVE_FLAG, socket_name, key, root, (char *)NULL);
    _exit(127);
  }
  double deadline = now_ms() + START_TIMEOUT_MS;
  int exited = 0;
  for (;;) {
    int fd = connect_to(socket_name);
    if (fd >= 0) return fd;
    int status;
    if (!exited && waitpid(child, &status, WNOHANG) == child) {
      exited = 1;
      /* Exit 0 is a server that found another one listening: keep trying to connect. Anything else failed. */
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) run_node_client();
    }
    if (now_ms() > deadline) run_locally("the server did not listen in time");
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
}

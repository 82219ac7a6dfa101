/*
 * tsbpf native kernel bridge: a thin N-API layer over bpf(2) and the few socket/netns syscalls a user-space loader
 * of sk_lookup programs needs. Every function maps one syscall; policy (which maps to create, how to relocate,
 * how to encode a context) lives in TypeScript (runtime/kernel/). Errors are thrown as JS Errors carrying
 * `code` (errno name, e.g. "EACCES"), `errno` (number), `syscall` (e.g. "bpf(BPF_PROG_LOAD)") and, for program
 * loads, `log` (the verifier log).
 *
 * Layout of union bpf_attr comes from the system's <linux/bpf.h>; bpf(2) accepts an attr larger than the fields a
 * command uses as long as the tail is zero, so every call zeroes the whole union.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/* Largest verifier log we collect on a failed load (the kernel caps log_size at UINT_MAX >> 2). */
#define LOG_BUF_SIZE (16u << 20)

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

#include "napi_util.h"

/* ---- maps ---- */

/* Number of possible CPUs, as the kernel sizes per-CPU values for user space (/sys/devices/system/cpu/possible). */
static int possible_cpus(void) {
  static int cached = 0;
  if (cached > 0) return cached;
  FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
  int n = 0;
  if (f) {
    int a, b;
    char sep;
    while (fscanf(f, "%d", &a) == 1) {
      b = a;
      if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
        if (fscanf(f, "%d", &b) != 1) break;
        if (fscanf(f, "%c", &sep) != 1) sep = 0;
      }
      n += b - a + 1;
      if (sep != ',') break;
    }
    fclose(f);
  }
  cached = n > 0 ? n : 1;
  return cached;
}

static int is_percpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/*
 * The kernel reads key_size bytes from the key pointer and writes (or reads) the value size from the value pointer:
 * buffers that are too small would be overrun. Checks them against the map's real sizes (one extra syscall) and
 * throws a RangeError naming both sizes. Returns 0 when it threw.
 */
static int check_map_buffers(napi_env env, int fd, size_t key_len, size_t value_len, int check_value) {
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof mi);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = fd;
  attr.info.info_len = sizeof mi;
  attr.info.info = (uintptr_t)&mi;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) {
    throw_errno(env, errno, "bpf(BPF_OBJ_GET_INFO_BY_FD) of the map fd", NULL);
    return 0;
  }
  size_t need_value = mi.value_size;
  if (is_percpu(mi.type)) need_value = ((mi.value_size + 7) / 8) * 8 * (size_t)possible_cpus();
  char msg[160];
  if (key_len < mi.key_size) {
    snprintf(msg, sizeof msg, "key buffer has %zu bytes, the map's keys have %u", key_len, mi.key_size);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  if (check_value && value_len < need_value) {
    snprintf(msg, sizeof msg, "value buffer has %zu bytes, the map needs %zu", value_len, need_value);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  return 1;
}

/* mapCreate(type, keySize, valueSize, maxEntries, flags, name) -> fd */
static napi_value map_create(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  uint32_t type, key_size, value_size, max_entries, flags;
  char name[BPF_OBJ_NAME_LEN];
  if (!arg_u32(env, argv[0], &type, "type") || !arg_u32(env, argv[1], &key_size, "keySize") ||
      !arg_u32(env, argv[2], &value_size, "valueSize") || !arg_u32(env, argv[3], &max_entries, "maxEntries") ||
      !arg_u32(env, argv[4], &flags, "flags") || !arg_str(env, argv[5], name, sizeof name, "name"))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = type;
  attr.key_size = key_size;
  attr.value_size = value_size;
  attr.max_entries = max_entries;
  attr.map_flags = flags;
  memcpy(attr.map_name, name, sizeof attr.map_name);
  long fd = sys_bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0) return throw_errno(env, errno, "bpf(BPF_MAP_CREATE)", NULL);
  return make_i32(env, (int32_t)fd);
}

/*
 * mapFreeze(fd): BPF_MAP_FREEZE. Afterwards user space can no longer write the map (updates fail with EPERM);
 * loaders freeze `.rodata` maps after filling them, which lets the verifier treat their contents as constants.
 */
static napi_value map_freeze(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = fd;
  if (sys_bpf(BPF_MAP_FREEZE, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_MAP_FREEZE)", NULL);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

/* mapLookup(fd, key, valueOut) -> true when found, false on ENOENT */
static napi_value map_lookup(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int32_t fd;
  void *key, *value;
  size_t key_len, value_len;
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_bytes(env, argv[1], &key, &key_len, "key", 0) ||
      !arg_bytes(env, argv[2], &value, &value_len, "value", 0))
    return NULL;
  if (!check_map_buffers(env, fd, key_len, value_len, 1)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = fd;
  attr.key = (uintptr_t)key;
  attr.value = (uintptr_t)value;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0) {
    if (errno == ENOENT) return make_bool(env, false);
    return throw_errno(env, errno, "bpf(BPF_MAP_LOOKUP_ELEM)", NULL);
  }
  return make_bool(env, true);
}

/* mapUpdate(fd, key, value, flags) */
static napi_value map_update(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  int32_t fd;
  uint32_t flags;
  void *key, *value;
  size_t key_len, value_len;
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_bytes(env, argv[1], &key, &key_len, "key", 0) ||
      !arg_bytes(env, argv[2], &value, &value_len, "value", 0) || !arg_u32(env, argv[3], &flags, "flags"))
    return NULL;
  if (!check_map_buffers(env, fd, key_len, value_len, 1)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = fd;
  attr.key = (uintptr_t)key;
  attr.value = (uintptr_t)value;
  attr.flags = flags;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_MAP_UPDATE_ELEM)", NULL);
  return NULL;
}

/* mapDelete(fd, key) -> true when deleted, false on ENOENT */
static napi_value map_delete(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t fd;
  void *key;
  size_t key_len;
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_bytes(env, argv[1], &key, &key_len, "key", 0)) return NULL;
  if (!check_map_buffers(env, fd, key_len, 0, 0)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = fd;
  attr.key = (uintptr_t)key;
  if (sys_bpf(BPF_MAP_DELETE_ELEM, &attr) < 0) {
    if (errno == ENOENT) return make_bool(env, false);
    return throw_errno(env, errno, "bpf(BPF_MAP_DELETE_ELEM)", NULL);
  }
  return make_bool(env, true);
}

/* mapGetNextKey(fd, key | null, nextOut) -> true when a next key was written, false at the end (ENOENT) */
static napi_value map_get_next_key(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int32_t fd;
  void *key, *next;
  size_t key_len, next_len;
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_bytes(env, argv[1], &key, &key_len, "key", 1) ||
      !arg_bytes(env, argv[2], &next, &next_len, "nextKey", 0))
    return NULL;
  if (!check_map_buffers(env, fd, key ? (key_len < next_len ? key_len : next_len) : next_len, 0, 0)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = fd;
  attr.key = (uintptr_t)key;
  attr.next_key = (uintptr_t)next;
  if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr) < 0) {
    if (errno == ENOENT) return make_bool(env, false);
    return throw_errno(env, errno, "bpf(BPF_MAP_GET_NEXT_KEY)", NULL);
  }
  return make_bool(env, true);
}

/* ---- programs ---- */

/*
 * progLoad(type, expectedAttachType, insns, license, name, logLevel, btf?) -> { fd, log }
 * With logLevel 0 the load runs without a log (fast path) and, on failure, is retried once with log level 1 so the
 * thrown error carries the verifier's explanation. A non-zero logLevel (e.g. 4 = BPF_LOG_STATS) collects the log on
 * success too.
 */
static napi_value prog_load(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  /* Optional BTF: { btfFd, funcInfo: Uint8Array of bpf_func_info, lineInfo: Uint8Array of bpf_line_info }. */
  int32_t btf_fd = -1;
  void *func_info = NULL, *line_info = NULL;
  size_t func_len = 0, line_len = 0;
  if (argc >= 7) {
    napi_valuetype t;
    napi_typeof(env, argv[6], &t);
    if (t == napi_object) {
      napi_value v;
      napi_get_named_property(env, argv[6], "btfFd", &v);
      if (!arg_i32(env, v, &btf_fd, "btf.btfFd")) return NULL;
      napi_get_named_property(env, argv[6], "funcInfo", &v);
      if (!arg_bytes(env, v, &func_info, &func_len, "btf.funcInfo", 1)) return NULL;
      napi_get_named_property(env, argv[6], "lineInfo", &v);
      if (!arg_bytes(env, v, &line_info, &line_len, "btf.lineInfo", 1)) return NULL;
    }
  }
  uint32_t type, attach_type, log_level;
  void *insns;
  size_t insns_len;
  char license[128], name[BPF_OBJ_NAME_LEN];
  if (!arg_u32(env, argv[0], &type, "type") || !arg_u32(env, argv[1], &attach_type, "expectedAttachType") ||
      !arg_bytes(env, argv[2], &insns, &insns_len, "insns", 0) || !arg_str(env, argv[3], license, sizeof license, "license") ||
      !arg_str(env, argv[4], name, sizeof name, "name") || !arg_u32(env, argv[5], &log_level, "logLevel"))
    return NULL;
  if (insns_len == 0 || insns_len % 8 != 0) return throw_type(env, "insns must be a non-empty multiple of 8 bytes");
  char *log = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = type;
    attr.expected_attach_type = attach_type;
    attr.insns = (uintptr_t)insns;
    attr.insn_cnt = (uint32_t)(insns_len / 8);
    attr.license = (uintptr_t)license;
    memcpy(attr.prog_name, name, sizeof attr.prog_name);
    if (btf_fd >= 0) {
      attr.prog_btf_fd = (uint32_t)btf_fd;
      if (func_len) {
        attr.func_info_rec_size = sizeof(struct bpf_func_info);
        attr.func_info = (uintptr_t)func_info;
        attr.func_info_cnt = (uint32_t)(func_len / sizeof(struct bpf_func_info));
      }
      if (line_len) {
        attr.line_info_rec_size = sizeof(struct bpf_line_info);
        attr.line_info = (uintptr_t)line_info;
        attr.line_info_cnt = (uint32_t)(line_len / sizeof(struct bpf_line_info));
      }
    }
    if (log_level != 0 || attempt == 1) {
      if (!log) log = calloc(1, LOG_BUF_SIZE);
      if (!log) return throw_errno(env, ENOMEM, "bpf(BPF_PROG_LOAD) log buffer", NULL);
      log[0] = 0;
      attr.log_level = log_level != 0 ? log_level : 1;
      attr.log_size = LOG_BUF_SIZE;
      attr.log_buf = (uintptr_t)log;
    }
    long fd = sys_bpf(BPF_PROG_LOAD, &attr);
    int err = errno;
    if (fd >= 0) {
      napi_value result;
      napi_create_object(env, &result);
      napi_set_named_property(env, result, "fd", make_i32(env, (int32_t)fd));
      set_str(env, result, "log", log ? log : "");
      free(log);
      return result;
    }
    /* A failure that already has a log (or that the log cannot explain) is final. */
    if (attr.log_level != 0 || attempt == 1) {
      napi_value r = throw_errno(env, err, "bpf(BPF_PROG_LOAD)", log ? log : "");
      free(log);
      return r;
    }
  }
  free(log);
  return NULL;
}

/*
 * progTestRun(fd, ctxIn, ctxOut | null, repeat) -> { retval, durationNs }
 * sk_lookup takes no packet data: only ctx_in/ctx_out (struct bpf_sk_lookup, 72 bytes).
 */
static napi_value prog_test_run(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  int32_t fd;
  uint32_t repeat;
  void *ctx_in, *ctx_out;
  size_t in_len, out_len;
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_bytes(env, argv[1], &ctx_in, &in_len, "ctxIn", 0) ||
      !arg_bytes(env, argv[2], &ctx_out, &out_len, "ctxOut", 1) || !arg_u32(env, argv[3], &repeat, "repeat"))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.test.prog_fd = fd;
  attr.test.ctx_in = (uintptr_t)ctx_in;
  attr.test.ctx_size_in = (uint32_t)in_len;
  attr.test.ctx_out = (uintptr_t)ctx_out;
  attr.test.ctx_size_out = (uint32_t)out_len;
  attr.test.repeat = repeat;
  if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_PROG_TEST_RUN)", NULL);
  napi_value result;
  napi_create_object(env, &result);
  set_u32(env, result, "retval", attr.test.retval);
  set_u32(env, result, "durationNs", attr.test.duration);
  set_u32(env, result, "ctxSizeOut", attr.test.ctx_size_out);
  return result;
}

/* btfLoad(bytes, logLevel) -> { fd, log }: BPF_BTF_LOAD of a raw .BTF section (for func/line info of programs). */
static napi_value btf_load(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  void *btf;
  size_t btf_len;
  uint32_t log_level;
  if (!arg_bytes(env, argv[0], &btf, &btf_len, "btf", 0) || !arg_u32(env, argv[1], &log_level, "logLevel")) return NULL;
  char *log = calloc(1, LOG_BUF_SIZE);
  if (!log) return throw_errno(env, ENOMEM, "bpf(BPF_BTF_LOAD) log buffer", NULL);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.btf = (uintptr_t)btf;
  attr.btf_size = (uint32_t)btf_len;
  attr.btf_log_buf = (uintptr_t)log;
  attr.btf_log_size = LOG_BUF_SIZE;
  attr.btf_log_level = log_level ? log_level : 1;
  long fd = sys_bpf(BPF_BTF_LOAD, &attr);
  if (fd < 0) {
    napi_value r = throw_errno(env, errno, "bpf(BPF_BTF_LOAD)", log);
    free(log);
    return r;
  }
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "fd", make_i32(env, (int32_t)fd));
  set_str(env, result, "log", log);
  free(log);
  return result;
}

/* ---- links, pinning, info ---- */

/* linkCreate(progFd, targetFd, attachType) -> link fd */
static napi_value link_create(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int32_t prog_fd, target_fd;
  uint32_t attach_type;
  if (!arg_i32(env, argv[0], &prog_fd, "progFd") || !arg_i32(env, argv[1], &target_fd, "targetFd") ||
      !arg_u32(env, argv[2], &attach_type, "attachType"))
    return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = prog_fd;
  attr.link_create.target_fd = target_fd;
  attr.link_create.attach_type = attach_type;
  long fd = sys_bpf(BPF_LINK_CREATE, &attr);
  if (fd < 0) return throw_errno(env, errno, "bpf(BPF_LINK_CREATE)", NULL);
  return make_i32(env, (int32_t)fd);
}

/* linkUpdate(linkFd, newProgFd): swaps the program behind a link atomically (BPF_LINK_UPDATE). */
static napi_value link_update(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t link_fd, prog_fd;
  if (!arg_i32(env, argv[0], &link_fd, "linkFd") || !arg_i32(env, argv[1], &prog_fd, "progFd")) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_update.link_fd = link_fd;
  attr.link_update.new_prog_fd = prog_fd;
  if (sys_bpf(BPF_LINK_UPDATE, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_LINK_UPDATE)", NULL);
  return NULL;
}

/* objPin(fd, path) */
static napi_value obj_pin(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t fd;
  char path[4096];
  if (!arg_i32(env, argv[0], &fd, "fd") || !arg_str(env, argv[1], path, sizeof path, "path")) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.bpf_fd = fd;
  attr.pathname = (uintptr_t)path;
  if (sys_bpf(BPF_OBJ_PIN, &attr) < 0) return throw_errno(env, errno, "bpf(BPF_OBJ_PIN)", NULL);
  return NULL;
}

/* objGet(path) -> fd */
static napi_value obj_get(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  char path[4096];
  if (!arg_str(env, argv[0], path, sizeof path, "path")) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.pathname = (uintptr_t)path;
  long fd = sys_bpf(BPF_OBJ_GET, &attr);
  if (fd < 0) return throw_errno(env, errno, "bpf(BPF_OBJ_GET)", NULL);
  return make_i32(env, (int32_t)fd);
}

static int get_info(int fd, void *buf, uint32_t len) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = fd;
  attr.info.info_len = len;
  attr.info.info = (uintptr_t)buf;
  return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
}

/* progInfo(fd) -> { id, type, name, xlatedLen, jitedLen, verifiedInsns, mapIds } */
static napi_value prog_info(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  struct bpf_prog_info pi;
  uint32_t map_ids[64];
  memset(&pi, 0, sizeof pi);
  pi.nr_map_ids = 64;
  pi.map_ids = (uintptr_t)map_ids;
  if (get_info(fd, &pi, sizeof pi) < 0) return throw_errno(env, errno, "bpf(BPF_OBJ_GET_INFO_BY_FD)", NULL);
  napi_value result, ids;
  napi_create_object(env, &result);
  set_u32(env, result, "id", pi.id);
  set_u32(env, result, "type", pi.type);
  set_str(env, result, "name", pi.name);
  set_u32(env, result, "xlatedLen", pi.xlated_prog_len);
  set_u32(env, result, "jitedLen", pi.jited_prog_len);
  set_u32(env, result, "verifiedInsns", pi.verified_insns);
  set_u64(env, result, "loadTime", pi.load_time);
  uint32_t n = pi.nr_map_ids < 64 ? pi.nr_map_ids : 64;
  napi_create_array_with_length(env, n, &ids);
  for (uint32_t i = 0; i < n; i++) napi_set_element(env, ids, i, make_u32(env, map_ids[i]));
  napi_set_named_property(env, result, "mapIds", ids);
  return result;
}

/* mapInfo(fd) -> { id, type, name, keySize, valueSize, maxEntries, flags } */
static napi_value map_info(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof mi);
  if (get_info(fd, &mi, sizeof mi) < 0) return throw_errno(env, errno, "bpf(BPF_OBJ_GET_INFO_BY_FD)", NULL);
  napi_value result;
  napi_create_object(env, &result);
  set_u32(env, result, "id", mi.id);
  set_u32(env, result, "type", mi.type);
  set_str(env, result, "name", mi.name);
  set_u32(env, result, "keySize", mi.key_size);
  set_u32(env, result, "valueSize", mi.value_size);
  set_u32(env, result, "maxEntries", mi.max_entries);
  set_u32(env, result, "flags", mi.map_flags);
  return result;
}

/* linkInfo(fd) -> { id, type, progId, netnsIno, attachType } (netns fields meaningful for type 5 = NETNS) */
static napi_value link_info(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  struct bpf_link_info li;
  memset(&li, 0, sizeof li);
  if (get_info(fd, &li, sizeof li) < 0) return throw_errno(env, errno, "bpf(BPF_OBJ_GET_INFO_BY_FD)", NULL);
  napi_value result;
  napi_create_object(env, &result);
  set_u32(env, result, "id", li.id);
  set_u32(env, result, "type", li.type);
  set_u32(env, result, "progId", li.prog_id);
  set_u32(env, result, "netnsIno", li.netns.netns_ino);
  set_u32(env, result, "attachType", li.netns.attach_type);
  return result;
}

/* ---- fds, sockets, namespaces ---- */

/* close(fd) */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  if (close(fd) < 0) return throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* socketCookie(fd) -> bigint (SO_COOKIE, the value sk_lookup reports for a selected socket) */
static napi_value socket_cookie(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0) return throw_errno(env, errno, "getsockopt(SO_COOKIE)", NULL);
  napi_value r;
  napi_create_bigint_uint64(env, cookie, &r);
  return r;
}

/* openPath(path) -> fd, opened O_RDONLY|O_CLOEXEC (a netns file such as /proc/self/ns/net or /run/netns/NAME) */
static napi_value open_path(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  char path[4096];
  if (!arg_str(env, argv[0], path, sizeof path, "path")) return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    char what[4200];
    snprintf(what, sizeof what, "open(%s)", path);
    return throw_errno(env, errno, what, NULL);
  }
  return make_i32(env, fd);
}

/*
 * fdFromProcess(pid, fd) -> a duplicate, in this process, of file descriptor `fd` of process `pid` (pidfd_open +
 * pidfd_getfd, Linux 5.6+, needs ptrace rights over the target). Lets user space put a socket that another program
 * created (e.g. one with SO_REUSEPORT, which Node 20 cannot set) into a SOCKMAP.
 */
static napi_value fd_from_process(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t pid, fd;
  if (!arg_i32(env, argv[0], &pid, "pid") || !arg_i32(env, argv[1], &fd, "fd")) return NULL;
  int pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
  if (pidfd < 0) return throw_errno(env, errno, "pidfd_open", NULL);
  int dup = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
  int err = errno;
  close(pidfd);
  if (dup < 0) return throw_errno(env, err, "pidfd_getfd", NULL);
  return make_i32(env, dup);
}

#define EXPORT(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      EXPORT("mapCreate", map_create),       EXPORT("mapLookup", map_lookup),
      EXPORT("mapUpdate", map_update),       EXPORT("mapDelete", map_delete),
      EXPORT("mapGetNextKey", map_get_next_key), EXPORT("progLoad", prog_load),
      EXPORT("progTestRun", prog_test_run),  EXPORT("linkCreate", link_create),
      EXPORT("objPin", obj_pin),             EXPORT("objGet", obj_get),
      EXPORT("progInfo", prog_info),         EXPORT("mapInfo", map_info),
      EXPORT("linkInfo", link_info),         EXPORT("close", close_fd),
      EXPORT("socketCookie", socket_cookie), EXPORT("openPath", open_path),
      EXPORT("btfLoad", btf_load),             EXPORT("linkUpdate", link_update),             EXPORT("fdFromProcess", fd_from_process),
      EXPORT("mapFreeze", map_freeze),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

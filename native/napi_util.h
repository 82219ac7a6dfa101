/* N-API plumbing shared by the kernel bridge's syscall wrappers (see napi_util.c). */
#ifndef TSBPF_NAPI_UTIL_H
#define TSBPF_NAPI_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fetches the callback's arguments into argc/argv; throws a TypeError (and returns NULL) below `n` arguments. */
#define MAX_ARGS 8
#define GET_ARGS(n)                                                               \
  size_t argc = MAX_ARGS;                                                         \
  napi_value argv[MAX_ARGS];                                                      \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL; \
  if (argc < (n)) return throw_type(env, "too few arguments");

/* The errno's symbolic name ("EPERM"), or "EUNKNOWN". */
const char *errno_name(int err);
/* Throws an Error "<what> failed: <CODE> (<strerror>)" with code, errno, syscall and (when given) log properties. */
napi_value throw_errno(napi_env env, int err, const char *what, const char *log);
/* Throws a TypeError with code ERR_INVALID_ARG_TYPE. */
napi_value throw_type(napi_env env, const char *msg);

/* Argument readers: return 1, or 0 after throwing a TypeError naming the argument. */
int arg_u32(napi_env env, napi_value v, uint32_t *out, const char *name);
int arg_i32(napi_env env, napi_value v, int32_t *out, const char *name);
/* A Uint8Array (or Buffer); with `optional`, null/undefined give data=NULL, len=0. */
int arg_bytes(napi_env env, napi_value v, void **data, size_t *len, const char *name, int optional);
/* A string copied into buf (truncated to cap-1 bytes). */
int arg_str(napi_env env, napi_value v, char *buf, size_t cap, const char *name);

/* Result builders. */
napi_value make_i32(napi_env env, int32_t v);
napi_value make_u32(napi_env env, uint32_t v);
napi_value make_bool(napi_env env, bool v);
void set_u32(napi_env env, napi_value obj, const char *key, uint32_t v);
void set_u64(napi_env env, napi_value obj, const char *key, uint64_t v);
void set_str(napi_env env, napi_value obj, const char *key, const char *s);

#endif

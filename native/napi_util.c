/* N-API plumbing of the kernel bridge: errors carrying errno names, argument checks, result builders. */
#define _GNU_SOURCE
#include "napi_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errno_names.h"

const char *errno_name(int err) {
  const char *name = err > 0 && (size_t)err < sizeof ERRNO_NAMES / sizeof ERRNO_NAMES[0] ? ERRNO_NAMES[err] : NULL;
  return name ? name : "EUNKNOWN";
}

/* Throws an Error whose message reads "<syscall> failed: <CODE> (<strerror>)[: detail]". */
napi_value throw_errno(napi_env env, int err, const char *what, const char *log) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", what, errno_name(err), strerror(err));
  napi_value message, error, value;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "code", value);
  napi_create_int32(env, err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  if (log) {
    napi_create_string_utf8(env, log, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "log", value);
  }
  napi_throw(env, error);
  return NULL;
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

int arg_u32(napi_env env, napi_value v, uint32_t *out, const char *name) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    throw_type(env, msg);
    return 0;
  }
  napi_get_value_uint32(env, v, out);
  return 1;
}

int arg_i32(napi_env env, napi_value v, int32_t *out, const char *name) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    throw_type(env, msg);
    return 0;
  }
  napi_get_value_int32(env, v, out);
  return 1;
}

/* A Uint8Array (or Buffer) argument; null/undefined gives data=NULL,len=0 when `optional`. */
int arg_bytes(napi_env env, napi_value v, void **data, size_t *len, const char *name, int optional) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (optional && (t == napi_null || t == napi_undefined)) {
    *data = NULL;
    *len = 0;
    return 1;
  }
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    throw_type(env, msg);
    return 0;
  }
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset);
  if (type != napi_uint8_array) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
    throw_type(env, msg);
    return 0;
  }
  return 1;
}

/* A string argument copied into buf (truncated to cap-1 bytes). */
int arg_str(napi_env env, napi_value v, char *buf, size_t cap, const char *name) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_string) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", name);
    throw_type(env, msg);
    return 0;
  }
  size_t copied;
  napi_get_value_string_utf8(env, v, buf, cap, &copied);
  return 1;
}

napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

napi_value make_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

napi_value make_bool(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

void set_u32(napi_env env, napi_value obj, const char *key, uint32_t v) {
  napi_set_named_property(env, obj, key, make_u32(env, v));
}

void set_u64(napi_env env, napi_value obj, const char *key, uint64_t v) {
  napi_value r;
  napi_create_bigint_uint64(env, v, &r);
  napi_set_named_property(env, obj, key, r);
}

void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  napi_set_named_property(env, obj, key, r);
}

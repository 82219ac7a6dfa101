/* Shared by the C twins of the examples (bench/c). Built by build.sh with clang-16 -O2 -g -target bpf. */
#ifndef TSBPF_BENCH_COMMON_H
#define TSBPF_BENCH_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

#endif

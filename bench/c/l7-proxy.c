/* C twin of examples/l7-proxy.ts: every TCP port but 22, v4 and v6 -> proxy[0]; hits[0] counts v4, hits[1] v6. */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proxy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("sk_lookup")
int proxy_all(struct bpf_sk_lookup *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if (ctx->local_port == 22)
		return SK_PASS;
	__u32 zero = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&proxy, &zero);
	if (!sk)
		return SK_PASS;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return SK_DROP;
	__u32 idx = ctx->family == AF_INET6 ? 1 : 0;
	__u64 *n = bpf_map_lookup_elem(&hits, &idx);
	if (n)
		__sync_fetch_and_add(n, 1);
	return SK_PASS;
}

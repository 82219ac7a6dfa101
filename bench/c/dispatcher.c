/*
 * C twin of examples/dispatcher.ts: bindings (LPM trie) maps {protocol, port, addr prefix} to a label, destinations
 * (SOCKHASH) maps a label to a socket, hits counts lookups per label. The exact port is tried before port 0.
 */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define MAX_LABELS 64

/* Data fields in network order, so the prefix runs from protocol's most significant bit through the address. */
struct binding_key {
	__u32 prefixlen;
	__be16 protocol;
	__be16 port;
	__be32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct binding_key);
	__type(value, __u32);
} bindings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MAX_LABELS);
	__type(key, __u32);
	__type(value, __u64);
} destinations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_LABELS);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("sk_lookup")
int dispatch(struct bpf_sk_lookup *ctx)
{
	struct binding_key key = {
		.prefixlen = 32 + 32,
		.protocol = bpf_htons(ctx->protocol),
		.port = bpf_htons(ctx->local_port),
		.addr = ctx->local_ip4,
	};
	__u32 *label = bpf_map_lookup_elem(&bindings, &key);
	if (!label) {
		key.port = 0;
		label = bpf_map_lookup_elem(&bindings, &key);
		if (!label)
			return SK_PASS;
	}
	__u32 id = *label;
	__u64 *n = bpf_map_lookup_elem(&hits, &id);
	if (n)
		__sync_fetch_and_add(n, 1);
	struct bpf_sock *sk = bpf_map_lookup_elem(&destinations, &id);
	if (!sk)
		return SK_DROP;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

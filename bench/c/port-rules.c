/* C twin of examples/port-rules.ts: a redirected port list, a two-condition filter, a four-socket spread, a counted
 * blocklist and a longest-prefix walk over a hash map of host-order routes. */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} refused SEC(".maps");

struct route_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct route_key);
	__type(value, __u32);
} routes SEC(".maps");

static __always_inline int assign(struct bpf_sk_lookup *ctx, __u32 index)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&sockets, &index);
	if (!sk)
		return SK_PASS;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

SEC("sk_lookup")
int redir_ports(struct bpf_sk_lookup *ctx)
{
	switch (ctx->local_port) {
	case 22:
	case 80:
	case 443:
	case 7007:
		return assign(ctx, 0);
	}
	return SK_PASS;
}

SEC("sk_lookup")
int tcp4_only(struct bpf_sk_lookup *ctx)
{
	if (ctx->family == AF_INET && ctx->protocol == IPPROTO_TCP)
		return SK_PASS;
	return SK_DROP;
}

SEC("sk_lookup")
int spread4(struct bpf_sk_lookup *ctx)
{
	if (ctx->local_port != 7007)
		return SK_PASS;
	return assign(ctx, bpf_ntohs(ctx->remote_port) % 4);
}

SEC("sk_lookup")
int block_ports(struct bpf_sk_lookup *ctx)
{
	switch (ctx->local_port) {
	case 23: case 25: case 110: case 135: case 139: case 445: case 1433: case 3389: {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&refused, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return SK_DROP;
	}
	}
	return SK_PASS;
}

SEC("sk_lookup")
int prefix_walk(struct bpf_sk_lookup *ctx)
{
	if (ctx->family != AF_INET)
		return SK_PASS;
	__u32 addr = bpf_ntohl(ctx->local_ip4);
	__u32 mask = 0xffffffff;
	for (int i = 0; i <= 32; i++) {
		struct route_key key = { .prefixlen = 32 - i, .addr = addr & mask };
		__u32 *index = bpf_map_lookup_elem(&routes, &key);
		if (index)
			return assign(ctx, *index);
		mask <<= 1;
	}
	return SK_PASS;
}

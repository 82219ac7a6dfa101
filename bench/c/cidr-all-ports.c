/* C twin of examples/cidr-all-ports.ts: IPv4 TCP to any port of 192.0.2.0/24 -> sockets[0]. */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

SEC("sk_lookup")
int serve_range(struct bpf_sk_lookup *ctx)
{
	if (ctx->family != AF_INET || ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if ((ctx->local_ip4 & bpf_htonl(0xffffff00)) != bpf_htonl(0xc0000200))
		return SK_PASS;
	__u32 zero = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&sockets, &zero);
	if (!sk)
		return SK_PASS;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

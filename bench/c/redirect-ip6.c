/* C twin of examples/redirect-ip6.ts: [fd00::1]:7007 -> sockets[0]; fd00:1::/64, any port -> sockets[1]. */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

static __always_inline int assign_slot(struct bpf_sk_lookup *ctx, __u32 slot)
{
	struct bpf_sock *sk = bpf_map_lookup_elem(&sockets, &slot);
	if (!sk)
		return SK_PASS;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

SEC("sk_lookup")
int redir_ip6(struct bpf_sk_lookup *ctx)
{
	if (ctx->family != AF_INET6 || ctx->local_port != 7007)
		return SK_PASS;
	/* Word by word: the verifier accepts no 8-byte loads of the address. */
	if (ctx->local_ip6[0] != bpf_htonl(0xfd000000) || ctx->local_ip6[1] != 0 || ctx->local_ip6[2] != 0 ||
	    ctx->local_ip6[3] != bpf_htonl(1))
		return SK_PASS;
	return assign_slot(ctx, 0);
}

SEC("sk_lookup")
int redir_ip6_range(struct bpf_sk_lookup *ctx)
{
	if (ctx->family != AF_INET6)
		return SK_PASS;
	if (ctx->local_ip6[0] != bpf_htonl(0xfd000001) || ctx->local_ip6[1] != 0)
		return SK_PASS;
	return assign_slot(ctx, 1);
}

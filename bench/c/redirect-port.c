/* C twin of examples/redirect-port.ts: TCP or UDP to local port 7007 -> sockets[0]. */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");

SEC("sk_lookup")
int redir_port(struct bpf_sk_lookup *ctx)
{
	if (ctx->local_port != 7007)
		return SK_PASS;
	__u32 zero = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&sockets, &zero);
	if (!sk)
		return SK_PASS;
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

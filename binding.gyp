{
  "targets": [
    {
      "target_name": "tsbpf_bpf",
      "sources": ["native/bpf.c", "native/napi_util.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/bpf.c", "native/napi_util.c"]}]]
    },
    {
      "target_name": "tsbpf-client",
      "type": "executable",
      "sources": ["native/client.c", "native/client-key.c", "native/client-start.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/client.c", "native/client-key.c", "native/client-start.c"]}]]
    }
  ]
}

# Reads datagrams from the UDP socket inherited as fd 3 and prints, per datagram, its payload and the original
# destination (IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR), which Node's dgram cannot report. Used by agent.mjs.
import json, select, socket, struct

IP_RECVORIGDSTADDR = 20
IPV6_RECVORIGDSTADDR = 74

s = socket.socket(fileno=3)
v6 = s.family == socket.AF_INET6
if v6:
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1)
else:
    s.setsockopt(socket.IPPROTO_IP, IP_RECVORIGDSTADDR, 1)
print(json.dumps({"ready": True}), flush=True)

def sockaddr(data):
    family, = struct.unpack_from("=H", data, 0)
    port, = struct.unpack_from("!H", data, 2)
    if family == socket.AF_INET6:
        return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, data[8:24]), port)
    return "%s:%d" % (socket.inet_ntop(socket.AF_INET, data[4:8]), port)

# The socket is shared with Node, which made it non-blocking; wait for readiness instead of changing the flags.
while True:
    select.select([s], [], [])
    try:
        data, ancdata, _flags, src = s.recvmsg(2048, 256)
    except BlockingIOError:
        continue
    orig = None
    for level, kind, payload in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_RECVORIGDSTADDR), (socket.IPPROTO_IPV6, IPV6_RECVORIGDSTADDR)):
            orig = sockaddr(payload)
    frm = "[%s]:%d" % src[:2] if v6 else "%s:%d" % src
    print(json.dumps({"data": data.decode(), "origDst": orig, "from": frm}), flush=True)

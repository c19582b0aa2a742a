#!/usr/bin/env python3
"""udp-garbage.py - hostile datagrams for the DTLS port (e2e suite, run inside rse-cli).

  udp-garbage.py send HOST PORT          random datagrams, fake and truncated ClientHellos
  udp-garbage.py capture IFACE HOST PORT OUT SECONDS MAX
                                         record up to MAX IPv4/UDP frames sent to HOST:PORT on
                                         IFACE (AF_PACKET, whole Ethernet frames, one hex line
                                         each) for at most SECONDS; prints how many
  udp-garbage.py replay IFACE FILE       re-send the recorded frames (same 4-tuple, same
                                         DTLS bytes: epochs and sequence numbers; UDP
                                         checksum 0)
  udp-garbage.py spoof IFACE FILE        the garbage of "send", but from the established
                                         client's 4-tuple (headers of the first recorded frame)

Stdlib only; needs root (raw sockets) for capture/replay. Prints one summary line.
"""
import os
import random
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800


def client_hello(record_version, client_version, session_id, suites=(0x00A9,), cookie=b""):
    """A syntactically valid (DTLS) ClientHello record in one datagram."""
    body = struct.pack("!H", client_version) + os.urandom(32)
    body += bytes([len(session_id)]) + session_id
    body += bytes([len(cookie)]) + cookie
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
    body += b"\x01\x00"  # compression: null
    ext = struct.pack("!HH", 0xFF01, 1) + b"\x00"  # renegotiation_info, empty
    body += struct.pack("!H", len(ext)) + ext
    n = len(body)
    hs = bytes([1]) + n.to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00" + n.to_bytes(3, "big") + body
    return struct.pack("!BHH6sH", 22, record_version, 0, b"\x00" * 6, len(hs)) + hs


def payloads():
    rnd = random.Random(0x0C5E)  # reproducible "random" datagrams
    out = [("empty", b"")]
    for i in range(40):
        out.append((f"random-{i}", bytes(rnd.getrandbits(8) for _ in range(rnd.choice([1, 13, 60, 200, 1400])))))
    # looks like DTLS application data of epoch 1 with a random body
    for i in range(10):
        out.append((f"fake-appdata-{i}", struct.pack("!BHH6sH", 23, 0xFEFD, 1, os.urandom(6), 64) + os.urandom(64)))
    sid = os.urandom(32)
    hellos = [
        ("hello-dtls12-random-id", client_hello(0xFEFF, 0xFEFD, sid)),
        ("hello-dtls09-random-id", client_hello(0x0100, 0x0100, os.urandom(32), suites=(0x002F,))),
        ("hello-dtls12-legacy-random-id", client_hello(0xFEFD, 0xFEFD, os.urandom(32), suites=(0x009D,))),
        ("hello-empty-id", client_hello(0xFEFF, 0xFEFD, b"")),
        ("hello-short-id", client_hello(0xFEFF, 0xFEFD, os.urandom(5))),
    ]
    out += hellos
    full = hellos[0][1]
    for cut in (1, 13, 14, 25, 58, 59, 60, 75, len(full) - 1):
        out.append((f"hello-truncated-{cut}", full[:cut]))
    # session_id length byte (offset 59) claims more than the datagram holds
    bad = bytearray(full)
    bad[59] = 0xFF
    out.append(("hello-id-len-255", bytes(bad)))
    bad = bytearray(full)
    bad[11:13] = b"\xff\xff"  # record length far beyond the datagram
    out.append(("hello-record-len-65535", bytes(bad)))
    return out


def cmd_send(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for _name, data in payloads():
        s.sendto(data, (host, int(port)))
        sent += 1
        time.sleep(0.002)
    # a few answers may come (e.g. an alert); read and discard them, bounded
    s.settimeout(0.3)
    answers = 0
    try:
        while answers < 100:
            s.recv(65535)
            answers += 1
    except OSError:
        pass
    print(f"sent {sent} garbage datagrams to {host}:{port}, {answers} answers")


def udp_to(frame, host, port):
    """True if the Ethernet frame is IPv4/UDP to host:port."""
    if len(frame) < 14 + 20 + 8 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[14 + 9] != 17 or len(frame) < 14 + ihl + 8:
        return False
    dst = socket.inet_ntoa(frame[14 + 16:14 + 20])
    dport = struct.unpack("!H", frame[14 + ihl + 2:14 + ihl + 4])[0]
    return dst == host and dport == int(port)


def cmd_capture(iface, host, port, out, seconds, maxn):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    end = time.monotonic() + float(seconds)
    got = []
    while len(got) < int(maxn):
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            frame, addr = s.recvfrom(65535)
        except OSError:
            break
        if addr[2] == socket.PACKET_OUTGOING and udp_to(frame, host, port):
            got.append(frame.hex())
            with open(out + ".tmp", "w") as f:
                f.write("\n".join(got) + "\n")
            os.replace(out + ".tmp", out)
    print(f"captured {len(got)} datagrams to {host}:{port}")


def cmd_replay(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    n = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                frame = bytearray(bytes.fromhex(line))
                # outgoing frames are captured before checksum offload: the UDP
                # checksum field is not final. 0 = "no checksum" (IPv4); the
                # DTLS bytes stay exactly as captured
                ihl = (frame[14] & 0x0F) * 4
                frame[14 + ihl + 6:14 + ihl + 8] = b"\x00\x00"
                s.send(bytes(frame))
                n += 1
                time.sleep(0.002)
    print(f"replayed {n} captured frames on {iface}")


def ip_checksum(hdr):
    if len(hdr) % 2:
        hdr += b"\x00"
    total = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def cmd_spoof(iface, path):
    with open(path) as f:
        first = bytes.fromhex(f.readline().strip())
    ihl = (first[14] & 0x0F) * 4
    eth, ip, udp = first[:14], bytearray(first[14:14 + ihl]), first[14 + ihl:14 + ihl + 8]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    n = 0
    for _name, data in payloads():
        ip[2:4] = struct.pack("!H", ihl + 8 + len(data))
        ip[4:6] = struct.pack("!H", random.getrandbits(16))  # IP id
        ip[10:12] = b"\x00\x00"
        ip[10:12] = struct.pack("!H", ip_checksum(bytes(ip)))
        u = udp[:4] + struct.pack("!HH", 8 + len(data), 0)  # UDP checksum 0: none (IPv4)
        s.send(eth + bytes(ip) + u + data)
        n += 1
        time.sleep(0.002)
    print(f"spoofed {n} garbage datagrams from the client's 4-tuple on {iface}")


def main(argv):
    cmds = {"send": (cmd_send, 2), "capture": (cmd_capture, 6), "replay": (cmd_replay, 2),
            "spoof": (cmd_spoof, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) != 2 + cmds[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    cmds[argv[1]][0](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

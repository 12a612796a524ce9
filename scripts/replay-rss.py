#!/usr/bin/env python3
"""Replay amplification probe (issue 10, finding 1): resident memory of `bxpush serve`
with N stalled long polls that ask for a full history replay and never read.

What it does, all on loopback:
 1. starts BIN serve on free ports with a fresh --data-dir;
 2. one client fills its own public channel through client publishing
    (`POST /bitrix/rest/`, protobuf RequestBatch, as the JS client does on long polling):
    --messages messages of --body-kib KiB each, stored for a day;
 3. reads VmRSS (/proc/PID/status) -> "filled";
 4. opens --stalled long polls `GET /bitrix/sub/?CHANNEL_ID=...&mid=<26 zeros>` with a
    small receive buffer and never reads from them; waits until the server has answered
    them all (pollings back to 0), then until RSS is steady -> "stalled";
 5. if --wait-cut is given, waits that long more -> "after cut" (with a write timeout the
    server cuts the stalled peers), and prints /server-stat/'s bxpush counters.

Usage: scripts/replay-rss.py [--bin target/release/bxpush] [--stalled 10] [--transport longpoll|sse|ws]
           [--messages 1000] [--body-kib 50] [--wait-cut 40] [-- extra serve flags]
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

KEY = b"replay-rss-key"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    """A length-delimited protobuf field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def sig(text):
    return hmac.new(KEY, text.encode(), hashlib.sha1)


def request_batch(pub_hex, bodies):
    receiver = field(1, bytes.fromhex(pub_hex)) + field(3, sig("public:" + pub_hex).digest())
    msgs = b""
    for body in bodies:
        m = field(1, receiver) + field(3, body) + varint(4 << 3) + varint(86400)
        m += field(5, b"probe")
        msgs += field(1, m)
    return field(1, field(1, msgs))  # RequestBatch.requests[0].incomingMessages


def http(port, method, path, body=b""):
    s = socket.create_connection(("127.0.0.1", port))
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    s.sendall(head.encode() + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stat(port):
    _, body = http(port, "GET", "/server-stat/")
    return json.loads(body)[0]


def steady_rss(pid, settle=2.0, limit=60.0):
    """RSS once it has not grown for `settle` seconds (or after `limit`)."""
    start = time.time()
    last, since = rss_kib(pid), time.time()
    while time.time() - start < limit:
        time.sleep(0.2)
        now = rss_kib(pid)
        if now > last:
            last, since = now, time.time()
        elif time.time() - since >= settle:
            break
    return rss_kib(pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/bxpush")
    ap.add_argument("--stalled", type=int, default=10)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--body-kib", type=int, default=50)
    ap.add_argument("--wait-cut", type=float, default=0)
    ap.add_argument("--transport", choices=["longpoll", "sse", "ws"], default="longpoll")
    ap.add_argument("serve_args", nargs="*")
    a = ap.parse_args()

    sub, pub = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="bxpush-replay-rss-")
    srv = subprocess.Popen(
        [a.bin, "serve", "--listen-sub", f"127.0.0.1:{sub}", "--listen-pub",
         f"127.0.0.1:{pub}", "--data-dir", data, "--signature-key", KEY.decode(),
         *a.serve_args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    socks = []
    try:
        # Ready when the banner is out.
        for line in srv.stdout:
            if "is running" in line:
                break
        priv, pubid = os.urandom(16).hex(), os.urandom(16).hex()
        desc = f"{priv}:{pubid}.{sig(priv + ':' + pubid).hexdigest()}"
        chan = desc.replace(":", "%3A").replace("/", "%2F")
        body = ('{"x":"' + "a" * (a.body_kib * 1024 - 8) + '"}').encode()
        per_req = max(1, min(100, (1000 * 1024) // (len(body) + 200)))
        sent = 0
        while sent < a.messages:
            n = min(per_req, a.messages - sent)
            st, reply = http(sub, "POST", f"/bitrix/rest/?CHANNEL_ID={chan}",
                             request_batch(pubid, [body] * n))
            if st != 200:
                sys.exit(f"client publish failed: {st} {reply[:200]!r}")
            sent += n
        base = steady_rss(srv.pid)
        s = stat(pub)["bxpush"]
        print(f"filled: {s['storedMessages']} messages, {s['storedBytes'] / 1e6:.1f} MB "
              f"of bodies stored; RSS {base / 1024:.1f} MiB")

        extra = {
            "longpoll": "",
            "sse": "Accept: text/event-stream\r\n",
            "ws": "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        }[a.transport]
        req = (f"GET /bitrix/sub/?CHANNEL_ID={chan}&mid={'0' * 26} HTTP/1.1\r\n"
               f"Host: x\r\n{extra}\r\n").encode()
        for _ in range(a.stalled):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", sub))
            c.sendall(req)
            socks.append(c)
        # A long poll has been taken up (its replay read) once pollings is back to 0;
        # a stream once it is counted.
        deadline = time.time() + 60
        while time.time() < deadline:
            st = stat(pub)
            if a.transport == "longpoll" and st["pollings"] == 0:
                break
            if a.transport == "sse" and st["bxpush"]["sse"] == a.stalled:
                break
            if a.transport == "ws" and st["websockets"] == a.stalled:
                break
            time.sleep(0.1)
        held = steady_rss(srv.pid)
        print(f"{a.stalled} stalled mid=0 {a.transport} subscribers: RSS {held / 1024:.1f} MiB "
              f"(+{(held - base) / 1024:.1f} MiB, "
              f"{(held - base) / 1024 / max(1, a.stalled):.2f} MiB per connection)")
        print("server-stat bxpush:", json.dumps(
            {k: v for k, v in stat(pub)["bxpush"].items() if k != "ingress"}))
        if a.wait_cut:
            time.sleep(a.wait_cut)
            after = steady_rss(srv.pid)
            print(f"after {a.wait_cut:.0f} s more: RSS {after / 1024:.1f} MiB")
            print("server-stat bxpush:", json.dumps(
                {k: v for k, v in stat(pub)["bxpush"].items() if k != "ingress"}))
    finally:
        for c in socks:
            c.close()
        srv.terminate()
        srv.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

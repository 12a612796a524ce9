#!/usr/bin/env python3
"""History costs of a bxpush binary, on loopback (issue 10 finding 8):

  memory   resident memory of the server holding HISTORY_MIB of history, before and
           after every channel's history was replayed once as text and once as protobuf
           (a replay used to leave both encodings in the held messages: ~3x);
  stall    the longest publish while the message log is compacted: 1.25 x HISTORY_MIB
           that expires after 75 s, then HISTORY_MIB of live history, then publishes timed
           one after another until the server logs "message log compacted".

usage: scripts/bench-history.py BXPUSH_BINARY [memory|stall|all] [HISTORY_MIB]
Run by hand (seconds to a minute each); prints one line per figure.
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CHANNELS = 1000
BODY = 4096


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, binary, data, extra=()):
        self.sub, self.pub = free_port(), free_port()
        self.lines = []
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen-sub", f"127.0.0.1:{self.sub}",
             "--listen-pub", f"127.0.0.1:{self.pub}", "--signature-key", "",
             "--data-dir", data, "--max-history-bytes", str(4 << 30), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RUST_LOG": "info", "BXPUSH_LOG_FORMAT": "text"})
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.pub), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("server did not start")

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def channel(i):
    return f"{i:032x}"


def publish(conn, ch, body, expiry):
    conn.request("POST", f"/bitrix/pub/?CHANNEL_ID={ch}", body=body,
                 headers={"Message-Expiry": str(expiry)})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"publish answered {r.status}")


def fill(srv, mib, expiry):
    conn = http.client.HTTPConnection("127.0.0.1", srv.pub)
    body = b'{"module_id":"bench","command":"x","params":{"pad":"' + b"x" * (BODY - 52) + b'"}}'
    n = (mib << 20) // len(body)
    for i in range(n):
        publish(conn, channel(i % CHANNELS), body, expiry)
    conn.close()
    return n


def replay_all(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.sub)
    for binary in ("", "&binaryMode=true"):
        for i in range(CHANNELS):
            conn.request("GET", f"/bitrix/sub/?CHANNEL_ID={channel(i)}&mid={'0' * 26}{binary}")
            r = conn.getresponse()
            r.read()
    conn.close()


def memory(binary, mib):
    data = tempfile.mkdtemp(prefix="bxpush-bench-history-")
    try:
        srv = Server(binary, data)
        base = srv.rss_mib()
        n = fill(srv, mib, 3600)
        held = srv.rss_mib()
        replay_all(srv)
        replayed = srv.rss_mib()
        srv.stop()
        print(f"memory: {n} messages of {BODY} B ({mib} MiB of bodies): RSS {base:.0f} MiB empty, "
              f"{held:.0f} MiB holding them, {replayed:.0f} MiB after one text and one protobuf replay of all")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def stall(binary, mib, dead_ttl=75):
    data = tempfile.mkdtemp(prefix="bxpush-bench-history-")
    try:
        srv = Server(binary, data)
        # What will expire first, then the live history: the log is mostly dead only once
        # the first batch expires, after both are written; the next upkeep (every 5 s)
        # compacts while publishes are timed one after another.
        fill(srv, mib + mib // 4, dead_ttl)
        fill(srv, mib, 3600)
        if any("message log compacted" in l for l in srv.lines):
            raise SystemExit("compacted while filling: raise dead_ttl")
        conn = http.client.HTTPConnection("127.0.0.1", srv.pub)
        worst, count = 0.0, 0
        start = time.time()
        while not any("message log compacted" in l for l in srv.lines):
            if time.time() - start > dead_ttl + 30:
                raise SystemExit("no compaction in time")
            t = time.perf_counter()
            publish(conn, channel(count % CHANNELS), b"{}", 60)
            worst = max(worst, time.perf_counter() - t)
            count += 1
        line = next(l for l in srv.lines if "message log compacted" in l).strip()
        srv.stop()
        print(f"stall: compacting {mib} MiB live of a {mib * 9 // 4} MiB log: longest of {count} "
              f"publishes timed until it finished: {worst * 1000:.0f} ms ({line[-90:]})")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    binary = sys.argv[1]
    what = sys.argv[2] if len(sys.argv) > 2 else "all"
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    if what in ("memory", "all"):
        memory(binary, mib)
    if what in ("stall", "all"):
        stall(binary, mib)

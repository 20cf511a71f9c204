#!/usr/bin/env python3
"""Figures for the Foundation issue: first-load transfer size, login latency, idle RSS.

Starts a corral node (release build by default) on a fresh data dir and prints a Markdown table.
usage: bench/foundation.py [--bin PATH] [--logins N] [--idle-seconds S]
Only the Python standard library is used; traffic stays on 127.0.0.1.
"""

import argparse
import http.cookiejar
import os
import queue
import shutil
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request


def start(binary, data):
    env = dict(os.environ, CORRAL_ROOT_PASSWORD="bench-pw", CORRAL_LOG="warn")
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--node-name", "bench", "--ssh-dir", os.path.join(data, "ssh-home")],
                            stdout=subprocess.PIPE, text=True, env=env)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    while True:
        line = lines.get(timeout=60)
        if "listening on https://" in line:
            return proc, "https://" + line.split("listening on https://")[1].split()[0]


def opener(ca):
    ctx = ssl.create_default_context(cafile=ca)
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))


def transfer_size(op, url, encoding):
    req = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    with op.open(req) as resp:
        return len(resp.read()), resp.headers.get("Content-Encoding") or "identity"


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/corral/target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "corral"))
    ap.add_argument("--logins", type=int, default=50)
    ap.add_argument("--idle-seconds", type=int, default=30)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="corral-bench.")
    data = os.path.join(tmp, "data")
    proc, base = start(args.bin, data)
    try:
        op = opener(os.path.join(data, "pki", "ca.pem"))
        body = urllib.parse.urlencode({"username": "root@pam", "password": "bench-pw"}).encode()
        # Login latency: sequential password logins (argon2id verification dominates).
        samples = []
        for _ in range(args.logins):
            t0 = time.perf_counter()
            with op.open(base + "/api2/json/access/ticket", data=body) as resp:
                resp.read()
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        p50 = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]

        # First load of the console: login page HTML plus the bundle, as a browser asks for it.
        rows = []
        for path in ["/login", "/pkg/corral.js", "/pkg/corral_bg.wasm", "/pkg/corral.css"]:
            size, enc = transfer_size(op, base + path, "br, gzip")
            raw, _ = transfer_size(op, base + path, "identity")
            rows.append((path, size, enc, raw))
        total = sum(r[1] for r in rows)

        time.sleep(args.idle_seconds)
        with open(f"/proc/{proc.pid}/status") as f:
            rss_kib = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print("| figure | value |")
    print("| --- | --- |")
    print(f"| login latency p50 / p99 ({args.logins} sequential password logins) | {p50:.1f} ms / {p99:.1f} ms |")
    for path, size, enc, raw in rows:
        print(f"| first load: `{path}` | {size / 1024:.1f} KiB ({enc}; {raw / 1024:.1f} KiB uncompressed) |")
    print(f"| first load total (HTML + JS + wasm + CSS, compressed) | {total / 1024:.1f} KiB |")
    print(f"| idle RSS after {args.idle_seconds} s | {rss_kib / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()

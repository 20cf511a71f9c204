#!/usr/bin/env python3
"""Figures for the Cluster issue on 3 real nodes (127.0.5.1-3, port 8006): join duration,
config write commit latency, time from power loss to "offline" on the peers, idle RSS per node.

usage: bench/cluster.py [--bin PATH] [--writes N]
Standard library only; traffic stays on loopback. The write latency is measured through the
node-to-node `write` call (mutual TLS with node 2's cluster certificate, a new connection per
write), i.e. one Raft commit on 3 voters as every configuration change makes it.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PASSWORD = "bench-pw"


class Node:
    def __init__(self, binary, root, n):
        self.name = f"b{n}"
        self.ip = f"127.0.5.{n}"
        self.data = os.path.join(root, self.name)
        env = dict(os.environ, CORRAL_ROOT_PASSWORD=PASSWORD, CORRAL_LOG="error")
        self.proc = subprocess.Popen([binary, "serve", "--data-dir", self.data, "--listen", f"{self.ip}:8006",
                                      "--node-name", self.name, "--ssh-dir", os.path.join(self.data, "ssh-home")], stdout=subprocess.PIPE, text=True, env=env)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        while True:
            line = lines.get(timeout=60)
            if "listening on https://" in line:
                self.fingerprint = line.split("fingerprint ")[1].strip().rstrip(")")
                break
        self.base = f"https://{self.ip}:8006/api2/json"
        ctx = ssl.create_default_context(cafile=os.path.join(self.data, "pki", "ca.pem"))
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
        ticket = self.call("POST", "/access/ticket", {"username": "root@pam", "password": PASSWORD}, auth=False)
        self.headers = {"Cookie": f"PVEAuthCookie={ticket['ticket']}", "CSRFPreventionToken": ticket["CSRFPreventionToken"]}

    def call(self, method, path, form=None, auth=True):
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=self.headers if auth else {})
        with self.opener.open(req, timeout=120) as resp:
            return json.load(resp)["data"]

    def wait_task(self, upid):
        while True:
            status = self.call("GET", f"/nodes/{self.name}/tasks/{upid}/status")
            if status["status"] == "stopped":
                assert status["exitstatus"] == "OK", status
                return
            time.sleep(0.05)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def node_context(member):
    """TLS as a member calls another: its cluster certificate, ALPN corral-node/1, the server
    checked against the cluster CA."""
    pki = os.path.join(member.data, "pki")
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "cluster-ca.pem"))
    ctx.check_hostname = False  # the certificate names the node, the URL has its address
    ctx.load_cert_chain(os.path.join(pki, "cluster-node.pem"), os.path.join(pki, "cluster-node.key"))
    ctx.set_alpn_protocols(["corral-node/1"])
    return ctx


def node_write(node, ctx, i):
    path = "/api2/json/cluster/raft/write"
    body = json.dumps({"ops": [{"Put": {"key": f"bench/{i % 16}", "value": i}}]}).encode()
    req = urllib.request.Request(f"https://{node.ip}:8006{path}", data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        result = json.load(resp)
        assert "Ok" in result, result


def percentile(samples, p):
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * p))]


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/corral/target")
    ap.add_argument("--bin", default=os.path.join(target, "release", "corral"))
    ap.add_argument("--writes", type=int, default=200)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="corral-bench-cluster.")
    nodes = []
    try:
        nodes = [Node(args.bin, root, n) for n in (1, 2, 3)]
        n1 = nodes[0]
        n1.wait_task(n1.call("POST", "/cluster/config", {"clustername": "bench", "link0": n1.ip}))
        joins = []
        for joiner in nodes[1:]:
            t0 = time.perf_counter()
            upid = joiner.call("POST", "/cluster/config/join", {"hostname": n1.ip, "password": PASSWORD,
                                                               "fingerprint": n1.fingerprint, "link0": joiner.ip})
            joiner.wait_task(upid)
            joins.append((time.perf_counter() - t0) * 1000)

        ctx = node_context(nodes[1])
        latencies = []
        for i in range(args.writes):
            t0 = time.perf_counter()
            node_write(n1, ctx, i)
            latencies.append((time.perf_counter() - t0) * 1000)

        time.sleep(5)
        rss = [n.rss_mib() for n in nodes]

        victim = nodes[2]
        victim.proc.send_signal(signal.SIGKILL)
        t0 = time.perf_counter()
        seen = {}
        while len(seen) < 2 and time.perf_counter() - t0 < 30:
            for n in nodes[:2]:
                if n.name in seen:
                    continue
                status = n.call("GET", "/cluster/status")
                if any(e.get("name") == victim.name and e.get("online") == 0 for e in status):
                    seen[n.name] = (time.perf_counter() - t0) * 1000
            time.sleep(0.05)
    finally:
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.terminate()
                n.proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    print("| figure | value |")
    print("| --- | --- |")
    print(f"| join duration, submit → task OK (2nd node, 3rd node) | {joins[0]:.0f} ms, {joins[1]:.0f} ms |")
    print(f"| config write commit latency on 3 voters, p50 / p99 ({args.writes} sequential writes) | "
          f"{statistics.median(latencies):.1f} ms / {percentile(latencies, 0.99):.1f} ms |")
    print("| power loss (SIGKILL) → \"offline\" on each peer | " + ", ".join(f"{k}: {v:.0f} ms" for k, v in sorted(seen.items())) + " |")
    print(f"| idle RSS per node (3-node cluster) | {', '.join(f'{r:.1f}' for r in rss)} MiB |")


if __name__ == "__main__":
    main()

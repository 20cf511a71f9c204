#!/usr/bin/env python3
"""Storage figures on the lab (lab/lab.sh, needs root): three release nodes in network
namespaces and an NFS server (rpcbind + NFS-Ganesha) on the lab's storage node.

- NFS export scan through the API (`/nodes/n1/scan/nfs`), p50 / p99;
- Add (POST /storage) → "available" in /cluster/resources of each node;
- the NFS server loses power (link down, SIGKILL): time until each node shows it "unknown", and
  the latency of an unrelated API call (`/cluster/status`) on every node meanwhile, against the
  same call with the server up;
- daemon RSS with two NFS storages active.

usage: bench/lab_storage.py [--runs N] [--scans N]   (build first: scripts/build.sh --release)
Standard library only.
"""

import argparse
import json
import os
import ssl
import statistics
import subprocess
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "lab", "lab.sh")
SUBNET = "10.77.98"
ENV = dict(os.environ, LAB="benchst", SUBNET=SUBNET, CORRAL_LAB_PASSWORD="bench-pw")
SERVER = f"{SUBNET}.200"
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the bench only measures


def lab(*args):
    return subprocess.run([LAB, *args], env=ENV, check=True, capture_output=True, text=True).stdout


def call(n, method, path, form=None, ticket=None, timeout=15):
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {}
    if ticket:
        headers = {"Cookie": f"PVEAuthCookie={ticket['ticket']}", "CSRFPreventionToken": ticket["CSRFPreventionToken"]}
    req = urllib.request.Request(f"https://{SUBNET}.{n}:8006/api2/json{path}", data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, context=CTX, timeout=timeout) as resp:
        return json.load(resp)["data"]


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def states(n, ticket, storage):
    return {r["node"]: r["status"] for r in call(n, "GET", "/cluster/resources?type=storage", ticket=ticket) if r["storage"] == storage}


def until_each(ticket, storage, want, limit=60):
    """ms from now until each node's own view shows `storage` on every node as `want`."""
    t0 = time.perf_counter()
    seen = {}
    while len(seen) < 3:
        for n in (1, 2, 3):
            if n not in seen:
                s = states(n, ticket, storage)
                if len(s) == 3 and all(v == want for v in s.values()):
                    seen[n] = (time.perf_counter() - t0) * 1000
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"{storage} not {want} everywhere: {seen}")
        time.sleep(0.05)
    return [seen[n] for n in (1, 2, 3)]


def rss_mib(node):
    pids = subprocess.run(["ip", "netns", "pids", f"{ENV['LAB']}-{node}"], check=True, capture_output=True, text=True).stdout.split()
    for pid in pids:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != "corral":
                continue
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scans", type=int, default=50)
    args = ap.parse_args()
    lab("purge")
    try:
        lab("up", "3")
        lab("cluster")
        lab("nfs", "up")
        ticket = call(1, "POST", "/access/ticket", {"username": "root@pam", "password": "bench-pw"})
        scans = [timed(lambda: call(1, "GET", f"/nodes/n1/scan/nfs?server={SERVER}", ticket=ticket)) for _ in range(args.scans)]
        adds = []
        for run in range(args.runs):
            sid = f"b{run}"
            t0 = time.perf_counter()
            call(1, "POST", "/storage", {"storage": sid, "type": "nfs", "server": SERVER, "export": "/export"}, ticket)
            answered = (time.perf_counter() - t0) * 1000
            adds.append((answered, [answered + ms for ms in until_each(ticket, sid, "available")]))
            if run < args.runs - 1:
                call(1, "DELETE", f"/storage/{sid}", ticket=ticket)
        call(1, "POST", "/storage", {"storage": "keep", "type": "nfs", "server": SERVER, "export": "/export"}, ticket)
        until_each(ticket, "keep", "available")
        time.sleep(10)  # settle: a few check rounds with both storages active
        rss = {node: rss_mib(node) for node in ("n1", "n2", "n3")}
        baseline = [timed(lambda n=n: call(n, "GET", "/cluster/status", ticket=ticket)) for _ in range(20) for n in (1, 2, 3)]
        lab("nfs", "poweroff")
        t_off = time.perf_counter()
        to_unknown = until_each(ticket, "keep", "unknown")
        during = []
        while time.perf_counter() - t_off < 20:
            for n in (1, 2, 3):
                during.append(timed(lambda n=n: call(n, "GET", "/cluster/status", ticket=ticket)))
            time.sleep(0.1)
        lab("nfs", "poweron")
        t_on = time.perf_counter()
        back = until_each(ticket, "keep", "available")
        del t_on
    finally:
        lab("purge")

    print(f"| NFS export scan through the API ({args.scans}×), p50 / p99 | {statistics.median(scans):.1f} / {pct(scans, 99):.1f} ms |")
    for i, (answered, each) in enumerate(adds, 1):
        print(f"| Add run {i}: POST answered; available on n1, n2, n3 | {answered:.0f} ms; {', '.join(f'{x:.0f}' for x in each)} ms |")
    print(f"| server power loss → unknown on n1, n2, n3 | {', '.join(f'{x:.0f}' for x in to_unknown)} ms |")
    print(f"| /cluster/status, server up ({len(baseline)}×), p50 / p99 / max | {statistics.median(baseline):.1f} / {pct(baseline, 99):.1f} / {max(baseline):.1f} ms |")
    print(f"| /cluster/status, server dead for 20 s ({len(during)}×), p50 / p99 / max | {statistics.median(during):.1f} / {pct(during, 99):.1f} / {max(during):.1f} ms |")
    print(f"| server back → available on n1, n2, n3 | {', '.join(f'{x:.0f}' for x in back)} ms |")
    print(f"| daemon RSS, two NFS storages active (n1, n2, n3) | {', '.join(f'{v:.1f}' for v in rss.values())} MiB |")


if __name__ == "__main__":
    main()

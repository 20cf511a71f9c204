#!/usr/bin/env python3
"""Figures on the lab (lab/lab.sh, needs root): three release nodes in network namespaces.
Power loss (link down, then SIGKILL) of one node → "offline" on each peer; power loss of the
Raft leader → first acknowledged write on a survivor; a write on a node cut off from the others
(which knows it has no quorum) → its refusal.

usage: bench/lab_failover.py [--runs N]     (build first: scripts/build.sh --release)
Standard library only.
"""

import argparse
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "lab", "lab.sh")
ENV = dict(os.environ, LAB="bench", SUBNET="10.77.99", CORRAL_LAB_PASSWORD="bench-pw")
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the bench only measures


def lab(*args):
    return subprocess.run([LAB, *args], env=ENV, check=True, capture_output=True, text=True).stdout


def call(ip, method, path, form=None, ticket=None, timeout=15):
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {}
    if ticket:
        headers = {"Cookie": f"PVEAuthCookie={ticket['ticket']}", "CSRFPreventionToken": ticket["CSRFPreventionToken"]}
    req = urllib.request.Request(f"https://{ip}:8006/api2/json{path}", data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, context=CTX, timeout=timeout) as resp:
        return json.load(resp)["data"]


def ip(n):
    return f"10.77.99.{n}"


def wait(cond, limit=60):
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > limit:
            raise TimeoutError
        time.sleep(0.05)


def status(n, ticket):
    return call(ip(n), "GET", "/cluster/status", ticket=ticket)


def settled(ticket):
    """All three online in every node's view, and every node's store follows one leader."""
    def ok():
        views = [status(n, ticket) for n in (1, 2, 3)]
        online = all(sum(e.get("online", 0) for e in v if e["type"] == "node") == 3 for v in views)
        leaders = {e.get("leader") for v in views for e in v if e["type"] == "cluster"}
        return online and len(leaders) == 1 and None not in leaders
    wait(ok)


def one_run(ticket):
    # Offline detection: cut node 3.
    lab("poweroff", "n3")
    t0 = time.perf_counter()
    seen = {}
    while len(seen) < 2 and time.perf_counter() - t0 < 30:
        for n in (1, 2):
            if n not in seen and any(e.get("name") == "n3" and e.get("online") == 0 for e in status(n, ticket)):
                seen[n] = (time.perf_counter() - t0) * 1000
        time.sleep(0.05)
    lab("poweron", "n3")
    settled(ticket)
    # Leader loss (a single node's: the other two run their stores): cut the leader, write
    # through a survivor until acknowledged.
    leader = status(1, ticket)[0]["leader"]
    survivor = next(n for n in (1, 2, 3) if f"n{n}" != leader)
    lab("poweroff", leader)
    t0 = time.perf_counter()
    k = 0
    while True:
        k += 1
        try:
            call(ip(survivor), "POST", f"/access/users/root@pam/token/b{int(t0)}-{k}", {"privsep": "0"}, ticket)
            break
        except Exception:
            time.sleep(0.02)
    write_ms = (time.perf_counter() - t0) * 1000
    lab("poweron", leader)
    settled(ticket)
    # A minority that knows it: n1 cut off, not quorate for a few seconds, then one write.
    lab("partition", "n1", "n2,n3")
    wait(lambda: status(1, ticket)[0]["quorate"] == 0)
    time.sleep(4)
    t0 = time.perf_counter()
    try:
        call(ip(1), "POST", f"/access/users/root@pam/token/m{int(t0)}", {"privsep": "0"}, ticket)
        refused_ms = float("nan")
    except urllib.error.HTTPError as err:
        refused_ms = (time.perf_counter() - t0) * 1000
        assert err.reason == "cluster not ready - no quorum?", err.reason
    lab("heal")
    settled(ticket)
    return seen, write_ms, refused_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    lab("purge")
    try:
        lab("up", "3")
        lab("cluster")
        ticket = call(ip(1), "POST", "/access/ticket", {"username": "root@pam", "password": "bench-pw"})
        wait(lambda: all(status(n, ticket)[0]["quorate"] == 1 for n in (1, 2, 3)))
        rows = [one_run(ticket) for _ in range(args.runs)]
    finally:
        lab("purge")
    print("| run | power loss of n3 → offline on n1, n2 | leader power loss → first acknowledged write | write on a known minority → refused |")
    print("| --- | --- | --- | --- |")
    for i, (seen, write_ms, refused_ms) in enumerate(rows, 1):
        print(f"| {i} | {seen.get(1, float('nan')):.0f} ms, {seen.get(2, float('nan')):.0f} ms | {write_ms:.0f} ms | {refused_ms:.0f} ms |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""HA failover figures on the lab (lab/lab.sh, needs root): three release nodes in network
namespaces, clustered, NFS (Ganesha) on the lab's storage node, VM 100 (qcow2 on NFS, TCG)
under HA.

Per power-loss run, from `lab.sh poweroff` of the node running VM 100:
- detection: a survivor's /cluster/status shows the node offline;
- fence: the survivor's manager_status no longer places vm:100 on the dead node (the master
  took the dead node's expired agent lease and chose a new node);
- start: a QEMU of VM 100 runs on another node (read from /proc, not from corral).
"CRM victim" runs first move VM 100 (through HA) onto the master's node, so the dead node ran
both. Partition runs cut the node running VM 100 off from the other two and measure when its
QEMU is gone (the isolated side fences itself) and when VM 100 runs elsewhere. A watcher samples
every node's QEMU processes every 50 ms throughout and counts moments with two copies.

usage: bench/lab_ha.py [--runs N] [--crm-runs N] [--partitions N]   (scripts/build.sh --release)
Standard library only.
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "lab", "lab.sh")
NAME = "benchha"
SUBNET = "10.77.96"
ENV = dict(os.environ, LAB=NAME, SUBNET=SUBNET, STATE=f"/run/corral-lab/{NAME}", CORRAL_LAB_PASSWORD="bench-pw")
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the bench only measures
NODES = ("n1", "n2", "n3")


def lab(*args):
    return subprocess.run([LAB, *args], env=ENV, check=True, capture_output=True, text=True).stdout


def call(node, method, path, form=None, ticket=None, timeout=10):
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {"Cookie": f"PVEAuthCookie={ticket['ticket']}", "CSRFPreventionToken": ticket["CSRFPreventionToken"]} if ticket else {}
    req = urllib.request.Request(f"https://{SUBNET}.{node[1:]}:8006/api2/json{path}", data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, context=CTX, timeout=timeout) as resp:
        return json.load(resp)["data"]


def wait(cond, limit=120):
    t0 = time.perf_counter()
    while True:
        try:
            if cond():
                return
        except OSError:
            pass  # a node still coming up
        if time.perf_counter() - t0 > limit:
            raise TimeoutError
        time.sleep(0.02)


def task(node, ticket, upid):
    quoted = urllib.parse.quote(upid, safe="")
    wait(lambda: call(node, "GET", f"/nodes/{node}/tasks/{quoted}/status", ticket=ticket)["status"] == "stopped")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def qemu_on(node, vmid=100):
    out = subprocess.run(["ip", "netns", "pids", f"{NAME}-{node}"], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and any(a.endswith(f"/{vmid}.pid".encode()) for a in args):
            return True
    return False


class Watcher(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        # `counting` is off during intentional live migrations: the target's receiving QEMU
        # exists beside the source's until the hand-over.
        self.on, self.doubles, self.stop, self.counting = [], 0, False, True
        self.phase, self.seen = "setup", []

    def run(self):
        while not self.stop:
            on = [n for n in NODES if qemu_on(n)]
            if self.counting and len(on) > 1:
                self.doubles += 1
                self.seen.append((self.phase, tuple(on), time.strftime("%H:%M:%S")))
            self.on = on
            time.sleep(0.05)


def online(node, ticket):
    return {e["name"] for e in call(node, "GET", "/cluster/status", ticket=ticket) if e["type"] == "node" and e.get("online") == 1}


def service(node, ticket):
    return call(node, "GET", "/cluster/ha/status/manager_status", ticket=ticket)["manager_status"]["service_status"].get("vm:100", {})


def placed(ticket, watcher):
    """VM 100 runs once, and every node's copy of the manager status says so."""
    wait(lambda: len(watcher.on) == 1 and all(service(n, ticket).get("node") == watcher.on[0] and service(n, ticket).get("state") == "started" for n in NODES))


def settle(ticket, watcher, returned):
    """All three online, the returned node's LRM idle again, VM 100 placed."""
    wait(lambda: all(online(n, ticket) == set(NODES) for n in NODES))
    wait(lambda: any(r["id"] == f"lrm:{returned}" and r["status"].startswith(f"{returned} (idle, ") for r in call(NODES[0], "GET", "/cluster/ha/status/current", ticket=ticket)))
    placed(ticket, watcher)


def power_loss(ticket, watcher, crm):
    if crm:
        master = call("n1", "GET", "/cluster/ha/status/manager_status", ticket=ticket)["manager_status"]["master_node"]
        if watcher.on != [master]:
            watcher.counting = False
            call("n1", "POST", "/cluster/ha/resources/vm:100/migrate", {"node": master}, ticket)
            wait(lambda: watcher.on == [master])
            placed(ticket, watcher)
            watcher.counting = True
    victim = watcher.on[0]
    survivor = next(n for n in NODES if n != victim)
    before = service(survivor, ticket)["uid"]
    watcher.phase = f"power loss of {victim}"
    lab("poweroff", victim)
    t0 = time.perf_counter()
    marks = {}
    while "start" not in marks:
        now = (time.perf_counter() - t0) * 1000
        try:
            if "detect" not in marks and victim not in online(survivor, ticket):
                marks["detect"] = now
            if "fence" not in marks:
                st = service(survivor, ticket)
                if st.get("uid") != before and st.get("node") not in (None, victim):
                    marks["fence"] = now
        except OSError:
            pass
        if any(n != victim for n in watcher.on):
            marks["start"] = (time.perf_counter() - t0) * 1000
        time.sleep(0.02)
        if now > 120_000:
            raise TimeoutError("VM 100 was not recovered")
    print("run", victim, {k: round(v) for k, v in marks.items()}, file=sys.stderr, flush=True)
    marks.setdefault("fence", marks["start"])
    marks.setdefault("detect", marks["fence"])
    watcher.phase = f"{victim} returns"
    lab("poweron", victim)
    settle(ticket, watcher, victim)
    return marks


def partition(ticket, watcher):
    holder = watcher.on[0]
    others = [n for n in NODES if n != holder]
    watcher.phase = f"partition {holder}"
    lab("partition", holder, ",".join(others))
    t0 = time.perf_counter()
    marks = {}
    while len(marks) < 2:
        now = (time.perf_counter() - t0) * 1000
        if "stopped" not in marks and holder not in watcher.on:
            marks["stopped"] = now
        if "started" not in marks and any(n in others for n in watcher.on):
            marks["started"] = now
        time.sleep(0.02)
        if now > 120_000:
            raise TimeoutError("no fencing across the partition")
    watcher.phase = f"heal {holder}"
    lab("heal")
    settle(ticket, watcher, holder)
    return marks


def summary(label, values):
    return f"| {label} | {pct(values, 50) / 1000:.1f} s | {pct(values, 95) / 1000:.1f} s | {max(values) / 1000:.1f} s |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--crm-runs", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=5)
    args = ap.parse_args()
    lab("purge")
    watcher = Watcher()
    try:
        lab("up", "3")
        lab("cluster")
        lab("nfs", "up")
        ticket = call("n1", "POST", "/access/ticket", {"username": "root@pam", "password": "bench-pw"})
        wait(lambda: all(online(n, ticket) == set(NODES) for n in NODES))
        call("n1", "POST", "/storage", {"storage": "nfs1", "type": "nfs", "server": f"{SUBNET}.200", "export": "/export"}, ticket)
        wait(lambda: all(call(n, "GET", f"/nodes/{n}/storage/nfs1/status", ticket=ticket)["active"] == 1 for n in NODES))
        upid = call("n1", "POST", "/nodes/n1/qemu", {"vmid": "100", "memory": "128", "kvm": "0", "scsi0": "nfs1:1,format=qcow2"}, ticket)
        task("n1", ticket, upid)
        watcher.start()
        call("n1", "POST", "/cluster/ha/resources", {"sid": "100"}, ticket)
        wait(lambda: watcher.on == ["n1"])
        plain = [power_loss(ticket, watcher, crm=False) for _ in range(args.runs)]
        crm = [power_loss(ticket, watcher, crm=True) for _ in range(args.crm_runs)]
        parts = [partition(ticket, watcher) for _ in range(args.partitions)]
    finally:
        watcher.stop = True
        if not os.environ.get("KEEP"):
            lab("purge")
    print("| from power loss to … | p50 | p95 | max |")
    print("| --- | --- | --- | --- |")
    for label, runs in ((f"any node ({len(plain)} runs)", plain), (f"the CRM's node ({len(crm)} runs)", crm)):
        for key, what in (("detect", "offline on a survivor"), ("fence", "fenced, new node chosen"), ("start", "QEMU runs on the new node")):
            print(summary(f"{label}: {what}", [m[key] for m in runs]))
    print(summary(f"partition ({len(parts)} runs): isolated node's QEMU gone", [m["stopped"] for m in parts]))
    print(summary(f"partition ({len(parts)} runs): QEMU runs on the majority", [m["started"] for m in parts]))
    print(f"\nmoments with VM 100 on two nodes (50 ms samples): {watcher.doubles}")
    for phase, on, at in watcher.seen:
        print(f"  {at} {phase}: {', '.join(on)}")


if __name__ == "__main__":
    main()

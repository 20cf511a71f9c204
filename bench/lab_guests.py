#!/usr/bin/env python3
"""Guest figures on the lab (lab/lab.sh, needs root): two release nodes in network namespaces,
clustered, and an NFS server (rpcbind + Ganesha) on the lab's storage node; real QEMU (TCG).

- API start → QMP `running` (POST status/start until status/current says running), for a guest
  with a qcow2 disk on NFS;
- live migration of a running Linux guest (128 MiB, lab/mkguest.sh's counter guest) n1 → n2 and
  back: task time, and QEMU's own total time and downtime from `query-migrate`;
- `/cluster/resources` latency with 1000 guest configurations in the store;
- the daemon's RSS and CPU use over 30 s idle with 10 running guests.

usage: bench/lab_guests.py [--runs N] [--configs N]   (scripts/build.sh --release; lab/mkguest.sh)
Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "lab", "lab.sh")
SUBNET = "10.77.97"
STATE = "/run/corral-lab/benchvm"
ENV = dict(os.environ, LAB="benchvm", SUBNET=SUBNET, STATE=STATE, CORRAL_LAB_PASSWORD="bench-pw")
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the bench only measures
GUEST = os.path.join(os.environ.get("CORRAL_CACHE", os.path.expanduser("~/.cache/corral")), "guest")


def lab(*args):
    return subprocess.run([LAB, *args], env=ENV, check=True, capture_output=True, text=True).stdout


def call(n, method, path, form=None, ticket=None, timeout=60):
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {"Cookie": f"PVEAuthCookie={ticket['ticket']}", "CSRFPreventionToken": ticket["CSRFPreventionToken"]} if ticket else {}
    req = urllib.request.Request(f"https://{SUBNET}.{n}:8006/api2/json{path}", data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, context=CTX, timeout=timeout) as resp:
        return json.load(resp)["data"]


def task(n, ticket, upid):
    node = upid.split(":")[1]
    quoted = urllib.parse.quote(upid, safe="")
    while True:
        s = call(n, "GET", f"/nodes/{node}/tasks/{quoted}/status", ticket=ticket)
        if s["status"] == "stopped":
            log = [l["t"] for l in call(n, "GET", f"/nodes/{node}/tasks/{quoted}/log?limit=1000", ticket=ticket)]
            assert s["exitstatus"] == "OK", (s, log)
            return log
        time.sleep(0.02)


def wait(cond, limit=120):
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > limit:
            raise TimeoutError
        time.sleep(0.05)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def corral_pid(node):
    for pid in subprocess.run(["ip", "netns", "pids", f"benchvm-{node}"], capture_output=True, text=True).stdout.split():
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "corral":
                return int(pid)
    raise RuntimeError("no corral")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--configs", type=int, default=1000)
    args = ap.parse_args()
    lab("purge")
    rows = []
    try:
        lab("up", "2")
        lab("cluster")
        lab("nfs", "up")
        t = call(1, "POST", "/access/ticket", {"username": "root@pam", "password": "bench-pw"})
        call(1, "POST", "/storage", {"storage": "nfs1", "type": "nfs", "server": f"{SUBNET}.200", "export": "/export"}, t)
        for n in (1, 2):
            wait(lambda n=n: call(n, "GET", f"/nodes/n{n}/storage/nfs1/status", ticket=t)["active"] == 1)
        wait(lambda: any(m["node"] == "n2" and m.get("ssh") == 1 for m in call(1, "GET", "/cluster/gossip", ticket=t)["members"]))
        wait(lambda: any(m["node"] == "n1" and m.get("ssh") == 1 for m in call(2, "GET", "/cluster/gossip", ticket=t)["members"]))

        # API start -> running
        task(1, t, call(1, "POST", "/nodes/n1/qemu", {"vmid": 100, "memory": 128, "kvm": 0, "scsi0": "nfs1:1,format=qcow2"}, t))
        starts = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            task(1, t, call(1, "POST", "/nodes/n1/qemu/100/status/start", {}, t))
            wait(lambda: call(1, "GET", "/nodes/n1/qemu/100/status/current", ticket=t).get("qmpstatus") == "running")
            starts.append((time.perf_counter() - t0) * 1000)
            task(1, t, call(1, "POST", "/nodes/n1/qemu/100/status/stop", {}, t))
        rows.append(f"| API start → QMP `running`, qcow2 disk on NFS ({args.runs}×), p50 / max | {statistics.median(starts):.0f} / {max(starts):.0f} ms |")

        # live migration of a running Linux guest
        guest = os.path.join(STATE, "guest")
        os.makedirs(guest, exist_ok=True)
        for f in ("vmlinuz", "initrd.gz"):
            shutil.copy(os.path.join(GUEST, f), guest)
        vm_args = f"-kernel {guest}/vmlinuz -initrd {guest}/initrd.gz -append console=ttyS0"
        task(1, t, call(1, "POST", "/nodes/n1/qemu", {"vmid": 101, "memory": 128, "kvm": 0, "serial0": "socket", "args": vm_args}, t))
        task(1, t, call(1, "POST", "/nodes/n1/qemu/101/status/start", {}, t))
        time.sleep(5)  # let it boot and count
        where = 1
        for _ in range(args.runs):
            to = 2 if where == 1 else 1
            t0 = time.perf_counter()
            log = task(where, t, call(where, "POST", f"/nodes/n{where}/qemu/101/migrate", {"target": f"n{to}", "online": 1}, t))
            total = (time.perf_counter() - t0) * 1000
            done = next(l for l in log if l.startswith("migration completed:"))
            mib, qemu_ms, down = map(int, re.findall(r"(\d+) MiB transferred in (\d+) ms, downtime (\d+) ms", done)[0])
            rows.append(f"| live migration n{where} → n{to} (128 MiB Linux guest): task / QEMU total / downtime / transferred | {total:.0f} ms / {qemu_ms} ms / {down} ms / {mib} MiB |")
            where = to
        task(where, t, call(where, "POST", f"/nodes/n{where}/qemu/101/status/stop", {}, t))

        # 10 running guests: the daemon's RSS and idle CPU
        for v in range(200, 210):
            task(1, t, call(1, "POST", "/nodes/n1/qemu", {"vmid": v, "memory": 64, "kvm": 0, "start": 1}, t))
        time.sleep(5)
        pid = corral_pid("n1")
        c0, w0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(30)
        cpu = (cpu_seconds(pid) - c0) / (time.perf_counter() - w0) * 100
        rows.append(f"| daemon with 10 running guests: RSS, CPU over 30 s idle | {rss_mib(pid):.1f} MiB, {cpu:.2f} % of one core |")
        for v in range(200, 210):
            task(1, t, call(1, "POST", f"/nodes/n1/qemu/{v}/status/stop", {}, t))

        # /cluster/resources with many guest configurations
        t0 = time.perf_counter()
        for v in range(1000, 1000 + args.configs):
            call(1, "POST", "/nodes/n1/qemu", {"vmid": v, "name": f"cfg{v}", "memory": 64}, t)
        made = time.perf_counter() - t0
        wait(lambda: len(call(2, "GET", "/cluster/resources?type=vm", ticket=t)) >= args.configs + 12)
        lat = {}
        for n in (1, 2):
            lat[n] = [ (lambda s: (call(n, "GET", "/cluster/resources", ticket=t), (time.perf_counter() - s) * 1000)[1])(time.perf_counter()) for _ in range(20)]
        rows.append(f"| `/cluster/resources` with {args.configs + 12} guests (n1 owns them, n2 reads remote ones), p50 / p99 on n1; n2 | "
                    f"{statistics.median(lat[1]):.1f} / {pct(lat[1], 99):.1f} ms; {statistics.median(lat[2]):.1f} / {pct(lat[2], 99):.1f} ms |")
        rows.append(f"| sending {args.configs} guest creations through the API one after another (their tasks run side by side) | {made:.1f} s |")
    finally:
        lab("purge")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

"""Start a real corral node for the conformance tests and hand out its address and CA."""

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

ROOT_PASSWORD = "conformance-pw"
LAB_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lab", "lab.sh")


def corral_binary():
    explicit = os.environ.get("CORRAL_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/corral/target")
    return os.path.join(target, "debug", "corral")


class Node:
    def __init__(self, host, port, data_dir, proc, name, fingerprint):
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.proc = proc
        self.name = name
        self.fingerprint = fingerprint
        self.ca = os.path.join(data_dir, "pki", "ca.pem")


def start_node(tmp, name, ip="127.0.0.1"):
    """Start a real daemon on `ip`, a free port and a fresh data dir under `tmp`."""
    data = os.path.join(tmp, name)
    env = dict(os.environ, CORRAL_ROOT_PASSWORD=ROOT_PASSWORD, CORRAL_LOG="warn,openraft=off")
    proc = subprocess.Popen(
        [corral_binary(), "serve", "--data-dir", data, "--listen", f"{ip}:0", "--node-name", name,
         "--auth-fail-delay-ms", "50", "--gossip-port", "0", "--ssh-dir", os.path.join(data, "ssh-home")],
        stdout=subprocess.PIPE, text=True, env=env)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + 60
    address = None
    while address is None:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            pytest.fail("corral did not report listening within 60 s")
        if "listening on https://" in line:
            address = line.split("listening on https://")[1].split()[0]
            fingerprint = line.split("fingerprint ")[1].strip().rstrip(")")
    host, port = address.rsplit(":", 1)
    return Node(host, int(port), data, proc, name, fingerprint)


def stop(nodes, tmp):
    for n in nodes:
        if n.proc.poll() is None:
            n.proc.terminate()
            n.proc.wait(timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def node():
    tmp = tempfile.mkdtemp(prefix="corral-conformance.")
    n = start_node(tmp, "conf1")
    yield n
    stop([n], tmp)


@pytest.fixture(scope="module")
def three_nodes():
    tmp = tempfile.mkdtemp(prefix="corral-conformance-cluster.")
    nodes = [start_node(tmp, f"pc{i}", f"127.0.6.{i}") for i in (1, 2, 3)]
    yield nodes
    stop(nodes, tmp)


def lab_runner(name, subnet, state):
    """`lab.sh` for one of the project's labs (network namespaces, root), nodes on the debug build."""
    env = dict(os.environ, LAB=name, SUBNET=subnet, STATE=state, CORRAL_BIN=corral_binary(), CORRAL_LAB_PASSWORD=ROOT_PASSWORD)

    def lab(*args):
        return subprocess.run([LAB_SH, *args], env=env, check=True, capture_output=True, text=True, timeout=180).stdout
    return lab


def require_lab():
    """The lab needs root: skip without it, but fail in CI, which must run it."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the lab needs root, and CI must run it")
        pytest.skip("the lab needs root")


def wait_for(what, probe, timeout=30, ignore=()):
    """Poll `probe` until it returns something true (exceptions in `ignore` count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except ignore:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)

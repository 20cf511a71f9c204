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

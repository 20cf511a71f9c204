"""proxmoxer puts a guest under HA and watches it move after a power loss, the way an Ansible
play or a monitoring script would: three clustered corral nodes, a real NFS server and a real
QEMU guest in the project's lab (network namespaces; needs root)."""

import os

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from proxmoxer.tools import Tasks

from conftest import ROOT_PASSWORD, lab_runner, require_lab
from conftest import wait_for as conftest_wait_for

SUBNET = "10.77.32"
STATE = "/run/corral-lab/conformance-ha"
lab = lab_runner("pxha", SUBNET, STATE)


def api(node):
    ca = os.path.join(STATE, node, "data", "pki", "ca.pem")
    return ProxmoxAPI(f"{SUBNET}.{node[1:]}", port=8006, user="root@pam", password=ROOT_PASSWORD, verify_ssl=ca, timeout=60)


@pytest.fixture(scope="module")
def ha_lab():
    require_lab()
    lab("purge")
    lab("up", "3")
    lab("cluster")
    lab("nfs", "up")
    yield f"{SUBNET}.200"
    lab("purge")


def wait_for(what, probe, timeout=60):
    return conftest_wait_for(what, probe, timeout, ignore=ResourceException)


def service(prox, sid):
    rows = prox.cluster.ha.status.current.get()
    return next((r for r in rows if r["type"] == "service" and r["sid"] == sid), None)


def test_an_ha_guest_moves_after_a_power_loss(ha_lab):
    server = ha_lab
    prox = api("n1")
    wait_for("three nodes online", lambda: sum(n["online"] for n in prox.cluster.status.get() if n["type"] == "node") == 3)
    prox.storage.post(storage="nfs1", type="nfs", server=server, export="/export", content="images")
    for node in ("n1", "n2", "n3"):
        wait_for(f"nfs1 active on {node}", lambda: prox.nodes(node).storage("nfs1").status.get()["active"] == 1)
    upid = prox.nodes("n1").qemu.post(vmid=100, name="ha-guest", memory=128, kvm=0, scsi0="nfs1:1,format=qcow2")
    assert Tasks.blocking_status(prox, upid, timeout=120, polling_interval=0.2)["exitstatus"] == "OK"

    # Bad input is refused as PVE refuses it; nothing is written.
    with pytest.raises(ResourceException) as unknown:
        prox.cluster.ha.resources.post(sid="vm:101")
    assert "resource 'vm:101' does not exist in cluster" in str(unknown.value)
    with pytest.raises(ResourceException) as bad:
        prox.cluster.ha.resources.post(sid="vm:100", max_relocate=11)
    assert bad.value.status_code == 400 and "max_relocate" in bad.value.errors
    assert prox.cluster.ha.resources.get() == []

    prox.cluster.ha.resources.post(sid="vm:100", state="started", max_relocate=2, comment="from proxmoxer")
    listed = prox.cluster.ha.resources.get()
    assert [(r["sid"], r["type"], r["max_relocate"], r["comment"]) for r in listed] == [("vm:100", "vm", 2, "from proxmoxer")]
    one = prox.cluster.ha.resources("vm:100").get()
    assert one["sid"] == "vm:100" and len(one["digest"]) == 40
    started = wait_for("vm:100 started on n1", lambda: (s := service(prox, "vm:100")) and s["status"] == "vm:100 (n1, started)" and s)
    assert started["request_state"] == "started" and started["crm_state"] == "started"
    rows = {r["id"]: r for r in prox.cluster.ha.status.current.get()}
    assert rows["quorum"]["status"] == "OK" and rows["quorum"]["quorate"] == 1
    assert "(active, " in rows["master"]["status"]
    assert rows["lrm:n1"]["status"].startswith("n1 (active, watchdog active, ")
    guest = prox.nodes("n1").qemu(100).status.current.get()
    assert guest["status"] == "running" and guest["ha"] == {"managed": 1, "state": "started"}
    assert [r["hastate"] for r in prox.cluster.resources.get(type="vm")] == ["started"]

    # n1 loses power: the service moves and runs on its new node.
    lab("poweroff", "n1")
    other = api("n2")
    moved = wait_for("vm:100 recovered on n2 or n3", lambda: (s := service(other, "vm:100")) and s["node"] != "n1" and s["state"] == "started" and s, timeout=90)
    target = moved["node"]
    assert moved["status"] == f"vm:100 ({target}, started)"
    assert wait_for(f"the guest runs on {target}", lambda: other.nodes(target).qemu(100).status.current.get()["status"] == "running")
    node_states = other.cluster.ha.status.manager_status.get()["manager_status"]["node_status"]
    assert node_states["n1"] in ("unknown", "fence", "gone"), node_states
    log = [e["msg"] for e in other.cluster.log.get(max=100)]
    assert any(f"recover service 'vm:100' from fenced node 'n1' to node '{target}'" in m for m in log), log

    # Removing it from HA leaves the guest running where it is.
    other.cluster.ha.resources("vm:100").delete()
    assert other.cluster.ha.resources.get() == []
    assert other.nodes(target).qemu(100).status.current.get()["status"] == "running"

"""proxmoxer adds an NFS storage, lists it, reads it per node, allocates and frees a volume,
then creates, starts and live-migrates a guest on it waiting on UPIDs, the way an Ansible play
or an exporter would, against two clustered corral nodes and a real NFS server (rpcbind +
NFS-Ganesha) in the project's lab (network namespaces; needs root)."""

import os

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from conftest import ROOT_PASSWORD, lab_runner, require_lab, wait_for

SUBNET = "10.77.31"
STATE = "/run/corral-lab/conformance-storage"
lab = lab_runner("pxst", SUBNET, STATE)


@pytest.fixture(scope="module")
def nfs_node():
    require_lab()
    lab("purge")
    lab("up", "2")
    lab("cluster")
    lab("nfs", "up")
    yield f"{SUBNET}.1", f"{SUBNET}.200", os.path.join(STATE, "n1", "data", "pki", "ca.pem")
    lab("purge")


def test_add_list_and_use_an_nfs_storage(nfs_node):
    host, server, ca = nfs_node
    prox = ProxmoxAPI(host, port=8006, user="root@pam", password=ROOT_PASSWORD, verify_ssl=ca, timeout=60)

    exports = prox.nodes("n1").scan.nfs.get(server=server)
    assert exports == [{"path": "/export", "options": "(everyone)"}]
    assert prox.storage.post(storage="nfs1", type="nfs", server=server, export="/export",
                             content="images,iso") == {"storage": "nfs1", "type": "nfs"}

    listed = {s["storage"]: s for s in prox.storage.get()}
    assert set(listed) == {"local", "nfs1"}
    assert listed["nfs1"]["type"] == "nfs" and listed["nfs1"]["shared"] == 1
    assert listed["nfs1"]["path"] == "/mnt/pve/nfs1" and len(listed["nfs1"]["digest"]) == 40
    assert prox.storage("nfs1").get()["content"] == "images,iso"

    def active():
        entries = {s["storage"]: s for s in prox.nodes("n1").storage.get()}
        return entries.get("nfs1") if entries.get("nfs1", {}).get("active") == 1 else None
    nfs1 = wait_for("nfs1 active on n1", active)
    assert nfs1["enabled"] == 1 and nfs1["total"] > 0 and 0 < nfs1["used_fraction"] < 1
    only_iso = [s["storage"] for s in prox.nodes("n1").storage.get(content="iso")]
    assert "nfs1" in only_iso and "local" in only_iso
    assert prox.nodes("n1").storage("nfs1").status.get()["active"] == 1

    volid = prox.nodes("n1").storage("nfs1").content.post(vmid=100, filename="vm-100-disk-0.qcow2", size="2G")
    assert volid == "nfs1:100/vm-100-disk-0.qcow2"
    content = prox.nodes("n1").storage("nfs1").content.get(vmid=100)
    assert [(c["volid"], c["format"], c["size"]) for c in content] == [(volid, "qcow2", 2 << 30)]
    # proxmoxer puts the volume id into the path as it is (slash and all).
    info = prox.nodes("n1").storage("nfs1").content(volid).get()
    assert info["format"] == "qcow2" and info["size"] == 2 << 30
    upid = prox.nodes("n1").storage("nfs1").content(volid).delete()
    status = Tasks.blocking_status(prox, upid, timeout=60, polling_interval=0.2)
    assert status["exitstatus"] == "OK", status
    assert prox.nodes("n1").storage("nfs1").content.get() == []

    def both_available():
        resources = [r for r in prox.cluster.resources.get(type="storage") if r["storage"] == "nfs1"]
        return sorted((r["id"], r["status"], r["plugintype"], r["shared"]) for r in resources) == [
            ("storage/n1/nfs1", "available", "nfs", 1), ("storage/n2/nfs1", "available", "nfs", 1)]
    wait_for("nfs1 available on both nodes", both_available)

    # A guest on it: create, start, live-migrate to n2, every step a UPID proxmoxer waits on.
    def run(upid, kind):
        assert Tasks.decode_upid(upid)["type"] == kind
        status = Tasks.blocking_status(prox, upid, timeout=120, polling_interval=0.2)
        assert status["exitstatus"] == "OK", (kind, status, prox.nodes(status["node"]).tasks(upid).log.get())
    run(prox.nodes("n1").qemu.post(vmid=300, name="px-vm", memory=64, kvm=0, scsi0="nfs1:1,format=qcow2"), "qmcreate")
    run(prox.nodes("n1").qemu(300).status.start.post(), "qmstart")
    assert prox.nodes("n1").qemu(300).status.current.get()["status"] == "running"
    wait_for("SSH from n1 to n2", lambda: any(m["node"] == "n2" and m.get("ssh") == 1 for m in prox.cluster.gossip.get()["members"]))
    assert prox.nodes("n1").qemu(300).migrate.get(target="n2")["allowed_nodes"] == ["n2"]
    run(prox.nodes("n1").qemu(300).migrate.post(target="n2", online=1), "qmigrate")
    assert prox.nodes("n2").qemu(300).status.current.get()["status"] == "running"
    assert [v["vmid"] for v in prox.nodes("n1").qemu.get()] == []
    run(prox.nodes("n2").qemu(300).status.stop.post(), "qmstop")
    run(prox.nodes("n2").qemu(300).delete(), "qmdestroy")

    prox.storage("nfs1").put(content="images", nodes="n1")
    assert prox.storage("nfs1").get()["nodes"] == "n1"
    prox.storage("nfs1").delete()
    assert [s["storage"] for s in prox.storage.get()] == ["local"]

"""proxmoxer, the Python client most PVE automation uses (Ansible's modules among them), against
a real corral node: password and token login, reading version, nodes and cluster status."""

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from conftest import ROOT_PASSWORD


def password_client(node):
    return ProxmoxAPI(node.host, port=node.port, user="root@pam", password=ROOT_PASSWORD, verify_ssl=node.ca)


def test_password_login_reads_version_nodes_and_cluster_status(node):
    prox = password_client(node)
    version = prox.version.get()
    assert version["version"]
    nodes = prox.nodes.get()
    assert [n["node"] for n in nodes] == ["conf1"]
    assert nodes[0]["status"] == "online"
    status = prox.cluster.status.get()
    assert status == [
        {"type": "node", "id": "node/conf1", "name": "conf1", "nodeid": 0, "ip": status[0]["ip"],
         "local": 1, "online": 1, "level": ""}
    ]


def test_token_login_reads_the_same(node):
    prox = password_client(node)
    created = prox.access.users("root@pam").token("pytest").post(privsep=0, comment="conformance")
    assert created["full-tokenid"] == "root@pam!pytest"
    token = ProxmoxAPI(node.host, port=node.port, user="root@pam", token_name="pytest",
                       token_value=created["value"], verify_ssl=node.ca)
    assert token.version.get()["version"]
    assert token.nodes.get()[0]["node"] == "conf1"
    assert token.cluster.status.get()[0]["type"] == "node"
    assert token.nodes("localhost").status.get()["memory"]["total"] > 0


def test_errors_carry_reason_and_errors_map(node):
    prox = password_client(node)
    with pytest.raises(ResourceException) as err:
        prox.cluster.log.get(max="lots")
    assert err.value.status_code == 400
    assert "Parameter verification failed." in str(err.value)
    assert "max" in err.value.errors


def test_wrong_password_is_an_authentication_error(node):
    from proxmoxer.core import AuthenticationError
    with pytest.raises(AuthenticationError):
        ProxmoxAPI(node.host, port=node.port, user="root@pam", password="wrong", verify_ssl=node.ca)


def test_ticket_renewal_the_way_proxmoxer_does_it(node):
    prox = password_client(node)
    auth = prox._backend.auth
    # proxmoxer renews by posting its current ticket as the password once `renew_age` has passed;
    # a zero age makes the next request renew.
    auth.renew_age = 0
    assert prox.version.get()["version"]
    ticket, _csrf = auth.get_tokens()
    assert ticket.startswith("PVE:root@pam:")
    auth.renew_age = 3600
    assert prox.nodes.get()[0]["node"] == "conf1"


def test_guest_lifecycle_the_way_automation_does_it(node):
    prox = password_client(node)
    vmid = int(prox.cluster.nextid.get())
    upid = prox.nodes("conf1").qemu.post(vmid=vmid, name="py-vm", memory=768, cores=2)
    assert Tasks.decode_upid(upid)["type"] == "qmcreate"
    assert Tasks.blocking_status(prox, upid, timeout=30)["exitstatus"] == "OK"
    listed = [v for v in prox.nodes("conf1").qemu.get() if v["vmid"] == vmid]
    assert [(v["name"], v["status"], v["cpus"], v["maxmem"]) for v in listed] == [("py-vm", "stopped", 2, 768 << 20)]
    config = prox.nodes("conf1").qemu(vmid).config.get()
    assert (config["memory"], config["cores"], config["name"]) == (768, 2, "py-vm")
    assert any(r["id"] == f"qemu/{vmid}" and r["node"] == "conf1" for r in prox.cluster.resources.get(type="vm"))
    with pytest.raises(ResourceException) as err:
        prox.nodes("conf1").qemu.post(vmid=vmid)
    assert err.value.status_code == 400 and "vmid" in err.value.errors
    upid = prox.nodes("conf1").qemu(vmid).delete()
    assert Tasks.blocking_status(prox, upid, timeout=30)["exitstatus"] == "OK"
    assert all(v["vmid"] != vmid for v in prox.nodes("conf1").qemu.get())

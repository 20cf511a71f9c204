"""proxmoxer builds a 3-node cluster the way an Ansible play would: create on one node, join
the others, follow the tasks with proxmoxer's own task helper, then read the cluster from any
node, with a ticket from another."""

from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from conftest import ROOT_PASSWORD


def client(node):
    return ProxmoxAPI(node.host, port=node.port, user="root@pam", password=ROOT_PASSWORD, verify_ssl=node.ca,
                      timeout=60)


def run_task(prox, upid):
    status = Tasks.blocking_status(prox, upid, timeout=120, polling_interval=0.2)
    assert status["status"] == "stopped"
    assert status["exitstatus"] == "OK", status
    return status


def test_create_join_and_read_the_cluster(three_nodes):
    n1, n2, n3 = three_nodes
    p1 = client(n1)
    upid = p1.cluster.config.post(clustername="pxcluster", link0=n1.host)
    assert Tasks.decode_upid(upid)["type"] == "clustercreate"
    run_task(p1, upid)

    for joiner in (n2, n3):
        pj = client(joiner)
        upid = pj.cluster.config.join.post(hostname=f"{n1.host}:{n1.port}", password=ROOT_PASSWORD,
                                           fingerprint=n1.fingerprint, link0=joiner.host)
        run_task(pj, upid)
        log = Tasks.blocking_status(pj, upid)  # a finished task answers at once
        assert log["type"] == "clusterjoin"

    for node in three_nodes:
        nodes = client(node).cluster.config.nodes.get()
        assert [(n["name"], n["nodeid"]) for n in nodes] == [("pc1", "1"), ("pc2", "2"), ("pc3", "3")]

    # A ticket from node 1 works on node 3: take node 1's session and point it at node 3.
    p3_with_n1_ticket = ProxmoxAPI(n3.host, port=n3.port, user="root@pam", password=ROOT_PASSWORD, verify_ssl=n3.ca)
    p3_with_n1_ticket._backend.auth.pve_auth_ticket = p1._backend.auth.pve_auth_ticket
    p3_with_n1_ticket._backend.auth.csrf_prevention_token = p1._backend.auth.csrf_prevention_token
    status = p3_with_n1_ticket.cluster.status.get()
    cluster = next(e for e in status if e["type"] == "cluster")
    assert cluster["name"] == "pxcluster"
    assert cluster["nodes"] == 3
    assert sorted(e["name"] for e in status if e["type"] == "node") == ["pc1", "pc2", "pc3"]
    # A script iterating nodes.get() sees every member, as on PVE.
    assert [n["node"] for n in p1.nodes.get()] == ["pc1", "pc2", "pc3"]

    # Node-scoped calls go to the named node, whichever node was asked.
    tasks = p1.nodes("pc3").tasks.get()
    assert tasks[0]["node"] == "pc3" and tasks[0]["type"] == "clusterjoin"

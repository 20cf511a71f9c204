"""prometheus-pve-exporter scrapes corral with every collector on, as a Prometheus set-up for
PVE would: no errors, and the metrics say what the node has (a running guest, its storage)."""

from pve_exporter.collector import CollectorsOptions, collect_pve
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from conftest import ROOT_PASSWORD


def test_the_exporter_scrapes_every_collector(node):
    prox = ProxmoxAPI(node.host, port=node.port, user="root@pam", password=ROOT_PASSWORD, verify_ssl=node.ca)
    upid = prox.nodes(node.name).qemu.post(vmid=900, name="exported", memory=64, kvm=0, onboot=1)
    assert Tasks.blocking_status(prox, upid, timeout=60, polling_interval=0.2)["exitstatus"] == "OK"
    try:
        config = {"user": "root@pam", "password": ROOT_PASSWORD, "verify_ssl": node.ca, "port": node.port}
        options = CollectorsOptions(status=True, version=True, subscription=True, node=True, cluster=True,
                                    resources=True, backup_info=True, config=True, replication=True, qdevice=True)
        text = collect_pve(config, node.host, cluster=True, node=True, options=options).decode()
        lines = text.splitlines()
        assert f'pve_up{{id="node/{node.name}"}} 1.0' in lines
        assert 'pve_up{id="qemu/900"} 0.0' in lines
        assert f'pve_up{{id="storage/{node.name}/local"}} 1.0' in lines
        assert f'pve_guest_info{{id="qemu/900",name="exported",node="{node.name}",tags="",template="",type="qemu"}} 1.0' in lines
        assert f'pve_onboot_status{{id="qemu/900",node="{node.name}",type="qemu"}} 1.0' in lines
        assert f'pve_subscription_status{{id="node/{node.name}",status="notfound"}} 1.0' in lines
        assert 'pve_not_backed_up_info{id="qemu/900"} 1.0' in lines
        assert any(l.startswith("pve_version_info{") for l in lines)
    finally:
        prox.nodes(node.name).qemu(900).delete()

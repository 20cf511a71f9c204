//! Guest configurations through the API on real daemons: create, list, read, destroy, VMIDs
//! unique in the cluster, guests carried into a new cluster, and a joiner with guests refused.

mod common;

use common::cluster::{create, join, wait_data, wait_status};
use common::{Node, Options, Ticket};

/// Create a VM through the API and wait for its task; the task's exit status and log.
async fn create_vm(node: &Node, t: &Ticket, on: &str, form: &[(&str, &str)]) -> (String, Vec<String>) {
    let (status, body) = node.post(t, &format!("/nodes/{on}/qemu"), form).await;
    assert_eq!(status, 200, "{body}");
    node.wait_task(t, body["data"].as_str().unwrap()).await
}

fn vmids(body: &serde_json::Value) -> Vec<u64> {
    body["data"].as_array().unwrap().iter().map(|g| g["vmid"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_standalone_node_keeps_guest_configurations_and_checks_input() {
    let n1 = Node::start_with(Options::named("s1", "127.0.13.1:0"));
    let t = n1.login().await;
    let (_, next) = n1.get(&t, "/cluster/nextid").await;
    assert_eq!(next["data"], "100", "PVE sends the id as a string");

    let (exit, log) = create_vm(&n1, &t, "s1", &[("vmid", "100"), ("name", "web-1"), ("memory", "1024"), ("cores", "2"), ("ostype", "l26")]).await;
    assert_eq!(exit, "OK", "{log:?}");
    let (_, list) = n1.get(&t, "/nodes/s1/qemu").await;
    assert_eq!(vmids(&list), [100]);
    let vm = &list["data"][0];
    assert_eq!((vm["name"].as_str(), vm["status"].as_str(), vm["cpus"].as_u64(), vm["maxmem"].as_u64()), (Some("web-1"), Some("stopped"), Some(2), Some(1024 << 20)));
    let (_, config) = n1.get(&t, "/nodes/s1/qemu/100/config").await;
    assert_eq!(config["data"]["memory"], 1024);
    assert_eq!(config["data"]["ostype"], "l26");
    assert_eq!(config["data"]["digest"].as_str().map(str::len), Some(40));
    let (_, current) = n1.get(&t, "/nodes/localhost/qemu/100/status/current").await;
    assert_eq!(current["data"]["status"], "stopped");
    let (_, next) = n1.get(&t, "/cluster/nextid").await;
    assert_eq!(next["data"], "101");
    let (status, taken) = n1.get(&t, "/cluster/nextid?vmid=100").await;
    assert_eq!((status, taken["errors"]["vmid"].as_str()), (400, Some("VM 100 already exists")));

    // Bad input: every bad parameter named, nothing written.
    let (status, body) = n1.post(&t, "/nodes/s1/qemu", &[("vmid", "100"), ("name", "web-2")]).await;
    assert_eq!((status, body["errors"]["vmid"].as_str()), (400, Some("VM 100 already exists on node 's1'")));
    let (status, body) = n1.post(&t, "/nodes/s1/qemu", &[("vmid", "99"), ("memory", "lots"), ("hugepages", "1024")]).await;
    assert_eq!(status, 400, "{body}");
    for param in ["vmid", "memory", "hugepages"] {
        assert!(body["errors"][param].is_string(), "{param} named: {body}");
    }
    let (status, body) = n1.post(&t, "/nodes/s1/qemu", &[("vmid", "102"), ("name", "bad_name")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["name"].as_str().unwrap().contains("DNS name"), "{body}");
    let (status, _) = n1.get(&t, "/nodes/s1/qemu/102/config").await;
    assert_eq!(status, 500, "VM 102 was not created");

    let (status, body) = n1.delete(&t, "/nodes/s1/qemu/100").await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n1.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
    let (_, list) = n1.get(&t, "/nodes/s1/qemu").await;
    assert!(vmids(&list).is_empty());
}

#[tokio::test]
async fn guests_are_cluster_wide_and_a_joiner_with_guests_is_refused() {
    let n1 = Node::start_with(Options::named("g1", "127.0.13.11:0"));
    let t1 = n1.login().await;
    let (exit, log) = create_vm(&n1, &t1, "g1", &[("vmid", "100"), ("name", "before-cluster")]).await;
    assert_eq!(exit, "OK", "{log:?}");
    create(&n1, &t1, "guests", "127.0.13.11").await;
    let n2 = Node::start_with(Options::named("g2", "127.0.13.12:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.13.12").await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_status(&n2, &t1, 2, 1).await;

    // The guest made before the cluster existed is known on the joiner, owned by g1.
    let resources = wait_data(&n2, &t1, "/cluster/resources?type=vm", "VM 100 on g2", |d| d.as_array().is_some_and(|a| !a.is_empty())).await;
    assert_eq!((resources[0]["id"].as_str(), resources[0]["node"].as_str(), resources[0]["name"].as_str()), (Some("qemu/100"), Some("g1"), Some("before-cluster")));
    let (_, on_g1) = n2.get(&t1, "/nodes/g1/qemu").await;
    assert_eq!(vmids(&on_g1), [100], "g1's guests, asked through g2");

    // One VMID space for the cluster.
    let (status, body) = n2.post(&t1, "/nodes/g2/qemu", &[("vmid", "100")]).await;
    assert_eq!((status, body["errors"]["vmid"].as_str()), (400, Some("VM 100 already exists on node 'g1'")));
    let (_, next) = n2.get(&t1, "/cluster/nextid").await;
    assert_eq!(next["data"], "101");
    let (exit, log) = create_vm(&n2, &t1, "g2", &[("vmid", "101")]).await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_data(&n1, &t1, "/cluster/resources?type=vm", "VM 101 on g1", |d| d.as_array().is_some_and(|a| a.len() == 2)).await;

    // A node with a guest of its own may not join: its configuration would be replaced.
    let n3 = Node::start_with(Options::named("g3", "127.0.13.13:0"));
    let t3 = n3.login().await;
    let (exit, log) = create_vm(&n3, &t3, "g3", &[("vmid", "200")]).await;
    assert_eq!(exit, "OK", "{log:?}");
    let (exit, log) = join(&n3, &t3, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.13.13").await;
    assert!(exit.contains("already contains virtual guests (VMID 200)"), "{exit}: {log:?}");
    assert!(log.iter().any(|l| l.contains("already contains virtual guests")), "said in the task log: {log:?}");
    let (_, standalone) = n3.get(&t3, "/cluster/status").await;
    assert_eq!(standalone["data"].as_array().unwrap().len(), 1, "g3 is still standalone: {standalone}");
    let (_, kept) = n3.get(&t3, "/nodes/g3/qemu").await;
    assert_eq!(vmids(&kept), [200], "and keeps its guest");
    let (_, members) = n1.get(&t1, "/cluster/config/nodes").await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2, "the cluster is unchanged: {members}");

    // Destroying through another node reaches the owner; the VMID is free again everywhere.
    let (status, body) = n1.delete(&t1, "/nodes/g2/qemu/101").await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n1.wait_task(&t1, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_data(&n1, &t1, "/cluster/nextid", "101 free again", |d| d == "101").await;
}

#[tokio::test]
async fn while_a_join_is_under_way_the_standalone_tree_is_frozen() {
    let n1 = Node::start_with(Options::named("j1", "127.0.13.21:0"));
    let t = n1.login().await;
    // A "peer" that accepts the connection and then says nothing: the join waits on it.
    let peer = tokio::net::TcpListener::bind("127.0.13.22:0").await.unwrap();
    let hostname = peer.local_addr().unwrap().to_string();
    let fingerprint = ["AB"; 32].join(":");
    let form = [("hostname", hostname.as_str()), ("password", "pw"), ("fingerprint", fingerprint.as_str()), ("link0", "127.0.13.21")];
    let (status, body) = n1.post(&t, "/cluster/config/join", &form).await;
    assert_eq!(status, 200, "{body}");
    let join_upid = body["data"].as_str().unwrap().to_string();
    let (held, _) = peer.accept().await.unwrap();

    let (status, body) = n1.post(&t, "/cluster/config/join", &form).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("a join is already in progress"), "{body}");
    let (exit, _) = create_vm(&n1, &t, "j1", &[("vmid", "100")]).await;
    assert!(exit.contains("joining a cluster"), "a guest made now would be lost by the join: {exit}");

    drop(held);
    drop(peer);
    let (exit, _) = n1.wait_task(&t, &join_upid).await;
    assert_ne!(exit, "OK");
    let (exit, log) = create_vm(&n1, &t, "j1", &[("vmid", "100")]).await;
    assert_eq!(exit, "OK", "after the failed join the node is an ordinary standalone node again: {log:?}");
}

//! The command line: status, passwd, first start, restart and graceful shutdown.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{corral, json, Node, Options, ROOT_PASSWORD};

fn status_of(dir: &std::path::Path) -> (i32, String) {
    let out = corral().args(["status", "--data-dir"]).arg(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn status_reports_fingerprint_and_graceful_stop() {
    let mut node = Node::start();
    let (code, text) = status_of(&node.dir);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&node.fingerprint), "{text}");
    assert!(text.contains(&format!("running (pid {})", node.child.id())), "{text}");
    let exit = node.terminate();
    assert!(exit.success(), "SIGTERM is a clean shutdown: {exit:?}");
    let (code, text) = status_of(&node.dir);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not running"));
}

#[tokio::test]
async fn passwd_from_stdin_changes_the_password_of_a_running_node() {
    let node = Node::start();
    let mut child = corral().args(["passwd", "--data-dir"]).arg(&node.dir).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"brand-new-pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let c = node.client();
    let old = c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)]).send().await.unwrap();
    assert_eq!(old.status(), 401);
    let new = c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", "brand-new-pw")]).send().await.unwrap();
    assert_eq!(new.status(), 200);

    let mut short = corral().args(["passwd", "--data-dir"]).arg(&node.dir).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    short.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = short.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too short"));
}

#[tokio::test]
async fn first_start_without_a_password_writes_one_for_root_only() {
    let node = Node::start_with(Options { root_password: None, ..Options::default() });
    let path = node.dir.join("initial-root-password");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let generated = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(generated.len() >= 16);
    let resp = node.client().post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", generated.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn restart_keeps_identity_password_and_tickets() {
    let mut node = Node::start();
    let t = node.login().await;
    let fingerprint = node.fingerprint.clone();
    assert!(node.terminate().success());
    // A second start ignores CORRAL_ROOT_PASSWORD: the password was set on the first.
    let again = Node::spawn(&node.dir, &Options { root_password: Some("ignored-now"), ..Options::default() });
    assert_eq!(again.fingerprint, fingerprint);
    let (status, _) = json(again.client().get(again.api("/version")).header("Cookie", t.cookie()).send().await.unwrap()).await;
    assert_eq!(status, 200, "a ticket survives a restart");
    assert_eq!(again.login().await.ticket.is_empty(), false);
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["serve", "passwd", "status", "cluster"] {
        let out = corral().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("--data-dir"), "{sub}");
    }
    let out = corral().args(["serve", "--listen", "not-an-address"]).output().unwrap();
    assert!(!out.status.success());
}

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = corral().args(["cluster", "--data-dir"]).arg(dir).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn cluster_create_status_and_join_info_from_the_command_line() {
    let node = Node::start();
    let (ok, out, _) = run(&node.dir, &["status"]);
    assert!(ok);
    assert_eq!(out.trim(), "Standalone node - no cluster defined");

    let (ok, out, err) = run(&node.dir, &["create", "clitest", "--link0", "127.0.0.1"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("Generating the 2048-bit cluster authkey"), "{out}");
    assert!(out.trim_end().ends_with("TASK OK"), "{out}");

    let (ok, out, _) = run(&node.dir, &["status"]);
    assert!(ok);
    assert!(out.contains("Name:             clitest"), "{out}");
    assert!(out.contains("Expected votes:   1"), "{out}");
    assert!(out.contains("Flags:            Quorate"), "{out}");
    assert!(out.contains("testnode (local)"), "{out}");

    let (ok, out, _) = run(&node.dir, &["join-info"]);
    assert!(ok);
    let info = corral_api_types::cluster_config::EncodedJoinInfo::decode(out.trim()).expect("decodable join information");
    assert_eq!(info.fingerprint, node.fingerprint);
    assert_eq!(info.totem["cluster_name"], "clitest");

    let (ok, _, err) = run(&node.dir, &["create", "again"]);
    assert!(!ok);
    assert!(err.contains("already part of cluster 'clitest'"), "{err}");
    let (ok, _, err) = run(&node.dir, &["create", "bad_name"]);
    assert!(!ok);
    assert!(err.contains("clustername:"), "{err}");
}

/// `corral cluster join` with a password on stdin; `input` is what stdin gets.
fn join_with_stdin(dir: &std::path::Path, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = corral()
        .args(["cluster", "--data-dir"])
        .arg(dir)
        .arg("join")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn cluster_join_from_the_command_line_with_pasted_join_information() {
    let n1 = Node::start_with(Options::named("cli1", "127.0.8.1:0"));
    let (ok, out, err) = run(&n1.dir, &["create", "clijoin", "--link0", "127.0.8.1"]);
    assert!(ok, "{out}{err}");
    let (_, info, _) = run(&n1.dir, &["join-info"]);
    let n2 = Node::start_with(Options::named("cli2", "127.0.8.2:0"));

    let (ok, out, err) = join_with_stdin(&n2.dir, &[info.trim(), "--link0", "127.0.8.2"], "wrong-password\n");
    assert!(!ok, "{out}");
    assert!(err.contains("TASK ERROR") || out.contains("TASK ERROR"), "{out}{err}");
    let (_, out, _) = run(&n2.dir, &["status"]);
    assert_eq!(out.trim(), "Standalone node - no cluster defined", "a refused join changes nothing");

    let (ok, out, err) = join_with_stdin(&n2.dir, &[info.trim(), "--link0", "127.0.8.2"], &format!("{}\n", ROOT_PASSWORD));
    assert!(ok, "{out}{err}");
    assert!(out.trim_end().ends_with("TASK OK"), "{out}");
    let (_, out, _) = run(&n2.dir, &["status"]);
    assert!(out.contains("Nodes:            2"), "{out}");
    assert!(out.contains("cli2 (local)"), "{out}");

    let (ok, _, err) = join_with_stdin(&n2.dir, &["127.0.8.1"], "x\n");
    assert!(!ok);
    assert!(err.contains("--fingerprint is required"), "{err}");
}

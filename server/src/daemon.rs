//! `corral serve`: open the data dir, make sure the node has its certificates, keys and root
//! user, then serve the API and console over HTTPS until SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderValue};
use axum::Router;
use corral_api_types::{NodeName, Userid};
use leptos::config::LeptosOptions;
use rand::distributions::{Alphanumeric, DistString};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

use crate::auth::{login_guard::LoginGuard, password, unix_now, user_store, AuthKeys};
use crate::node_stats::NodeStats;
use crate::state::{AppInner, AppState};
use crate::cluster::ClusterHandle;
use crate::tasks::TaskRunner;
use crate::{api, console, db, host, pki};

pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub node: NodeName,
    pub site_root: PathBuf,
    pub auth_fail_delay: Duration,
    pub stats_interval: Duration,
    /// How long each pair of ticket signing keys signs (`auth::key_rotation`).
    pub key_rotation: Duration,
    pub ha: crate::ha::HaSettings,
    /// The watchdog device the fence guard arms, if any.
    pub ha_watchdog: Option<PathBuf>,
    /// UDP port for gossip on the link 0 address; 0 = the same number as the API's port.
    pub gossip_port: u16,
    /// The root user's `.ssh` directory (its key and the authorized_keys sshd reads).
    pub ssh_dir: PathBuf,
    /// The public half of the sshd host key.
    pub ssh_host_key: PathBuf,
}

/// What a running daemon publishes for `corral status`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RunState {
    pub pid: u32,
    pub listen: SocketAddr,
    pub node: String,
    pub fingerprint: String,
    /// Where the daemon keeps its SSH key, authorized_keys and known_hosts (for `corral ssh`).
    #[serde(default)]
    pub ssh: Option<crate::cluster::ssh::SshPaths>,
}

pub fn run_state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("serve.json")
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("corral.db")
}

pub fn initial_password_path(data_dir: &Path) -> PathBuf {
    data_dir.join("initial-root-password")
}

/// On the very first start, give `root@pam` a password: `CORRAL_ROOT_PASSWORD` if set, else a
/// random one written to a root-only file (and shown on the terminal, never in the log).
/// Whether this was the first start.
async fn ensure_root(db: &sqlx::SqlitePool, data_dir: &Path) -> anyhow::Result<bool> {
    let root = Userid::parse("root@pam").expect("constant userid");
    if user_store::user_exists(db, &root).await? {
        return Ok(false);
    }
    let (secret, generated) = match std::env::var("CORRAL_ROOT_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (Alphanumeric.sample_string(&mut rand::thread_rng(), 20), true),
    };
    user_store::set_password(db, &root, &password::hash(secret.clone()).await?, unix_now()).await?;
    if generated {
        let path = initial_password_path(data_dir);
        // Created 0600: never readable by others, not even for a moment.
        crate::atomic_write::write(&path, format!("{secret}\n").as_bytes(), 0o600)?;
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("corral: first start - root@pam password: {secret}");
        }
        println!("corral: first start - root@pam password saved in {} (change it with `corral passwd`)", path.display());
    } else {
        println!("corral: first start - root@pam password set from CORRAL_ROOT_PASSWORD");
    }
    Ok(true)
}

/// The TLS browsers and API clients get: the node's own certificate, no client certificates.
fn public_tls_config(pki: &pki::NodePki) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().context("node certificate")?;
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).context("node key")?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // HTTP/1.1 only: PVE clients read the error text from the reason phrase, which HTTP/2 lacks.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn write_run_state(data_dir: &Path, state: &RunState) -> anyhow::Result<()> {
    let path = run_state_path(data_dir);
    std::fs::create_dir_all(path.parent().unwrap_or(data_dir))?;
    crate::atomic_write::write(&path, &serde_json::to_vec_pretty(state)?, 0o644)?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    std::fs::set_permissions(&config.data_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let db = db::open(&database_path(&config.data_dir)).await.context("opening the database")?;
    let first_start = ensure_root(&db, &config.data_dir).await?;
    let mut addresses: Vec<_> = host::network::addresses().into_iter().map(|a| a.addr).collect();
    if !config.listen.ip().is_unspecified() {
        addresses.push(config.listen.ip());
    }
    let node_pki = pki::ensure(&config.data_dir, config.node.as_str(), &addresses)?;
    let keys = AuthKeys::load(&db).await?;
    let (events, _) = tokio::sync::broadcast::channel(256);
    let stats = Arc::new(NodeStats::new(config.stats_interval));
    let rrd = Arc::new(crate::rrd_store::RrdStore::load(db.clone()).await.context("reading graph history")?);
    rrd.record(crate::rrd_store::NODE, &stats.sample());
    let leptos = LeptosOptions::builder()
        .output_name("corral")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    let tasks = Arc::new(TaskRunner::new(config.node.clone(), &config.data_dir, db.clone(), events.clone()).await?);
    let node_tls = Arc::new(crate::cluster::node_tls::NodeTls::open(&config.data_dir));
    let cluster = ClusterHandle::open(db.clone(), node_tls.clone()).await.context("starting the cluster store")?;
    if first_start {
        crate::storage::write_default(&cluster).await.context("writing the default storage")?;
    }
    let listener = std::net::TcpListener::bind(config.listen).with_context(|| format!("listening on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let gossip_port = if config.gossip_port == 0 { bound.port() } else { config.gossip_port };
    let liveness = Arc::new(crate::cluster::liveness::Liveness::new(gossip_port));
    tokio::spawn(liveness.clone().run(db.clone(), config.node.to_string(), stats.clone()));
    let storage = Arc::new(crate::storage::monitor::StorageMonitor::new(corral_storage::Registry::new(
        config.node.as_str(),
        config.data_dir.join("local"),
        config.data_dir.join("run").join("scratch"),
        crate::storage::monitor::NFS_DEADLINE,
    )));
    let ssh = crate::cluster::ssh::SshPaths::new(config.ssh_dir.clone(), config.ssh_host_key.clone(), &config.data_dir);
    let state = AppState::new(AppInner {
        db: db.clone(),
        keys: std::sync::RwLock::new(keys),
        node: config.node.clone(),
        fingerprint: node_pki.fingerprint.clone(),
        stats: stats.clone(),
        rrd: rrd.clone(),
        tasks,
        cluster: cluster.clone(),
        liveness: liveness.clone(),
        ssh: ssh.clone(),
        ssh_peers: Default::default(),
        leases: Default::default(),
        storage: storage.clone(),
        vms: Arc::new(crate::vm_runtime::VmRuntime::new(corral_qemu::spec::RunDir(config.data_dir.join("run").join("qemu")))),
        ha: Arc::new(crate::ha::Shared::new(config.ha, config.data_dir.join("run"), config.ha_watchdog.clone())),
        data_dir: config.data_dir.clone(),
        listen: bound,
        login_guard: LoginGuard::default(),
        join_grants: Default::default(),
        auth_fail_delay: config.auth_fail_delay,
        events: events.clone(),
        cluster_log: Default::default(),
        leptos,
    });
    tokio::spawn(crate::cluster_log::run_publisher(state.clone()));
    tokio::spawn(crate::auth::key_rotation::run(state.clone(), config.key_rotation));
    tokio::spawn(crate::events::relay_store_changes(cluster.subscribe_changes(), events.clone()));
    tokio::spawn(crate::task_list::publish(state.tasks.clone(), cluster.clone(), config.node.to_string(), events.subscribe()));
    tokio::spawn(crate::events::relay_membership(liveness.clone(), config.node.to_string(), events.clone()));
    tokio::spawn(crate::cluster::quorum::keep_hint(db.clone(), cluster.clone(), liveness.clone(), config.node.to_string()));
    tokio::spawn(storage.run(db.clone(), config.node.to_string(), liveness.clone(), rrd.clone(), events.clone()));
    tokio::spawn(stats.run(config.node.to_string(), rrd.clone(), events));
    tokio::spawn(rrd.clone().run());
    tokio::spawn(crate::cluster::epoch::start_store(state.clone()));
    let (store_reports, mut reported) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(cluster.clone().watchdog(store_reports));
    tokio::spawn({
        let state = state.clone();
        async move {
            while let Some(what) = reported.recv().await {
                crate::cluster_log::append(&state, crate::cluster_log::PRI_WARNING, "corral", "root@pam", &what).await;
            }
        }
    });
    tokio::spawn(crate::cluster::epoch::watch(state.clone()));
    tokio::spawn(crate::cluster::ssh::run(state.clone()));
    tokio::spawn(crate::cluster::lease::watch(state.clone()));
    crate::vm_runtime::reattach(&state).await;
    tokio::spawn({
        let state = state.clone();
        async move { crate::vm_runtime::start_onboot(&state).await }
    });
    tokio::spawn(crate::vm_runtime::publish(state.clone()));
    crate::ha::start(state.clone());
    tokio::spawn(crate::vm_runtime::sample(state.clone(), config.stats_interval));

    let store = SqliteStore::new(db.clone());
    tokio::spawn(tower_sessions::session_store::ExpiredDeletion::continuously_delete_expired(store.clone(), Duration::from_secs(600)));
    let sessions = SessionManagerLayer::new(store)
        .with_name("corral_session")
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(2)));
    let api_router = Router::new().nest("/api2/json", api::router(&state)).with_state(state.clone());
    let console_router = console::router(&state, api_router.clone().layer(sessions.clone())).with_state(state.clone());
    let app = api_router
        .merge(console_router)
        .layer(sessions)
        .layer(SetResponseHeaderLayer::overriding(header::SERVER, HeaderValue::from_static("corral")));

    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener).acceptor(crate::https::Acceptor::new(public_tls_config(&node_pki)?, node_tls)).handle(handle.clone());
    let mut serving = tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));
    let Some(_) = handle.listening().await else {
        return match (&mut serving).await? {
            Err(err) => Err(anyhow::Error::from(err).context(format!("listening on {}", config.listen))),
            Ok(()) => Err(anyhow::anyhow!("server stopped before it listened")),
        };
    };
    write_run_state(
        &config.data_dir,
        &RunState { pid: std::process::id(), listen: bound, node: config.node.to_string(), fingerprint: node_pki.fingerprint.clone(), ssh: Some(ssh.clone()) },
    )?;
    tracing::info!(%bound, node = %config.node, fingerprint = %node_pki.fingerprint, "serving");
    println!("corral: node {} listening on https://{bound} (fingerprint {})", config.node, node_pki.fingerprint);
    std::io::stdout().flush()?;

    tokio::select! {
        result = &mut serving => { result??; }
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            handle.graceful_shutdown(Some(Duration::from_secs(5)));
            serving.await??;
        }
    }
    cluster.shutdown().await;
    if let Err(err) = rrd.flush().await {
        tracing::warn!(%err, "writing graph history at shutdown failed");
    }
    let _ = std::fs::remove_file(run_state_path(&config.data_dir));
    db.close().await;
    Ok(())
}

//! The LRM's work, each job a task with a UPID and a log (as PVE's LRM forks `qm` workers),
//! run beside the rounds so lease renewals never wait for a start or a migration.

use std::sync::Arc;
use std::time::Duration;

use corral_api_types::{Userid, Vmid};
use corral_ha::{Job, JobDone, JobKind, ERROR, SUCCESS};

use super::env::Shared;
use crate::guests::{self, GuestRecord};
use crate::state::AppState;
use crate::tasks::TaskLog;

/// How long an HA stop lets the guest shut down before it is stopped hard.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

pub fn spawn(state: AppState, shared: Arc<Shared>, job: Job) {
    shared.busy.lock().unwrap_or_else(|p| p.into_inner()).insert(job.sid.clone());
    tokio::spawn(async move {
        let (exit_code, message) = match run(&state, &shared, &job).await {
            Ok(()) => (SUCCESS, String::new()),
            Err(err) => (ERROR, err),
        };
        shared.finished.lock().unwrap_or_else(|p| p.into_inner()).push(JobDone { sid: job.sid.clone(), kind: job.kind.clone(), exit_code, message });
        shared.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.sid);
    });
}

async fn run(state: &AppState, shared: &Arc<Shared>, job: &Job) -> Result<(), String> {
    let vmid = Vmid::new(job.sid.vmid()).map_err(|e| e.to_string())?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await.map_err(|e| e.to_string())?;
    match &job.kind {
        JobKind::Start => {
            if !shared.agent_valid() {
                return Err("this node does not hold its HA agent lease".into());
            }
            as_task(state, "qmstart", vmid, move |s, log| async move {
                log.line(format!("starting VM {vmid} on node '{}' (HA)", s.node)).await;
                let pid = crate::vm_runtime::start(&s, vmid, &record).await?;
                log.line(format!("VM {vmid} started (QEMU pid {pid})")).await;
                Ok(())
            })
            .await
        }
        JobKind::Stop => as_task(state, "qmshutdown", vmid, move |s, log| async move { stop(&s, &log, vmid).await }).await,
        JobKind::Migrate { target } => {
            let target = target.clone();
            as_task(state, "qmigrate", vmid, move |s, log| async move { crate::api::nodes::qemu::migrate::migrate_live(&s, &log, vmid, record, &target).await }).await
        }
        JobKind::Relocate { target } => {
            let target = target.clone();
            as_task(state, "qmigrate", vmid, move |s, log| async move {
                stop(&s, &log, vmid).await?;
                let moved = GuestRecord { node: target.clone(), ..record.clone() };
                guests::replace(&s.cluster, vmid, &record, &moved).await?;
                log.line(format!("relocated: VM {vmid} is now on node '{target}'")).await;
                Ok(())
            })
            .await
        }
    }
}

async fn stop(s: &AppState, log: &TaskLog, vmid: Vmid) -> anyhow::Result<()> {
    if !s.vms.is_running(vmid) {
        return Ok(());
    }
    log.line(format!("shutting down VM {vmid} (HA, up to {} s)", SHUTDOWN_TIMEOUT.as_secs())).await;
    if crate::vm_runtime::shutdown(s, vmid, SHUTDOWN_TIMEOUT).await.is_err() {
        log.line("the guest did not shut down in time; stopping it").await;
        crate::vm_runtime::stop(s, vmid).await?;
    }
    Ok(())
}

/// Run `work` as a task of root@pam and wait for its end.
async fn as_task<F, Fut>(state: &AppState, kind: &str, vmid: Vmid, work: F) -> Result<(), String>
where
    F: FnOnce(AppState, TaskLog) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (done, wait) = tokio::sync::oneshot::channel();
    let root = Userid::parse("root@pam").expect("constant userid");
    let s = state.clone();
    state
        .tasks
        .spawn(kind, &vmid.to_string(), &root, move |log| async move {
            let result = work(s, log).await;
            let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")));
            result
        })
        .await
        .map_err(|e| e.to_string())?;
    wait.await.unwrap_or_else(|_| Err("the task ended without a result".into()))
}

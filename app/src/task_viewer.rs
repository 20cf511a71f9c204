//! The task viewer: follows a task's log and status (PVE polls every second) until it stops.

use corral_api_types::Upid;
use leptos::prelude::*;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct LogLine {
    pub n: u64,
    pub t: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TaskStatus {
    pub status: String,
    #[serde(default)]
    pub exitstatus: Option<String>,
}

/// Shows the log of `upid` as it grows; calls `on_done(ok)` once the task has stopped.
#[component]
pub fn TaskViewer(upid: String, #[prop(into)] on_done: Callback<bool>, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let status = RwSignal::new(None::<TaskStatus>);
    let title = Upid::parse(&upid).map(|u| format!("Task viewer: {} {}", u.kind, u.id)).unwrap_or_else(|_| "Task viewer".into());
    #[cfg(feature = "hydrate")]
    {
        let upid = upid.clone();
        leptos::task::spawn_local(async move { follow(upid, lines, status, on_done).await });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (&upid, on_done);
    view! {
        <div class="modal-backdrop">
            <div class="modal task-viewer" role="dialog" aria-label="Task viewer">
                <h2>{title}</h2>
                <pre class="task-log" data-testid="task-log">
                    {move || lines.get().into_iter().map(|l| format!("{}\n", l.t)).collect::<String>()}
                </pre>
                <p class="task-status" data-testid="task-status">
                    {move || match status.get() {
                        None => "running".to_string(),
                        Some(s) if s.status == "running" => "running".to_string(),
                        Some(s) => format!("stopped: {}", s.exitstatus.unwrap_or_default()),
                    }}
                </p>
                <div class="buttons">
                    <button on:click=move |_| on_close.run(())>"Close"</button>
                </div>
            </div>
        </div>
    }
}

#[cfg(feature = "hydrate")]
async fn follow(upid: String, lines: RwSignal<Vec<LogLine>>, status: RwSignal<Option<TaskStatus>>, on_done: Callback<bool>) {
    let node = Upid::parse(&upid).map(|u| u.node.to_string()).unwrap_or_else(|_| "localhost".into());
    loop {
        let current = crate::api_client::get::<TaskStatus>(format!("/nodes/{node}/tasks/{upid}/status")).await;
        if let Ok(log) = crate::api_client::get::<Vec<LogLine>>(format!("/nodes/{node}/tasks/{upid}/log?limit=5000")).await {
            lines.set(log);
        }
        if let Ok(s) = current {
            let stopped = s.status == "stopped";
            let ok = s.exitstatus.as_deref() == Some("OK");
            status.set(Some(s));
            if stopped {
                on_done.run(ok);
                return;
            }
        }
        crate::api_client::browser::sleep_ms(1000).await;
    }
}

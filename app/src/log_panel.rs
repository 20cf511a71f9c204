//! The bottom panel: Tasks and Cluster log, refreshed by live events (or polling).

use corral_api_types::cluster::{ClusterLogEntry, TaskSummary};
use leptos::prelude::*;

use crate::api_client;
use crate::format;
use crate::live::use_live;

#[derive(Clone, Copy, PartialEq)]
enum LogTab {
    Tasks,
    ClusterLog,
}

#[component]
pub fn LogPanel() -> impl IntoView {
    let tab = RwSignal::new(LogTab::Tasks);
    // The task opened from the list, followed on its own node.
    let viewing = RwSignal::new(None::<String>);
    let live = use_live();
    let tasks = Resource::new(move || live.log_tick.get(), |_| api_client::get::<Vec<TaskSummary>>("/cluster/tasks".into()));
    let log = Resource::new(move || live.log_tick.get(), |_| api_client::get::<Vec<ClusterLogEntry>>("/cluster/log?max=50".into()));
    let tab_class = move |t: LogTab| move || if tab.get() == t { "tab active" } else { "tab" };
    view! {
        <footer class="logpanel">
            <div class="tabs">
                <button class=tab_class(LogTab::Tasks) on:click=move |_| tab.set(LogTab::Tasks)>"Tasks"</button>
                <button class=tab_class(LogTab::ClusterLog) on:click=move |_| tab.set(LogTab::ClusterLog) data-testid="tab-cluster-log">"Cluster log"</button>
            </div>
            <div class="logbody" data-testid="log-body">
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || {
                        let which = tab.get();
                        Suspend::new(async move {
                            match which {
                                LogTab::Tasks => match tasks.await {
                                    Ok(list) if list.is_empty() => view! { <p class="empty">"No tasks yet."</p> }.into_any(),
                                    Ok(list) => view! {
                                        <table class="grid selectable" data-testid="task-list"><tbody>
                                            {list.into_iter().map(|t| {
                                                let upid = t.upid.clone();
                                                let node_attr = t.node.clone();
                                                view! {
                                                    <tr data-testid="task-row" data-node=node_attr on:click=move |_| viewing.set(Some(upid.clone()))>
                                                        <td>{format::clock(t.starttime)}</td><td>{t.node}</td><td>{t.user}</td><td>{format!("{} {}", t.kind, t.id)}</td><td>{t.status.unwrap_or_else(|| "running".into())}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody></table>
                                    }.into_any(),
                                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                                },
                                LogTab::ClusterLog => match log.await {
                                    Ok(list) => view! {
                                        <table class="grid" data-testid="cluster-log"><tbody>
                                            {list.into_iter().map(|e| view! {
                                                <tr class=if e.pri <= 3 { "error" } else { "" }>
                                                    <td>{format::clock(e.time)}</td><td>{e.node}</td><td>{e.user}</td><td>{e.tag}</td>
                                                    <td>{if e.msg.starts_with("recover service '") || e.msg.starts_with("fencing: ") {
                                                        view! { <leptos_router::components::A href="/datacenter/ha#timeline">{e.msg}</leptos_router::components::A> }.into_any()
                                                    } else {
                                                        e.msg.into_any()
                                                    }}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody></table>
                                    }.into_any(),
                                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                                },
                            }
                        })
                    }}
                </Transition>
            </div>
        </footer>
        {move || viewing.get().map(|upid| view! {
            <crate::task_viewer::TaskViewer upid on_done=move |_ok: bool| () on_close=move || viewing.set(None)/>
        })}
    }
}

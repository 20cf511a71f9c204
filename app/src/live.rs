//! Live updates in the browser: a Server-Sent Events stream from `/api2/json/events`; while it
//! is down, polling every few seconds instead. Components read the counters as refresh keys.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveMode {
    Connecting,
    Push,
    Polling,
}

#[derive(Clone, Copy)]
pub struct Live {
    /// Bumped whenever node status may have changed.
    pub tick: RwSignal<u64>,
    /// Bumped whenever the cluster log has new entries.
    pub log_tick: RwSignal<u64>,
    pub mode: RwSignal<LiveMode>,
    /// Whether this page's stream was started.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    started: StoredValue<bool>,
}

pub const POLL_SECS: u64 = 5;

/// Create the page's live state. Call it where it lives as long as the page (the `App`): the
/// stream's callbacks hold these signals for good, and a view that is torn down on navigation
/// would dispose them under the callbacks' feet.
pub fn provide_live() -> Live {
    let live = Live {
        tick: RwSignal::new(0),
        log_tick: RwSignal::new(0),
        mode: RwSignal::new(LiveMode::Connecting),
        started: StoredValue::new(false),
    };
    provide_context(live);
    live
}

/// Open the page's event stream (once per page, however often the console frame is rebuilt).
pub fn start_live(live: Live) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if !live.started.get_value() {
            live.started.set_value(true);
            browser::connect(live);
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
}

pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(provide_live)
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::time::Duration;

    use super::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    pub fn connect(live: Live) {
        start_polling_fallback(live);
        let Ok(source) = EventSource::new("/api2/json/events") else {
            live.mode.set(LiveMode::Polling);
            return;
        };
        let on_open = Closure::<dyn FnMut()>::new(move || live.mode.set(LiveMode::Push));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
        let on_error = Closure::<dyn FnMut()>::new(move || live.mode.set(LiveMode::Polling));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        // A new sample of this node: status figures and graphs (of any node) refresh with it.
        let on_sample = Closure::<dyn FnMut(MessageEvent)>::new(move |_| live.tick.update(|t| *t += 1));
        let _ = source.add_event_listener_with_callback("node-sample", on_sample.as_ref().unchecked_ref());
        on_sample.forget();
        // Availability of storages (and more of /cluster/resources) changed somewhere.
        let on_resources = Closure::<dyn FnMut(MessageEvent)>::new(move |_| live.tick.update(|t| *t += 1));
        let _ = source.add_event_listener_with_callback("resources", on_resources.as_ref().unchecked_ref());
        on_resources.forget();
        // HA state shows in the HA panel, in the tree and in a guest's Summary, which all
        // follow `tick`.
        let on_ha = Closure::<dyn FnMut(MessageEvent)>::new(move |_| live.tick.update(|t| *t += 1));
        let _ = source.add_event_listener_with_callback("ha", on_ha.as_ref().unchecked_ref());
        on_ha.forget();
        for name in ["cluster-log", "tasks"] {
            // A finished task may have changed what the tree shows (a guest created or removed).
            let on_log = Closure::<dyn FnMut(MessageEvent)>::new(move |_| {
                live.log_tick.update(|t| *t += 1);
                if name == "tasks" {
                    live.tick.update(|t| *t += 1);
                }
            });
            let _ = source.add_event_listener_with_callback(name, on_log.as_ref().unchecked_ref());
            on_log.forget();
        }
    }

    /// Polls only while the push stream is not open.
    fn start_polling_fallback(live: Live) {
        set_interval(
            move || {
                if live.mode.get_untracked() != LiveMode::Push {
                    live.tick.update(|t| *t += 1);
                    live.log_tick.update(|t| *t += 1);
                }
            },
            Duration::from_secs(POLL_SECS),
        );
    }
}

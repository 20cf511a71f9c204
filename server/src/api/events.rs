//! `GET /events` (corral extension): a Server-Sent Events stream of live updates for any
//! authenticated user. A lagging client skips missed events and re-reads what it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use crate::auth::{Authenticated, Privilege};
use crate::events::Event;
use crate::state::AppState;

pub async fn stream(auth: Authenticated, State(state): State<AppState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = BroadcastStream::new(state.events.subscribe()).filter_map(move |item| {
        let event = item.ok()?;
        // A node's figures go only to who may audit that node; the other events carry no data
        // (they tell a page to re-read what it may read anyway).
        if let Event::NodeSample { node, .. } = &event {
            auth.require(Privilege::SysAudit, &format!("/nodes/{node}")).ok()?;
        }
        let payload = serde_json::to_string(&event).ok()?;
        Some(Ok(SseEvent::default().event(event.name()).data(payload)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

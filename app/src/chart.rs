//! Graphs of `…/rrddata`, hand-rolled SVG: a timeframe menu as PVE's (Hour … Year, average or
//! maximum), lines of fractions in 0..1 with a gap where nothing is known, refreshed with the
//! page's live tick (each node sample, each change), so the newest row moves while one looks.

use corral_api_types::rrd::{GuestRrdRow, NodeRrdRow, StorageRrdRow, TIMEFRAMES};
use leptos::prelude::*;

use crate::api_client;
use crate::live::use_live;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;

/// One line: its CSS class (colour), legend, and a fraction per row time.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub class: &'static str,
    pub label: &'static str,
    pub points: Vec<(i64, Option<f64>)>,
}

/// What a graph plots: which `rrddata` it reads and which lines it draws of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphKind {
    /// CPU and memory of a node.
    Node,
    /// CPU and memory of a guest.
    Guest,
    /// Space used of a storage.
    Storage,
}

fn fraction(used: Option<f64>, total: Option<f64>) -> Option<f64> {
    match (used, total) {
        (Some(u), Some(t)) if t > 0.0 => Some(u / t),
        _ => None,
    }
}

pub fn node_lines(rows: &[NodeRrdRow]) -> Vec<Line> {
    vec![
        Line { class: "mem", label: "Memory", points: rows.iter().map(|r| (r.time, fraction(r.memused, r.memtotal))).collect() },
        Line { class: "cpu", label: "CPU", points: rows.iter().map(|r| (r.time, r.cpu)).collect() },
    ]
}

pub fn guest_lines(rows: &[GuestRrdRow]) -> Vec<Line> {
    vec![
        Line { class: "mem", label: "Memory", points: rows.iter().map(|r| (r.time, fraction(r.mem, r.maxmem))).collect() },
        Line { class: "cpu", label: "CPU", points: rows.iter().map(|r| (r.time, r.cpu)).collect() },
    ]
}

pub fn storage_lines(rows: &[StorageRrdRow]) -> Vec<Line> {
    vec![Line { class: "cpu", label: "Usage", points: rows.iter().map(|r| (r.time, fraction(r.used, r.total))).collect() }]
}

/// SVG path data for `points` between `start` and `end`: a new segment after every unknown; a
/// lone known point is drawn as a short level stroke ending at it (a node that has just started
/// has one row, and a path of one point would draw nothing).
pub fn path(points: &[(i64, Option<f64>)], start: i64, end: i64) -> String {
    let span = (end - start).max(1) as f64;
    let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (time, value) in points {
        match value {
            Some(v) => {
                let x = (time - start) as f64 / span * WIDTH;
                let y = HEIGHT - v.clamp(0.0, 1.0) * HEIGHT;
                segments.last_mut().expect("never empty").push((x, y));
            }
            None if segments.last().is_some_and(|s| !s.is_empty()) => segments.push(Vec::new()),
            None => {}
        }
    }
    segments
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut d = s.iter().enumerate().map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { 'M' } else { 'L' })).collect::<Vec<_>>().join(" ");
            if s.len() == 1 {
                d.push_str(" h-6");
            }
            d
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "-70 min", "-35 h", "-9 d", "-1.3 y": how far back the left edge is.
pub fn span_label(secs: i64) -> String {
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    match secs {
        s if s < 2 * HOUR => format!("-{} min", s / 60),
        s if s < 3 * DAY => format!("-{} h", s / HOUR),
        s if s < 100 * DAY => format!("-{} d", (s + DAY / 2) / DAY),
        s => format!("-{:.1} y", s as f64 / (365.0 * DAY as f64)),
    }
}

/// An answer as it came, so the page can carry it from the server to the browser.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Rows {
    Node(Vec<NodeRrdRow>),
    Guest(Vec<GuestRrdRow>),
    Storage(Vec<StorageRrdRow>),
}

impl Rows {
    fn lines(&self) -> Vec<Line> {
        match self {
            Rows::Node(rows) => node_lines(rows),
            Rows::Guest(rows) => guest_lines(rows),
            Rows::Storage(rows) => storage_lines(rows),
        }
    }
}

async fn fetch(kind: GraphKind, base: String, timeframe: &str, cf: &str) -> Result<Rows, api_client::ApiFailure> {
    let path = format!("{base}/rrddata?timeframe={timeframe}&cf={cf}");
    Ok(match kind {
        GraphKind::Node => Rows::Node(api_client::get(path).await?),
        GraphKind::Guest => Rows::Guest(api_client::get(path).await?),
        GraphKind::Storage => Rows::Storage(api_client::get(path).await?),
    })
}

/// A graph with its timeframe menu. `base` is the API path the `rrddata` call hangs off
/// (`/nodes/n1`, `/nodes/n1/qemu/100`, `/nodes/n1/storage/nfs`); while `paused` says so, it
/// asks nothing (a guest leaving its node).
#[component]
pub fn RrdGraph(kind: GraphKind, base: String, #[prop(optional, into)] paused: Option<Signal<bool>>) -> impl IntoView {
    let live = use_live();
    let choice = RwSignal::new(0usize);
    let paused = paused.unwrap_or_else(|| Signal::derive(|| false));
    let rows = Resource::new(
        move || (live.tick.get(), choice.get(), paused.get()),
        move |(_, choice, paused)| {
            let base = base.clone();
            async move {
                if paused {
                    return Ok(Rows::Storage(Vec::new()));
                }
                let (timeframe, cf, _) = TIMEFRAMES[choice.min(TIMEFRAMES.len() - 1)];
                fetch(kind, base, timeframe, cf).await
            }
        },
    );
    let on_change = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Ok(i) = value.parse::<usize>() {
            choice.set(i.min(TIMEFRAMES.len() - 1));
        }
    };
    view! {
        <div class="graph-head">
            <select class="timeframe" data-testid="rrd-timeframe" aria-label="Timeframe" on:change=on_change>
                {TIMEFRAMES.iter().enumerate().map(|(i, (_, _, label))| view! { <option value=i.to_string() selected=move || choice.get() == i>{*label}</option> }).collect_view()}
            </select>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading graph..."</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => view! { <UsageChart lines=rows.lines() caption=TIMEFRAMES[choice.get_untracked().min(TIMEFRAMES.len() - 1)].2/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn UsageChart(lines: Vec<Line>, caption: &'static str) -> impl IntoView {
    let times = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (start, end) = (times().min().unwrap_or(0), times().max().unwrap_or(0));
    let known = lines.first().map_or(0, |l| l.points.iter().filter(|p| p.1.is_some()).count());
    let legend = lines.iter().map(|l| view! { <span class=format!("legend {}", l.class)>{l.label}</span> }).collect_view();
    let series = lines.iter().map(|l| view! { <path class=format!("series {}", l.class) d=path(&l.points, start, end)/> }).collect_view();
    view! {
        <figure class="chart" data-testid="usage-chart">
            <figcaption>{format!("Usage, {caption} ")}{legend}</figcaption>
            <svg viewBox=format!("-40 -8 {} {}", WIDTH + 48.0, HEIGHT + 28.0) role="img" aria-label="usage graph" data-samples=known>
                <g class="grid">
                    <line x1="0" y1="0" x2=WIDTH y2="0"/>
                    <line x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0/>
                    <line x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT/>
                </g>
                <text class="axis" x="-6" y="4" text-anchor="end">"100%"</text>
                <text class="axis" x="-6" y=HEIGHT / 2.0 + 4.0 text-anchor="end">"50%"</text>
                <text class="axis" x="-6" y=HEIGHT + 4.0 text-anchor="end">"0%"</text>
                <text class="axis" x="0" y=HEIGHT + 18.0>{span_label(end - start)}</text>
                <text class="axis" x=WIDTH y=HEIGHT + 18.0 text-anchor="end">"now"</text>
                {series}
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_row_is_at_the_right_edge_and_unknowns_break_the_line() {
        let points = [(0, Some(0.0)), (60, None), (120, Some(0.5)), (180, Some(1.0))];
        assert_eq!(path(&points, 0, 180), "M0.0,160.0 h-6 M400.0,80.0 L600.0,0.0");
        assert_eq!(path(&[(0, None)], 0, 0), "");
        assert_eq!(path(&[], 0, 0), "");
    }

    #[test]
    fn memory_as_a_fraction_only_when_both_are_known() {
        let rows = [NodeRrdRow { time: 0, memused: Some(1.0), memtotal: Some(4.0), ..Default::default() }, NodeRrdRow { time: 60, memused: Some(1.0), ..Default::default() }];
        assert_eq!(node_lines(&rows)[0].points, [(0, Some(0.25)), (60, None)]);
    }

    #[test]
    fn left_edge_labels_per_timeframe() {
        assert_eq!(span_label(69 * 60), "-69 min");
        assert_eq!(span_label(69 * 1800), "-34 h");
        assert_eq!(span_label(69 * 3 * 3600), "-9 d");
        assert_eq!(span_label(69 * 12 * 3600), "-35 d");
        assert_eq!(span_label(69 * 7 * 86400), "-1.3 y");
    }
}

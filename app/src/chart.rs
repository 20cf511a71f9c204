//! A dependency-free SVG time-series chart of the last hour: CPU and memory usage in percent.

use corral_api_types::node::RrdSample;
use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const WINDOW_SECS: f64 = 3600.0;

/// Polyline points for `value(sample)` in 0..1, with the newest sample at the right edge.
pub fn points(samples: &[RrdSample], value: impl Fn(&RrdSample) -> f64) -> String {
    let Some(newest) = samples.iter().map(|s| s.time).max() else { return String::new() };
    samples
        .iter()
        .filter(|s| (newest - s.time) as f64 <= WINDOW_SECS)
        .map(|s| {
            let x = WIDTH - (newest - s.time) as f64 / WINDOW_SECS * WIDTH;
            let y = HEIGHT - value(s).clamp(0.0, 1.0) * HEIGHT;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mem_fraction(s: &RrdSample) -> f64 {
    if s.memtotal == 0 {
        0.0
    } else {
        s.memused as f64 / s.memtotal as f64
    }
}

#[component]
pub fn UsageChart(#[prop(into)] samples: Signal<Vec<RrdSample>>) -> impl IntoView {
    let cpu = move || samples.with(|s| points(s, |x| x.cpu));
    let mem = move || samples.with(|s| points(s, mem_fraction));
    let count = move || samples.with(Vec::len);
    view! {
        <figure class="chart" data-testid="usage-chart">
            <figcaption>
                "CPU and memory usage, last hour "
                <span class="legend cpu">"CPU"</span>
                <span class="legend mem">"Memory"</span>
            </figcaption>
            <svg viewBox=format!("-40 -8 {} {}", WIDTH + 48.0, HEIGHT + 28.0) role="img" aria-label="usage graph" data-samples=count>
                <g class="grid">
                    <line x1="0" y1="0" x2=WIDTH y2="0"/>
                    <line x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0/>
                    <line x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT/>
                </g>
                <text class="axis" x="-6" y="4" text-anchor="end">"100%"</text>
                <text class="axis" x="-6" y=HEIGHT / 2.0 + 4.0 text-anchor="end">"50%"</text>
                <text class="axis" x="-6" y=HEIGHT + 4.0 text-anchor="end">"0%"</text>
                <text class="axis" x="0" y=HEIGHT + 18.0>"-60 min"</text>
                <text class="axis" x=WIDTH y=HEIGHT + 18.0 text-anchor="end">"now"</text>
                <polyline class="series mem" points=mem/>
                <polyline class="series cpu" points=cpu/>
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(time: i64, cpu: f64) -> RrdSample {
        RrdSample { time, cpu, ..Default::default() }
    }

    #[test]
    fn newest_sample_is_at_the_right_edge() {
        let p = points(&[s(0, 0.0), s(1800, 0.5), s(3600, 1.0)], |x| x.cpu);
        assert_eq!(p, "0.0,160.0 300.0,80.0 600.0,0.0");
    }

    #[test]
    fn older_than_an_hour_is_dropped() {
        assert_eq!(points(&[s(0, 0.2), s(4000, 0.0)], |x| x.cpu), "600.0,160.0");
        assert_eq!(points(&[], |x| x.cpu), "");
    }
}

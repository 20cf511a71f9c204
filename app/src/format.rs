//! How numbers look in the console (PVE's conventions: binary units, percentages with 2 decimals).

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

pub fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

pub fn uptime(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (h, m, s) = (rest / 3600, (rest % 3600) / 60, rest % 60);
    if days > 0 {
        format!("{days} days {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `HH:MM:SS` of a unix time, in UTC (the same text on server and browser, so hydration agrees).
pub fn clock(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(24 * 1024 * 1024 * 1024), "24.00 GiB");
        assert_eq!(percent(0.1234), "12.34%");
        assert_eq!(uptime(59), "00:00:59");
        assert_eq!(uptime(90_061), "1 days 01:01:01");
        assert_eq!(clock(3661), "01:01:01");
    }
}

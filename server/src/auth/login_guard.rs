//! Per-source throttle for failed logins: after `MAX_FAILURES` failures within `WINDOW`, a source
//! is refused without checking credentials until the window has passed. Failed attempts are also
//! answered only after a delay (PVE: 3 s), which the caller applies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LoginGuard {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginGuard {
    /// `Err(seconds until retry)` while `source` is locked out.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&source) {
            Some(&(count, since)) if now.duration_since(since) < WINDOW => {
                if count >= MAX_FAILURES {
                    Err((WINDOW - now.duration_since(since)).as_secs().max(1))
                } else {
                    Ok(())
                }
            }
            Some(_) => {
                map.remove(&source);
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, source: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        let entry = map.entry(source).or_insert((0, now));
        entry.0 += 1;
    }

    pub fn record_success(&self, source: IpAddr) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_one_source_only_and_expires() {
        let g = LoginGuard::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(g.check(a, t0).is_ok());
            g.record_failure(a, t0);
        }
        assert!(g.check(a, t0).is_err());
        assert!(g.check(b, t0).is_ok());
        assert!(g.check(a, t0 + WINDOW).is_ok());
    }
}

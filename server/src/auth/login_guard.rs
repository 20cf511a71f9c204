//! Limits on password logins, so a burst can neither guess fast nor exhaust the node:
//! - per source address: after [`MAX_FAILURES`] failures within [`WINDOW`] the address is
//!   refused (429) without checking credentials until the window has passed; attempts still
//!   being checked count as failures until they are decided, so parallel requests cannot all
//!   slip past the check before the first failure is recorded;
//! - per user: after [`MAX_USER_FAILURES`] failures within [`WINDOW`] from any addresses, the
//!   user's logins are refused the same way (a distributed guesser gets ~20 tries a minute; the
//!   price is that the real user may wait out that minute too — PVE has no such limit);
//! - hashing: at most [`HASHING_SLOTS`] password checks run at once (each allocates argon2's
//!   19 MiB work area); an attempt that finds no slot within [`SLOT_WAIT`] is refused with 429.
//!
//! Failed attempts are also answered only after a delay (PVE: 3 s), which the caller applies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const MAX_FAILURES: u32 = 5;
pub const MAX_USER_FAILURES: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const HASHING_SLOTS: usize = 2;
pub const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Sources and users remembered at most; beyond it the oldest entries go (a flood of spoofed
/// or distinct sources cannot grow the table without bound).
const MAX_TRACKED: usize = 10_000;

/// Why an attempt is refused before its credentials are checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures from this address; seconds until it may try again.
    Source(u64),
    /// Too many failures for this user; seconds until it may try again.
    User(u64),
    /// Every hashing slot stayed busy.
    Busy,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Source(s) => format!("too many failed logins from this address - try again in {s} seconds"),
            Refusal::User(s) => format!("too many failed logins for this user - try again in {s} seconds"),
            Refusal::Busy => "too many logins in progress - try again".to_string(),
        }
    }
}

#[derive(Clone, Copy)]
struct Tally {
    failures: u32,
    in_flight: u32,
    since: Instant,
}

impl Tally {
    fn new(now: Instant) -> Self {
        Self { failures: 0, in_flight: 0, since: now }
    }

    /// Failures plus undecided attempts, or `None` once the window has passed.
    fn pressure(&self, now: Instant) -> u32 {
        if now.duration_since(self.since) < WINDOW {
            self.failures + self.in_flight
        } else {
            self.in_flight
        }
    }

    fn retry_after(&self, now: Instant) -> u64 {
        WINDOW.saturating_sub(now.duration_since(self.since)).as_secs().max(1)
    }
}

#[derive(Default)]
struct Tables {
    sources: HashMap<IpAddr, Tally>,
    users: HashMap<String, Tally>,
}

pub struct LoginGuard {
    tables: Mutex<Tables>,
    hashing: Arc<Semaphore>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self { tables: Mutex::default(), hashing: Arc::new(Semaphore::new(HASHING_SLOTS)) }
    }
}

/// One login attempt under way. Dropping it undecided (the request was cancelled) counts as
/// nothing; [`Attempt::failed`] and [`Attempt::succeeded`] decide it.
pub struct Attempt<'a> {
    guard: &'a LoginGuard,
    source: IpAddr,
    user: String,
    decided: bool,
    _slot: OwnedSemaphorePermit,
}

impl LoginGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit an attempt for `user` from `source`, or say why not. Waits up to [`SLOT_WAIT`] for
    /// a hashing slot; counts the attempt as in flight until it is decided.
    pub async fn begin(&self, source: IpAddr, user: &str) -> Result<Attempt<'_>, Refusal> {
        self.admit(source, user, Instant::now())?;
        let slot = match tokio::time::timeout(SLOT_WAIT, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                self.settle(source, user, false, Instant::now());
                return Err(Refusal::Busy);
            }
        };
        Ok(Attempt { guard: self, source, user: user.to_string(), decided: false, _slot: slot })
    }

    fn admit(&self, source: IpAddr, user: &str, now: Instant) -> Result<(), Refusal> {
        let mut t = self.lock();
        let by_source = t.sources.get(&source).copied().unwrap_or(Tally::new(now));
        if by_source.pressure(now) >= MAX_FAILURES {
            return Err(Refusal::Source(by_source.retry_after(now)));
        }
        let by_user = t.users.get(user).copied().unwrap_or(Tally::new(now));
        if by_user.pressure(now) >= MAX_USER_FAILURES {
            return Err(Refusal::User(by_user.retry_after(now)));
        }
        bump(&mut t.sources, source, now, |tally| tally.in_flight += 1);
        bump(&mut t.users, user.to_string(), now, |tally| tally.in_flight += 1);
        Ok(())
    }

    /// End an in-flight attempt; a failure is remembered, a success clears the source.
    fn settle(&self, source: IpAddr, user: &str, failed: bool, now: Instant) {
        let mut t = self.lock();
        let done = |tally: &mut Tally| {
            tally.in_flight = tally.in_flight.saturating_sub(1);
            if failed {
                tally.failures += 1;
            }
        };
        bump(&mut t.sources, source, now, done);
        bump(&mut t.users, user.to_string(), now, done);
        if !failed {
            t.sources.remove(&source);
        }
    }
}

/// Update `key`'s tally, starting a fresh window for one whose window has passed, and keep the
/// table bounded.
fn bump<K: std::hash::Hash + Eq + Clone>(table: &mut HashMap<K, Tally>, key: K, now: Instant, change: impl FnOnce(&mut Tally)) {
    if table.len() >= MAX_TRACKED && !table.contains_key(&key) {
        table.retain(|_, t| t.in_flight > 0 || now.duration_since(t.since) < WINDOW);
        if table.len() >= MAX_TRACKED {
            if let Some(oldest) = table.iter().filter(|(_, t)| t.in_flight == 0).min_by_key(|(_, t)| t.since).map(|(k, _)| k.clone()) {
                table.remove(&oldest);
            }
        }
    }
    let tally = table.entry(key).or_insert(Tally::new(now));
    if now.duration_since(tally.since) >= WINDOW {
        *tally = Tally { failures: 0, in_flight: tally.in_flight, since: now };
    }
    change(tally);
}

impl Attempt<'_> {
    pub fn failed(mut self) {
        self.decided = true;
        self.guard.settle(self.source, &self.user, true, Instant::now());
    }

    pub fn succeeded(mut self) {
        self.decided = true;
        self.guard.settle(self.source, &self.user, false, Instant::now());
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.decided {
            let mut t = self.guard.lock();
            if let Some(tally) = t.sources.get_mut(&self.source) {
                tally.in_flight = tally.in_flight.saturating_sub(1);
            }
            if let Some(tally) = t.users.get_mut(&self.user) {
                tally.in_flight = tally.in_flight.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn locks_out_one_source_only() {
        let g = LoginGuard::default();
        for _ in 0..MAX_FAILURES {
            g.begin(ip("127.0.0.1"), "root@pam").await.unwrap().failed();
        }
        assert!(matches!(g.begin(ip("127.0.0.1"), "root@pam").await, Err(Refusal::Source(_))));
        g.begin(ip("127.0.0.2"), "root@pam").await.unwrap().succeeded();
    }

    #[tokio::test]
    async fn attempts_in_flight_count_before_they_fail() {
        let g = LoginGuard::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            g.admit(ip("10.0.0.1"), "root@pam", t0).unwrap();
        }
        assert!(matches!(g.admit(ip("10.0.0.1"), "root@pam", t0), Err(Refusal::Source(_))));
    }

    #[tokio::test]
    async fn a_user_is_throttled_across_sources_and_windows_expire() {
        let g = LoginGuard::default();
        let t0 = Instant::now();
        for i in 0..MAX_USER_FAILURES {
            let source = ip(&format!("10.0.{}.1", i / 4));
            g.admit(source, "root@pam", t0).unwrap();
            g.settle(source, "root@pam", true, t0);
        }
        assert!(matches!(g.admit(ip("10.9.9.9"), "root@pam", t0), Err(Refusal::User(_))));
        g.admit(ip("10.9.9.9"), "alice@pve", t0).unwrap();
        g.admit(ip("10.9.9.9"), "root@pam", t0 + WINDOW).unwrap();
    }

    #[tokio::test]
    async fn hashing_slots_are_bounded() {
        let g = LoginGuard::default();
        let a = g.begin(ip("10.0.0.1"), "a@pve").await.unwrap();
        let b = g.begin(ip("10.0.0.2"), "b@pve").await.unwrap();
        assert_eq!(g.begin(ip("10.0.0.3"), "c@pve").await.err(), Some(Refusal::Busy));
        drop(a);
        g.begin(ip("10.0.0.3"), "c@pve").await.unwrap().succeeded();
        b.failed();
    }

    #[test]
    fn tables_stay_bounded() {
        let g = LoginGuard::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 50) {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let user = format!("u{i}@pve");
            g.admit(source, &user, t0).unwrap();
            g.settle(source, &user, true, t0);
        }
        assert!(g.lock().sources.len() <= MAX_TRACKED);
        assert!(g.lock().users.len() <= MAX_TRACKED);
    }
}

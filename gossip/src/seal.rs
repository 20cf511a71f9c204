//! Sealing of every gossip datagram: ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from
//! the cluster's authkey, plus the checks that make a captured datagram useless later: a send
//! time that must be fresh and a per-sender sliding replay window.
//!
//! Wire layout: `magic(4) | session(8) | seq(8) | sent_ms(8) | nonce(12) | ciphertext+tag(16)`.
//! The first 28 bytes are authenticated as associated data, so nothing in the header can be
//! changed without the datagram failing to open. Only datagrams that open are allowed to touch
//! the replay state; forged traffic cannot push genuine senders out of their window.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

const MAGIC: [u8; 4] = *b"CRG1";
const AAD_LEN: usize = 4 + 8 + 8 + 8;
const HEADER_LEN: usize = AAD_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;
/// What sealing adds to a payload.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// A datagram whose send time is further than this from ours is refused (clocks in a cluster
/// are kept in sync, as corosync and PVE require).
pub const FRESHNESS: Duration = Duration::from_secs(30);
/// How many sequence numbers behind the newest one are still accepted once (reordering).
const WINDOW: u64 = 64;
/// Senders remembered at most; a session idle past twice the freshness can be forgotten since
/// anything it sent is stale by then.
const MAX_SESSIONS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a corral gossip datagram")]
    Malformed,
    #[error("datagram does not authenticate (forged, corrupted or another cluster's)")]
    Unauthentic,
    #[error("datagram sent too long ago or in the future")]
    Stale,
    #[error("datagram already seen")]
    Replayed,
}

/// The datagram key of a cluster, derived from its authkey.
pub struct SealKey {
    key: LessSafeKey,
}

struct DatagramKeyLen;
impl hkdf::KeyType for DatagramKeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl SealKey {
    pub fn derive(authkey: &[u8]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"corral gossip").extract(authkey);
        let mut bytes = [0u8; 32];
        prk.expand(&[b"datagram seal v1"], DatagramKeyLen)
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self { key: LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("32-byte ChaCha20 key")) }
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The sending half: one per process start (its `session` is random, its sequence counts up).
pub struct Sealer {
    session: u64,
    seq: AtomicU64,
    rng: SystemRandom,
}

impl Default for Sealer {
    fn default() -> Self {
        let rng = SystemRandom::new();
        let mut session = [0u8; 8];
        rng.fill(&mut session).expect("system randomness");
        Self { session: u64::from_be_bytes(session), seq: AtomicU64::new(1), rng }
    }
}

impl Sealer {
    pub fn seal(&self, key: &SealKey, payload: &[u8]) -> Vec<u8> {
        self.seal_at(key, payload, SystemTime::now())
    }

    pub fn seal_at(&self, key: &SealKey, payload: &[u8], now: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + OVERHEAD);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.seq.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        out.extend_from_slice(&unix_ms(now).to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system randomness");
        out.extend_from_slice(&nonce);
        let mut body = payload.to_vec();
        let aad: [u8; AAD_LEN] = out[..AAD_LEN].try_into().expect("header length");
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
            .expect("ChaCha20-Poly1305 seals any length we send");
        out.extend_from_slice(&body);
        out
    }
}

struct Window {
    top: u64,
    /// Bit i set ⇔ sequence `top - i` was seen.
    seen: u64,
    last: Instant,
}

impl Window {
    fn accept(&mut self, seq: u64, now: Instant) -> bool {
        self.last = now;
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= WINDOW { 1 } else { (self.seen << shift) | 1 };
            self.top = seq;
            return true;
        }
        let back = self.top - seq;
        if back >= WINDOW || self.seen & (1 << back) != 0 {
            return false;
        }
        self.seen |= 1 << back;
        true
    }
}

/// The receiving half: remembers, per sender session, which sequence numbers it has accepted.
#[derive(Default)]
pub struct Opener {
    sessions: HashMap<u64, Window>,
}

impl Opener {
    pub fn open(&mut self, key: &SealKey, datagram: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.open_at(key, datagram, SystemTime::now(), Instant::now())
    }

    pub fn open_at(&mut self, key: &SealKey, datagram: &[u8], wall: SystemTime, now: Instant) -> Result<Vec<u8>, OpenError> {
        if datagram.len() < OVERHEAD || datagram[..4] != MAGIC {
            return Err(OpenError::Malformed);
        }
        let field = |at: usize| u64::from_be_bytes(datagram[at..at + 8].try_into().expect("8 bytes"));
        let (session, seq, sent_ms) = (field(4), field(12), field(20));
        let aad: [u8; AAD_LEN] = datagram[..AAD_LEN].try_into().expect("header length");
        let nonce = Nonce::try_assume_unique_for_key(&datagram[AAD_LEN..HEADER_LEN]).map_err(|_| OpenError::Malformed)?;
        let mut body = datagram[HEADER_LEN..].to_vec();
        let plain_len = key.key.open_in_place(nonce, Aad::from(aad), &mut body).map_err(|_| OpenError::Unauthentic)?.len();
        body.truncate(plain_len);
        if unix_ms(wall).abs_diff(sent_ms) > FRESHNESS.as_millis() as u64 {
            return Err(OpenError::Stale);
        }
        self.forget_idle(now);
        let window = self.sessions.entry(session).or_insert(Window { top: 0, seen: 0, last: now });
        if !window.accept(seq, now) {
            return Err(OpenError::Replayed);
        }
        Ok(body)
    }

    fn forget_idle(&mut self, now: Instant) {
        if self.sessions.len() < MAX_SESSIONS {
            return;
        }
        self.sessions.retain(|_, w| now.duration_since(w.last) < FRESHNESS * 2);
        if self.sessions.len() >= MAX_SESSIONS {
            // Still full of live senders: drop the quietest one. Its old datagrams may then be
            // accepted once more, but only within the freshness limit.
            if let Some(quiet) = self.sessions.iter().min_by_key(|(_, w)| w.last).map(|(s, _)| *s) {
                self.sessions.remove(&quiet);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::derive(&[byte; 256])
    }

    #[test]
    fn a_sealed_datagram_opens_once() {
        let (k, sealer, mut opener) = (key(1), Sealer::default(), Opener::default());
        let d = sealer.seal(&k, b"hello");
        assert_eq!(opener.open(&k, &d).unwrap(), b"hello");
        assert_eq!(opener.open(&k, &d), Err(OpenError::Replayed));
    }

    #[test]
    fn another_clusters_key_or_a_flipped_bit_does_not_open() {
        let (sealer, mut opener) = (Sealer::default(), Opener::default());
        let d = sealer.seal(&key(1), b"hello");
        assert_eq!(opener.open(&key(2), &d), Err(OpenError::Unauthentic));
        for at in [5, 13, 21, 30, d.len() - 1] {
            let mut bad = d.clone();
            bad[at] ^= 0x01;
            assert_eq!(opener.open(&key(1), &bad), Err(OpenError::Unauthentic), "byte {at}");
        }
        assert_eq!(opener.open(&key(1), b"CRG1short"), Err(OpenError::Malformed));
        assert_eq!(opener.open(&key(1), &[0u8; 80]), Err(OpenError::Malformed));
        // None of the refusals used up the genuine datagram's sequence number.
        assert_eq!(opener.open(&key(1), &d).unwrap(), b"hello");
    }

    #[test]
    fn old_or_future_datagrams_are_stale() {
        let (k, sealer, mut opener) = (key(1), Sealer::default(), Opener::default());
        let old = sealer.seal_at(&k, b"x", SystemTime::now() - FRESHNESS - Duration::from_secs(1));
        let future = sealer.seal_at(&k, b"x", SystemTime::now() + FRESHNESS + Duration::from_secs(1));
        assert_eq!(opener.open(&k, &old), Err(OpenError::Stale));
        assert_eq!(opener.open(&k, &future), Err(OpenError::Stale));
    }

    #[test]
    fn reordering_within_the_window_is_accepted_once() {
        let (k, sealer, mut opener) = (key(1), Sealer::default(), Opener::default());
        let datagrams: Vec<_> = (0..100).map(|_| sealer.seal(&k, b"x")).collect();
        assert!(opener.open(&k, &datagrams[99]).is_ok());
        assert!(opener.open(&k, &datagrams[50]).is_ok(), "49 behind the newest");
        assert_eq!(opener.open(&k, &datagrams[50]), Err(OpenError::Replayed));
        assert_eq!(opener.open(&k, &datagrams[10]), Err(OpenError::Replayed), "outside the window");
    }

    #[test]
    fn senders_have_separate_windows() {
        let (k, a, b, mut opener) = (key(1), Sealer::default(), Sealer::default(), Opener::default());
        let (da, db) = (a.seal(&k, b"a"), b.seal(&k, b"b"));
        assert!(opener.open(&k, &da).is_ok());
        assert!(opener.open(&k, &db).is_ok());
    }
}

//! Anything that reaches a node's gossip port: the opener (header, freshness, replay window,
//! authentication) and the frame decoder that reads what opened.
#![no_main]
use std::time::{Duration, Instant, SystemTime};

use corral_gossip::seal::{Opener, SealKey, Sealer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SealKey::derive(b"fuzzing authkey");
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut opener = Opener::default();
    let _ = opener.open_at(&key, data, wall, Instant::now());
    // The decoder behind the seal, fed directly and through a real seal.
    let _ = corral_gossip::Frame::decode(data);
    let sealed = Sealer::default().seal_at(&key, data, wall);
    let opened = Opener::default().open_at(&key, &sealed, wall, Instant::now()).expect("a datagram this key sealed opens");
    assert_eq!(opened, data);
});

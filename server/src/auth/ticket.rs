//! PVE authentication tickets: `PVE:<userid>:<8 hex digits unix time>::<base64 signature>`.
//! PVE signs with RSA; corral signs with HMAC-SHA256 under the shared ticket key, which keeps the
//! format clients see (they treat the ticket as opaque) and the validity rules (−5 min … +2 h).

use corral_api_types::Userid;

use super::keys::{sign, verify, AuthKeys};
use super::time_is_valid;

pub fn issue(keys: &AuthKeys, userid: &Userid, now: i64) -> String {
    let data = format!("PVE:{userid}:{now:08X}");
    let sig = sign(&keys.ticket, &data);
    format!("{data}::{sig}")
}

/// The user a ticket names, if it is genuine and within its lifetime.
pub fn verify_ticket(keys: &AuthKeys, ticket: &str, now: i64) -> Option<Userid> {
    let parts = corral_api_types::ticket::parse(ticket)?;
    if !keys.ticket_keys().any(|key| verify(key, parts.data, parts.signature)) || !time_is_valid(parts.time, now) {
        return None;
    }
    Some(parts.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::hmac;

    fn keys(byte: u8) -> AuthKeys {
        AuthKeys { ticket: hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32]), csrf: hmac::Key::new(hmac::HMAC_SHA256, &[0; 32]), previous: None }
    }

    #[test]
    fn round_trip_and_shape() {
        let root = Userid::parse("root@pam").unwrap();
        let t = issue(&keys(1), &root, 0x5F00_0000);
        assert!(t.starts_with("PVE:root@pam:5F000000::"), "{t}");
        assert_eq!(verify_ticket(&keys(1), &t, 0x5F00_0000 + 60), Some(root));
    }

    #[test]
    fn rejects_foreign_key_expiry_and_tampering() {
        let root = Userid::parse("root@pam").unwrap();
        let t = issue(&keys(1), &root, 1_000_000);
        assert_eq!(verify_ticket(&keys(2), &t, 1_000_000), None);
        let rotated = AuthKeys { previous: Some(Box::new(keys(1))), ..keys(2) };
        assert_eq!(verify_ticket(&rotated, &t, 1_000_000).map(|u| u.to_string()), Some("root@pam".into()), "previous key still verifies");
        assert_eq!(verify_ticket(&keys(1), &t, 1_000_000 + 7200), None);
        assert_eq!(verify_ticket(&keys(1), &t, 1_000_000 - 301), None);
        let forged = t.replace("root@pam", "admin@pam");
        assert_eq!(verify_ticket(&keys(1), &forged, 1_000_000), None);
        assert_eq!(verify_ticket(&keys(1), "garbage", 1_000_000), None);
    }
}

//! CSRF prevention tokens: `<8 hex digits unix time>:<base64 HMAC("<time>:<userid>")>`, required
//! on every non-GET request authenticated by ticket or console session.

use corral_api_types::Userid;

use super::keys::{sign, verify, AuthKeys};
use super::time_is_valid;

pub fn issue(keys: &AuthKeys, userid: &Userid, now: i64) -> String {
    let time = format!("{now:08X}");
    let sig = sign(&keys.csrf, &format!("{time}:{userid}"));
    format!("{time}:{sig}")
}

pub fn verify_token(keys: &AuthKeys, token: &str, userid: &Userid, now: i64) -> bool {
    let Some((time, sig)) = token.split_once(':') else { return false };
    let Ok(issued) = i64::from_str_radix(time, 16) else { return false };
    let data = format!("{time}:{userid}");
    time.len() == 8 && time_is_valid(issued, now) && keys.csrf_keys().any(|key| verify(key, &data, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::hmac;

    #[test]
    fn token_is_bound_to_user_and_time() {
        let keys = AuthKeys { ticket: hmac::Key::new(hmac::HMAC_SHA256, &[0; 32]), csrf: hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]), previous: None };
        let root = Userid::parse("root@pam").unwrap();
        let other = Userid::parse("bob@pve").unwrap();
        let t = issue(&keys, &root, 2_000_000);
        assert!(verify_token(&keys, &t, &root, 2_000_100));
        assert!(!verify_token(&keys, &t, &other, 2_000_100));
        assert!(!verify_token(&keys, &t, &root, 2_000_000 + 7200));
        assert!(!verify_token(&keys, "nonsense", &root, 2_000_000));
    }
}

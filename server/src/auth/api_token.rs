//! API tokens: `Authorization: PVEAPIToken=<user>@<realm>!<tokenid>=<secret>`. The secret is a
//! random UUID shown once at creation; only its SHA-256 is stored.

use corral_api_types::{TokenName, Userid};
use ring::digest;

#[derive(Debug, PartialEq, Eq)]
pub struct TokenCredentials {
    pub userid: Userid,
    pub tokenid: TokenName,
    pub secret: String,
}

/// Parse the value of an `Authorization` header, if it carries an API token.
pub fn parse_header(value: &str) -> Option<TokenCredentials> {
    let rest = value.strip_prefix("PVEAPIToken=")?;
    let (full_id, secret) = rest.split_once('=')?;
    let (user, token) = full_id.split_once('!')?;
    Some(TokenCredentials {
        userid: Userid::parse(user).ok()?,
        tokenid: TokenName::parse(token).ok()?,
        secret: secret.trim().to_string(),
    })
}

pub fn secret_digest(secret: &str) -> String {
    digest::digest(&digest::SHA256, secret.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxmoxer_header() {
        let c = parse_header("PVEAPIToken=root@pam!ci=0b6d9a3c-1111-2222-3333-444455556666").unwrap();
        assert_eq!(c.userid.as_str(), "root@pam");
        assert_eq!(c.tokenid.as_str(), "ci");
        assert_eq!(c.secret, "0b6d9a3c-1111-2222-3333-444455556666");
        assert_eq!(parse_header("PVEAPIToken=root@pam=x"), None);
        assert_eq!(parse_header("Bearer abc"), None);
    }
}

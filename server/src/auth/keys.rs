//! Keys that sign tickets and CSRF tokens, kept as a [`KeyDocument`]: the current pair and the
//! one before it (still accepted, so a ticket signed just before a rotation stays valid for its
//! lifetime). This node's copy is the `secrets` row `auth-keys`; in a cluster the document lives
//! in the store (`priv/auth-keys`) and every node follows it, so a ticket from one node is valid
//! on every node. `key_rotation.rs` rotates it.

use base64::Engine;
use rand::RngCore;
use ring::hmac;
use sqlx::SqlitePool;

#[derive(Clone)]
pub struct AuthKeys {
    pub ticket: hmac::Key,
    pub csrf: hmac::Key,
    /// Keys replaced while this daemon runs (a join), still accepted for verification so that
    /// tickets issued just before stay valid for their lifetime.
    pub previous: Option<Box<AuthKeys>>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKeys(..)")
    }
}

/// One pair of keys (base64) and since when it signs.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyPair {
    pub ticket: String,
    pub csrf: String,
    pub since: i64,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair(since {})", self.since)
    }
}

impl KeyPair {
    fn fresh(now: i64) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let random = || {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            b64.encode(bytes)
        };
        Self { ticket: random(), csrf: random(), since: now }
    }

    fn keys(&self) -> Option<(hmac::Key, hmac::Key)> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = |text: &str| b64.decode(text).ok().filter(|k| k.len() >= 32).map(|k| hmac::Key::new(hmac::HMAC_SHA256, &k));
        Some((key(&self.ticket)?, key(&self.csrf)?))
    }
}

/// The signing keys as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyDocument {
    pub current: KeyPair,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<KeyPair>,
}

/// This node's copy in the `secrets` table.
const LOCAL_ROW: &str = "auth-keys";

impl KeyDocument {
    pub fn fresh(now: i64) -> Self {
        Self { current: KeyPair::fresh(now), previous: None }
    }

    /// The document, or the flat map older versions stored (`ticket-hmac`, `csrf-hmac`).
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        if let Ok(doc) = serde_json::from_value::<Self>(value.clone()) {
            return doc.current.keys().is_some().then_some(doc);
        }
        let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
        let current = KeyPair { ticket: field("ticket-hmac")?, csrf: field("csrf-hmac")?, since: 0 };
        current.keys().map(|_| Self { current, previous: None })
    }

    /// Whether the current pair has signed for `every` seconds or more.
    pub fn due(&self, now: i64, every: i64) -> bool {
        now.saturating_sub(self.current.since) >= every
    }

    /// A new current pair; the current one becomes the previous.
    pub fn rotated(&self, now: i64) -> Self {
        Self { current: KeyPair::fresh(now), previous: Some(self.current.clone()) }
    }

    /// A new current pair and no previous one: everything signed before stops being valid
    /// (a node was removed and may hold the old keys).
    pub fn revoked(&self, now: i64) -> Self {
        Self::fresh(now)
    }

    pub fn keys(&self) -> AuthKeys {
        let (ticket, csrf) = self.current.keys().expect("checked when the document was read or made");
        let previous = self.previous.as_ref().and_then(KeyPair::keys).map(|(ticket, csrf)| Box::new(AuthKeys { ticket, csrf, previous: None }));
        AuthKeys { ticket, csrf, previous }
    }

    /// This node's document: stored, or migrated from the old rows, or made now.
    pub async fn load(db: &SqlitePool, now: i64) -> sqlx::Result<Self> {
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?").bind(LOCAL_ROW).fetch_optional(db).await?;
        if let Some(doc) = stored.and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok()).and_then(|v| Self::from_value(&v)) {
            return Ok(doc);
        }
        let old: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT name, value FROM secrets WHERE name IN ('ticket-hmac', 'csrf-hmac')").fetch_all(db).await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let old: serde_json::Map<String, serde_json::Value> = old.into_iter().map(|(n, v)| (n, serde_json::Value::String(b64.encode(v)))).collect();
        let doc = Self::from_value(&serde_json::Value::Object(old)).map(|d| Self { current: KeyPair { since: now, ..d.current }, previous: None }).unwrap_or_else(|| Self::fresh(now));
        doc.store(db).await?;
        Ok(doc)
    }

    pub async fn store(&self, db: &SqlitePool) -> sqlx::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").bind(LOCAL_ROW).bind(bytes).execute(db).await?;
        Ok(())
    }
}

impl AuthKeys {
    pub async fn load(db: &SqlitePool) -> sqlx::Result<Self> {
        Ok(KeyDocument::load(db, crate::auth::unix_now()).await?.keys())
    }

    /// These keys, still accepting what `older` signed (a joiner's own tickets after it took
    /// the cluster's keys): in memory only, gone at the next rotation or restart.
    pub fn carrying(mut self, older: AuthKeys) -> Self {
        let last = match &mut self.previous {
            Some(p) => &mut p.previous,
            None => &mut self.previous,
        };
        *last = Some(Box::new(AuthKeys { previous: None, ..older }));
        self
    }

    fn chain(&self) -> impl Iterator<Item = &AuthKeys> {
        std::iter::successors(Some(self), |k| k.previous.as_deref())
    }

    /// The ticket keys to try, newest first.
    pub fn ticket_keys(&self) -> impl Iterator<Item = &hmac::Key> {
        self.chain().map(|k| &k.ticket)
    }

    pub fn csrf_keys(&self) -> impl Iterator<Item = &hmac::Key> {
        self.chain().map(|k| &k.csrf)
    }
}

pub(crate) fn sign(key: &hmac::Key, data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(key, data.as_bytes()).as_ref())
}

/// Whether two secrets are equal, compared in constant time (through ring's HMAC verification,
/// which is): how much of a guess matched stays hidden.
pub(crate) fn same_secret(key: &hmac::Key, sent: &str, expected: &str) -> bool {
    hmac::verify(key, sent.as_bytes(), hmac::sign(key, expected.as_bytes()).as_ref()).is_ok()
}

pub(crate) fn verify(key: &hmac::Key, data: &str, signature_b64: &str) -> bool {
    match base64::engine::general_purpose::STANDARD.decode(signature_b64) {
        Ok(sig) => hmac::verify(key, data.as_bytes(), &sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_one_previous_pair_and_revocation_none() {
        let doc = KeyDocument::fresh(100);
        assert!(!doc.due(100 + 10, 60) && doc.due(160, 60));
        let next = doc.rotated(160);
        assert_eq!(next.previous.as_ref(), Some(&doc.current));
        assert_eq!(next.keys().ticket_keys().count(), 2);
        assert_eq!(next.rotated(220).keys().ticket_keys().count(), 2, "only one previous pair");
        assert_eq!(next.revoked(220).keys().ticket_keys().count(), 1);
        assert_eq!(next.keys().carrying(doc.keys()).ticket_keys().count(), 3);
    }

    #[test]
    fn the_old_flat_format_is_read() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let flat = serde_json::json!({"ticket-hmac": b64.encode([1u8; 32]), "csrf-hmac": b64.encode([2u8; 32])});
        let doc = KeyDocument::from_value(&flat).unwrap();
        assert_eq!(doc.current.since, 0);
        assert!(KeyDocument::from_value(&serde_json::json!({"ticket-hmac": "short"})).is_none());
        let back = KeyDocument::from_value(&serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }
}

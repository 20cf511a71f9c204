//! Keys that sign tickets and CSRF tokens. They live in the `secrets` table so that a cluster can
//! share them (a ticket from one node is valid on every node).

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

async fn load_or_create(db: &SqlitePool, name: &str) -> sqlx::Result<Vec<u8>> {
    let mut fresh = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    sqlx::query("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING")
        .bind(name)
        .bind(&fresh)
        .execute(db)
        .await?;
    sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?").bind(name).fetch_one(db).await
}

impl AuthKeys {
    pub async fn load(db: &SqlitePool) -> sqlx::Result<Self> {
        let ticket = load_or_create(db, "ticket-hmac").await?;
        let csrf = load_or_create(db, "csrf-hmac").await?;
        Ok(Self { ticket: hmac::Key::new(hmac::HMAC_SHA256, &ticket), csrf: hmac::Key::new(hmac::HMAC_SHA256, &csrf), previous: None })
    }

    /// The ticket keys to try, newest first.
    pub fn ticket_keys(&self) -> impl Iterator<Item = &hmac::Key> {
        std::iter::once(&self.ticket).chain(self.previous.as_deref().map(|p| &p.ticket))
    }

    pub fn csrf_keys(&self) -> impl Iterator<Item = &hmac::Key> {
        std::iter::once(&self.csrf).chain(self.previous.as_deref().map(|p| &p.csrf))
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

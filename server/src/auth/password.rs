//! argon2id password hashes (PHC strings). Hashing costs tens of milliseconds of CPU, so both
//! directions run on the blocking pool.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_is_argon2id_and_verifies() {
        let phc = super::hash("s3cret".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(super::verify("s3cret".into(), phc.clone()).await);
        assert!(!super::verify("wrong".into(), phc).await);
        assert!(!super::verify("x".into(), "not-a-hash".into()).await);
    }
}

//! Users and API tokens in the database.

use corral_api_types::{TokenName, Userid};
use sqlx::SqlitePool;

use super::api_token::secret_digest;

pub async fn password_hash(db: &SqlitePool, userid: &Userid) -> sqlx::Result<Option<String>> {
    let row: Option<(Option<String>, i64)> =
        sqlx::query_as("SELECT password_hash, enable FROM users WHERE userid = ?").bind(userid.as_str()).fetch_optional(db).await?;
    Ok(row.and_then(|(hash, enable)| if enable != 0 { hash } else { None }))
}

pub async fn user_exists(db: &SqlitePool, userid: &Userid) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE userid = ? AND enable = 1")
        .bind(userid.as_str())
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

/// Create the user or replace its password.
pub async fn set_password(db: &SqlitePool, userid: &Userid, phc: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (userid, password_hash, created) VALUES (?, ?, ?)
         ON CONFLICT(userid) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(userid.as_str())
    .bind(phc)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub struct StoredToken {
    pub tokenid: String,
    pub comment: Option<String>,
    pub expire: i64,
    pub privsep: bool,
}

/// The token, if the secret matches and it has not expired.
pub async fn check_token(db: &SqlitePool, userid: &Userid, tokenid: &TokenName, secret: &str, now: i64) -> sqlx::Result<Option<StoredToken>> {
    let row: Option<(String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT t.secret_sha256, t.comment, t.expire, t.privsep FROM api_tokens t
         JOIN users u ON u.userid = t.userid WHERE t.userid = ? AND t.tokenid = ? AND u.enable = 1",
    )
    .bind(userid.as_str())
    .bind(tokenid.as_str())
    .fetch_optional(db)
    .await?;
    let Some((stored, comment, expire, privsep)) = row else { return Ok(None) };
    // Comparing digests: timing reveals nothing an attacker can steer towards the secret.
    let matches = stored == secret_digest(secret);
    let live = expire == 0 || expire > now;
    Ok((matches && live).then(|| StoredToken { tokenid: tokenid.to_string(), comment, expire, privsep: privsep != 0 }))
}

pub async fn insert_token(
    db: &SqlitePool,
    userid: &Userid,
    tokenid: &TokenName,
    secret: &str,
    comment: Option<&str>,
    expire: i64,
    privsep: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO api_tokens (userid, tokenid, secret_sha256, comment, expire, privsep) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(userid.as_str())
    .bind(tokenid.as_str())
    .bind(secret_digest(secret))
    .bind(comment)
    .bind(expire)
    .bind(i64::from(privsep))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_tokens(db: &SqlitePool, userid: &Userid) -> sqlx::Result<Vec<StoredToken>> {
    let rows: Vec<(String, Option<String>, i64, i64)> =
        sqlx::query_as("SELECT tokenid, comment, expire, privsep FROM api_tokens WHERE userid = ? ORDER BY tokenid")
            .bind(userid.as_str())
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(tokenid, comment, expire, privsep)| StoredToken { tokenid, comment, expire, privsep: privsep != 0 }).collect())
}

pub async fn delete_token(db: &SqlitePool, userid: &Userid, tokenid: &TokenName) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE userid = ? AND tokenid = ?")
        .bind(userid.as_str())
        .bind(tokenid.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

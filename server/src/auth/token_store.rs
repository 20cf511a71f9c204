//! Where API tokens live: the node's `api_tokens` table while standalone, the replicated store
//! (`access/tokens/<user>!<token>`) once the node is in a cluster, so a token works on every
//! node. Create Cluster moves the node's tokens into the store; a joiner's own tokens are left
//! behind, as PVE's joiner takes the cluster's user configuration.

use corral_api_types::{TokenName, Userid};
use corral_consensus::{Command, Op};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use super::api_token::secret_digest;
use super::user_store::{self, StoredToken};
use crate::api::error::ApiError;
use crate::cluster::ClusterConfig;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub secret_sha256: String,
    pub comment: Option<String>,
    pub expire: i64,
    pub privsep: bool,
}

pub fn key(userid: &Userid, tokenid: &str) -> String {
    format!("access/tokens/{userid}!{tokenid}")
}

async fn clustered(db: &SqlitePool) -> sqlx::Result<bool> {
    Ok(ClusterConfig::load(db).await?.is_some())
}

async fn record(db: &SqlitePool, userid: &Userid, tokenid: &str) -> sqlx::Result<Option<TokenRecord>> {
    Ok(corral_consensus::read(db, &key(userid, tokenid)).await?.and_then(|v| serde_json::from_value(v).ok()))
}

/// The token, if the secret matches and it has not expired.
pub async fn check(state: &AppState, userid: &Userid, tokenid: &TokenName, secret: &str, now: i64) -> sqlx::Result<Option<StoredToken>> {
    if !clustered(&state.db).await? {
        return user_store::check_token(&state.db, userid, tokenid, secret, now).await;
    }
    if !user_store::user_exists(&state.db, userid).await? {
        return Ok(None);
    }
    let Some(r) = record(&state.db, userid, tokenid.as_str()).await? else { return Ok(None) };
    let live = r.expire == 0 || r.expire > now;
    // Comparing digests: timing reveals nothing an attacker can steer towards the secret.
    Ok((live && r.secret_sha256 == secret_digest(secret)).then(|| StoredToken { tokenid: tokenid.to_string(), comment: r.comment, expire: r.expire, privsep: r.privsep }))
}

pub async fn list(state: &AppState, userid: &Userid) -> sqlx::Result<Vec<StoredToken>> {
    if !clustered(&state.db).await? {
        return user_store::list_tokens(&state.db, userid).await;
    }
    let prefix = format!("access/tokens/{userid}!");
    Ok(corral_consensus::read_prefix(&state.db, &prefix)
        .await?
        .into_iter()
        .filter_map(|(k, v)| {
            let r: TokenRecord = serde_json::from_value(v).ok()?;
            Some(StoredToken { tokenid: k.strip_prefix(&prefix)?.to_string(), comment: r.comment, expire: r.expire, privsep: r.privsep })
        })
        .collect())
}

/// Create a token; `false` if it exists already.
pub async fn insert(state: &AppState, userid: &Userid, tokenid: &TokenName, secret: &str, comment: Option<&str>, expire: i64, privsep: bool) -> Result<bool, ApiError> {
    if !clustered(&state.db).await? {
        return Ok(user_store::insert_token(&state.db, userid, tokenid, secret, comment, expire, privsep).await?);
    }
    if record(&state.db, userid, tokenid.as_str()).await?.is_some() {
        return Ok(false);
    }
    let value = TokenRecord { secret_sha256: secret_digest(secret), comment: comment.map(str::to_owned), expire, privsep };
    let value = serde_json::to_value(value).map_err(|e| ApiError::internal("token", e))?;
    state.cluster.write(Command::new(vec![Op::Put { key: key(userid, tokenid.as_str()), value }])).await?;
    Ok(true)
}

/// Delete a token; `false` if there was none.
pub async fn delete(state: &AppState, userid: &Userid, tokenid: &TokenName) -> Result<bool, ApiError> {
    if !clustered(&state.db).await? {
        return Ok(user_store::delete_token(&state.db, userid, tokenid).await?);
    }
    if record(&state.db, userid, tokenid.as_str()).await?.is_none() {
        return Ok(false);
    }
    state.cluster.write(Command::new(vec![Op::Delete { key: key(userid, tokenid.as_str()) }])).await?;
    Ok(true)
}

/// The node's tokens as store operations, for Create Cluster.
pub async fn migration_ops(db: &SqlitePool) -> sqlx::Result<Vec<Op>> {
    let rows: Vec<(String, String, String, Option<String>, i64, i64)> =
        sqlx::query_as("SELECT userid, tokenid, secret_sha256, comment, expire, privsep FROM api_tokens").fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, token, secret_sha256, comment, expire, privsep)| {
            let userid = Userid::parse(&user).ok()?;
            let value = serde_json::to_value(TokenRecord { secret_sha256, comment, expire, privsep: privsep != 0 }).ok()?;
            Some(Op::Put { key: key(&userid, &token), value })
        })
        .collect())
}

//! `/access/users/{userid}/token[/{tokenid}]`: API tokens. A user manages its own tokens with a
//! ticket or session; managing another user's tokens needs User.Modify. Tokens cannot manage tokens.

use axum::extract::{Path, State};
use axum::Json;
use corral_api_types::access::{NewToken, TokenInfo};
use corral_api_types::{TokenName, Userid};
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{token_store, user_store, AuthMethod, Authenticated, Privilege};
use crate::cluster_log;
use crate::state::AppState;

fn parse_user(userid: &str) -> ApiResult<Userid> {
    Userid::parse(userid).map_err(|e| ApiError::param("userid", e.to_string()))
}

fn parse_ids(userid: &str, tokenid: &str) -> ApiResult<(Userid, TokenName)> {
    match (Userid::parse(userid), TokenName::parse(tokenid)) {
        (Ok(user), Ok(token)) => Ok((user, token)),
        (user, token) => {
            let mut errors = std::collections::BTreeMap::new();
            if let Err(e) = user {
                errors.insert("userid".to_string(), e.to_string());
            }
            if let Err(e) = token {
                errors.insert("tokenid".to_string(), e.to_string());
            }
            Err(ApiError::params(errors))
        }
    }
}

fn may_manage(auth: &Authenticated, owner: &Userid) -> ApiResult<()> {
    if matches!(auth.method, AuthMethod::Token { .. }) {
        return Err(ApiError::forbidden("API tokens cannot manage API tokens, need proper ticket."));
    }
    if &auth.userid == owner {
        Ok(())
    } else {
        auth.require(Privilege::UserModify, &format!("/access/users/{owner}"))
    }
}

async fn ensure_user(state: &AppState, userid: &Userid) -> ApiResult<()> {
    if user_store::user_exists(&state.db, userid).await? {
        Ok(())
    } else {
        Err(ApiError::param("userid", format!("no such user ('{userid}')")))
    }
}

pub async fn list_tokens(auth: Authenticated, State(state): State<AppState>, Path(userid): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let userid = parse_user(&userid)?;
    may_manage(&auth, &userid)?;
    ensure_user(&state, &userid).await?;
    let tokens = token_store::list(&state, &userid).await?;
    Ok(crate::api::data(
        tokens
            .into_iter()
            .map(|t| TokenInfo { tokenid: Some(t.tokenid), comment: t.comment, expire: t.expire, privsep: t.privsep })
            .collect::<Vec<_>>(),
    ))
}

pub async fn get_token(auth: Authenticated, State(state): State<AppState>, Path((userid, tokenid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let (userid, tokenid) = parse_ids(&userid, &tokenid)?;
    may_manage(&auth, &userid)?;
    let found = token_store::list(&state, &userid).await?.into_iter().find(|t| t.tokenid == tokenid.as_str());
    let t = found.ok_or_else(|| ApiError::param("tokenid", format!("no such token '{tokenid}' for user '{userid}'")))?;
    Ok(crate::api::data(TokenInfo { tokenid: None, comment: t.comment, expire: t.expire, privsep: t.privsep }))
}

const CREATE_SCHEMA: &[Prop] = &[
    optional("comment", Kind::Str { max_len: 4096 }),
    optional("expire", Kind::Int { min: 0, max: i64::MAX }),
    optional("privsep", Kind::Bool),
];

#[derive(Deserialize)]
struct CreateToken {
    comment: Option<String>,
    expire: Option<i64>,
    privsep: Option<bool>,
}

pub async fn create_token(
    auth: Authenticated,
    State(state): State<AppState>,
    Path((userid, tokenid)): Path<(String, String)>,
    params: RawParams,
) -> ApiResult<Json<Value>> {
    let req: CreateToken = params.check(CREATE_SCHEMA)?;
    let (userid, tokenid) = parse_ids(&userid, &tokenid)?;
    may_manage(&auth, &userid)?;
    ensure_user(&state, &userid).await?;
    let secret = uuid::Uuid::new_v4().to_string();
    let privsep = req.privsep.unwrap_or(true);
    let expire = req.expire.unwrap_or(0);
    let created = token_store::insert(&state, &userid, &tokenid, &secret, req.comment.as_deref(), expire, privsep).await?;
    if !created {
        return Err(ApiError::param("tokenid", format!("Token '{tokenid}' for user '{userid}' already exists.")));
    }
    cluster_log::append(&state, cluster_log::PRI_INFO, "corral", auth.userid.as_str(), &format!("created API token '{userid}!{tokenid}'")).await;
    Ok(crate::api::data(NewToken {
        full_tokenid: format!("{userid}!{tokenid}"),
        info: TokenInfo { tokenid: None, comment: req.comment, expire, privsep },
        value: secret,
    }))
}

pub async fn delete_token(auth: Authenticated, State(state): State<AppState>, Path((userid, tokenid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let (userid, tokenid) = parse_ids(&userid, &tokenid)?;
    may_manage(&auth, &userid)?;
    if !token_store::delete(&state, &userid, &tokenid).await? {
        return Err(ApiError::param("tokenid", format!("no such token '{tokenid}' for user '{userid}'")));
    }
    cluster_log::append(&state, cluster_log::PRI_INFO, "corral", auth.userid.as_str(), &format!("deleted API token '{userid}!{tokenid}'")).await;
    Ok(crate::api::data(Value::Null))
}

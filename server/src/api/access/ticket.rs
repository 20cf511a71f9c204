//! `POST /access/ticket`: log in with a password, or renew by sending a valid ticket as the
//! password; no authentication and no CSRF token needed. `GET /access/ticket` is the login form's
//! no-op, as in PVE.
//!
//! A console login (header `X-Corral-Console: session`) additionally stores the login in the
//! browser's tower-session, so the console never has to hold the ticket in script-readable storage.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use corral_api_types::access::TicketInfo;
use corral_api_types::Userid;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::authenticated::SessionLogin;
use crate::auth::{csrf, password, ticket, unix_now, user_store, SESSION_AUTH_KEY};
use crate::cluster_log;
use crate::state::AppState;

/// The address a request came from (loopback for in-process calls, which have none).
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))))
    }
}

const SCHEMA: &[Prop] = &[
    required("username", Kind::Str { max_len: 64 }),
    required("password", Kind::Str { max_len: 4096 }),
    optional("realm", Kind::Str { max_len: 32 }),
    optional("otp", Kind::Str { max_len: 64 }),
    optional("tfa-challenge", Kind::Str { max_len: 4096 }),
    optional("new-format", Kind::Bool),
    optional("path", Kind::Str { max_len: 256 }),
    optional("privs", Kind::Str { max_len: 256 }),
];

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    realm: Option<String>,
}

pub async fn get_ticket() -> Json<Value> {
    crate::api::data(Value::Null)
}

/// The user's own privileges in the shape of PVE's `cap`: everything for `root@pam`; nothing
/// for other users (corral has no ACLs yet, so they hold no privilege anywhere).
fn capabilities(userid: &corral_api_types::Userid) -> Value {
    if userid.as_str() == "root@pam" {
        return root_capabilities();
    }
    json!({ "dc": {}, "nodes": {}, "access": {}, "storage": {}, "vms": {}, "sdn": {}, "mapping": {} })
}

/// Full privilege map for `root@pam`, in the shape of PVE's `cap`.
fn root_capabilities() -> Value {
    let all = |privs: &[&str]| Value::Object(privs.iter().map(|p| (p.to_string(), json!(1))).collect());
    json!({
        "dc": all(&["Sys.Audit", "Sys.Modify", "SDN.Audit", "SDN.Allocate"]),
        "nodes": all(&["Sys.Audit", "Sys.Modify", "Sys.Console", "Sys.Syslog", "Sys.PowerMgmt"]),
        "access": all(&["User.Modify", "Group.Allocate", "Permissions.Modify"]),
        "storage": all(&["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.Audit"]),
        "vms": all(&["VM.Allocate", "VM.Audit", "VM.Config.Disk", "VM.PowerMgmt", "VM.Console", "VM.Migrate"]),
        "sdn": all(&["SDN.Audit", "SDN.Allocate"]),
        "mapping": all(&["Mapping.Audit", "Mapping.Modify"]),
    })
}

fn full_userid(login: &Login) -> Option<Userid> {
    let name = match (&login.realm, login.username.contains('@')) {
        (_, true) => login.username.clone(),
        (Some(realm), false) => format!("{}@{realm}", login.username),
        (None, false) => format!("{}@pam", login.username),
    };
    Userid::parse(&name).ok()
}

async fn credentials_ok(state: &AppState, userid: &Userid, secret: &str) -> ApiResult<bool> {
    if secret.starts_with("PVE:") {
        return Ok(ticket::verify_ticket(&state.keys(), secret, unix_now()).as_ref() == Some(userid)
            && user_store::user_exists(&state.db, userid).await?);
    }
    Ok(match user_store::password_hash(&state.db, userid).await? {
        Some(phc) => password::verify(secret.to_string(), phc).await,
        None => false,
    })
}

pub async fn create_ticket(
    State(state): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    session: Session,
    params: RawParams,
) -> ApiResult<Json<Value>> {
    let login: Login = params.check(SCHEMA)?;
    let userid = full_userid(&login);
    let throttled_as = userid.as_ref().map_or_else(|| login.username.clone(), Userid::to_string);
    let attempt = state.login_guard.begin(source, &throttled_as).await.map_err(|refusal| {
        tracing::warn!(%source, user = %throttled_as, "login refused: {}", refusal.message());
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, refusal.message())
    })?;
    let ok = match &userid {
        Some(userid) => credentials_ok(&state, userid, &login.password).await?,
        None => false,
    };
    let Some(userid) = userid.filter(|_| ok) else {
        attempt.failed();
        tracing::warn!(%source, user = %login.username, "authentication failure");
        tokio::time::sleep(state.auth_fail_delay).await;
        return Err(ApiError::unauthorized("authentication failure"));
    };
    attempt.succeeded();
    let now = unix_now();
    let csrf_token = csrf::issue(&state.keys(), &userid, now);
    if headers.get("X-Corral-Console").is_some_and(|v| v == "session") {
        session.cycle_id().await.map_err(|e| ApiError::internal("session", e))?;
        let login = SessionLogin { userid: userid.to_string(), csrf: csrf_token.clone() };
        session.insert(SESSION_AUTH_KEY, login).await.map_err(|e| ApiError::internal("session", e))?;
    }
    if !login.password.starts_with("PVE:") {
        cluster_log::append_quietly(&state, cluster_log::PRI_INFO, "corral", userid.as_str(), &format!("successful auth for user '{userid}'")).await;
    }
    Ok(crate::api::data(TicketInfo {
        username: userid.to_string(),
        ticket: ticket::issue(&state.keys(), &userid, now),
        csrf_prevention_token: csrf_token,
        cap: capabilities(&userid),
        clustername: None,
    }))
}

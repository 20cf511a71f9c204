//! The one "authenticated user" extractor. Accepted credentials, in order: an API token in
//! `Authorization`, a ticket in `Authorization: PVEAuthCookie=…` or the `PVEAuthCookie` cookie,
//! the console's tower-session. Ticket and session callers must send `CSRFPreventionToken` on
//! every request that is not GET/HEAD.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use corral_api_types::{TokenName, Userid};
use tower_sessions::Session;

use super::{api_token, csrf, ticket, unix_now, user_store, SESSION_AUTH_KEY};
use crate::api::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Ticket,
    Session,
    Token { tokenid: TokenName, privsep: bool },
}

#[derive(Debug, Clone)]
pub struct Authenticated {
    pub userid: Userid,
    pub method: AuthMethod,
}

/// Privileges corral checks today. Until ACLs exist, `root@pam` (and its tokens without
/// privilege separation) hold all of them and nobody else holds any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    DatastoreAllocate,
    DatastoreAllocateSpace,
    DatastoreAudit,
    SysAudit,
    SysConsole,
    UserModify,
    VmAudit,
    VmAllocate,
}

impl Privilege {
    fn name(self) -> &'static str {
        match self {
            Privilege::DatastoreAllocate => "Datastore.Allocate",
            Privilege::DatastoreAllocateSpace => "Datastore.AllocateSpace",
            Privilege::DatastoreAudit => "Datastore.Audit",
            Privilege::SysAudit => "Sys.Audit",
            Privilege::SysConsole => "Sys.Console",
            Privilege::UserModify => "User.Modify",
            Privilege::VmAudit => "VM.Audit",
            Privilege::VmAllocate => "VM.Allocate",
        }
    }
}

/// The console's login as stored in its session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionLogin {
    pub userid: String,
    pub csrf: String,
}

impl Authenticated {
    fn is_superuser(&self) -> bool {
        self.userid.as_str() == "root@pam" && !matches!(self.method, AuthMethod::Token { privsep: true, .. })
    }

    /// PVE's answer when a privilege is missing: 403 "Permission check failed (<path>, <priv>)".
    pub fn require(&self, privilege: Privilege, path: &str) -> Result<(), ApiError> {
        if self.is_superuser() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("Permission check failed ({path}, {})", privilege.name())))
        }
    }

    /// Methods PVE restricts to the literal user `root@pam` (not its tokens), e.g. cluster setup.
    pub fn require_root(&self) -> Result<(), ApiError> {
        if self.userid.as_str() == "root@pam" && !matches!(self.method, AuthMethod::Token { .. }) {
            Ok(())
        } else {
            Err(ApiError::forbidden("Permission check failed (user != root@pam)"))
        }
    }
}

fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn needs_csrf(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn check_csrf(parts: &Parts, state: &AppState, userid: &Userid) -> Result<(), ApiError> {
    if !needs_csrf(&parts.method) {
        return Ok(());
    }
    let token = parts.headers.get("CSRFPreventionToken").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if csrf::verify_token(&state.keys(), token, userid, unix_now()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("Permission check failed - invalid csrf token"))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(value) = authorization.as_deref() {
            if value.starts_with("PVEAPIToken=") {
                let creds = api_token::parse_header(value).ok_or_else(|| ApiError::unauthorized("invalid API token"))?;
                let token = super::token_store::check(state, &creds.userid, &creds.tokenid, &creds.secret, unix_now())
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("invalid API token"))?;
                return Ok(Self {
                    userid: creds.userid,
                    method: AuthMethod::Token { tokenid: creds.tokenid, privsep: token.privsep },
                });
            }
        }
        let ticket_text = authorization
            .as_deref()
            .and_then(|v| v.strip_prefix("PVEAuthCookie="))
            .map(str::to_owned)
            .or_else(|| cookie_value(parts, "PVEAuthCookie").map(|v| percent_decode(v)));
        if let Some(text) = ticket_text {
            let userid = ticket::verify_ticket(&state.keys(), &text, unix_now())
                .ok_or_else(|| ApiError::unauthorized("permission denied - invalid PVE ticket"))?;
            if !user_store::user_exists(&state.db, &userid).await? {
                return Err(ApiError::unauthorized("permission denied - invalid PVE ticket"));
            }
            check_csrf(parts, state, &userid)?;
            return Ok(Self { userid, method: AuthMethod::Ticket });
        }
        if let Some(login) = session_login(parts, state).await {
            let userid = Userid::parse(&login.userid).map_err(|_| ApiError::unauthorized("No ticket"))?;
            if needs_csrf(&parts.method) {
                let sent = parts.headers.get("CSRFPreventionToken").and_then(|v| v.to_str().ok()).unwrap_or_default();
                if !super::keys::same_secret(&state.keys().csrf, sent, &login.csrf) {
                    return Err(ApiError::unauthorized("Permission check failed - invalid csrf token"));
                }
            }
            return Ok(Self { userid, method: AuthMethod::Session });
        }
        Err(ApiError::unauthorized("No ticket"))
    }
}

pub async fn session_login(parts: &mut Parts, state: &AppState) -> Option<SessionLogin> {
    let session = Session::from_request_parts(parts, state).await.ok()?;
    let login: SessionLogin = session.get(SESSION_AUTH_KEY).await.ok().flatten()?;
    let userid = Userid::parse(&login.userid).ok()?;
    user_store::user_exists(&state.db, &userid).await.ok()?.then_some(login)
}

fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
}

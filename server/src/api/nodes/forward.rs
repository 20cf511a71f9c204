//! One API for the whole cluster: a request for `/nodes/{other}/…` is re-issued to that node
//! (over mutual TLS under the cluster CA, see `cluster/node_tls.rs`) with
//! `PVEDisableProxy: true` as a loop guard, as PVE's proxy does. The caller's identity travels as
//! a fresh ticket (tickets are valid on every node); API tokens travel as they came.
//!
//! Nothing is buffered for a caller who may not make the call: the caller is authenticated and
//! the target path's privilege checked ([`required_privilege`]) before the body is read, and the
//! body is read only up to the API's limit. The answer is streamed back, not collected, except
//! an error's (small, bounded) body, whose message becomes the reason phrase here too.

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corral_api_types::Userid;

use crate::api::error::ApiError;
use crate::auth::{csrf, ticket, unix_now, AuthMethod, Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

const LOOP_GUARD: &str = "PVEDisableProxy";
/// PVE's proxy timeout.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// An error answer's body is read at most this far (for its message).
const MAX_ERROR_BYTES: usize = 64 * 1024;

fn target_node(path: &str) -> Option<&str> {
    path.strip_prefix("/api2/json/nodes/")?.split('/').next().filter(|n| !n.is_empty())
}

pub async fn forward(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.extensions().get::<OriginalUri>().map(|u| u.path().to_string()).unwrap_or_else(|| req.uri().path().to_string());
    let Some(node) = target_node(&path).map(str::to_owned) else { return next.run(req).await };
    if node == "localhost" || node == state.node.as_str() {
        return next.run(req).await;
    }
    let Ok(Some(config)) = ClusterConfig::load(&state.db).await else { return next.run(req).await };
    let Some(target) = config.node(&node).cloned() else { return next.run(req).await };
    if req.headers().contains_key(LOOP_GUARD) {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "proxy loop detected").into_response();
    }
    let (mut parts, body) = req.into_parts();
    let auth = match <Authenticated as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await {
        Ok(auth) => auth,
        Err(err) => return err.into_response(),
    };
    if let Some((privilege, object)) = required_privilege(&path) {
        if let Err(err) = auth.require(privilege, &object) {
            return err.into_response();
        }
    }
    let body = match crate::api::params::read_body(body).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    match relay(&state, &target, &auth, parts, body).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(%err, node = %node, "forwarding failed");
            ApiError::new(StatusCode::from_u16(595).unwrap_or(StatusCode::BAD_GATEWAY), format!("Errors during connection establishment with node '{node}'")).into_response()
        }
    }
}

/// The least privilege any handler under the path asks for (checked again by the target node's
/// handler): a guest's calls need a VM privilege on the guest, a storage's a datastore
/// privilege on the storage, the node's own Sys.Audit on the node. Lists filtered per object
/// (`qemu`, `storage`) and the task calls (a user sees their own tasks) need none.
pub fn required_privilege(path: &str) -> Option<(Privilege, String)> {
    let rest = path.strip_prefix("/api2/json/nodes/")?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let node = parts.next()?;
    match (parts.next(), parts.next()) {
        (Some("qemu"), Some(vmid)) => Some((Privilege::VmAudit, format!("/vms/{vmid}"))),
        (Some("storage"), Some(storage)) => Some((Privilege::DatastoreAudit, format!("/storage/{storage}"))),
        (Some("qemu" | "storage" | "tasks"), _) => None,
        _ => Some((Privilege::SysAudit, format!("/nodes/{node}"))),
    }
}

async fn relay(state: &AppState, target: &crate::cluster::config::ClusterNode, auth: &Authenticated, parts: axum::http::request::Parts, body: Vec<u8>) -> anyhow::Result<Response> {
    let path_and_query = parts.extensions.get::<OriginalUri>().and_then(|u| u.path_and_query().cloned()).map(|p| p.to_string()).unwrap_or_default();
    let client = state.cluster.tls().client(&target.name, target.cert_pin())?;
    let mut request =
        client.request(parts.method.clone(), format!("{}{path_and_query}", target.api)).timeout(FORWARD_TIMEOUT).header(LOOP_GUARD, "1").body(body);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    request = match &auth.method {
        AuthMethod::Token { .. } => match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => request.header(header::AUTHORIZATION, value),
            None => request,
        },
        AuthMethod::Ticket | AuthMethod::Session => {
            let keys = state.keys();
            let user: &Userid = &auth.userid;
            let now = unix_now();
            request.header(header::COOKIE, format!("PVEAuthCookie={}", ticket::issue(&keys, user, now))).header("CSRFPreventionToken", csrf::issue(&keys, user, now))
        }
    };
    let upstream = request.send().await?;
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = if status.is_success() {
        Response::new(Body::from_stream(upstream.bytes_stream()))
    } else {
        // Keep PVE's error text in the reason phrase across the hop.
        let bytes = read_bounded(upstream, MAX_ERROR_BYTES).await?;
        let mut response = Response::new(Body::from(bytes.clone()));
        if let Some(message) = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["message"].as_str().map(str::to_owned)) {
            if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(message.lines().next().unwrap_or_default().to_string()) {
                response.extensions_mut().insert(phrase);
            }
        }
        response
    };
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response.headers_mut().insert("X-Corral-Forwarded-To", HeaderValue::from_str(&target.name).unwrap_or(HeaderValue::from_static("node")));
    Ok(response)
}

async fn read_bounded(mut upstream: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = upstream.chunk().await? {
        anyhow::ensure!(out.len() + chunk.len() <= limit, "the node's error answer is over {limit} bytes");
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_from_path() {
        assert_eq!(super::target_node("/api2/json/nodes/n2/status"), Some("n2"));
        assert_eq!(super::target_node("/api2/json/nodes/n2"), Some("n2"));
        assert_eq!(super::target_node("/api2/json/nodes"), None);
        assert_eq!(super::target_node("/api2/json/cluster/status"), None);
    }

    #[test]
    fn the_target_paths_privilege() {
        use super::{required_privilege, Privilege};
        assert_eq!(required_privilege("/api2/json/nodes/n2/qemu/100/status/start"), Some((Privilege::VmAudit, "/vms/100".into())));
        assert_eq!(required_privilege("/api2/json/nodes/n2/storage/nfs/content"), Some((Privilege::DatastoreAudit, "/storage/nfs".into())));
        assert_eq!(required_privilege("/api2/json/nodes/n2/qemu"), None);
        assert_eq!(required_privilege("/api2/json/nodes/n2/tasks/UPID:n2:1/log"), None);
        assert_eq!(required_privilege("/api2/json/nodes/n2/status"), Some((Privilege::SysAudit, "/nodes/n2".into())));
        assert_eq!(required_privilege("/api2/json/nodes/n2"), Some((Privilege::SysAudit, "/nodes/n2".into())));
    }
}

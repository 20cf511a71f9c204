//! One API for the whole cluster: a request for `/nodes/{other}/…` is re-issued to that node
//! (over mutual TLS under the cluster CA, see `cluster/node_tls.rs`) with
//! `PVEDisableProxy: true` as a loop guard, as PVE's proxy does. The caller's identity travels as
//! a fresh ticket (tickets are valid on every node); API tokens travel as they came.

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corral_api_types::Userid;

use crate::api::error::ApiError;
use crate::auth::{csrf, ticket, unix_now, AuthMethod, Authenticated};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

const LOOP_GUARD: &str = "PVEDisableProxy";
/// PVE's proxy timeout.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const MAX_FORWARD_BYTES: usize = 64 * 1024 * 1024;

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
    match relay(&state, &target, &auth, parts, body).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(%err, node = %node, "forwarding failed");
            ApiError::new(StatusCode::from_u16(595).unwrap_or(StatusCode::BAD_GATEWAY), format!("Errors during connection establishment with node '{node}'")).into_response()
        }
    }
}

async fn relay(state: &AppState, target: &crate::cluster::config::ClusterNode, auth: &Authenticated, parts: axum::http::request::Parts, body: Body) -> anyhow::Result<Response> {
    let body = axum::body::to_bytes(body, MAX_FORWARD_BYTES).await?;
    let path_and_query = parts.extensions.get::<OriginalUri>().and_then(|u| u.path_and_query().cloned()).map(|p| p.to_string()).unwrap_or_default();
    let client = state.cluster.tls().client(&target.name)?;
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
    let bytes = upstream.bytes().await?;
    let mut response = Response::new(Body::from(bytes.clone())); // Bytes: a cheap shared handle
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    // Keep PVE's error text in the reason phrase across the hop.
    if !status.is_success() {
        if let Some(message) = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["message"].as_str().map(str::to_owned)) {
            if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(message.lines().next().unwrap_or_default().to_string()) {
                response.extensions_mut().insert(phrase);
            }
        }
    }
    response.headers_mut().insert("X-Corral-Forwarded-To", HeaderValue::from_str(&target.name).unwrap_or(HeaderValue::from_static("node")));
    Ok(response)
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
}

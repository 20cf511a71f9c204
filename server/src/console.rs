//! Serves the console: server-rendered Leptos pages behind the login gate, and the static
//! bundle (wasm, JS, CSS; precompressed `.br`/`.gz` siblings are served when the browser
//! accepts them). Pages get their data through the same `/api2/json` router as every client.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use corral_app::{ConsoleLogin, SsrApi};
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::authenticated::{session_login, SessionLogin};
use crate::state::AppState;

/// Largest API answer a server-side render will read.
const SSR_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub fn router(state: &AppState, api: Router) -> Router<AppState> {
    let routes = generate_route_list(corral_app::App);
    let options = state.leptos.clone();
    let pages = Router::<AppState>::new()
        .leptos_routes_with_context(state, routes, move || provide_render_context(api.clone()), move || corral_app::shell(options.clone()))
        .route_layer(middleware::from_fn_with_state(state.clone(), login_gate));
    let site_root = std::path::PathBuf::from(state.leptos.site_root.as_ref());
    pages
        .nest_service("/pkg", ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip())
        .route_service("/favicon.svg", ServeFile::new(site_root.join("favicon.svg")))
}

/// Pages other than `/login` need a console session; `/login` with one goes to the console.
async fn login_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let login = session_login(&mut parts, &state).await;
    let is_login_page = parts.uri.path() == "/login";
    match (login, is_login_page) {
        (Some(_), true) => Redirect::to("/datacenter/summary").into_response(),
        (None, true) => next.run(Request::from_parts(parts, body)).await,
        (Some(login), false) => {
            parts.extensions.insert(login);
            next.run(Request::from_parts(parts, body)).await
        }
        (None, false) => {
            let wanted = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let next_param = percent_encoding::utf8_percent_encode(wanted, percent_encoding::NON_ALPHANUMERIC);
            Redirect::to(&format!("/login?next={next_param}")).into_response()
        }
    }
}

/// Runs inside each page render: who is logged in, and how to reach the API on their behalf.
fn provide_render_context(api: Router) {
    let parts = use_context::<Parts>();
    if let Some(login) = parts.as_ref().and_then(|p| p.extensions.get::<SessionLogin>()) {
        provide_context(ConsoleLogin { userid: login.userid.clone(), csrf: login.csrf.clone() });
    }
    let cookie = parts.as_ref().and_then(|p| p.headers.get(COOKIE).cloned());
    provide_context(SsrApi(Arc::new(move |url: String| {
        let api = api.clone();
        let cookie = cookie.clone();
        Box::pin(async move {
            let mut request = Request::get(url);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let Ok(request) = request.body(Body::empty()) else {
                return (400, String::new());
            };
            let response = match api.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), SSR_BODY_LIMIT).await.unwrap_or_default();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    })));
}

//! One way to call `/api2/json`: `fetch` in the browser, the server's own router (with the
//! caller's cookies) during server-side rendering. Results keep PVE's `{"data": …}` envelope
//! unwrapped and errors as status + message.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ConsoleLogin;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiFailure>;

type SsrCall = dyn Fn(String) -> Pin<Box<dyn Future<Output = (u16, String)> + Send>> + Send + Sync;

/// Provided as context by the server while rendering: performs a GET of an `/api2/json` path
/// in-process on behalf of the page's user, returning status and body.
#[derive(Clone)]
pub struct SsrApi(pub Arc<SsrCall>);

fn decode<T: DeserializeOwned>(status: u16, body: &str) -> ApiResult<T> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    if (200..300).contains(&status) {
        serde_json::from_str::<Envelope<T>>(body)
            .map(|e| e.data)
            .map_err(|e| ApiFailure { status, message: format!("unexpected answer: {e}") })
    } else {
        let message = serde_json::from_str::<ErrorBody>(body)
            .ok()
            .and_then(|b| b.message)
            .map(|m| m.trim_end().to_string())
            .unwrap_or_else(|| format!("HTTP error {status}"));
        Err(ApiFailure { status, message })
    }
}

/// `GET /api2/json{path}`.
pub fn get<T: DeserializeOwned + Send + 'static>(path: String) -> impl Future<Output = ApiResult<T>> + Send + 'static {
    let url = format!("/api2/json{path}");
    #[cfg(feature = "hydrate")]
    {
        send_wrapper::SendWrapper::new(async move {
            let (status, body) = browser::fetch("GET", &url, None, &[]).await;
            browser::on_unauthorized(status);
            decode(status, &body)
        })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let backend = leptos::prelude::use_context::<SsrApi>();
        async move {
            match backend {
                Some(SsrApi(call)) => {
                    let (status, body) = call(url).await;
                    decode(status, &body)
                }
                None => Err(ApiFailure { status: 500, message: "no API backend while rendering".into() }),
            }
        }
    }
}

/// A write (`POST`, `PUT`, `DELETE`) from the browser, form-encoded, with the CSRF token.
#[cfg(feature = "hydrate")]
pub async fn send<T: DeserializeOwned>(method: &str, path: &str, form: &[(&str, &str)], extra: &[(&str, &str)]) -> ApiResult<T> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", js_sys::encode_uri_component(k), js_sys::encode_uri_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let login = leptos::prelude::use_context::<ConsoleLogin>().unwrap_or_else(login_from_page);
    let mut headers = vec![("CSRFPreventionToken", login.csrf.as_str())];
    headers.extend_from_slice(extra);
    let (status, text) = browser::fetch(method, &format!("/api2/json{path}"), Some(body), &headers).await;
    decode(status, &text)
}

/// Read the login the server rendered into the page (empty on the server or when logged out).
pub fn login_from_page() -> ConsoleLogin {
    #[cfg(feature = "hydrate")]
    {
        let meta = |name: &str| {
            web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector(&format!("meta[name=\"{name}\"]")).ok().flatten())
                .and_then(|e| e.get_attribute("content"))
                .unwrap_or_default()
        };
        ConsoleLogin { userid: meta("corral-user"), csrf: meta("corral-csrf") }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        ConsoleLogin::default()
    }
}

#[cfg(feature = "hydrate")]
pub mod browser {
    //! `fetch` through web-sys.

    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Request, RequestCredentials, RequestInit, Response};

    pub async fn fetch(method: &str, url: &str, body: Option<String>, headers: &[(&str, &str)]) -> (u16, String) {
        use std::sync::atomic::Ordering;
        // Once the console logs out, nothing but the logout itself goes out: a refresh
        // answered 401 after the session is gone would be a failed request in the browser.
        let ends_session = method == "DELETE" && url.ends_with("/access/session");
        if LOGGING_OUT.load(Ordering::SeqCst) && !ends_session {
            return (0, r#"{"data":null,"message":"logging out"}"#.to_string());
        }
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        let answer = try_fetch(method, url, body, headers).await;
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Ok(answer) => answer,
            Err(_) => (0, r#"{"data":null,"message":"connection to the node failed"}"#.to_string()),
        }
    }

    /// Requests under way (see [`begin_logout`]).
    static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    async fn try_fetch(method: &str, url: &str, body: Option<String>, headers: &[(&str, &str)]) -> Result<(u16, String), JsValue> {
        let init = RequestInit::new();
        init.set_method(method);
        init.set_credentials(RequestCredentials::SameOrigin);
        let has_body = body.is_some();
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(&body));
        }
        let request = Request::new_with_str_and_init(url, &init)?;
        if has_body {
            request.headers().set("Content-Type", "application/x-www-form-urlencoded")?;
        }
        for (k, v) in headers {
            request.headers().set(k, v)?;
        }
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let response: Response = JsFuture::from(window.fetch_with_request(&request)).await?.dyn_into()?;
        let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
        Ok((response.status(), text))
    }

    /// Wait without blocking the browser.
    pub async fn sleep_ms(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = JsFuture::from(promise).await;
    }

    /// Put text on the clipboard.
    pub fn copy_to_clipboard(text: &str) {
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(text);
        }
    }

    /// A console whose session ended goes back to the login page.
    /// Set while the console logs out: refreshes answered 401 meanwhile (the session is gone on
    /// purpose) must not send the page to `/login?next=…` instead of `/login`.
    static LOGGING_OUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Stop sending requests, and wait (at most 2 s) for those under way to be answered while
    /// the session still holds.
    pub async fn begin_logout() {
        LOGGING_OUT.store(true, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..100 {
            if IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            sleep_ms(20).await;
        }
    }

    pub fn on_unauthorized(status: u16) {
        if status == 401 && !LOGGING_OUT.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(w) = web_sys::window() {
                let here = w.location().pathname().unwrap_or_default();
                let _ = w.location().assign(&format!("/login?next={}", js_sys::encode_uri_component(&here)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_envelope_and_errors() {
        let ok: ApiResult<Vec<u32>> = decode(200, r#"{"data":[1,2]}"#);
        assert_eq!(ok, Ok(vec![1, 2]));
        let err: ApiResult<Vec<u32>> = decode(401, r#"{"data":null,"message":"No ticket\n"}"#);
        assert_eq!(err, Err(ApiFailure { status: 401, message: "No ticket".into() }));
        let err: ApiResult<u32> = decode(502, "");
        assert_eq!(err.unwrap_err().message, "HTTP error 502");
    }
}

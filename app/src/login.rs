//! The login page. Logging in calls `POST /api2/json/access/ticket` like any client, asking the
//! server to also keep the login in this browser's session.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Only same-site paths are valid targets after login. Browsers read `/\host` like `//host`
/// (another site), so backslashes, control characters and whitespace are refused outright.
pub fn safe_next(next: Option<String>) -> String {
    let same_site = |n: &str| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/login")
            && !n.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    };
    match next {
        Some(n) if same_site(&n) => n,
        _ => "/datacenter/summary".into(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let username = RwSignal::new("root".to_string());
    let password = RwSignal::new(String::new());
    let realm = RwSignal::new("pam".to_string());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let next = safe_next(query.with(|q| q.get("next")));
        busy.set(true);
        error.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let form = [("username", username.get_untracked()), ("password", password.get_untracked()), ("realm", realm.get_untracked())];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let result = crate::api_client::send::<serde_json::Value>("POST", "/access/ticket", &form, &[("X-Corral-Console", "session")]).await;
            match result {
                Ok(_) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().assign(&next);
                    }
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(if e.status == 401 { "Login failed. Please try again".into() } else { e.message }));
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = next;
    };
    view! {
        <div class="login-backdrop">
            // method=post: a submit before the page is interactive must not put the password in a URL.
            <form class="login" method="post" on:submit=submit>
                <h1><span class="logo">"corral"</span>" Login"</h1>
                <label>"User name"
                    <input name="username" autocomplete="username" prop:value=username on:input=move |ev| username.set(event_target_value(&ev))/>
                </label>
                <label>"Password"
                    <input name="password" type="password" autocomplete="current-password" prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <label>"Realm"
                    <select name="realm" on:change=move |ev| realm.set(event_target_value(&ev))>
                        <option value="pam" selected=true>"Linux PAM standard authentication"</option>
                        <option value="pve">"corral authentication server"</option>
                    </select>
                </label>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" disabled=move || busy.get()>"Login"</button>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/node/a/summary".into())), "/node/a/summary");
        assert_eq!(safe_next(Some("//evil.example/".into())), "/datacenter/summary");
        assert_eq!(safe_next(Some("https://x".into())), "/datacenter/summary");
        assert_eq!(safe_next(Some("/\\evil.example".into())), "/datacenter/summary");
        assert_eq!(safe_next(Some("/%5Cevil".into())), "/%5Cevil", "percent-encoded stays a path");
        assert_eq!(safe_next(Some("/\t/evil.example".into())), "/datacenter/summary");
        assert_eq!(safe_next(None), "/datacenter/summary");
    }
}

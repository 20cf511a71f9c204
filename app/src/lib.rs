//! The corral console: Leptos components rendered on the server (feature `ssr`) and hydrated in
//! the browser (feature `hydrate`).
//!
//! The console is an API client: every piece of data comes from `/api2/json` through
//! [`api_client`] — over HTTP in the browser, in-process through the same router on the server.
//! Must not touch the database, the filesystem or any server module.

pub mod api_client;
pub mod chart;
pub mod cluster_view;
pub mod console;
pub mod format;
pub mod live;
pub mod login;
pub mod node_view;
pub mod datacenter_view;
pub mod log_panel;
pub mod task_viewer;
pub mod storage_view;
pub mod guest_view;
pub mod ha_view;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::path;

pub use api_client::{ApiFailure, SsrApi};

/// Who is logged in to this console page, provided by the server while rendering and read back
/// from the page's meta tags in the browser.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ConsoleLogin {
    pub userid: String,
    pub csrf: String,
}

/// The HTML document around the app (server side only).
pub fn shell(options: leptos::config::LeptosOptions) -> impl IntoView {
    let login = use_context::<ConsoleLogin>().unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="corral-user" content=login.userid/>
                <meta name="corral-csrf" content=login.csrf/>
                <link rel="stylesheet" href="/pkg/corral.css"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    if use_context::<ConsoleLogin>().is_none() {
        provide_context(api_client::login_from_page());
    }
    live::provide_live();
    view! {
        <Title text="corral - cluster manager"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=path!("/login") view=login::LoginPage/>
                <Route path=path!("/") view=|| view! { <Redirect path="/datacenter/summary"/> }/>
                <Route path=path!("/datacenter/:tab") view=console::ConsoleFrame/>
                <Route path=path!("/node/:node/:tab") view=console::ConsoleFrame/>
                <Route path=path!("/storage/:node/:storage/:tab") view=console::ConsoleFrame/>
                <Route path=path!("/qemu/:node/:vmid/:tab") view=console::ConsoleFrame/>
            </Routes>
        </Router>
    }
}

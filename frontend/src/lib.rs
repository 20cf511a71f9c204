#![recursion_limit = "256"]
//! Browser entry point: hydrates the server-rendered console.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(corral_app::App);
    // Lets tests (and scripts) know the page is interactive now.
    if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
        let _ = body.set_attribute("data-hydrated", "1");
    }
}

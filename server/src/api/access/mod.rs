//! `/access`: login tickets, the console session and API tokens.

pub mod session;
pub mod ticket;
pub mod users;

use axum::routing::{delete, get};
use axum::Router;

use crate::state::AppState;

async fn index() -> axum::Json<serde_json::Value> {
    super::listing("subdir", &["ticket", "users"])
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ticket", get(ticket::get_ticket).post(ticket::create_ticket))
        .route("/session", delete(session::logout))
        .route("/users/{userid}/token", get(users::list_tokens))
        .route(
            "/users/{userid}/token/{tokenid}",
            get(users::get_token).post(users::create_token).delete(users::delete_token),
        )
}

//! Who is calling: passwords, PVE tickets, CSRF tokens, API tokens and the console session, all
//! ending in one [`Authenticated`] extractor. Also the per-source login throttle.
//!
//! Must not know about HTTP routes beyond the headers it reads; handlers declare the privilege
//! they need with [`Authenticated::require`].

pub mod api_token;
pub mod authenticated;
pub mod csrf;
pub mod keys;
pub mod key_rotation;
pub mod login_guard;
pub mod password;
pub mod ticket;
pub mod token_store;
pub mod user_store;

pub use authenticated::{AuthMethod, Authenticated, Privilege};
pub use keys::AuthKeys;

/// Lifetime of tickets and CSRF tokens (PVE: 2 h), and the clock-skew grace before issue time.
pub const TICKET_LIFETIME_SECS: i64 = 7200;
pub const TICKET_SKEW_SECS: i64 = 300;

/// The session key under which the console's login lives.
pub const SESSION_AUTH_KEY: &str = "corral.auth";

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn time_is_valid(issued: i64, now: i64) -> bool {
    issued - TICKET_SKEW_SECS <= now && now < issued + TICKET_LIFETIME_SECS
}

//! Tickets arrive in every request's cookie (and as passwords, for renewal): the form check
//! all nodes run before any signature is checked.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(parts) = corral_api_types::ticket::parse(text) {
        // The signed data is exactly the user and the time the parts say.
        assert_eq!(parts.data.len(), format!("PVE:{}:", parts.user).len() + 8);
        assert!(parts.data.starts_with(&format!("PVE:{}:", parts.user)));
        assert_eq!(i64::from_str_radix(&parts.data[parts.data.len() - 8..], 16).ok(), Some(parts.time));
    }
});

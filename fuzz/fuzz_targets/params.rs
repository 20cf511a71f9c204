//! API parameters: every request's query string and body (form-encoded or JSON), checked
//! against a handler's schema before the handler sees them.
#![no_main]
use corral_api_types::params::{self, optional, required, Kind, ParamError, Prop, Raw};
use libfuzzer_sys::fuzz_target;

const SCHEMA: &[Prop] = &[
    required("node", Kind::Str { max_len: 8 }),
    optional("vmid", Kind::Int { min: 100, max: 999_999_999 }),
    optional("force", Kind::Bool),
    optional("cf", Kind::Enum(&["AVERAGE", "MAX"])),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the body's encoding, the rest is the body.
    let Some((&how, body)) = data.split_first() else { return };
    let mut raw = Raw::new();
    let parsed = if how & 1 == 0 { params::parse_form(body, &mut raw) } else { params::parse_json(body, &mut raw) };
    if let Err(ParamError::Invalid(errors)) = &parsed {
        assert!(!errors.is_empty(), "an invalid body names at least one parameter");
    }
    match params::typed(&raw, SCHEMA) {
        Ok(typed) => {
            // What passes fits the schema exactly.
            assert!(typed.keys().all(|k| SCHEMA.iter().any(|p| p.name == k)));
            assert!(typed["node"].as_str().is_some_and(|s| s.chars().count() <= 8));
            if let Some(vmid) = typed.get("vmid") {
                assert!(vmid.as_i64().is_some_and(|v| (100..=999_999_999).contains(&v)));
            }
            if let Some(cf) = typed.get("cf") {
                assert!(cf == "AVERAGE" || cf == "MAX");
            }
        }
        Err(ParamError::Invalid(errors)) => {
            // Every reason names a parameter that was sent or is required, and stays short.
            assert!(!errors.is_empty());
            for (name, why) in &errors {
                assert!(raw.contains_key(name) || SCHEMA.iter().any(|p| p.name == name && !p.optional), "{name}");
                assert!(why.len() <= 400, "{why}");
            }
        }
        Err(other) => panic!("typing only fails per parameter: {other:?}"),
    }
});

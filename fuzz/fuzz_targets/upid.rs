//! UPIDs arrive in URLs (`/nodes/{node}/tasks/{upid}/…`) and in published task lists.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(upid) = corral_api_types::Upid::parse(text) {
        // A parsed UPID prints as one that parses to the same.
        let again = corral_api_types::Upid::parse(&upid.to_string()).expect("a printed UPID parses");
        assert_eq!(again, upid);
    }
    let _ = corral_api_types::NodeName::parse(text);
    let _ = corral_api_types::Userid::parse(text);
});

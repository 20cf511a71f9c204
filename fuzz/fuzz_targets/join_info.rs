//! The Join Information an admin pastes: base64 of JSON, decoded on the joiner.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(info) = corral_api_types::cluster_config::EncodedJoinInfo::decode(&text) {
        // What decodes must survive a round trip through JSON.
        let json = serde_json::to_string(&info).expect("a decoded join information serializes");
        let _: corral_api_types::cluster_config::EncodedJoinInfo = serde_json::from_str(&json).expect("and reads back");
    }
});

//! PVE sends booleans as the integers `1` and `0`; its GUI compares with `=== 1`.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(value: &bool, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u8(u8::from(*value))
}

pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Int(i64),
        Bool(bool),
    }
    Ok(match Wire::deserialize(de)? {
        Wire::Int(i) => i != 0,
        Wire::Bool(b) => b,
    })
}

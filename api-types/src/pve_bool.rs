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

/// The same for an optional boolean (absent stays absent).
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<bool>, ser: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(b) => super::serialize(b, ser),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] bool);
        Ok(Option::<Wrapped>::deserialize(de)?.map(|Wrapped(b)| b))
    }
}

//! Validated identifiers. Parse once at the edge; afterwards the type carries the invariant.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

macro_rules! string_newtype {
    ($name:ident, $check:path) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                $check(text)?;
                Ok(Self(text.to_string()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(NodeName, check_node_name);
string_newtype!(Userid, check_userid);
string_newtype!(TokenName, check_token_name);
string_newtype!(StorageId, check_storage_id);

/// PVE's `pve-node` format: a DNS label (letters, digits, inner hyphens), at most 63 characters.
fn check_node_name(text: &str) -> Result<(), IdError> {
    let bytes = text.as_bytes();
    let label_ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if label_ok {
        Ok(())
    } else {
        Err(IdError(format!("value '{text}' does not look like a valid node name")))
    }
}

/// `user@realm`: the user part has no whitespace, `:` or `/` and is at most 64 characters; the
/// realm starts with a letter and holds letters, digits, `.`, `-` and `_`.
fn check_userid(text: &str) -> Result<(), IdError> {
    let bad = || IdError(format!("value '{text}' does not look like a valid user name"));
    let (user, realm) = text.rsplit_once('@').ok_or_else(bad)?;
    let user_ok = !user.is_empty()
        && user.len() <= 64
        && !user.chars().any(|c| c.is_whitespace() || c == ':' || c == '/');
    let realm_ok = realm.len() >= 2
        && realm.len() <= 32
        && realm.starts_with(|c: char| c.is_ascii_alphabetic())
        && realm.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if user_ok && realm_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// API token names: a letter, then letters, digits, `.`, `-`, `_`; at most 64 characters.
fn check_token_name(text: &str) -> Result<(), IdError> {
    let ok = text.len() >= 2
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(IdError(format!("value '{text}' does not look like a valid token name")))
    }
}

/// PVE's storage ids (`pve-storage-id`): a letter, then letters, digits, `-`, `_`, `.`, ending in
/// a letter or digit; at least two characters. corral also caps the length at 64.
fn check_storage_id(text: &str) -> Result<(), IdError> {
    let bytes = text.as_bytes();
    let ok = bytes.len() >= 2
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(IdError(format!("storage ID '{text}' contains illegal characters")))
    }
}

impl Userid {
    pub fn realm(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, r)| r).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_follow_dns_labels() {
        assert!(NodeName::parse("pve1").is_ok());
        assert!(NodeName::parse("node-a2").is_ok());
        for bad in ["", "-a", "a-", "a b", "a.b", "ä", &"x".repeat(64)] {
            assert!(NodeName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn userids_need_a_realm() {
        assert_eq!(Userid::parse("root@pam").unwrap().realm(), "pam");
        for bad in ["root", "@pam", "root@", "ro ot@pam", "a:b@pam", "root@1x"] {
            assert!(Userid::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn storage_ids_follow_pve() {
        for good in ["local", "nfs1", "a1", "my-store_2.x"] {
            assert!(StorageId::parse(good).is_ok(), "{good:?} refused");
        }
        for bad in ["", "a", "1nfs", "nfs-", "nfs/x", "nfs:1", "../x", "a b", &"x".repeat(65)] {
            assert!(StorageId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn token_names() {
        assert!(TokenName::parse("ci-token_1").is_ok());
        assert!(TokenName::parse("1abc").is_err());
        assert!(TokenName::parse("a!b").is_err());
    }
}

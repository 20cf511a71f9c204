//! PVE's unique task id: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` with
//! uppercase hex numbers (pid and starttime 8 digits) and a trailing colon; clients such as
//! proxmoxer split it into exactly 9 `:`-separated fields.

use std::fmt;

use crate::ids::{IdError, NodeName, Userid};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: NodeName,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    pub kind: String,
    pub id: String,
    pub user: Userid,
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.kind, self.id, self.user
        )
    }
}

fn is_word(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Upid {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = || IdError(format!("unable to parse UPID '{text}'"));
        let body = text.strip_prefix("UPID:").and_then(|t| t.strip_suffix(':')).ok_or_else(bad)?;
        let parts: Vec<&str> = body.split(':').collect();
        let [node, pid, pstart, starttime, kind, id, user] = parts.as_slice() else { return Err(bad()) };
        if !is_word(kind) || kind.is_empty() || !is_word(id) {
            return Err(bad());
        }
        // Hex digits only: `from_str_radix` would also take a sign, and a negative start time
        // prints back as a different UPID (found by the fuzz target `upid`).
        let hex = |field: &str| -> Result<u64, IdError> {
            if field.is_empty() || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            u64::from_str_radix(field, 16).map_err(|_| bad())
        };
        Ok(Self {
            node: NodeName::parse(node).map_err(|_| bad())?,
            pid: u32::try_from(hex(pid)?).map_err(|_| bad())?,
            pstart: hex(pstart)?,
            starttime: i64::try_from(hex(starttime)?).map_err(|_| bad())?,
            kind: kind.to_string(),
            id: id.to_string(),
            user: Userid::parse(user).map_err(|_| bad())?,
        })
    }

    /// A UPID may only carry word characters in its type and id fields.
    pub fn valid_field(text: &str) -> bool {
        is_word(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_are_not_hex_digits() {
        assert!(Upid::parse("UPID:n1:0000000D:0000000D:-D:qmstart:100:root@pam:").is_err());
        assert!(Upid::parse("UPID:n1:+D:0000000D:0000000D:qmstart:100:root@pam:").is_err());
        assert!(Upid::parse("UPID:n1:0000000D:0000000D:FFFFFFFFFFFFFFF3:qmstart:100:root@pam:").is_err(), "beyond i64");
    }

    #[test]
    fn formats_like_pve_and_round_trips() {
        let upid = Upid {
            node: NodeName::parse("pve1").unwrap(),
            pid: 0x1A2B,
            pstart: 0xABCDEF,
            starttime: 0x5F000000,
            kind: "clustercreate".into(),
            id: "demo".into(),
            user: Userid::parse("root@pam").unwrap(),
        };
        let text = upid.to_string();
        assert_eq!(text, "UPID:pve1:00001A2B:00ABCDEF:5F000000:clustercreate:demo:root@pam:");
        assert_eq!(text.split(':').count(), 9);
        assert_eq!(Upid::parse(&text).unwrap(), upid);
        assert_eq!(Upid::parse("UPID:pve1:1:2:3:clusterjoin::root@pam:").unwrap().id, "");
        for bad in ["", "UPID:pve1:1:2:3:t:i:root@pam", "UPID:pve1:xyz:2:3:t:i:root@pam:", "UPID:a:1:2:3:t:../x:root@pam:"] {
            assert!(Upid::parse(bad).is_err(), "{bad}");
        }
    }
}

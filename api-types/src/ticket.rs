//! The form of a PVE authentication ticket, `PVE:<userid>:<8 hex digits unix time>::<signature>`,
//! as clients and every node read it. Only the form: whether the signature is genuine and the
//! time within the ticket's lifetime is the server's to decide.

use crate::Userid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketParts<'a> {
    /// What the signature covers: `PVE:<userid>:<time>`.
    pub data: &'a str,
    pub user: Userid,
    pub time: i64,
    pub signature: &'a str,
}

/// The ticket's parts, if it has the form (hex digits only in the time: no sign, no spaces).
pub fn parse(ticket: &str) -> Option<TicketParts<'_>> {
    let (data, signature) = ticket.split_once("::")?;
    let mut parts = data.split(':');
    let (Some("PVE"), Some(user), Some(time), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if time.len() != 8 || !time.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let time = i64::from_str_radix(time, 16).ok()?;
    Some(TicketParts { data, user: Userid::parse(user).ok()?, time, signature })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_only() {
        let t = super::parse("PVE:root@pam:5F000000::c2ln").unwrap();
        assert_eq!((t.data, t.user.as_str(), t.time, t.signature), ("PVE:root@pam:5F000000", "root@pam", 0x5F00_0000, "c2ln"));
        assert!(super::parse("PVE:root@pam:-5F00000::c2ln").is_none(), "a sign is not a hex digit");
        assert!(super::parse("PVE:root@pam:5F00000::c2ln").is_none(), "eight digits");
        assert!(super::parse("PVE:root@pam:5F000000:x::c2ln").is_none());
        assert!(super::parse("PVE:nobody:5F000000::c2ln").is_none(), "a user id has a realm");
        assert!(super::parse("PMG:root@pam:5F000000::c2ln").is_none());
    }
}

//! The node's network interfaces and addresses (for `GET /nodes/{node}/network`, the certificate's
//! subject names and, later, picking cluster link addresses).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use corral_api_types::node::NetworkInterface;

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceAddress {
    pub iface: String,
    pub addr: IpAddr,
    pub prefix: u8,
    pub up: bool,
}

fn prefix_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(m).count_ones() as u8,
    }
}

/// # Safety
/// `sa` must be null or point to a valid sockaddr whose family field tells its real type.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    match i32::from((*sa).sa_family) {
        libc::AF_INET => {
            let sin = &*(sa as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let sin6 = &*(sa as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

pub fn addresses() -> Vec<InterfaceAddress> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and free exactly once.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            if let (Some(addr), Some(mask)) = (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask)) {
                out.push(InterfaceAddress {
                    iface: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                    addr,
                    prefix: prefix_len(mask),
                    up: ifa.ifa_flags & libc::IFF_UP as u32 != 0,
                });
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// The address that stands for this node: the listen address when it is a specific one, else the
/// first non-loopback address of an interface that is up (IPv4 preferred).
pub fn primary_address(listen: std::net::SocketAddr) -> Option<IpAddr> {
    if !listen.ip().is_unspecified() {
        return Some(listen.ip());
    }
    let candidates: Vec<IpAddr> = addresses().into_iter().filter(|a| a.up && !a.addr.is_loopback()).map(|a| a.addr).collect();
    candidates.iter().find(|a| a.is_ipv4()).or(candidates.first()).copied()
}

/// Whether `addr` belongs to this host: an interface address, or any loopback address (the
/// kernel answers on all of 127.0.0.0/8, which labs use to run several nodes on one machine).
pub fn is_local(addr: IpAddr) -> bool {
    addr.is_loopback() || addresses().iter().any(|a| a.addr == addr)
}

fn mask_v4(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) })
}

/// PVE-shaped interface list: one entry per interface, first IPv4 and first IPv6 address.
pub fn interfaces() -> Vec<NetworkInterface> {
    let mut by_iface: BTreeMap<String, NetworkInterface> = BTreeMap::new();
    for a in addresses() {
        let entry = by_iface.entry(a.iface.clone()).or_insert_with(|| NetworkInterface {
            kind: if a.iface == "lo" { "loopback".into() } else { "eth".into() },
            iface: a.iface.clone(),
            active: a.up,
            address: None,
            netmask: None,
            cidr: None,
            address6: None,
            netmask6: None,
            cidr6: None,
            families: Vec::new(),
        });
        match a.addr {
            IpAddr::V4(v4) if entry.address.is_none() => {
                entry.address = Some(v4.to_string());
                entry.netmask = Some(mask_v4(a.prefix).to_string());
                entry.cidr = Some(format!("{v4}/{}", a.prefix));
                entry.families.push("inet".into());
            }
            IpAddr::V6(v6) if entry.address6.is_none() => {
                entry.address6 = Some(v6.to_string());
                entry.netmask6 = Some(a.prefix.to_string());
                entry.cidr6 = Some(format!("{v6}/{}", a.prefix));
                entry.families.push("inet6".into());
            }
            _ => {}
        }
    }
    by_iface.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let all = addresses();
        assert!(all.iter().any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8), "{all:?}");
        let lo = interfaces().into_iter().find(|i| i.iface == "lo").unwrap();
        assert_eq!(lo.cidr.as_deref(), Some("127.0.0.1/8"));
        assert_eq!(lo.netmask.as_deref(), Some("255.0.0.0"));
    }
}

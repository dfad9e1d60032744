//! The caller's source address: the TCP peer, unless the peer is a trusted proxy.

use std::net::IpAddr;

use ipnet::IpNet;

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) become the IPv4 address they carry.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// The peer, or, when the peer is a trusted proxy, the right-most address of `X-Forwarded-For`
/// that is not itself a trusted proxy. Entries to the left of an unparsable one are not
/// believed (anyone could have written them): the walk stops at the last address it could read.
pub fn source_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(a));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut source = peer;
    let Some(header) = forwarded_for else {
        return source;
    };
    for entry in header.rsplit(',') {
        let Ok(addr) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        source = canonical(addr);
        if !is_trusted(&source) {
            break;
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peer_is_the_source_whatever_the_header_says() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            source_address(ip("1.2.3.4"), Some("9.9.9.9"), &t),
            ip("1.2.3.4")
        );
        assert_eq!(source_address(ip("1.2.3.4"), None, &[]), ip("1.2.3.4"));
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_entry() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            source_address(ip("10.0.0.1"), Some("6.6.6.6, 7.7.7.7, 10.0.0.2"), &t),
            ip("7.7.7.7")
        );
    }

    #[test]
    fn trusted_peer_without_header_is_the_source() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(source_address(ip("10.0.0.1"), None, &t), ip("10.0.0.1"));
    }

    #[test]
    fn all_trusted_yields_leftmost() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            source_address(ip("10.0.0.1"), Some("10.0.0.3, 10.0.0.2"), &t),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn garbage_stops_the_walk() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            source_address(ip("10.0.0.1"), Some("6.6.6.6, junk, 10.0.0.2"), &t),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        assert_eq!(
            source_address(ip("::ffff:1.2.3.4"), None, &[]),
            ip("1.2.3.4")
        );
        assert_eq!(
            source_address(
                ip("::ffff:10.0.0.1"),
                Some("::ffff:5.5.5.5"),
                &nets(&["10.0.0.0/8"])
            ),
            ip("5.5.5.5")
        );
    }

    #[test]
    fn ipv6_sources() {
        let t = nets(&["::1/128"]);
        assert_eq!(
            source_address(ip("::1"), Some("2001:db8::7"), &t),
            ip("2001:db8::7")
        );
    }
}

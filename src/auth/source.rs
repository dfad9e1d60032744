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

    /// (peer, X-Forwarded-For, trusted networks, the source it must yield, why).
    type Case = (
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
        &'static str,
        &'static str,
    );

    const CASES: &[Case] = &[
        (
            "1.2.3.4",
            Some("9.9.9.9"),
            &["10.0.0.0/8"],
            "1.2.3.4",
            "untrusted peer: header ignored",
        ),
        (
            "1.2.3.4",
            None,
            &[],
            "1.2.3.4",
            "untrusted peer without header",
        ),
        (
            "10.0.0.1",
            Some("6.6.6.6, 7.7.7.7, 10.0.0.2"),
            &["10.0.0.0/8"],
            "7.7.7.7",
            "rightmost untrusted entry",
        ),
        (
            "10.0.0.1",
            None,
            &["10.0.0.0/8"],
            "10.0.0.1",
            "trusted peer without header",
        ),
        (
            "10.0.0.1",
            Some("10.0.0.3, 10.0.0.2"),
            &["10.0.0.0/8"],
            "10.0.0.3",
            "all trusted: leftmost",
        ),
        (
            "10.0.0.1",
            Some("6.6.6.6, junk, 10.0.0.2"),
            &["10.0.0.0/8"],
            "10.0.0.2",
            "garbage stops the walk",
        ),
        (
            "::ffff:1.2.3.4",
            None,
            &[],
            "1.2.3.4",
            "mapped peer is IPv4",
        ),
        (
            "::ffff:10.0.0.1",
            Some("::ffff:5.5.5.5"),
            &["10.0.0.0/8"],
            "5.5.5.5",
            "mapped entries are IPv4",
        ),
        (
            "::1",
            Some("2001:db8::7"),
            &["::1/128"],
            "2001:db8::7",
            "IPv6 sources",
        ),
    ];

    #[test]
    fn source_address_walks_the_trusted_proxies() {
        for &(peer, header, trusted, want, why) in CASES {
            let trusted: Vec<IpNet> = trusted.iter().map(|s| s.parse().unwrap()).collect();
            let peer: IpAddr = peer.parse().unwrap();
            let want: IpAddr = want.parse().unwrap();
            assert_eq!(source_address(peer, header, &trusted), want, "{why}");
        }
    }
}

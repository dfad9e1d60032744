//! The IP allow list (`ipWhitelist`): CIDR blocks, IPv4 and IPv6.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl Default for AllowList {
    /// `["0.0.0.0/0"]`: what the vendor sets when the list is omitted. Note it admits every IPv4
    /// source but no IPv6 one, exactly as written.
    fn default() -> Self {
        Self(vec![IpNet::V4(ipnet::Ipv4Net::default())])
    }
}

/// Parses one entry strictly: `addr/prefix`, prefix within the family, no host bits set.
pub fn parse_cidr(entry: &str) -> Result<IpNet, ValidationError> {
    let invalid = || ValidationError::InvalidCidr {
        entry: entry.to_owned(),
    };
    let net: IpNet = entry.parse().map_err(|_| invalid())?;
    if net.trunc() != net || has_leading_zeros(entry) {
        return Err(invalid());
    }
    Ok(net)
}

/// Whether a decimal number of `entry` (an IPv4 octet, also in an IPv6 address's dotted tail,
/// or the prefix length) has a leading zero: `010.0.0.0/8` or `10.0.0.0/08`. Other tools read
/// `010` as octal (8), so such text means different networks to different readers.
fn has_leading_zeros(entry: &str) -> bool {
    let (addr, prefix) = entry.split_once('/').unwrap_or((entry, ""));
    let dotted = addr
        .rsplit(':')
        .next()
        .filter(|tail| tail.contains('.'))
        .into_iter()
        .flat_map(|tail| tail.split('.'));
    dotted
        .chain(std::iter::once(prefix))
        .any(|n| n.len() > 1 && n.starts_with('0'))
}

impl AllowList {
    /// Entries keep their order; exact duplicates are dropped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ValidationError> {
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        for e in entries {
            let net = parse_cidr(e.as_ref())?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    pub fn from_nets(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `addr` may call. An IPv4-mapped IPv6 source (`::ffff:a.b.c.d`, what a dual-stack
    /// socket reports) is matched as the IPv4 address it carries.
    pub fn permits(&self, addr: IpAddr) -> bool {
        Self::permits_among(&self.0, addr)
    }

    /// [`AllowList::permits`] for stored entries, without making a list of them (a request
    /// authenticated from a snapshot checks the entry's own).
    pub fn permits_among(nets: &[IpNet], addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        nets.iter().any(|net| net.contains(&addr))
    }

    /// Display form: `a.b.c.d/n` strings.
    pub fn strings(&self) -> Vec<String> {
        self.0.iter().map(|n| n.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(entry: &str) -> Result<AllowList, ValidationError> {
        Err(ValidationError::InvalidCidr {
            entry: entry.into(),
        })
    }

    #[test]
    fn leading_zeros_are_refused() {
        for bad in [
            "010.0.0.0/8",
            "10.0.0.0/08",
            "10.00.0.0/16",
            "::ffff:10.0.0.01/128",
            "::/00",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        for good in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "2001:db8:0::/48",
            "::ffff:10.0.0.0/104",
            "::/0",
        ] {
            assert!(parse_cidr(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn accepts_ipv4_and_ipv6_blocks() {
        let list = AllowList::parse(&["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "::1/128"])
            .unwrap();
        assert_eq!(
            list.strings(),
            vec!["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "::1/128"]
        );
    }

    #[test]
    fn refuses_entries_that_are_no_block() {
        for bad in [
            // Bare addresses.
            "10.0.0.1",
            "::1",
            // Prefixes too long for the family.
            "10.0.0.0/33",
            "::/129",
            // Host bits behind the prefix.
            "10.0.0.1/8",
            "2001:db8::1/32",
            // Junk.
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0/8",
            "256.0.0.0/8",
            "a.b.c.d/8",
            " 10.0.0.0/8",
            "10.0.0.0/-1",
            "10.0.0.0/08x",
        ] {
            assert_eq!(AllowList::parse(&[bad]), err(bad), "{bad:?}");
        }
    }

    #[test]
    fn reports_the_first_bad_entry() {
        assert_eq!(AllowList::parse(&["10.0.0.0/8", "x", "y"]), err("x"));
    }

    #[test]
    fn default_admits_all_ipv4_only() {
        let d = AllowList::default();
        assert!(d.permits("127.0.0.1".parse().unwrap()));
        assert!(d.permits("8.8.8.8".parse().unwrap()));
        assert!(!d.permits("::1".parse().unwrap()));
    }

    #[test]
    fn permits_checks_membership() {
        let list = AllowList::parse(&["10.0.0.0/8", "2001:db8::/32"]).unwrap();
        assert!(list.permits("10.1.2.3".parse().unwrap()));
        assert!(!list.permits("127.0.0.1".parse().unwrap()));
        assert!(list.permits("2001:db8::5".parse().unwrap()));
        assert!(!list.permits("2001:db9::5".parse().unwrap()));
        assert!(
            list.permits("::ffff:10.9.9.9".parse().unwrap()),
            "mapped v4"
        );
        assert!(!AllowList::parse::<&str>(&[])
            .unwrap()
            .permits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn duplicates_collapse() {
        assert_eq!(
            AllowList::parse(&["10.0.0.0/8", "10.0.0.0/8"])
                .unwrap()
                .strings(),
            vec!["10.0.0.0/8"]
        );
    }
}

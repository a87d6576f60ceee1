//! Who the client is behind a trusted proxy: the rightmost address of `Forwarded` (RFC 7239)
//! or `X-Forwarded-For` that is not itself a trusted proxy.
//!
//! Each proxy appends the address it received the request from, so the right end of the list
//! is written by proxies we trust and the left end by whoever sent the request; only the
//! addresses up to and including the first one a trusted proxy vouches for can be believed.
//! From any other peer these headers are ignored: the client is the connection's address.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Most hops looked at; a longer chain is not a real deployment's.
const MAX_HOPS: usize = 32;

/// Which header carries the client's address from a trusted proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientHeader {
    /// `X-Forwarded-For` (what nginx, Traefik and most proxies set).
    XForwardedFor,
    /// RFC 7239 `Forwarded`: only for proxies that set it themselves, since a proxy that
    /// passes a client's own `Forwarded` through would let the client name any address.
    Forwarded,
}

/// The client's address for a request from `peer`, reading `header` when the peer is a trusted
/// proxy. A hop that is not an address (`unknown`, an obfuscated name, garbage) ends the walk
/// at the proxy that wrote it: that proxy's address stands for the client. IPv4 addresses
/// written as IPv6 (`::ffff:10.0.0.1`, as a dual-stack listener sees them) count as IPv4.
pub(crate) fn real_client(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &[IpAddr],
    header: ClientHeader,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = if header == ClientHeader::Forwarded {
        headers
            .get_all(FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(forwarded_for)
            .collect()
    } else {
        headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect()
    };
    let mut client = peer;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        match parse_addr(hop).map(|a| a.to_canonical()) {
            Some(addr) if trusted.contains(&addr) => client = addr,
            Some(addr) => return Some(addr),
            None => return Some(client),
        }
    }
    Some(client)
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.1;proto=https`), or `""`.
fn forwarded_for(element: &str) -> &str {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .unwrap_or("")
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if s.len() > 64 {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    struct Case {
        headers: &'static [(&'static str, &'static str)],
        peer: &'static str,
        want: &'static str,
    }

    const XFF: ClientHeader = ClientHeader::XForwardedFor;

    #[test]
    fn table() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let cases = [
            // Not from a proxy: the headers are ignored.
            Case {
                headers: &[("x-forwarded-for", "1.1.1.1")],
                peer: "203.0.113.9",
                want: "203.0.113.9",
            },
            // From the proxy: the address it received the request from.
            Case {
                headers: &[("x-forwarded-for", "1.1.1.1")],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            // A client's own forged entries sit left of the real one.
            Case {
                headers: &[("x-forwarded-for", "6.6.6.6, 1.1.1.1")],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            // Two trusted proxies in a row.
            Case {
                headers: &[("x-forwarded-for", "6.6.6.6, 1.1.1.1, 10.0.0.2")],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            // Several header lines read as one list.
            Case {
                headers: &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "1.1.1.1"),
                ],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            // Garbage where the client should be: the proxy stands for it.
            Case {
                headers: &[("x-forwarded-for", "1.1.1.1, nonsense")],
                peer: "10.0.0.1",
                want: "10.0.0.1",
            },
            // Only trusted hops: the leftmost.
            Case {
                headers: &[("x-forwarded-for", "10.0.0.2")],
                peer: "10.0.0.1",
                want: "10.0.0.2",
            },
            // No header from the proxy: the proxy.
            Case {
                headers: &[],
                peer: "10.0.0.1",
                want: "10.0.0.1",
            },
            // A client's own `Forwarded` means nothing unless the proxy is said to set it.
            Case {
                headers: &[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "1.1.1.1")],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            // An IPv4 proxy seen through a dual-stack listener.
            Case {
                headers: &[("x-forwarded-for", "1.1.1.1")],
                peer: "::ffff:10.0.0.1",
                want: "1.1.1.1",
            },
        ];
        for c in cases {
            let mut h = HeaderMap::new();
            for (k, v) in c.headers {
                h.append(*k, v.parse().unwrap());
            }
            let got = real_client(&h, Some(ip(c.peer)), &trusted, XFF);
            assert_eq!(got, Some(ip(c.want)), "{:?} from {}", c.headers, c.peer);
        }
        assert_eq!(real_client(&HeaderMap::new(), None, &trusted, XFF), None);
    }

    #[test]
    fn rfc7239_when_the_proxy_sets_it() {
        let trusted = [ip("10.0.0.1")];
        let cases = [
            // RFC 7239, with ports, quotes and IPv6.
            Case {
                headers: &[
                    (
                        "forwarded",
                        "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https",
                    ),
                    ("x-forwarded-for", "9.9.9.9"),
                ],
                peer: "10.0.0.1",
                want: "2001:db8::7",
            },
            Case {
                headers: &[("forwarded", "by=10.0.0.1;for=1.1.1.1:80")],
                peer: "10.0.0.1",
                want: "1.1.1.1",
            },
            Case {
                headers: &[("forwarded", "for=unknown")],
                peer: "10.0.0.1",
                want: "10.0.0.1",
            },
        ];
        for c in cases {
            let mut h = HeaderMap::new();
            for (k, v) in c.headers {
                h.append(*k, v.parse().unwrap());
            }
            let got = real_client(&h, Some(ip(c.peer)), &trusted, ClientHeader::Forwarded);
            assert_eq!(got, Some(ip(c.want)), "{:?} from {}", c.headers, c.peer);
        }
    }
}

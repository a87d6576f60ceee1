//! Property tests for the parsers a stranger reaches: cookies and session tokens, `next`,
//! mount and forwarded prefixes, forwarded-for chains, query and form bodies. None panics on
//! any input, and what is meant to round-trip does.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use crate::auth::session::{Keys, Session};
use crate::auth::{Role, User};
use crate::cookies;
use crate::links::{safe_relative, MountPrefix, Urls};
use crate::web::{real_client, ClientHeader, Params};

/// Any header value a client could send (visible ASCII, spaces and tabs).
fn header_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ -~\t]{0,300}").expect("regex")
}

fn headers(name: &'static str, values: &[String]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.append(name, v);
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn cookie_headers_never_panic(values in proptest::collection::vec(header_text(), 0..4), name in "[a-z_]{1,12}") {
        let h = headers("cookie", &values);
        let found: Vec<&str> = cookies::values(&h, &name).collect();
        prop_assert!(found.len() <= 8);
        let _ = cookies::read_flash(&h);
    }

    #[test]
    fn flash_messages_round_trip(ok in any::<bool>(), message in "\\PC{0,200}") {
        let scope = cookies::Scope { path: "/", secure: false };
        let set = cookies::flash(if ok { "ok" } else { "err" }, &message, scope).expect("a header value");
        let pair = set.to_str().expect("ascii").split(';').next().expect("a pair").to_string();
        let h = headers("cookie", &[pair]);
        let want: String = message.chars().take(300).collect();
        prop_assert_eq!(cookies::read_flash(&h), Some((ok, want)));
    }

    #[test]
    fn session_tokens_never_panic_and_round_trip(junk in header_text(), id in "[a-z0-9]{1,20}", name in "\\PC{0,40}") {
        let keys = Keys::new(vec![vec![9u8; 32]]);
        prop_assert_eq!(keys.verify("sid", &junk, 1_000), None);
        let user = User::new(&id, &name, Role::Operator);
        let s = Session::new(&user, "password", 1_000, 3_600);
        let token = keys.sign("sid", &s);
        prop_assert_eq!(keys.verify("sid", &token, 1_001), Some(s.clone()));
        // Bound to the cookie name, and to every byte.
        prop_assert_eq!(keys.verify("other", &token, 1_001), None);
        let mut flipped = token.into_bytes();
        let i = flipped.len() / 2;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        prop_assert_eq!(keys.verify("sid", &String::from_utf8_lossy(&flipped), 1_001), None);
    }

    #[test]
    fn next_values_are_safe_when_accepted(next in "\\PC{0,120}") {
        if let Some(n) = safe_relative(&next) {
            prop_assert!(n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'));
            let decoded = percent_encoding::percent_decode_str(n).decode_utf8_lossy();
            prop_assert!(!decoded.starts_with("//") && !decoded.contains('\\'));
        }
    }

    #[test]
    fn sign_in_links_carry_next_back(segments in proptest::collection::vec("[a-z0-9._~-]{1,8}", 0..4), query in "[a-z0-9=&%]{0,30}") {
        let base = MountPrefix::new("/ops").expect("prefix");
        let urls = Urls::new(base);
        let rel = format!("/{}", segments.join("/"));
        let link = urls.login_for(&rel, &query);
        let next = link.split_once("?next=").expect("next").1;
        let next: String = form_urlencoded::parse(format!("next={next}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .expect("decodes");
        let want = if query.is_empty() { format!("/ops{rel}") } else { format!("/ops{rel}?{query}") };
        prop_assert_eq!(&next, &want);
    }

    #[test]
    fn prefixes_never_panic_and_round_trip(p in "\\PC{0,80}", inner in "(/[a-z0-9]{1,6}){0,3}") {
        if let Ok(m) = MountPrefix::new(&p) {
            prop_assert_eq!(MountPrefix::new(m.as_str()).ok(), Some(m.clone()));
            prop_assert!(m.is_root() || (m.as_str().starts_with('/') && !m.as_str().ends_with('/')));
            let inner = MountPrefix::new(&inner).expect("clean");
            let joined = m.join(&inner);
            let path = format!("{}/tasks", joined.as_str());
            prop_assert_eq!(joined.strip(&path), Some("/tasks"));
        }
    }

    #[test]
    fn forwarded_chains_never_panic(values in proptest::collection::vec(header_text(), 0..3), forwarded in any::<bool>(), peer in any::<[u8; 4]>()) {
        let (name, header) = if forwarded {
            ("forwarded", ClientHeader::Forwarded)
        } else {
            ("x-forwarded-for", ClientHeader::XForwardedFor)
        };
        let h = headers(name, &values);
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let peer = IpAddr::from(peer);
        // From anyone else, the headers change nothing.
        if peer != proxy {
            prop_assert_eq!(real_client(&h, Some(peer), &[proxy], header), Some(peer));
        }
        // From the proxy: always some address.
        prop_assert!(real_client(&h, Some(proxy), &[proxy], header).is_some());
    }

    #[test]
    fn forwarded_for_names_the_rightmost_untrusted(hops in proptest::collection::vec(any::<[u8; 4]>(), 1..6)) {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let chain: Vec<String> = hops.iter().map(|h| IpAddr::from(*h).to_string()).collect();
        let h = headers("x-forwarded-for", &[chain.join(", ")]);
        let header = ClientHeader::XForwardedFor;
        let want = hops.iter().rev().map(|h| IpAddr::from(*h)).find(|a| *a != proxy).unwrap_or(
            // Every hop is the proxy itself.
            proxy,
        );
        prop_assert_eq!(real_client(&h, Some(proxy), &[proxy], header), Some(want));
    }

    #[test]
    fn forms_and_queries_never_panic_and_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..300), pairs in proptest::collection::vec(("[a-z]{1,5}", "\\PC{0,20}"), 0..6)) {
        let _ = Params::parse(&raw);
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            s.append_pair(k, v);
        }
        let body = s.finish();
        let p = Params::parse(body.as_bytes());
        for (k, v) in &pairs {
            let all: Vec<&str> = p.all(k).collect();
            prop_assert!(all.contains(&v.trim()) || all.contains(&v.as_str()), "{k}={v:?} in {all:?}");
        }
    }
}

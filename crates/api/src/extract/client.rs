//! Who the client is: the socket's peer, or the address a trusted gateway names.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address: the socket's peer, or, when the peer is a trusted proxy (the
/// gateway), the address the proxies name in `X-Forwarded-For`. `None` when the server records
/// no peer (tests that call the router directly).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(
            parts,
            &state.settings.tuning.trusted_proxies,
        )))
    }
}

/// See [`ClientAddr`]. Each proxy appends the address it saw, so the list is read from the
/// right: trusted hops are skipped and the first other address is the client. Entries left of
/// it were written by the client and are never believed; an entry that is not an address ends
/// the walk at the last trusted hop.
pub fn client_addr(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    // Several headers form one list, in order.
    let hops: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return Some(ip),
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, forwarded: &[&str]) -> Parts {
        let mut builder = axum::http::Request::builder();
        for value in forwarded {
            builder = builder.header("x-forwarded-for", *value);
        }
        let (mut parts, ()) = builder.body(()).expect("request").into_parts();
        let peer: std::net::SocketAddr = peer.parse().expect("socket address");
        parts.extensions.insert(axum::extract::ConnectInfo(peer));
        parts
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted = nets(&["10.0.0.0/8"]);
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_addr(&parts("192.0.2.7:5000", &["198.51.100.1"]), &trusted),
            ip("192.0.2.7")
        );
        // The gateway names the client.
        assert_eq!(
            client_addr(&parts("10.0.0.2:5000", &["198.51.100.1"]), &trusted),
            ip("198.51.100.1")
        );
        // Through two trusted proxies; the client's own entry on the left is not believed.
        assert_eq!(
            client_addr(
                &parts("10.0.0.2:5000", &["203.0.113.9, 198.51.100.1", "10.0.0.3"]),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Garbage stops the walk at the last trusted hop; no header means the peer.
        assert_eq!(
            client_addr(&parts("10.0.0.2:5000", &["nonsense, 10.0.0.3"]), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_addr(&parts("10.0.0.2:5000", &[]), &trusted),
            ip("10.0.0.2")
        );
    }
}

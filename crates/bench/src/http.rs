//! One HTTP/1.1 keep-alive connection per virtual user, on hyper's low-level client: the tool
//! holds exactly the connections it says it holds (no pool that opens or closes behind its
//! back), and spends little CPU of its own, which matters when it shares two cores with the
//! service.
//!
//! Connections may come from many loopback source addresses (127.0.0.x are all this
//! machine): thousands of users behind one address would share one address throttle and one
//! set of ephemeral ports, which real tills in many shops do not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// How the cache served a read, from its `X-Cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSeen {
    Hit = 0,
    Miss = 1,
    Bypass = 2,
    /// No header: an uncached read or a write.
    None = 3,
}

impl CacheSeen {
    fn from_header(value: Option<&HeaderValue>) -> Self {
        match value.map(HeaderValue::as_bytes) {
            Some(b"hit") => CacheSeen::Hit,
            Some(b"miss") => CacheSeen::Miss,
            Some(b"bypass") => CacheSeen::Bypass,
            _ => CacheSeen::None,
        }
    }
}

/// What came back.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub cache: CacheSeen,
}

/// A request ready to send; `path` includes `/api/v1` and the query.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    pub path: String,
    pub token: Option<std::sync::Arc<str>>,
    pub body: Option<Bytes>,
}

/// The `i`-th of `n` loopback source addresses (127.0.1.0 upwards), or none when `n` is 0.
pub fn source_address(i: usize, n: usize) -> Option<IpAddr> {
    if n == 0 {
        return None;
    }
    let k = (i % n) as u32;
    // 127.0.1.0 + k, skipping nothing: every 127/8 address is this machine's loopback.
    let base = u32::from(Ipv4Addr::new(127, 0, 1, 0));
    Some(IpAddr::V4(Ipv4Addr::from(base + k)))
}

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    pub async fn open(target: SocketAddr, source: Option<IpAddr>) -> std::io::Result<Conn> {
        let socket = match target {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = source.filter(|_| target.is_ipv4()) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(target).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        // The connection's I/O runs in a task of its own; it ends when `sender` is dropped.
        tokio::spawn(connection);
        let host = HeaderValue::from_str(&target.to_string()).map_err(std::io::Error::other)?;
        Ok(Conn { sender, host })
    }

    /// Sends one request and reads the whole answer (the body is read and dropped, as a
    /// client would read it).
    pub async fn send(&mut self, out: &Outgoing) -> Result<Answer, hyper::Error> {
        Ok(self.exchange(out, false).await?.0)
    }

    /// Sends one request and returns the answer with its body (a login's token).
    pub async fn send_reading(&mut self, out: &Outgoing) -> Result<(Answer, Bytes), hyper::Error> {
        self.exchange(out, true).await
    }

    async fn exchange(
        &mut self,
        out: &Outgoing,
        keep: bool,
    ) -> Result<(Answer, Bytes), hyper::Error> {
        let mut request = Request::builder()
            .method(out.method.clone())
            .uri(out.path.as_str())
            .header(HOST, self.host.clone());
        if let Some(token) = &out.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if out.body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let body = Full::new(out.body.clone().unwrap_or_default());
        // Only a bad path or header could fail here, and ours are built from ids and tokens.
        let request = match request.body(body) {
            Ok(r) => r,
            Err(_) => {
                let answer = Answer {
                    status: 400,
                    cache: CacheSeen::None,
                };
                return Ok((answer, Bytes::new()));
            }
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let cache = CacheSeen::from_header(response.headers().get("x-cache"));
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            if let (true, Some(data)) = (keep, frame?.data_ref()) {
                kept.extend_from_slice(data);
            }
        }
        Ok((Answer { status, cache }, Bytes::from(kept)))
    }

    /// False once the server closed the connection or it broke.
    pub fn is_usable(&self) -> bool {
        !self.sender.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_cycle_through_loopback() {
        assert_eq!(source_address(5, 0), None);
        assert_eq!(
            source_address(0, 300),
            Some("127.0.1.0".parse().expect("ip"))
        );
        assert_eq!(
            source_address(257, 300),
            Some("127.0.2.1".parse().expect("ip"))
        );
        assert_eq!(source_address(300, 300), source_address(0, 300));
    }

    #[test]
    fn the_cache_header_is_read_exactly() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(CacheSeen::from_header(Some(&v("hit"))), CacheSeen::Hit);
        assert_eq!(CacheSeen::from_header(Some(&v("miss"))), CacheSeen::Miss);
        assert_eq!(
            CacheSeen::from_header(Some(&v("bypass"))),
            CacheSeen::Bypass
        );
        assert_eq!(CacheSeen::from_header(Some(&v("HIT?"))), CacheSeen::None);
        assert_eq!(CacheSeen::from_header(None), CacheSeen::None);
    }
}

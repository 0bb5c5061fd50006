//! The requests of a load run while the failure tests break something: each sent as the
//! admin with a 15 s limit and kept as an [`Answer`] (when, what status, `X-Cache`), so a
//! test can find the failed ones and the longest pause.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use testkit::TestApp;

/// One answered (or unanswered) request of a load, with when it was sent and answered.
pub struct Answer {
    pub sent: Instant,
    pub at: Instant,
    /// 0 when no answer came.
    pub status: u16,
    pub write: bool,
    pub path: String,
    /// `X-Cache` of a read.
    pub cache: Option<String>,
}

/// Sends a request as the admin with a 15 s limit; an answer whose body breaks off half-way
/// failed too (status 0).
pub async fn timed_send(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> Answer {
    let sent = Instant::now();
    let mut req = app
        .request(method.clone(), path, Some(&app.admin_token))
        .timeout(Duration::from_secs(15));
    if let Some(body) = body {
        req = req.json(body);
    }
    let (status, cache) = match req.send().await {
        Ok(response) => {
            let cache = response
                .headers()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => (status, cache),
                Err(_) => (0, cache),
            }
        }
        Err(_) => (0, None),
    };
    Answer {
        sent,
        at: Instant::now(),
        status,
        write: method == Method::POST,
        path: path.to_owned(),
        cache,
    }
}

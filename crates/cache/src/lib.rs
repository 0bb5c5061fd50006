//! The only code that talks to Redis. For now: the connection and a health probe used by
//! readiness; the cache-aside layer grows here.
//!
//! Redis is an accelerator, never a dependency of an answer: every operation has a short
//! timeout and errors are reported, not propagated as request failures.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A handle to Redis that reconnects by itself. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    client: redis::Client,
    /// Established on first use, so the service starts (and serves from the database) while
    /// Redis is down; the manager then reconnects on its own after failures.
    connection: Arc<OnceCell<ConnectionManager>>,
    timeout: Duration,
}

impl Cache {
    /// Checks the URL only; no connection is made until the cache is first used.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, Error> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Arc::new(OnceCell::new()),
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, Error> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        let manager = self
            .connection
            .get_or_try_init(|| async {
                match tokio::time::timeout(self.timeout, connect).await {
                    Ok(result) => result.map_err(Error::from),
                    Err(_) => Err(Error::Timeout(self.timeout)),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    /// Whether Redis answers a PING within the timeout.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.connection().await?;
        let cmd = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut conn)).await {
            Ok(result) => result.map(|_| ()).map_err(Error::from),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }
}

//! The tests' own connections to a Redis server, to look at what the service left there.

/// A connection to the Redis at `url`; a server that does not answer fails the test.
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap_or_else(|e| panic!("redis url {url}: {e}"))
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A connection to the test Redis (`IMS_TEST_REDIS_URL`, started by `scripts/test`).
pub async fn test_redis() -> redis::aio::MultiplexedConnection {
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    connect(&url).await
}

/// Every key named `prefix*` on the server behind `conn`, read with `SCAN` in batches (as the
/// service's purge does) rather than `KEYS`.
pub async fn keys_under(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut all = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        all.extend(keys);
        if next == 0 {
            return all;
        }
        cursor = next;
    }
}

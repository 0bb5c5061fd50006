//! The catalogue of every metric the service exports: its name, kind, unit and help text,
//! as `/metrics` shows them.

pub(super) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "ims_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "ims_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_gauge!("ims_http_requests_in_flight", "HTTP requests being served");
    describe_counter!(
        "ims_cache_requests_total",
        "Cached reads by cache type and outcome"
    );
    describe_counter!(
        "ims_rate_limited_total",
        "Requests refused with 429 by the per-client rate limit, by policy (api, login)"
    );
    describe_counter!(
        "ims_rate_limit_fallback_total",
        "Rate limit steps taken in this instance's memory because Redis failed, by policy"
    );
    describe_counter!(
        "ims_db_retries_total",
        "Requests run a second time after a database node failed under them, by kind (read, write)"
    );
    describe_counter!(
        "ims_db_conflict_retries_total",
        "Writes run again in a new transaction after PostgreSQL ended theirs to break a deadlock or a serialization conflict, by write"
    );
    describe_gauge!(
        "ims_db_requests_awaiting_primary",
        "Writes, and reads only the primary can serve, held after their node failed, until the follower finds a primary to retry on"
    );
    describe_counter!(
        "ims_db_primary_waits_total",
        "Waits for a primary after a failure other than a write's retry, by what for: read (a read whose consistency token no standby has replayed), token (a write's consistency token)"
    );
    describe_gauge!(
        "ims_db_node_up",
        "Whether the service's follower reached this cluster host in its last probe (1 or 0)"
    );
    describe_gauge!(
        "ims_db_node_primary",
        "Whether this cluster host is the primary as the follower saw it last (1 or 0)"
    );
    describe_counter!(
        "ims_cache_errors_total",
        "Redis operations that failed or timed out"
    );
    describe_gauge!(
        "ims_cache_bypassed",
        "1 while requests skip Redis after a failure"
    );
    describe_histogram!(
        "ims_redis_command_duration_seconds",
        Unit::Seconds,
        "Redis round trips"
    );
    describe_counter!(
        "ims_redis_master_switches_total",
        "Moves of the Redis connection to a new master named by the Sentinels, by client"
    );
    describe_gauge!(
        "ims_redis_memory_used_bytes",
        Unit::Bytes,
        "Redis used_memory"
    );
    describe_gauge!(
        "ims_redis_memory_max_bytes",
        Unit::Bytes,
        "Redis maxmemory (0: no limit)"
    );
    describe_gauge!(
        "ims_redis_evicted_keys_total",
        "Keys Redis evicted to stay under maxmemory"
    );
    describe_gauge!(
        "ims_db_pool_connections",
        "Database connections by pool and state"
    );
    describe_gauge!("ims_db_pool_max_connections", "Database pool size limit");
    describe_gauge!(
        "ims_db_pool_waiting",
        "Database operations waiting for a connection (estimate)"
    );
    describe_histogram!(
        "ims_db_query_duration_seconds",
        Unit::Seconds,
        "Repository operations by name"
    );
    describe_gauge!(
        "ims_db_index_scans_total",
        "Index scans per table (pg_stat_user_tables)"
    );
    describe_gauge!(
        "ims_db_seq_scans_total",
        "Sequential scans per table (pg_stat_user_tables)"
    );
    describe_gauge!(
        "ims_db_buffer_hit_ratio",
        "Share of block reads served from shared buffers"
    );
    describe_gauge!(
        "ims_db_wal_bytes_total",
        Unit::Bytes,
        "WAL generated; its rate is the write volume a standby must replay"
    );
    describe_gauge!(
        "ims_db_replication_lag_seconds",
        "Replay lag per standby, seconds"
    );
    describe_gauge!(
        "ims_db_replication_lag_bytes",
        Unit::Bytes,
        "Replay lag per standby, bytes"
    );
    describe_gauge!(
        "ims_ready",
        "1 when the service can answer (the database responds)"
    );
    describe_counter!(
        "ims_archive_runs_total",
        "Daily archival runs by outcome: archived (months moved), nothing (none due), failed"
    );
    describe_gauge!(
        "ims_archive_last_success_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last archival run that did not fail (archived or nothing)"
    );
    describe_gauge!(
        "ims_archived_months",
        "Months whose orders are in the archive (archived_months in state archived)"
    );
}

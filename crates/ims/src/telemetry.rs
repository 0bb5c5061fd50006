//! Logging, set up once at start-up: text for people, JSON for log shippers. Requests are
//! logged by the router's trace layer inside a span carrying the request id.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is an `IMS_LOG` value such as `info,sqlx=warn`.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    // sqlx logs every statement at info; that is noise at our volume, and may carry data.
    let filter = EnvFilter::try_new(format!("sqlx=warn,{filter}"))
        .map_err(|e| anyhow::anyhow!("IMS_LOG: invalid filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging already initialised: {e}"))
}

//! Logging, set up once at start-up: text for people, JSON for log shippers. Requests are
//! logged by the router's trace layer inside a span carrying the request id.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is an `IMS_LOG` value such as `info,sqlx=warn`.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    // sqlx logs every statement at info; that is noise at our volume, and may carry data.
    let filter = EnvFilter::try_new(format!("sqlx=warn,{filter}"))
        .map_err(|e| anyhow::anyhow!("IMS_LOG: invalid filter: {e}"))?;
    // Colour codes only for a person at a terminal: in a file, a pipe or journald they are
    // noise that breaks grep. The fmt layer writes to stdout.
    let ansi = std::io::stdout().is_terminal();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(QuietStandbyRefusal);
    let result = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_target(true)
                    .with_ansi(false),
            )
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging already initialised: {e}"))
}

/// Drops sqlx's `ERROR sqlx_core::pool::inner: error returned from after_connect` when the
/// error is the primary pool refusing a standby ([`storage::hosts::STANDBY_REFUSED`]).
///
/// On a cluster the primary pool may be pointed at a node that is (now) a standby: before the
/// follower's first probe round (every `ims migrate` or `ims seed` on a multi-host URL whose
/// first host is a standby) and for up to a probe period during a switchover. Its
/// `after_connect` then refuses the connection and sqlx connects again; that is the design
/// working, not an error an operator should act on. sqlx logs every `after_connect` error at
/// ERROR with no way to change it, so this filter removes that one case (any other
/// `after_connect` error, or any other sqlx error, still shows); storage logs the refusal at
/// debug level itself (`IMS_LOG=storage=debug`). A connection that never finds the primary
/// still ends in a pool timeout, which the request's error reports.
struct QuietStandbyRefusal;

impl<S: Subscriber> Layer<S> for QuietStandbyRefusal {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || !meta.target().starts_with("sqlx_core::pool") {
            return true;
        }
        let mut error = ErrorField(false);
        event.record(&mut error);
        !error.0
    }
}

/// Whether an event's `error` field is the standby refusal.
struct ErrorField(bool);

impl Visit for ErrorField {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "error" {
            self.0 = format!("{value:?}").contains(storage::hosts::STANDBY_REFUSED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects the messages of the events that pass the filters below it.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            struct Message(String);
            impl Visit for Message {
                fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }

    #[test]
    fn only_the_standby_refusal_of_after_connect_is_dropped() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(QuietStandbyRefusal)
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let refused = sqlx::Error::Protocol(storage::hosts::STANDBY_REFUSED.into());
            let other = sqlx::Error::Protocol("something else".into());
            // As sqlx_core::pool::inner logs them.
            tracing::error!(target: "sqlx_core::pool::inner", error = %refused, "refused");
            tracing::error!(target: "sqlx_core::pool::inner", error = %other, "other");
            tracing::error!(target: "storage", error = %refused, "elsewhere");
        });
        assert_eq!(*seen.0.lock().unwrap(), ["other", "elsewhere"]);
    }
}

//! Logging: structured `tracing` events to stderr, as text or JSON, filtered
//! by `RUST_LOG` (default `info`). Logs carry ids and counts, never customer
//! text or secrets.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call keeps the first.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already initialized (tests start several servers): keep the first.
    let _ = result;
}

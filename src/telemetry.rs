//! Logging: structured `tracing` events to stderr, as text or JSON, filtered
//! by `RUST_LOG` (default `info`). Logs carry ids and counts, never customer
//! text or secrets.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialized (tests start several servers): keep the first.
    let _ = result;
}

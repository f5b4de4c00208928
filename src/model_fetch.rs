//! `replygate model fetch`: a hub model into the data dir ahead of time.

use replygate::config::Config;
use std::process::ExitCode;

/// Fetches the model (unless already there), loads it once, prints its folder.
pub async fn run(mut config: Config, model: Option<String>) -> ExitCode {
    use replygate::embedding::{Embedder, fetch, local::LocalEmbedder};
    if let Some(m) = model {
        config.embedding.model = m;
    }
    let id = match config.embedding.model.as_str() {
        "" => replygate::config::DEFAULT_EMBEDDING_MODEL.to_string(),
        m => m.to_string(),
    };
    let fetched = fetch::fetch(&id, &config.data_dir, &config.embedding.hub_endpoint).await;
    let dir = match fetched {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match LocalEmbedder::load(&dir, &id, &config.embedding).await {
        Ok(e) => {
            println!("{}", dir.display());
            eprintln!(
                "{id} is in {} and loads ({} dimensions); use it with [embedding] provider = \"local\", model = \"{id}\" and the same data_dir, or model_dir = that folder",
                dir.display(),
                e.dims()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: fetched into {} but it does not load: {e}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

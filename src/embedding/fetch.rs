//! Fetching a sentence model from the Hugging Face hub, once, into
//! `<data_dir>/models/<owner>--<name>`: the files are written into a
//! temporary folder beside it, which is renamed into place only when every
//! required file is complete, so a half-downloaded model is never used.

use super::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Files a model cannot be loaded without.
pub const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// sentence-transformers' files: read when the model has them.
pub const OPTIONAL: [&str; 4] = [
    "1_Pooling/config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// Where the model `id` lives once fetched: `<data_dir>/models/<id with / as -->`.
pub fn model_dir(data_dir: &Path, id: &str) -> Result<PathBuf> {
    check_id(id)?;
    Ok(data_dir.join("models").join(id.replace('/', "--")))
}

/// Whether `dir` holds every required file.
pub fn is_complete(dir: &Path) -> bool {
    REQUIRED.iter().all(|f| dir.join(f).is_file())
}

/// A hub id is `name` or `owner/name` of letters, digits, `-`, `_` and `.`,
/// so it is safe both in a URL and as a folder name.
fn check_id(id: &str) -> Result<()> {
    let parts: Vec<&str> = id.split('/').collect();
    let part_ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if parts.len() <= 2 && parts.iter().all(part_ok) {
        Ok(())
    } else {
        Err(Error::Unavailable(format!(
            "{id:?} is not a Hugging Face model id (owner/name)"
        )))
    }
}

/// Downloads the model `id` from `endpoint` into [`model_dir`] unless it is
/// already there, and returns that folder. A required file that is missing
/// (404) or cut short fails the whole fetch, naming the file, and leaves
/// nothing behind.
pub async fn fetch(id: &str, data_dir: &Path, endpoint: &str) -> Result<PathBuf> {
    let dest = model_dir(data_dir, id)?;
    if is_complete(&dest) {
        return Ok(dest);
    }
    let models = dest.parent().expect("model_dir is under models/");
    tokio::fs::create_dir_all(models)
        .await
        .map_err(|e| Error::Unavailable(format!("{}: {e}", models.display())))?;
    let partial = models.join(format!(
        ".{}.partial-{}",
        id.replace('/', "--"),
        crate::model::new_id()
    ));
    let result = download_all(id, endpoint.trim_end_matches('/'), &partial).await;
    let result = match result {
        Ok(()) => place(&partial, &dest).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_dir_all(&partial).await;
    }
    result.map(|()| dest)
}

/// Renames the complete folder into place; another process that finished
/// first wins, and this copy is dropped.
async fn place(partial: &Path, dest: &Path) -> Result<()> {
    if is_complete(dest) {
        let _ = tokio::fs::remove_dir_all(partial).await;
        return Ok(());
    }
    // An incomplete folder left by hand or by an older version: replace it.
    if dest.exists() {
        tokio::fs::remove_dir_all(dest)
            .await
            .map_err(|e| Error::Unavailable(format!("{}: {e}", dest.display())))?;
    }
    tokio::fs::rename(partial, dest)
        .await
        .map_err(|e| Error::Unavailable(format!("{}: {e}", dest.display())))
}

async fn download_all(id: &str, endpoint: &str, into: &Path) -> Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Unavailable(format!("http client: {e}")))?;
    for file in REQUIRED {
        if !download(&client, id, endpoint, file, into).await? {
            return Err(Error::Unavailable(format!(
                "{id}: {file} not found at {endpoint}"
            )));
        }
    }
    for file in OPTIONAL {
        download(&client, id, endpoint, file, into).await?;
    }
    Ok(())
}

/// Writes `file` of `id` under `into`; false when the hub has no such file.
async fn download(
    client: &reqwest::Client,
    id: &str,
    endpoint: &str,
    file: &str,
    into: &Path,
) -> Result<bool> {
    let url = format!("{endpoint}/{id}/resolve/main/{file}");
    let failed = |why: String| Error::Unavailable(format!("{id}: {file}: {why}"));
    let mut response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(format!("{url}: {e}")))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(false);
    }
    if !status.is_success() {
        return Err(failed(format!("{url} answered {status}")));
    }
    let expected = response.content_length();
    let path = into.join(file);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| failed(format!("{}: {e}", parent.display())))?;
    }
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|e| failed(format!("{}: {e}", path.display())))?;
    let mut written = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(format!("download interrupted after {written} bytes: {e}")))?
    {
        out.write_all(&chunk)
            .await
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
        written += chunk.len() as u64;
    }
    out.sync_all()
        .await
        .map_err(|e| failed(format!("{}: {e}", path.display())))?;
    if let Some(expected) = expected
        && expected != written
    {
        return Err(failed(format!(
            "download interrupted: {written} of {expected} bytes"
        )));
    }
    tracing::info!(model = id, file, bytes = written, "model file fetched");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_id_becomes_one_folder_under_models() {
        let dir = model_dir(Path::new("/data"), "sentence-transformers/all-MiniLM-L6-v2").unwrap();
        assert_eq!(
            dir,
            Path::new("/data/models/sentence-transformers--all-MiniLM-L6-v2")
        );
        assert!(model_dir(Path::new("/data"), "intfloat/multilingual-e5-small").is_ok());
    }

    #[test]
    fn ids_that_could_leave_the_models_folder_are_refused() {
        for id in [
            "",
            "../etc",
            "a/../../b",
            "a/b/c",
            "/abs",
            "a b/c",
            ".hidden/x",
            "a/",
        ] {
            assert!(model_dir(Path::new("/data"), id).is_err(), "{id:?}");
        }
    }
}

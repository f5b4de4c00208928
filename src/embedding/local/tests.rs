//! The whole local path on tiny random models written into a temp dir (the
//! real all-MiniLM-L6-v2 is checked in tests/llm/embedding.rs).

use super::*;
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::{bert, xlm_roberta};
use std::path::PathBuf;

/// A word-level tokenizer that, like all-MiniLM-L6-v2's, pads every input
/// to a fixed length unless told not to.
const TOKENIZER: &str = r#"{
  "version": "1.0",
  "truncation": null,
  "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
              "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
  "added_tokens": [],
  "normalizer": {"type": "Lowercase"},
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "[UNK]", "vocab": {
    "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "how": 6,
    "are": 7, "you": 8, "probe": 9, "query": 10, "passage": 11, ":": 12, "today": 13}}
}"#;

const BERT: &str = r#"{"model_type": "bert", "vocab_size": 14, "hidden_size": 8,
  "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16,
  "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "max_position_embeddings": 32,
  "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}"#;

const XLM_ROBERTA: &str = r#"{"model_type": "xlm-roberta", "vocab_size": 14, "hidden_size": 8,
  "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16,
  "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 34, "type_vocab_size": 1, "layer_norm_eps": 1e-5,
  "pad_token_id": 0, "position_embedding_type": "absolute"}"#;

/// A model folder named `name` with random weights for `config`.
fn model(name: &str, config: &str) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(name);
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER).unwrap();
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"pooling_mode_mean_tokens": true}"#,
    )
    .unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    if config.contains("xlm-roberta") {
        let c: xlm_roberta::Config = serde_json::from_str(config).unwrap();
        xlm_roberta::XLMRobertaModel::new(&c, vb).unwrap();
    } else {
        let c: bert::Config = serde_json::from_str(config).unwrap();
        bert::BertModel::load(vb, &c).unwrap();
    }
    varmap.save(dir.join("model.safetensors")).unwrap();
    (root, dir)
}

fn texts(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

async fn batch_matches_one_by_one(config: &str) {
    let (_root, dir) = model("tiny", config);
    let e = LocalEmbedder::load(&dir, "tiny", &EmbeddingConfig::default())
        .await
        .unwrap();
    assert_eq!(e.dims(), 8);
    let inputs = texts(&["hello world how are you today", "hello", "how are you", ""]);
    let batch = e.embed(Side::Passage, &inputs).await.unwrap();
    assert_eq!(batch.len(), inputs.len());
    for (text, v) in inputs.iter().zip(&batch) {
        let one = e
            .embed(Side::Passage, std::slice::from_ref(text))
            .await
            .unwrap();
        assert!((super::super::dot(v, v) - 1.0).abs() < 1e-5, "unit length");
        assert!(
            super::super::dot(v, &one[0]) > 0.9999,
            "{text:?}: padded in a batch or alone, the same vector"
        );
    }
}

#[tokio::test]
async fn a_bert_model_gives_the_same_unit_vectors_in_a_padded_batch_as_alone() {
    batch_matches_one_by_one(BERT).await;
}

#[tokio::test]
async fn an_xlm_roberta_model_gives_the_same_unit_vectors_in_a_padded_batch_as_alone() {
    batch_matches_one_by_one(XLM_ROBERTA).await;
}

#[tokio::test]
async fn inputs_are_not_padded_by_the_tokenizer_and_are_cut_at_the_models_limit() {
    let (_root, dir) = model("tiny", BERT);
    let e = LocalEmbedder::load(&dir, "tiny", &EmbeddingConfig::default())
        .await
        .unwrap();
    let m = &e.model;
    assert_eq!(
        tokens(&m.tokenizer, &m.settings, "Hello world").unwrap(),
        [2, 4, 5, 3]
    );
    let long = "hello ".repeat(100);
    let ids = tokens(&m.tokenizer, &m.settings, &long).unwrap();
    assert_eq!(
        (ids.len(), ids[0], ids[31]),
        (32, 2, 3),
        "max_position_embeddings, special tokens kept"
    );
    let v = e.embed(Side::Passage, &[long]).await.unwrap();
    assert_eq!(v[0].len(), 8);
}

#[tokio::test]
async fn batches_smaller_than_the_call_keep_the_callers_order() {
    let (_root, dir) = model("tiny", BERT);
    let config = EmbeddingConfig {
        batch_size: 2,
        ..EmbeddingConfig::default()
    };
    let e = LocalEmbedder::load(&dir, "tiny", &config).await.unwrap();
    let inputs = texts(&[
        "hello world how are you",
        "you",
        "how are",
        "hello",
        "world",
    ]);
    let all = e.embed(Side::Query, &inputs).await.unwrap();
    for (text, v) in inputs.iter().zip(&all) {
        let one = e
            .embed(Side::Query, std::slice::from_ref(text))
            .await
            .unwrap();
        assert!(super::super::dot(v, &one[0]) > 0.9999, "{text:?}");
    }
    assert!(e.embed(Side::Query, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_id_names_the_model_its_pooling_and_its_prefixes() {
    let (_root, dir) = model("multilingual-e5-tiny", BERT);
    let e5 = LocalEmbedder::load(&dir, "multilingual-e5-tiny", &EmbeddingConfig::default())
        .await
        .unwrap();
    assert_eq!(
        e5.id(),
        r#"multilingual-e5-tiny|mean|max_tokens=32|query="query: "|passage="passage: ""#
    );
    let plain = EmbeddingConfig {
        query_prefix: Some(String::new()),
        passage_prefix: Some(String::new()),
        ..EmbeddingConfig::default()
    };
    let e = LocalEmbedder::load(&dir, "org/tiny", &plain).await.unwrap();
    assert_eq!(e.id(), r#"org/tiny|mean|max_tokens=32|query=""|passage="""#);
    let q = e5.embed(Side::Query, &texts(&["hello"])).await.unwrap();
    let p = e5.embed(Side::Passage, &texts(&["hello"])).await.unwrap();
    // Random tiny weights may map different texts to nearly one vector, so
    // only exact equality (the same input reached the model) is a failure.
    assert_ne!(q[0], p[0], "the prefixes reach the model");
}

#[tokio::test]
async fn a_folder_without_a_required_file_is_refused_naming_it() {
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let (_root, dir) = model("tiny", BERT);
        std::fs::remove_file(dir.join(file)).unwrap();
        let e = LocalEmbedder::load(&dir, "tiny", &EmbeddingConfig::default())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(&format!("{file} is missing")), "{e}");
    }
}

#[tokio::test]
async fn weights_that_do_not_match_the_config_are_refused_naming_the_file() {
    let (_root, dir) = model("tiny", BERT);
    std::fs::write(
        dir.join("config.json"),
        BERT.replace("\"hidden_size\": 8", "\"hidden_size\": 16"),
    )
    .unwrap();
    let e = LocalEmbedder::load(&dir, "tiny", &EmbeddingConfig::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::write(dir.join("model.safetensors"), b"not safetensors").unwrap();
    let e = LocalEmbedder::load(&dir, "tiny", &EmbeddingConfig::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
}

//! What a Hugging Face–layout model folder says about how to embed with it:
//! the architecture (`config.json`), sentence-transformers' pooling
//! (`1_Pooling/config.json`, or the path `modules.json` gives), its other
//! modules, the longest input (`sentence_bert_config.json`) and the prompts
//! (`config_sentence_transformers.json`). Only `config.json` is required
//! here; the others fall back to what sentence-transformers does without them.

use crate::embedding::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of the token vectors under the attention mask.
    Mean,
    /// The first token's vector (`[CLS]` / `<s>`).
    Cls,
}

impl Pooling {
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// The transformer under the pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `model_type: "bert"`: BERT, MiniLM, and multilingual MiniLM with an
    /// XLM-R tokenizer (multilingual-e5-small, paraphrase-multilingual-MiniLM).
    Bert,
    /// `model_type: "xlm-roberta"`: multilingual-e5-base/large and other XLM-R
    /// models (positions start after the padding index).
    XlmRoberta,
}

/// Everything read from the folder besides the weights and the tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub architecture: Architecture,
    /// `config.json`'s `pad_token_id`: XLM-R counts positions from it.
    pub pad_token_id: u32,
    pub pooling: Pooling,
    /// Whether prompt tokens count in the pooling (sentence-transformers'
    /// `include_prompt`; false for some instruction models).
    pub include_prompt: bool,
    /// The model itself ends in a Normalize module. Informational: vectors
    /// are always returned with unit length, since retrieval uses dot products.
    pub normalizes: bool,
    /// Longest input in tokens, special tokens included.
    pub max_tokens: usize,
    /// `sentence_bert_config.json`'s `do_lower_case`.
    pub lowercase: bool,
    /// `config_sentence_transformers.json`'s prompts (name -> text).
    pub prompts: HashMap<String, String>,
}

#[derive(Deserialize)]
struct ModelConfig {
    model_type: Option<String>,
    max_position_embeddings: Option<usize>,
    pad_token_id: Option<u32>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default = "yes")]
    include_prompt: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: HashMap<String, String>,
}

/// Reads the settings of the model in `dir`. A missing `config.json` or a
/// file that does not parse is an error naming it; the optional files may
/// be absent.
pub fn read(dir: &Path) -> Result<Settings> {
    let config: ModelConfig =
        read_json(dir, "config.json")?.ok_or_else(|| missing(dir, "config.json"))?;
    let architecture = match config.model_type.as_deref() {
        None | Some("bert") => Architecture::Bert,
        Some("xlm-roberta") => Architecture::XlmRoberta,
        Some(other) => {
            return Err(Error::Unavailable(format!(
                "{}: model_type {other:?} is not supported (bert, xlm-roberta)",
                dir.join("config.json").display()
            )));
        }
    };
    let pad_token_id = config.pad_token_id.unwrap_or(match architecture {
        Architecture::Bert => 0,
        Architecture::XlmRoberta => 1,
    });
    let positions = config.max_position_embeddings.unwrap_or(512);
    // XLM-R's first position is pad_token_id + 1 (514 embeddings for 512 tokens).
    let position_limit = match architecture {
        Architecture::Bert => positions,
        Architecture::XlmRoberta => positions.saturating_sub(pad_token_id as usize + 1),
    };

    let modules: Vec<Module> = read_json(dir, "modules.json")?.unwrap_or_default();
    check_modules(dir, &modules)?;
    let pooling_path = modules
        .iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path.clone())
        .unwrap_or_else(|| "1_Pooling".into());
    let pooling_file = format!("{pooling_path}/config.json");
    let (pooling, include_prompt) = match read_json::<PoolingConfig>(dir, &pooling_file)? {
        Some(p) => (
            pooling_of(&p).map_err(|e| bad(dir, &pooling_file, &e))?,
            p.include_prompt,
        ),
        // sentence-transformers' default for a plain transformer.
        None => (Pooling::Mean, true),
    };
    let sbert: Option<SentenceBertConfig> = read_json(dir, "sentence_bert_config.json")?;
    let max_tokens = sbert
        .as_ref()
        .and_then(|s| s.max_seq_length)
        .map_or(position_limit, |m| m.min(position_limit));
    if max_tokens < 2 {
        return Err(bad(
            dir,
            "config.json",
            "max_position_embeddings is too small",
        ));
    }
    let prompts =
        read_json::<SentenceTransformersConfig>(dir, "config_sentence_transformers.json")?
            .map(|c| c.prompts)
            .unwrap_or_default();
    Ok(Settings {
        architecture,
        pad_token_id,
        pooling,
        include_prompt,
        normalizes: modules.iter().any(|m| m.kind.ends_with(".Normalize")),
        max_tokens,
        lowercase: sbert.is_some_and(|s| s.do_lower_case),
        prompts,
    })
}

/// Modules after the pooling that change the vector (Dense projections)
/// cannot be skipped: refuse the model rather than return wrong vectors.
fn check_modules(dir: &Path, modules: &[Module]) -> Result<()> {
    for m in modules {
        let name = m.kind.rsplit('.').next().unwrap_or(&m.kind);
        if !matches!(name, "Transformer" | "Pooling" | "Normalize") {
            return Err(bad(
                dir,
                "modules.json",
                &format!(
                    "the {} module is not supported (Transformer, Pooling, Normalize)",
                    m.kind
                ),
            ));
        }
    }
    Ok(())
}

fn pooling_of(p: &PoolingConfig) -> std::result::Result<Pooling, String> {
    let unsupported = [
        (p.pooling_mode_max_tokens, "pooling_mode_max_tokens"),
        (
            p.pooling_mode_mean_sqrt_len_tokens,
            "pooling_mode_mean_sqrt_len_tokens",
        ),
        (
            p.pooling_mode_weightedmean_tokens,
            "pooling_mode_weightedmean_tokens",
        ),
        (p.pooling_mode_lasttoken, "pooling_mode_lasttoken"),
    ];
    if let Some((_, name)) = unsupported.iter().find(|(on, _)| *on) {
        return Err(format!("{name} is not supported (mean or cls pooling)"));
    }
    match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token) {
        (true, false) => Ok(Pooling::Mean),
        (false, true) => Ok(Pooling::Cls),
        (true, true) => Err("mean and cls pooling together are not supported".into()),
        (false, false) => Err("no pooling mode is on".into()),
    }
}

/// The prefixes put before queries and passages, each chosen on its own:
/// the config's when set; else the model's sentence-transformers prompts
/// ("query", and "passage" or "document") when it has any; else e5's
/// "query: " / "passage: " for a model whose name has an `e5` part; else none.
pub fn prefixes(
    query: Option<&str>,
    passage: Option<&str>,
    prompts: &HashMap<String, String>,
    names: &[&str],
) -> (String, String) {
    let (model_query, model_passage) = if !prompts.is_empty() {
        let get = |k: &str| prompts.get(k).cloned();
        (
            get("query").unwrap_or_default(),
            get("passage")
                .or_else(|| get("document"))
                .unwrap_or_default(),
        )
    } else if names.iter().any(|n| is_e5(n)) {
        ("query: ".into(), "passage: ".into())
    } else {
        (String::new(), String::new())
    };
    (
        query.map_or(model_query, String::from),
        passage.map_or(model_passage, String::from),
    )
}

/// `intfloat/multilingual-e5-small`, `e5-base-v2`: a part between
/// separators is `e5`.
fn is_e5(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|part| part.eq_ignore_ascii_case("e5"))
}

/// Parses `dir/name`; `None` when the file does not exist.
fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Unavailable(format!("{}: {e}", path.display()))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Unavailable(format!("{}: {e}", path.display())))
}

/// The error for a required file that is not there.
pub fn missing(dir: &Path, name: &str) -> Error {
    Error::Unavailable(format!("{} is missing", dir.join(name).display()))
}

fn bad(dir: &Path, name: &str, why: &str) -> Error {
    Error::Unavailable(format!("{}: {why}", dir.join(name).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const BERT: &str =
        r#"{"model_type": "bert", "max_position_embeddings": 512, "pad_token_id": 0}"#;

    #[test]
    fn a_sentence_transformers_folder_gives_its_pooling_length_and_prompts() {
        let dir = folder(&[
            ("config.json", BERT),
            (
                "1_Pooling/config.json",
                r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#,
            ),
            (
                "modules.json",
                r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
            ),
            (
                "sentence_bert_config.json",
                r#"{"max_seq_length": 256, "do_lower_case": false}"#,
            ),
            (
                "config_sentence_transformers.json",
                r#"{"prompts": {"query": "q: "}, "default_prompt_name": null}"#,
            ),
        ]);
        let s = read(dir.path()).unwrap();
        assert_eq!(s.architecture, Architecture::Bert);
        assert_eq!(s.pooling, Pooling::Mean);
        assert!(s.normalizes && s.include_prompt && !s.lowercase);
        assert_eq!(s.max_tokens, 256);
        assert_eq!(s.prompts["query"], "q: ");
    }

    #[test]
    fn a_bare_transformer_folder_mean_pools_up_to_its_positions() {
        let dir = folder(&[("config.json", BERT)]);
        let s = read(dir.path()).unwrap();
        assert_eq!(
            (s.pooling, s.max_tokens, s.normalizes),
            (Pooling::Mean, 512, false)
        );
        assert!(s.prompts.is_empty());
    }

    #[test]
    fn xlm_roberta_positions_start_after_the_padding_index() {
        let dir = folder(&[
            (
                "config.json",
                r#"{"model_type": "xlm-roberta", "max_position_embeddings": 514, "pad_token_id": 1}"#,
            ),
            (
                "1_Pooling/config.json",
                r#"{"pooling_mode_cls_token": true}"#,
            ),
            ("sentence_bert_config.json", r#"{"max_seq_length": 1024}"#),
        ]);
        let s = read(dir.path()).unwrap();
        assert_eq!(s.architecture, Architecture::XlmRoberta);
        assert_eq!(
            (s.pooling, s.max_tokens, s.pad_token_id),
            (Pooling::Cls, 512, 1)
        );
    }

    #[test]
    fn the_pooling_folder_is_the_one_modules_json_names() {
        let dir = folder(&[
            ("config.json", BERT),
            (
                "modules.json",
                r#"[{"path": "", "type": "sentence_transformers.models.Transformer"},
                {"path": "pool", "type": "sentence_transformers.models.Pooling"}]"#,
            ),
            (
                "pool/config.json",
                r#"{"pooling_mode_cls_token": true, "include_prompt": false}"#,
            ),
        ]);
        let s = read(dir.path()).unwrap();
        assert_eq!((s.pooling, s.include_prompt), (Pooling::Cls, false));
    }

    #[test]
    fn what_cannot_be_reproduced_is_refused_naming_the_file() {
        for (files, expected) in [
            (vec![], "config.json is missing"),
            (vec![("config.json", "{")], "config.json: EOF"),
            (
                vec![("config.json", r#"{"model_type": "gpt2"}"#)],
                "model_type \"gpt2\"",
            ),
            (
                vec![
                    ("config.json", BERT),
                    (
                        "1_Pooling/config.json",
                        r#"{"pooling_mode_max_tokens": true}"#,
                    ),
                ],
                "1_Pooling/config.json: pooling_mode_max_tokens is not supported",
            ),
            (
                vec![
                    ("config.json", BERT),
                    (
                        "modules.json",
                        r#"[{"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]"#,
                    ),
                ],
                "modules.json: the sentence_transformers.models.Dense module",
            ),
        ] {
            let dir = folder(&files);
            let e = read(dir.path()).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn prefixes_come_from_the_config_then_the_prompts_then_the_e5_name() {
        let none = HashMap::new();
        let e5 = ["intfloat/multilingual-e5-small"];
        assert_eq!(
            prefixes(None, None, &none, &e5),
            ("query: ".into(), "passage: ".into())
        );
        assert_eq!(
            prefixes(Some(""), None, &none, &["models", "E5-base-v2"]),
            (String::new(), "passage: ".into())
        );
        assert_eq!(
            prefixes(
                None,
                None,
                &map(&[("query", "Q "), ("document", "D ")]),
                &e5
            ),
            ("Q ".into(), "D ".into()),
            "the model's own prompts win over the name"
        );
        assert_eq!(
            prefixes(
                None,
                Some("p "),
                &map(&[("query", "Q "), ("passage", "P ")]),
                &[]
            ),
            ("Q ".into(), "p ".into())
        );
        for name in [
            "sentence-transformers/all-MiniLM-L6-v2",
            "bge5-small",
            "e55",
        ] {
            assert_eq!(
                prefixes(None, None, &none, &[name]),
                (String::new(), String::new()),
                "{name}"
            );
        }
    }
}

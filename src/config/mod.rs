//! Typed configuration: defaults, then an optional TOML file, then
//! `REPLYGATE_*` environment variables, then command-line flags. Nested keys
//! are reached from the environment with `__` (`REPLYGATE_LIMITS__MAX_MESSAGE_BYTES=4096`).
//! The loader takes the environment as an argument so it can be tested.
//!
//! - `schema.rs`: the sections, their keys and defaults (`policy.toml`: the
//!   default phrase lists).
//! - `checks.rs`: ranges and relations serde cannot check.
//! - `secret.rs`: API keys (the LLM's, the embedding endpoint's).
//!
//! Layering is figment's: the file and each variable are providers merged in
//! order, and the result is extracted into [`Config`]; a value of the wrong
//! type, an unknown key or an unknown choice is refused with its full key
//! (`limits.max_message_bytes`) and where it came from.

mod checks;
mod schema;
mod secret;

pub use schema::*;
pub use secret::Secret;

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Parse(String),
    #[error("config: {key}: {message}")]
    Invalid { key: String, message: String },
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub knowledge_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub grpc_addr: Option<String>,
    pub http_addr: Option<String>,
    pub auth: Option<AuthMode>,
}

const ENV_PREFIX: &str = "REPLYGATE_";
/// Reserved for test settings (e.g. REPLYGATE_TEST_LLM_URL); never read as config.
const TEST_PREFIX: &str = "REPLYGATE_TEST_";

/// One layer of settings (the file, or one environment variable), named so
/// that an error can say where a bad value came from.
///
/// figment's own `Env` provider reads the process environment, which tests
/// could only change through process-wide `set_var`; this provider takes the
/// variables it is given instead.
struct Layer {
    name: String,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// The value the schema has at `path`, if the path is one of its keys.
fn schema_value<'a>(schema: &'a Dict, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut dict = schema;
    for part in parents {
        dict = dict.get(part)?.as_dict()?;
    }
    dict.get(last)
}

/// The value of an environment variable for the key at `path`. Where the
/// schema's key is a string (an address, a path, a name, a choice) the
/// variable is taken verbatim, so `REPLYGATE_LLM__MODEL=0123` stays "0123";
/// elsewhere it is read as a TOML value when it parses as one (numbers,
/// booleans, arrays, inline tables such as `REPLYGATE_TOKENS`), else as a
/// string, which a typed key then refuses by name.
fn env_value(schema: &Dict, path: &[String], raw: &str) -> Value {
    let verbatim = || Value::from(raw.to_string());
    if matches!(schema_value(schema, path), Some(Value::String(..))) {
        return verbatim();
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .and_then(|v| Value::serialize(v).ok())
        .unwrap_or_else(verbatim)
}

/// `value` under the nested keys of `path` (`["limits", "max_tags"]`).
fn nested(path: &[String], value: Value) -> Dict {
    let mut dict = Dict::new();
    if let Some((last, parents)) = path.split_last() {
        let leaf = parents
            .iter()
            .rev()
            .fold((last, value), |(key, value), parent| {
                (parent, Value::from(Dict::from([(key.clone(), value)])))
            });
        dict.insert(leaf.0.clone(), leaf.1);
    }
    dict
}

/// A figment error as a config error naming the full key and the layer the
/// value came from.
fn extraction_error(error: figment::Error) -> Error {
    let source = error
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    let mut key = error.path.join(".");
    let quoted = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "figment's error kinds other than these read well as they are"
    )]
    let message = match &error.kind {
        Kind::UnknownField(_, expected) => {
            format!("unknown key (expected one of {})", quoted(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!("must be one of {} (got {found:?})", quoted(expected))
        }
        Kind::MissingField(field) => {
            key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            "is missing".to_string()
        }
        other => other.to_string(),
    };
    Error::Invalid {
        key,
        message: format!("{message}{source}"),
    }
}

/// Where a section's API key goes in the config.
type KeySlot = fn(&mut Config) -> &mut Secret;

/// The sections with an API key. Each names, in its `api_key_env`, the
/// environment variable that holds the key: that variable is a secret, not a
/// config key, and its value goes to the section's `api_key`.
const API_KEYS: [(&str, KeySlot); 2] = [
    ("llm", |c| &mut c.llm.api_key),
    ("embedding", |c| &mut c.embedding.api_key),
];

/// The variable that `section.api_key_env` names, taken in the loader's own
/// order: the environment (`REPLYGATE_<SECTION>__API_KEY_ENV`, read like
/// any other variable), then the file, then the default.
fn key_var(section: &str, file: &toml::Table, env: &[(String, String)], schema: &Dict) -> String {
    let key = format!("{section}__api_key_env");
    let path = [section.to_string(), "api_key_env".to_string()];
    env.iter()
        .find(|(k, _)| {
            k.strip_prefix(ENV_PREFIX)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(&key))
        })
        .map(|(_, v)| v.clone())
        .or_else(|| {
            file.get(section)
                .and_then(|s| s.get("api_key_env"))
                .and_then(|v| v.as_str())
                .map(String::from)
        })
        .or_else(|| schema_value(schema, &path)?.as_str().map(String::from))
        .unwrap_or_default()
}

/// Builds the config from an optional file, the environment and flags.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, Error> {
    let table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.into(),
                source,
            })?;
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| Error::Parse(format!("{}: {e}", path.display())))?
        }
        None => toml::Table::new(),
    };
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut figment = Figment::new();
    if let Some(path) = file {
        let dict = Value::serialize(&table)
            .ok()
            .and_then(Value::into_dict)
            .expect("a TOML table is a dictionary");
        figment = figment.merge(Layer {
            name: format!("config file {}", path.display()),
            dict,
        });
    }
    // The schema's own values tell which keys are strings.
    let schema = Value::serialize(Config::default())
        .ok()
        .and_then(Value::into_dict)
        .expect("the default config serializes to a dictionary");
    let key_vars: Vec<(String, KeySlot)> = API_KEYS
        .iter()
        .map(|(section, slot)| (key_var(section, &table, &env, &schema), *slot))
        .collect();
    for (var, raw) in &env {
        // Key holders are secrets; REPLYGATE_TEST_* belongs to test harnesses.
        if key_vars.iter().any(|(key_var, _)| key_var == var) || var.starts_with(TEST_PREFIX) {
            continue;
        }
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            continue;
        }
        figment = figment.merge(Layer {
            name: format!("environment variable {var}"),
            dict: nested(&path, env_value(&schema, &path, raw)),
        });
    }
    let mut config: Config = figment.extract().map_err(extraction_error)?;
    for (var, slot) in &key_vars {
        if let Some((_, key)) = env.iter().find(|(k, _)| k == var) {
            *slot(&mut config) = Secret::new(key.clone());
        }
    }
    // A hub mirror, named as huggingface_hub names it.
    if let Some((_, url)) = env.iter().find(|(k, _)| k == "HF_ENDPOINT")
        && !url.trim().is_empty()
    {
        config.embedding.hub_endpoint = url.trim().to_string();
    }
    if let Some(v) = &overrides.knowledge_dir {
        config.knowledge_dir = v.clone();
    }
    if let Some(v) = &overrides.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &overrides.grpc_addr {
        config.grpc_addr = v.clone();
    }
    if let Some(v) = &overrides.http_addr {
        config.http_addr = v.clone();
    }
    if let Some(v) = overrides.auth {
        config.auth = v;
    }
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests;

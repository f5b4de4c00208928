//! The loader's contract: layering, the environment, errors by key.

use super::*;
use std::path::{Path, PathBuf};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_match_the_design() {
    let c = load(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(c.grpc_addr, "127.0.0.1:50051");
    assert_eq!(c.http_addr, "127.0.0.1:9090");
    assert_eq!(c.knowledge_dir, PathBuf::from("knowledge"));
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.limits.max_message_bytes, 8192);
    assert_eq!(c.review.lease_seconds, 600);
}

#[test]
fn environment_overrides_file_and_flags_override_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "grpc_addr = \"0.0.0.0:1\"\n[limits]\nmax_message_bytes = 100\n[routing.channels.email]\nhigh = 0.9\nmedium = 0.5\n").unwrap();
    let c = load(
        Some(&path),
        env(&[
            ("REPLYGATE_LIMITS__MAX_MESSAGE_BYTES", "200"),
            ("REPLYGATE_HTTP_ADDR", "127.0.0.1:1"),
            ("OTHER", "x"),
        ]),
        &Overrides {
            grpc_addr: Some("127.0.0.1:2".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.limits.max_message_bytes, 200);
    assert_eq!(c.http_addr, "127.0.0.1:1");
    assert_eq!(c.grpc_addr, "127.0.0.1:2");
    assert_eq!(c.routing.for_channel("email").high, 0.9);
    assert_eq!(c.routing.for_channel("chat"), c.routing.default);
}

#[test]
fn hub_models_come_from_hf_endpoint_when_it_names_a_mirror() {
    let c = load(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(c.embedding.hub_endpoint, "https://huggingface.co");
    let c = load(
        None,
        env(&[("HF_ENDPOINT", "http://127.0.0.1:8080")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.embedding.hub_endpoint, "http://127.0.0.1:8080");
}

#[test]
fn the_llm_key_comes_from_the_named_environment_variable_and_is_never_printed() {
    let c = load(
        None,
        env(&[
            ("REPLYGATE_LLM__BASE_URL", "http://127.0.0.1:8080/v1"),
            ("REPLYGATE_LLM__MODEL", "m"),
            ("REPLYGATE_LLM_API_KEY", "sk-secret"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert!(c.llm.enabled());
    assert_eq!(c.llm.api_key.expose(), "sk-secret");
    assert!(!format!("{c:?}").contains("sk-secret"));
    assert!(!toml::to_string(&c).unwrap().contains("sk-secret"));
}

#[test]
fn the_embedding_key_comes_from_its_own_variable_which_is_not_a_config_key() {
    let c = load(
        None,
        env(&[
            ("REPLYGATE_EMBEDDING__PROVIDER", "openai"),
            ("REPLYGATE_EMBEDDING_API_KEY", "sk-embed"),
            ("REPLYGATE_LLM_API_KEY", "sk-llm"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.embedding.provider, EmbeddingProvider::Openai);
    assert_eq!(c.embedding.api_key.expose(), "sk-embed");
    assert_eq!(c.llm.api_key.expose(), "sk-llm");
    assert!(!format!("{c:?}").contains("sk-embed"));
    assert!(!toml::to_string(&c).unwrap().contains("sk-embed"));
}

#[test]
fn each_section_reads_its_key_from_the_variable_it_names_and_they_may_share_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[llm]\napi_key_env = \"OPENAI_API_KEY\"\n[embedding]\napi_key_env = \"OPENAI_API_KEY\"\n",
    )
    .unwrap();
    let c = load(
        Some(&path),
        env(&[("OPENAI_API_KEY", "sk-shared")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.llm.api_key.expose(), "sk-shared");
    assert_eq!(c.embedding.api_key.expose(), "sk-shared");
    // The environment names the variable over the file, and a variable
    // under the config prefix is still a secret, never a key.
    let c = load(
        Some(&path),
        env(&[
            ("OPENAI_API_KEY", "sk-shared"),
            ("REPLYGATE_EMBEDDING__API_KEY_ENV", "REPLYGATE_EMBED_KEY"),
            ("REPLYGATE_EMBED_KEY", "sk-own"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.embedding.api_key_env, "REPLYGATE_EMBED_KEY");
    assert_eq!(c.embedding.api_key.expose(), "sk-own");
    assert_eq!(c.llm.api_key.expose(), "sk-shared");
}

#[test]
fn test_harness_variables_are_not_config() {
    let c = load(
        None,
        env(&[
            ("REPLYGATE_TEST_LLM_URL", "http://x"),
            ("REPLYGATE_TEST_DATABASE_URL", "postgres://"),
        ]),
        &Overrides::default(),
    );
    assert_eq!(c.unwrap(), Config::default());
}

#[test]
fn unknown_keys_are_refused() {
    let err = load(
        None,
        env(&[("REPLYGATE_LIMITS__NO_SUCH_LIMIT", "1")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("limits.no_such_limit"), "{err}");
    assert!(
        err.to_string()
            .contains("environment variable REPLYGATE_LIMITS__NO_SUCH_LIMIT"),
        "{err}"
    );
}

fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_err(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
    load(file, env(pairs), &Overrides::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_keys_in_the_file_are_refused_by_their_full_key() {
    let (_dir, path) = file("[limits]\nmax_message_bytes = 100\nno_such = 1\n");
    let err = load_err(Some(&path), &[]);
    assert!(
        err.starts_with("config: limits.no_such: unknown key"),
        "{err}"
    );
    assert!(err.contains("\"max_message_bytes\""), "{err}");
    assert!(err.contains("c.toml"), "{err}");
}

#[test]
fn string_keys_take_numbers_and_booleans_from_the_environment_verbatim() {
    let c = load(
        None,
        env(&[
            ("REPLYGATE_LLM__BASE_URL", "http://127.0.0.1:8080/v1"),
            ("REPLYGATE_LLM__MODEL", "0123"),
            ("REPLYGATE_KNOWLEDGE_DIR", "1e3"),
            ("REPLYGATE_DATA_DIR", "true"),
            ("REPLYGATE_LLM__API_KEY_ENV", "MY_LLM_KEY"),
            ("MY_LLM_KEY", "00042"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.llm.model, "0123");
    assert_eq!(c.knowledge_dir, PathBuf::from("1e3"));
    assert_eq!(c.data_dir, PathBuf::from("true"));
    assert_eq!(c.llm.api_key_env, "MY_LLM_KEY");
    assert_eq!(c.llm.api_key.expose(), "00042");
    let c = load(
        None,
        env(&[("REPLYGATE_LLM_API_KEY", "true")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.llm.api_key.expose(), "true");
}

#[test]
fn typed_keys_parse_numbers_booleans_and_lists_from_the_environment() {
    let c = load(
        None,
        env(&[
            ("REPLYGATE_LLM__LOGPROBS", "false"),
            ("REPLYGATE_LIMITS__REQUESTS_PER_SECOND_PER_TOKEN", "1e3"),
            ("REPLYGATE_LIMITS__MAX_TAGS", "7"),
            ("REPLYGATE_ROUTING__CHANNELS__EMAIL__HIGH", "0.9"),
            ("REPLYGATE_ROUTING__CHANNELS__EMAIL__MEDIUM", "0.7"),
            (
                "REPLYGATE_POLICY__ALWAYS_REVIEW",
                r#"["refund", 'chargeback']"#,
            ),
            ("REPLYGATE_LOG_FORMAT", "json"),
            ("REPLYGATE_LLM__OUTPUT", "json_object"),
            ("REPLYGATE_AUTH", "none"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert!(!c.llm.logprobs);
    assert_eq!(c.limits.requests_per_second_per_token, 1000.0);
    assert_eq!(c.limits.max_tags, 7);
    // f64 keys keep their exact decimal value.
    assert_eq!(c.routing.for_channel("email").high, 0.9);
    assert_eq!(c.routing.for_channel("email").medium, 0.7);
    assert_eq!(c.policy.always_review, ["refund", "chargeback"]);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.llm.output, LlmOutput::JsonObject);
    assert_eq!(c.auth, AuthMode::Disabled);
}

#[test]
fn tokens_come_from_the_environment_as_a_toml_array() {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let tokens = format!(r#"[{{subject = "ana", roles = ["agent"], sha256 = "{sha}"}}]"#);
    let c = load(
        None,
        env(&[("REPLYGATE_TOKENS", &tokens)]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.tokens.len(), 1);
    assert_eq!(c.tokens[0].subject, "ana");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_by_its_key_and_source() {
    let err = load_err(None, &[("REPLYGATE_LIMITS__MAX_MESSAGE_BYTES", "many")]);
    assert!(
        err.starts_with("config: limits.max_message_bytes: "),
        "{err}"
    );
    assert!(
        err.contains("environment variable REPLYGATE_LIMITS__MAX_MESSAGE_BYTES"),
        "{err}"
    );
    let (_dir, path) = file("[limits]\nmax_message_bytes = \"100\"\n");
    let err = load_err(Some(&path), &[]);
    assert!(
        err.starts_with("config: limits.max_message_bytes: "),
        "{err}"
    );
    assert!(err.contains("c.toml"), "{err}");
}

#[test]
fn a_bad_choice_is_refused_with_the_key_and_the_allowed_values() {
    let err = load_err(None, &[("REPLYGATE_LOG_FORMAT", "xml")]);
    assert!(
        err.starts_with(r#"config: log_format: must be one of "text", "json" (got "xml")"#),
        "{err}"
    );
    let (_dir, path) = file("[llm]\noutput = \"yaml\"\n");
    let err = load_err(Some(&path), &[]);
    assert!(
        err.starts_with(
            r#"config: llm.output: must be one of "json_schema", "json_object", "text" (got "yaml")"#
        ),
        "{err}"
    );
    let err = load_err(None, &[("REPLYGATE_AUTH", "maybe")]);
    assert!(err.starts_with("config: auth: must be one of"), "{err}");
}

#[test]
fn a_missing_threshold_is_named_with_its_channel() {
    let (_dir, path) = file("[routing.channels.email]\nhigh = 0.9\n");
    let err = load_err(Some(&path), &[]);
    assert!(
        err.starts_with("config: routing.channels.email.medium: is missing"),
        "{err}"
    );
}

#[test]
fn range_errors_name_the_exact_key_the_rule_and_the_value() {
    for (key, value, expected) in [
        (
            "REPLYGATE_LIMITS__MAX_MESSAGE_BYTES",
            "0",
            "limits.max_message_bytes: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_LIMITS__MAX_ID_CHARS",
            "0",
            "limits.max_id_chars: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_LIMITS__MAX_HEADER_LIST_BYTES",
            "100",
            "limits.max_header_list_bytes: must be at least 1024 (got 100)",
        ),
        (
            "REPLYGATE_LIMITS__MAX_STREAMS_PER_TOKEN",
            "0",
            "limits.max_streams_per_token: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_LIMITS__REQUESTS_PER_SECOND_PER_TOKEN",
            "-1",
            "limits.requests_per_second_per_token: must be 0 (no limit) or positive (got -1)",
        ),
        (
            "REPLYGATE_LLM__MAX_TOKENS",
            "0",
            "llm.max_tokens: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_LLM__TIMEOUT_MS",
            "0",
            "llm.timeout_ms: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_RETRIEVAL__TOP_ARTICLES",
            "0",
            "retrieval.top_articles: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_RETRIEVAL__B",
            "1.5",
            "retrieval.b: must be between 0 and 1 (got 1.5)",
        ),
        (
            "REPLYGATE_REVIEW__LEASE_SECONDS",
            "0",
            "review.lease_seconds: must be between 1 and review.max_lease_seconds (3600) (got 0)",
        ),
        (
            "REPLYGATE_DELIVERY__MAX_IN_FLIGHT",
            "0",
            "delivery.max_in_flight: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_DATABASE__MAX_CONNECTIONS",
            "0",
            "database.max_connections: must be at least 1 (got 0)",
        ),
        (
            "REPLYGATE_TLS__CERT",
            "cert.pem",
            "tls.key: must be set when tls.cert is",
        ),
        (
            "REPLYGATE_TLS__KEY",
            "key.pem",
            "tls.cert: must be set when tls.key is",
        ),
        (
            "REPLYGATE_DEFAULT_LOCALE",
            "EN",
            "default_locale: must be a lowercase primary language tag",
        ),
    ] {
        let err = load_err(None, &[(key, value)]);
        assert!(
            err.starts_with(&format!("config: {expected}")),
            "{key}={value}: {err}"
        );
    }
}

#[test]
fn the_policy_phrase_lists_parse_from_their_data_file() {
    let p = PolicyConfig::default();
    assert_eq!(
        (
            p.always_review.len(),
            p.human_request.len(),
            p.handoff_words.len(),
            p.frustration.len(),
            p.injection_markers.len()
        ),
        (90, 42, 23, 49, 13)
    );
    assert!(p.handoff_words.iter().any(|x| x == "atendente"));
    assert!(p.frustration.iter().any(|x| x == "third time i ask"));
    assert!(p.always_review.iter().any(|x| x == "legal action"));
    assert!(p.human_request.iter().any(|x| x == "não quero robô"));
    assert!(
        p.injection_markers
            .iter()
            .any(|x| x == "ignore previous instructions")
    );
}

#[test]
fn inverted_thresholds_are_refused() {
    let err = load(
        None,
        env(&[
            ("REPLYGATE_ROUTING__DEFAULT__MEDIUM", "0.9"),
            ("REPLYGATE_ROUTING__DEFAULT__HIGH", "0.5"),
        ]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("routing.default"), "{err}");
}

#[test]
fn bm25_settings_out_of_range_are_refused_by_name() {
    for (key, value, named) in [
        ("REPLYGATE_RETRIEVAL__K1", "0", "retrieval.k1"),
        ("REPLYGATE_RETRIEVAL__K1", "NaN", "retrieval.k1"),
        ("REPLYGATE_RETRIEVAL__B", "1.5", "retrieval.b"),
        ("REPLYGATE_RETRIEVAL__TITLE_WEIGHT", "-1", "title_weight"),
    ] {
        let err = load(None, env(&[(key, value)]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains(named), "{key}={value}: {err}");
    }
    let all_zero = env(&[
        ("REPLYGATE_RETRIEVAL__TITLE_WEIGHT", "0"),
        ("REPLYGATE_RETRIEVAL__PASSAGE_WEIGHT", "0"),
        ("REPLYGATE_RETRIEVAL__ARTICLE_WEIGHT", "0"),
    ]);
    assert!(load(None, all_zero, &Overrides::default()).is_err());
    let tuned = env(&[
        ("REPLYGATE_RETRIEVAL__K1", "0.9"),
        ("REPLYGATE_RETRIEVAL__B", "0.4"),
    ]);
    let c = load(None, tuned, &Overrides::default()).unwrap();
    assert_eq!((c.retrieval.k1, c.retrieval.b), (0.9, 0.4));
}

mod example_file {
    #[test]
    fn the_example_config_file_loads_and_equals_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replygate.example.toml");
        let loaded = super::load(Some(&path), Vec::new(), &super::Overrides::default()).unwrap();
        assert_eq!(loaded, super::Config::default());
    }

    #[test]
    fn its_token_example_works_once_uncommented() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replygate.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| {
                let l = if l.starts_with("# [[tokens]]")
                    || l.starts_with("# subject")
                    || l.starts_with("# roles")
                    || l.starts_with("# sha256")
                {
                    &l[2..]
                } else {
                    l
                };
                format!("{l}\n")
            })
            .collect();
        let (_dir, path) = super::file(&uncommented);
        let loaded = super::load(Some(&path), Vec::new(), &super::Overrides::default()).unwrap();
        assert_eq!(loaded.tokens.len(), 1);
        assert_eq!(loaded.tokens[0].subject, "ana");
    }
}

#[test]
fn channel_rules_are_read_from_the_file_with_whatsapp_s_window_built_in() {
    let (_dir, path) = file(
        "[channels.sms]\nfirst_response_seconds = 600\n\
         [channels.sms.template]\nname = \"sms_follow_up\"\nparameters = [\"{reply}\"]\n\
         [channels.email]\ndisclosure = \"first_ai_message\"\n",
    );
    let c = load(Some(&path), env(&[]), &Overrides::default()).unwrap();
    let sms = c.channel_rules("sms");
    assert_eq!(
        (sms.window_ms, sms.first_response_ms),
        (None, Some(600_000))
    );
    assert_eq!(sms.template.name, "sms_follow_up");
    assert_eq!(c.channel_rules("whatsapp").window_ms, Some(86_400_000));
    assert_eq!(
        c.channel_rules("whatsapp").respond_by(1_000),
        Some(86_401_000)
    );
    assert_eq!(c.channel_rules("chat").respond_by(1_000), None);
    assert_eq!(
        c.disclosure_policy("email"),
        crate::model::DisclosurePolicy::FirstAiMessage
    );
}

#[test]
fn bad_channel_rules_are_refused_by_their_key() {
    for (text, expected) in [
        (
            "[channels.whatsapp]\nwindow_seconds = 99999999\n",
            "config: channels.whatsapp.window_seconds: must be between 0 and 31622400",
        ),
        (
            "[channels.WhatsApp]\nwindow_seconds = 10\n",
            "config: channels.WhatsApp: must be named as drafts name channels",
        ),
        (
            "[channels.sms.template]\nname = \" \"\n",
            "config: channels.sms.template.name: must be 1 to 512 characters",
        ),
        (
            "[channels.sms.handoff_notice]\nPT = \"Oi\"\n",
            "config: channels.sms.handoff_notice.PT: must be keyed by a lowercase primary language tag",
        ),
        (
            "[handoff.notice]\nen = \"\"\n",
            "config: handoff.notice.en: must be 1 to 1000 characters",
        ),
        (
            "[channels.email]\ndisclosure = \"sometimes\"\n",
            "config: channels.email.disclosure",
        ),
    ] {
        let (_dir, path) = file(text);
        let err = load_err(Some(&path), &[]);
        assert!(err.starts_with(expected), "{text}: {err}");
    }
}

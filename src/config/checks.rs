//! What serde cannot check: ranges and relations between values. Every
//! error names the exact key (`limits.max_message_bytes`), what it must be,
//! and what it was (except for values that may hold credentials: URLs).

use super::{Config, Error, Thresholds};
use std::fmt::Display;

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

fn at_least<T: PartialOrd + Display>(key: &str, value: T, min: T) -> Result<(), Error> {
    if value >= min {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("must be at least {min} (got {value})"),
    ))
}

/// `lo <= value <= hi`; NaN is refused.
fn between<T: PartialOrd + Display>(key: &str, value: T, lo: T, hi: T) -> Result<(), Error> {
    if value >= lo && value <= hi {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("must be between {lo} and {hi} (got {value})"),
    ))
}

fn thresholds(section: &str, t: &Thresholds) -> Result<(), Error> {
    between(&format!("{section}.high"), t.high, 0.0, 1.0)?;
    between(&format!("{section}.medium"), t.medium, 0.0, 1.0)?;
    if t.medium > t.high {
        return Err(invalid(
            format!("{section}.medium"),
            format!(
                "must be at most {section}.high ({}) (got {})",
                t.high, t.medium
            ),
        ));
    }
    Ok(())
}

/// Longest handoff notice, in characters (one short message).
const MAX_NOTICE_CHARS: usize = 1000;

/// Texts by language: each key a primary language tag, each text short and not blank.
fn notices(section: &str, texts: &std::collections::BTreeMap<String, String>) -> Result<(), Error> {
    for (locale, text) in texts {
        let key = format!("{section}.{locale}");
        if crate::languages::primary_tag(locale).as_deref() != Some(locale.as_str()) {
            return Err(invalid(
                key,
                format!(
                    "must be keyed by a lowercase primary language tag such as \"en\" (got {locale:?})"
                ),
            ));
        }
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_NOTICE_CHARS {
            return Err(invalid(
                key,
                format!("must be 1 to {MAX_NOTICE_CHARS} characters of text (got {chars})"),
            ));
        }
    }
    Ok(())
}

/// `1 <= value <= max`, where max is the value of `max_key`.
fn lease(key: &str, value: u32, max_key: &str, max: u32) -> Result<(), Error> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("must be between 1 and {max_key} ({max}) (got {value})"),
    ))
}

impl Config {
    /// Checks what serde cannot: ranges and relations between values.
    pub fn validate(&self) -> Result<(), Error> {
        thresholds("routing.default", &self.routing.default)?;
        for (channel, t) in &self.routing.channels {
            thresholds(&format!("routing.channels.{channel}"), t)?;
        }
        notices("handoff.notice", &self.handoff.notice)?;
        for (channel, c) in &self.channels {
            notices(
                &format!("channels.{channel}.handoff_notice"),
                &c.handoff_notice,
            )?;
            if crate::validate::channel(channel).ok().as_deref() != Some(channel.as_str()) {
                return Err(invalid(
                    format!("channels.{channel}"),
                    "must be named as drafts name channels: at most 32 characters of a-z, 0-9, _ and -",
                ));
            }
            // A year at most: beyond that a "window" is a typo.
            for (key, value) in [
                ("window_seconds", c.window_seconds),
                ("first_response_seconds", c.first_response_seconds),
            ] {
                if let Some(v) = value {
                    between(&format!("channels.{channel}.{key}"), v, 0, 366 * 24 * 3600)?;
                }
            }
            let t = &c.template;
            if t.name.trim().is_empty() || t.name.chars().count() > 512 {
                return Err(invalid(
                    format!("channels.{channel}.template.name"),
                    format!(
                        "must be 1 to 512 characters (got {})",
                        t.name.chars().count()
                    ),
                ));
            }
            if t.parameters.len() > 20 {
                return Err(invalid(
                    format!("channels.{channel}.template.parameters"),
                    format!("must be at most 20 (got {})", t.parameters.len()),
                ));
            }
        }
        if crate::languages::primary_tag(&self.default_locale).as_deref()
            != Some(self.default_locale.as_str())
        {
            return Err(invalid(
                "default_locale",
                format!(
                    "must be a lowercase primary language tag such as \"en\" (got {:?})",
                    self.default_locale
                ),
            ));
        }
        let (review, delivery) = (&self.review, &self.delivery);
        lease(
            "review.lease_seconds",
            review.lease_seconds,
            "review.max_lease_seconds",
            review.max_lease_seconds,
        )?;
        lease(
            "delivery.lease_seconds",
            delivery.lease_seconds,
            "delivery.max_lease_seconds",
            delivery.max_lease_seconds,
        )?;
        at_least("delivery.max_in_flight", delivery.max_in_flight, 1)?;
        self.check_limits()?;
        let url = self.database_url.as_str();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must be empty (SQLite under data_dir), sqlite:PATH or postgres://...",
            ));
        }
        at_least("database.max_connections", self.database.max_connections, 1)?;
        at_least(
            "database.acquire_timeout_ms",
            self.database.acquire_timeout_ms,
            1,
        )?;
        self.check_llm()?;
        if let Err(crate::auth::Error::Invalid {
            index,
            field,
            message,
        }) = crate::auth::Tokens::from_config(&self.tokens)
        {
            return Err(invalid(format!("tokens[{index}].{field}"), message));
        }
        let tls = &self.tls;
        match (tls.enabled(), tls.key.as_os_str().is_empty()) {
            (true, true) => return Err(invalid("tls.key", "must be set when tls.cert is")),
            (false, false) => return Err(invalid("tls.cert", "must be set when tls.key is")),
            (true, false) | (false, true) => {}
        }
        if !tls.enabled() && !tls.client_ca.as_os_str().is_empty() {
            return Err(invalid("tls.client_ca", "needs tls.cert and tls.key"));
        }
        between(
            "console.session_hours",
            self.console.session_hours,
            1,
            24 * 30,
        )?;
        let public = self.console.public_url.as_str();
        if !(public.is_empty() || public.starts_with("http://") || public.starts_with("https://")) {
            return Err(invalid(
                "console.public_url",
                "must be empty or start with http:// or https://",
            ));
        }
        self.check_retrieval()
    }

    fn check_limits(&self) -> Result<(), Error> {
        let lim = &self.limits;
        at_least("limits.max_message_bytes", lim.max_message_bytes, 1)?;
        at_least("limits.max_id_chars", lim.max_id_chars, 1)?;
        let least_grpc = lim.max_article_bytes.saturating_add(64 * 1024);
        if lim.max_grpc_message_bytes < least_grpc {
            return Err(invalid(
                "limits.max_grpc_message_bytes",
                format!(
                    "must exceed limits.max_article_bytes ({}) by at least 64 KiB: at least {least_grpc} (got {})",
                    lim.max_article_bytes, lim.max_grpc_message_bytes
                ),
            ));
        }
        at_least(
            "limits.max_concurrent_requests",
            lim.max_concurrent_requests,
            1,
        )?;
        at_least("limits.max_streams_per_token", lim.max_streams_per_token, 1)?;
        at_least("limits.request_timeout_ms", lim.request_timeout_ms, 1)?;
        at_least(
            "limits.max_concurrent_streams_per_connection",
            lim.max_concurrent_streams_per_connection,
            1,
        )?;
        at_least(
            "limits.max_header_list_bytes",
            lim.max_header_list_bytes,
            1024,
        )?;
        let rate = lim.requests_per_second_per_token;
        if !rate.is_finite() || rate < 0.0 {
            return Err(invalid(
                "limits.requests_per_second_per_token",
                format!("must be 0 (no limit) or positive (got {rate})"),
            ));
        }
        if rate > 0.0 && lim.burst_per_token == 0 {
            return Err(invalid(
                "limits.burst_per_token",
                "must be at least 1 when limits.requests_per_second_per_token is above 0 (got 0)",
            ));
        }
        Ok(())
    }

    fn check_llm(&self) -> Result<(), Error> {
        let l = &self.llm;
        if l.enabled() && !(l.base_url.starts_with("http://") || l.base_url.starts_with("https://"))
        {
            return Err(invalid(
                "llm.base_url",
                "must start with http:// or https://",
            ));
        }
        at_least("llm.timeout_ms", l.timeout_ms, 1)?;
        at_least("llm.max_concurrency", l.max_concurrency, 1)?;
        at_least("llm.max_passages", l.max_passages, 1)?;
        at_least("llm.max_tokens", l.max_tokens, 1)?;
        let timeout = self.limits.request_timeout_ms;
        if l.enabled() && timeout <= l.deadline_ms {
            return Err(invalid(
                "limits.request_timeout_ms",
                format!(
                    "must exceed llm.deadline_ms ({}), so a slow LLM falls back to the extractive drafter before the call times out (got {timeout})",
                    l.deadline_ms
                ),
            ));
        }
        Ok(())
    }

    fn check_retrieval(&self) -> Result<(), Error> {
        let r = &self.retrieval;
        at_least("retrieval.top_articles", r.top_articles, 1)?;
        at_least("retrieval.max_passages", r.max_passages, 1)?;
        if !(r.k1 > 0.0 && r.k1 <= 10.0) {
            return Err(invalid(
                "retrieval.k1",
                format!("must be above 0 and at most 10 (got {})", r.k1),
            ));
        }
        between("retrieval.b", r.b, 0.0, 1.0)?;
        between("retrieval.title_weight", r.title_weight, 0.0, 100.0)?;
        between("retrieval.passage_weight", r.passage_weight, 0.0, 100.0)?;
        between("retrieval.article_weight", r.article_weight, 0.0, 100.0)?;
        between("retrieval.dense_weight", r.dense_weight, 0.0, 1.0)?;
        between(
            "retrieval.cross_language_margin",
            r.cross_language_margin,
            0.0,
            1.0,
        )?;
        if [r.title_weight, r.passage_weight, r.article_weight]
            .iter()
            .all(|w| *w == 0.0)
        {
            return Err(invalid(
                "retrieval.title_weight, retrieval.passage_weight, retrieval.article_weight",
                "must not all be 0",
            ));
        }
        Ok(())
    }
}

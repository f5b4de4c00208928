//! Markdown articles with a front-matter block, and their split into passages.
//!
//! ```text
//! ---
//! title: Change your phone number      (required)
//! tags: [account, phone number]
//! url: https://help.example/en/change-phone-number
//! id: en/change-phone-number           (optional; default "<locale>/<slug>")
//! ---
//! Intro paragraph (the first passage).
//! ## A heading starts a new passage
//! ```

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use serde::Deserialize;

/// Front matter larger than this is refused before any YAML is parsed.
pub const MAX_FRONT_MATTER_BYTES: usize = 16 * 1024;
/// Passages longer than this are cut at block boundaries.
const MAX_PASSAGE_CHARS: usize = 1800;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FrontMatter {
    id: Option<String>,
    title: Option<String>,
    tags: Vec<String>,
    url: Option<String>,
    applies_to: Option<crate::device::AppliesTo>,
}

/// What a file says, before it is validated and versioned.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFile {
    pub id: Option<String>,
    pub title: String,
    pub tags: Vec<String>,
    pub url: String,
    pub body: String,
    /// `applies_to: {os: [android], app_version: ">=2.20"}` (checked when the article is).
    pub applies_to: crate::device::AppliesTo,
}

/// Splits `text` into front matter and body and reads the front matter.
pub fn parse_file(text: &str) -> Result<ParsedFile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    if first.trim_end() != "---" {
        return Err(ParseError {
            line: 1,
            message: "expected a front-matter block starting with '---'".into(),
        });
    }
    let mut offset = first.len();
    let mut closing = None;
    for (i, line) in lines.enumerate() {
        if line.trim_end() == "---" {
            closing = Some((i + 2, offset, offset + line.len()));
            break;
        }
        offset += line.len();
        if offset > MAX_FRONT_MATTER_BYTES {
            return Err(ParseError {
                line: i + 2,
                message: format!("front matter is larger than {MAX_FRONT_MATTER_BYTES} bytes"),
            });
        }
    }
    let Some((closing_line, yaml_end, body_start)) = closing else {
        return Err(ParseError {
            line: 1,
            message: "front-matter block is not closed with '---'".into(),
        });
    };
    let yaml = &text[first.len()..yaml_end];
    let front: FrontMatter = if yaml.trim().is_empty() {
        FrontMatter::default()
    } else {
        // YAML also counts a lone "\r" as a line break: keep the line inside the front matter.
        serde_yaml_ng::from_str(yaml).map_err(|e| ParseError {
            line: e
                .location()
                .map(|l| (l.line() + 1).min(closing_line))
                .unwrap_or(closing_line),
            message: format!("front matter: {e}"),
        })?
    };
    let title = front
        .title
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if title.is_empty() {
        return Err(ParseError {
            line: 2,
            message: "front matter: 'title' is required".into(),
        });
    }
    Ok(ParsedFile {
        id: front
            .id
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        title,
        tags: front
            .tags
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        url: front.url.unwrap_or_default().trim().to_string(),
        body: text[body_start..].trim().to_string(),
        applies_to: front.applies_to.unwrap_or_default(),
    })
}

/// A retrievable piece of an article: the text under one heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The heading above it ("" for the text before the first heading).
    pub heading: String,
    /// Plain text: Markdown removed, list items kept one per line.
    pub text: String,
}

/// Splits Markdown at headings into plain-text passages; empty sections are dropped.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "pulldown-cmark has dozens of events; the ones not named add no text"
)]
pub fn passages(markdown: &str) -> Vec<Passage> {
    let mut out: Vec<Passage> = Vec::new();
    let mut heading = String::new();
    let mut text = String::new();
    let mut in_heading: Option<HeadingLevel> = None;
    let mut heading_text = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();

    let flush = |out: &mut Vec<Passage>, heading: &str, text: &mut String| {
        let cleaned = tidy(text);
        text.clear();
        for chunk in split_long(&cleaned) {
            out.push(Passage {
                heading: heading.to_string(),
                text: chunk,
            });
        }
    };

    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                in_heading = Some(level);
                heading_text.clear();
            }
            Event::End(TagEnd::Heading(_)) => {
                in_heading = None;
                flush(&mut out, &heading, &mut text);
                heading = heading_text.trim().to_string();
            }
            Event::Text(t) | Event::Code(t) if in_heading.is_some() => heading_text.push_str(&t),
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            Event::Start(Tag::List(start)) => {
                if !text.ends_with('\n') && !text.is_empty() {
                    text.push('\n');
                }
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                text.push('\n');
            }
            Event::Start(Tag::Item) => {
                let depth = lists.len().saturating_sub(1);
                text.push_str(&"  ".repeat(depth));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        text.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => text.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) if !text.ends_with('\n') => {
                text.push('\n');
            }
            Event::End(TagEnd::Paragraph) => {
                if lists.is_empty() {
                    text.push_str("\n\n");
                } else {
                    text.push('\n');
                }
            }
            Event::End(TagEnd::CodeBlock) | Event::End(TagEnd::BlockQuote(_)) => {
                text.push_str("\n\n")
            }
            _ => {}
        }
    }
    flush(&mut out, &heading, &mut text);
    out
}

fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run == 1 && !out.is_empty() {
                out.push('\n');
            }
            continue;
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

fn split_long(text: &str) -> Vec<String> {
    if text.is_empty() {
        return vec![];
    }
    if text.chars().count() <= MAX_PASSAGE_CHARS {
        return vec![text.to_string()];
    }
    let mut chunks = Vec::new();
    let mut current = String::new();
    for block in text.split("\n\n") {
        if !current.is_empty()
            && current.chars().count() + block.chars().count() > MAX_PASSAGE_CHARS
        {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(block);
        // A single enormous block is cut at character boundaries.
        while current.chars().count() > MAX_PASSAGE_CHARS {
            let cut: String = current.chars().take(MAX_PASSAGE_CHARS).collect();
            current = current.chars().skip(MAX_PASSAGE_CHARS).collect();
            chunks.push(cut);
        }
    }
    if !current.trim().is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_body_are_separated() {
        let f = parse_file("---\ntitle: Backups\ntags: [a, b]\nurl: https://x/y\n---\nHello\n")
            .unwrap();
        assert_eq!(f.title, "Backups");
        assert_eq!(f.tags, vec!["a", "b"]);
        assert_eq!(f.url, "https://x/y");
        assert_eq!(f.body, "Hello");
        assert_eq!(f.id, None);
    }

    #[test]
    fn applies_to_says_which_devices_an_article_is_for() {
        let f = parse_file(
            "---\ntitle: Back up on Android\napplies_to: {os: [android], app_version: \">=2.20\"}\n---\nSteps\n",
        )
        .unwrap();
        assert_eq!(f.applies_to.os, ["android"]);
        assert_eq!(f.applies_to.app_version, ">=2.20");
        let plain = parse_file("---\ntitle: Backups\n---\nHello\n").unwrap();
        assert!(plain.applies_to.is_empty());
        let err = parse_file("---\ntitle: x\napplies_to: {phone: nokia}\n---\nbody").unwrap_err();
        assert!(err.message.contains("phone"), "{}", err.message);
    }

    #[test]
    fn missing_title_names_the_line() {
        let err = parse_file("---\ntags: [a]\n---\nbody").unwrap_err();
        assert!(err.message.contains("title"), "{err}");
    }

    #[test]
    fn unclosed_front_matter_is_an_error() {
        let err = parse_file("---\ntitle: x\nbody without end").unwrap_err();
        assert!(err.message.contains("not closed"), "{err}");
    }

    #[test]
    fn bad_yaml_reports_its_line() {
        let err = parse_file("---\ntitle: ok\ntags: [unclosed\n---\nbody").unwrap_err();
        assert!(err.line >= 3, "{err}");
    }

    #[test]
    fn file_without_front_matter_is_refused_on_line_one() {
        assert_eq!(parse_file("# Just markdown").unwrap_err().line, 1);
    }

    #[test]
    fn huge_front_matter_is_refused_before_parsing() {
        let text = format!("---\ntitle: x\n{}---\nbody", "k: v\n".repeat(10_000));
        assert!(
            parse_file(&text)
                .unwrap_err()
                .message
                .contains("larger than")
        );
    }

    #[test]
    fn passages_split_at_headings_and_keep_list_numbers() {
        let md = "Intro **text**.\n\n## Steps\n1. Open *Settings*.\n2. Tap [Backup](https://x).\n\n## After\nDone.";
        let p = passages(md);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            Passage {
                heading: String::new(),
                text: "Intro text.".into()
            }
        );
        assert_eq!(p[1].heading, "Steps");
        assert_eq!(p[1].text, "1. Open Settings.\n2. Tap Backup.");
        assert_eq!(p[2].text, "Done.");
    }

    #[test]
    fn long_sections_are_cut_into_several_passages() {
        let para = "word ".repeat(300);
        let md = format!("## Long\n{para}\n\n{para}\n\n{para}");
        let p = passages(&md);
        assert!(p.len() >= 2);
        assert!(
            p.iter()
                .all(|x| x.heading == "Long" && x.text.chars().count() <= MAX_PASSAGE_CHARS)
        );
    }
}

/// Any text a content team (or an attacker with folder access) can write.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn front_matter_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "title: [^\n]{0,40}",
            "tags: \\[[a-z, ]{0,30}\\]",
            "id: [a-z/\\-]{0,20}",
            "url: [^\n]{0,30}",
            "[a-z&*:\\[\\]{}!|>'\"%@`, -]{0,30}",
            "  - [^\n]{0,20}",
        ]
    }

    fn markdown_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "#{1,7} [^\n]{0,30}",
            "[-*+] [^\n]{0,40}",
            "[0-9]{1,3}\\. [^\n]{0,40}",
            "```[a-z]{0,5}",
            "> [^\n]{0,40}",
            "\\|[^\n]{0,20}\\|[^\n]{0,20}\\|",
            "<[a-z]{1,6}>[^\n]{0,20}",
            "[^\n]{0,120}",
            "---",
        ]
    }

    fn article() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(front_matter_line(), 0..8),
            proptest::collection::vec(markdown_line(), 0..40),
        )
            .prop_map(|(front, body)| {
                format!("---\n{}\n---\n{}", front.join("\n"), body.join("\n"))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_parses_or_fails_with_a_line_number(text in "\\PC{0,400}") {
            if let Err(e) = parse_file(&text) {
                prop_assert!(e.line >= 1);
            }
            let _ = passages(&text);
        }

        #[test]
        fn a_parsed_article_has_a_title_and_bounded_passages(text in article()) {
            match parse_file(&text) {
                Ok(file) => {
                    prop_assert!(!file.title.trim().is_empty());
                    prop_assert!(file.tags.iter().all(|t| !t.is_empty()));
                    for p in passages(&file.body) {
                        prop_assert!(p.text.chars().count() <= MAX_PASSAGE_CHARS);
                        prop_assert!(!p.text.trim().is_empty());
                    }
                }
                Err(e) => {
                    let lines = text.lines().count().max(1);
                    prop_assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {}", e.line, lines);
                }
            }
        }

        #[test]
        fn deeply_nested_markdown_does_not_overflow(depth in 1usize..3000, marker in "[>*-]") {
            let nested = format!("{} deep", marker.repeat(depth));
            let text = format!("---\ntitle: Deep\n---\n{nested}\n");
            let file = parse_file(&text).unwrap();
            for p in passages(&file.body) {
                prop_assert!(p.text.chars().count() <= MAX_PASSAGE_CHARS);
            }
        }
    }

    #[test]
    fn a_yaml_alias_bomb_is_never_expanded() {
        let mut yaml = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
            .windows(2)
            .map(|w| (w[0], w[1]))
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            yaml.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let text = format!("---\ntitle: Bomb\n{yaml}tags: *i\n---\nbody\n");
        // Refused (tags must be strings), not expanded into 9^9 strings.
        assert!(parse_file(&text).is_err());
        // Under a key nobody reads it is skipped without being expanded
        // (expanding would take minutes and gigabytes; this returns at once).
        let text = format!("---\ntitle: Bomb\n{yaml}extra: *i\n---\nbody\n");
        assert_eq!(parse_file(&text).unwrap().title, "Bomb");
    }
}

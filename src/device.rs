//! Which devices an article's steps are for (its front matter's
//! `applies_to: {os: [android], app_version: ">=2.20"}`), and whether the
//! device a customer writes from (the request's context) is one of them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The operating systems an article may name (as the context key `os` does).
pub const OPERATING_SYSTEMS: [&str; 9] = [
    "android", "ios", "ipados", "web", "windows", "macos", "linux", "kaios", "other",
];

/// What an article applies to; empty: every device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    /// Lowercase names from [`OPERATING_SYSTEMS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os: Vec<String>,
    /// A requirement on the app's version: comparisons joined by commas,
    /// each `>=`, `>`, `<=`, `<` or `=` (or none: equal) and a version,
    /// e.g. ">=2.20" or ">=2.20, <3".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
}

/// The device a customer writes from, as far as the context tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub os: Option<String>,
    pub app_version: Option<Vec<u64>>,
}

impl Device {
    /// From the request's context keys `os` and `app_version`.
    pub fn from_context(context: &BTreeMap<String, String>) -> Device {
        Device {
            os: context
                .get("os")
                .map(|o| o.trim().to_ascii_lowercase())
                .filter(|o| !o.is_empty()),
            app_version: context.get("app_version").and_then(|v| parse_version(v)),
        }
    }
}

/// "2.24.1" -> [2, 24, 1]; None unless up to four numbers joined by dots.
pub fn parse_version(v: &str) -> Option<Vec<u64>> {
    let parts: Vec<&str> = v.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect()
}

/// One comparison of a requirement.
fn comparisons(req: &str) -> Option<Vec<(&'static str, Vec<u64>)>> {
    req.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (op, rest) = [">=", "<=", ">", "<", "="]
                .into_iter()
                .find_map(|op| c.strip_prefix(op).map(|r| (op, r)))
                .unwrap_or(("=", c));
            Some((op, parse_version(rest)?))
        })
        .collect()
}

/// Compares versions part by part, a missing part counting as 0.
fn compare(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

impl AppliesTo {
    pub fn is_empty(&self) -> bool {
        self.os.is_empty() && self.app_version.trim().is_empty()
    }

    /// Normalized (lowercase, sorted operating systems), or what is wrong.
    pub fn checked(mut self) -> Result<AppliesTo, String> {
        for os in &mut self.os {
            *os = os.trim().to_ascii_lowercase();
            if !OPERATING_SYSTEMS.contains(&os.as_str()) {
                return Err(format!(
                    "applies_to.os: {os:?} is not one of {}",
                    OPERATING_SYSTEMS.join(", ")
                ));
            }
        }
        self.os.sort();
        self.os.dedup();
        self.app_version = self.app_version.trim().to_string();
        if !self.app_version.is_empty()
            && comparisons(&self.app_version).is_none_or(|c| c.is_empty())
        {
            return Err(format!(
                "applies_to.app_version: {:?} is not a requirement such as \">=2.20\" or \">=2.20, <3\"",
                self.app_version
            ));
        }
        Ok(self)
    }

    /// Whether the article may apply to `device`: what the context does not
    /// tell counts as fitting.
    pub fn fits(&self, device: &Device) -> bool {
        let os_fits = self.os.is_empty()
            || device
                .os
                .as_ref()
                .is_none_or(|os| self.os.iter().any(|o| o == os));
        let version_fits = match (&device.app_version, comparisons(&self.app_version)) {
            (Some(v), Some(cs)) => cs.iter().all(|(op, want)| {
                let o = compare(v, want);
                match *op {
                    ">=" => o.is_ge(),
                    ">" => o.is_gt(),
                    "<=" => o.is_le(),
                    "<" => o.is_lt(),
                    _ => o.is_eq(),
                }
            }),
            _ => true,
        };
        os_fits && version_fits
    }

    /// The devices, as a reply names them: "Android", "Android and iOS".
    pub fn devices(&self) -> Option<String> {
        let names: Vec<&str> = self
            .os
            .iter()
            .map(|o| match o.as_str() {
                "android" => "Android",
                "ios" => "iPhone (iOS)",
                "ipados" => "iPad",
                "web" => "the web version",
                "windows" => "Windows",
                "macos" => "Mac",
                "linux" => "Linux",
                "kaios" => "KaiOS",
                _ => "other devices",
            })
            .collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            many => Some(many.join(" / ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(os: &str, app: &str) -> Device {
        let mut c = BTreeMap::new();
        if !os.is_empty() {
            c.insert("os".to_string(), os.to_string());
        }
        if !app.is_empty() {
            c.insert("app_version".to_string(), app.to_string());
        }
        Device::from_context(&c)
    }

    #[test]
    fn an_article_for_android_fits_android_and_an_unknown_device_but_not_an_iphone() {
        let a = AppliesTo {
            os: vec!["Android".into()],
            app_version: ">=2.20, <3".into(),
        }
        .checked()
        .unwrap();
        assert_eq!(a.os, ["android"]);
        assert!(a.fits(&device("android", "2.24.1")));
        assert!(a.fits(&device("ANDROID", "")));
        assert!(a.fits(&device("", "")));
        assert!(!a.fits(&device("ios", "2.24")));
        assert!(!a.fits(&device("android", "2.19.9")));
        assert!(!a.fits(&device("android", "3.0")));
        assert!(a.fits(&device("android", "2.20")));
        assert_eq!(a.devices().as_deref(), Some("Android"));
        assert!(AppliesTo::default().fits(&device("ios", "1.0")));
    }

    #[test]
    fn bad_applies_to_names_what_is_wrong() {
        let bad_os = AppliesTo {
            os: vec!["symbian".into()],
            ..Default::default()
        };
        assert!(bad_os.checked().unwrap_err().contains("applies_to.os"));
        let bad_version = AppliesTo {
            app_version: ">= two".into(),
            ..Default::default()
        };
        assert!(
            bad_version
                .checked()
                .unwrap_err()
                .contains("applies_to.app_version")
        );
    }
}

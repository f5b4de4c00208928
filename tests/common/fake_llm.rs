//! The fake LLM (`replygate::testkit`, shared with `replygate bench`) and
//! readers of the requests replygate's prompt builds.

#[allow(unused_imports, reason = "not every test binary talks to an LLM")]
pub use replygate::testkit::{FakeLlm, FakeResponse};
use serde_json::Value;

/// The text of passage `n` (1-based) in a request built by replygate's prompt.
pub fn passage(request: &Value, n: usize) -> Option<String> {
    let user = request["messages"][1]["content"].as_str()?;
    let start = user.find(&format!("<passage id=\"{n}\">\n"))?;
    let rest = &user[start..];
    let body = rest.split_once('\n')?.1; // the opening tag
    let body = body.split_once('\n')?.1; // "[n] title — heading"
    let end = body.find("\n</passage>").unwrap_or(body.len());
    Some(body[..end].to_string())
}

/// The customer message inside a request.
pub fn customer_message(request: &Value) -> String {
    let user = request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default();
    user.split("<customer_message>\n")
        .nth(1)
        .and_then(|s| s.split("\n</customer_message>").next())
        .unwrap_or_default()
        .to_string()
}

//! The harness that the integration tests (`tests/common/`) and
//! `replygate bench` share: the real server ([`run`](crate::run)) on
//! `127.0.0.1:0` over a data dir the caller chooses ([`Server`]), and a local
//! OpenAI-compatible chat-completions and embeddings endpoint whose answers the caller
//! scripts ([`FakeLlm`], [`FakeResponse`]).
//!
//! It stands outside the server, as a client of it: so, unlike the domain
//! modules, it speaks tonic (a gRPC client of the server's own API) and axum
//! (the fake endpoint is an HTTP server). Nothing in the library uses it.

mod fake_llm;
mod server;

pub use fake_llm::{FakeLlm, FakeResponse};
pub use server::{Error, Server};

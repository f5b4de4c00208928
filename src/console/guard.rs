//! Who may see and do what, as axum extractors: a handler that takes
//! `Signed<rpc::ListPending>` runs only for a signed-in person whom the gRPC
//! role rules let call `Review/ListPending`; one that takes
//! `Acting<rpc::Approve>` also gets the form, and runs only if it carries
//! the session's CSRF token and comes from this origin. Everyone else gets
//! the answer that refuses them (the sign-in page, or 403 naming the role).

use super::session::{self, CSRF_FIELD, Who};
use super::{Console, html, pages};
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

/// A gRPC method whose role rule a console page or action follows.
pub trait Rpc {
    const NAME: &'static str;
}

/// The methods the console acts as, by the names `api::auth::roles_for` knows.
pub mod rpc {
    macro_rules! rpcs {
        ($($kind:ident = $name:literal),* $(,)?) => {
            $(
                pub struct $kind;
                impl super::Rpc for $kind {
                    const NAME: &'static str = $name;
                }
            )*
        };
    }
    rpcs!(
        ListPending = "Review/ListPending",
        Claim = "Review/Claim",
        Release = "Review/Release",
        Approve = "Review/Approve",
        Reject = "Review/Reject",
        TakeOver = "Review/TakeOver",
        HandBack = "Review/HandBack",
        Resolve = "Review/Resolve",
        GetDraft = "Drafts/GetDraft",
        GetConversation = "Drafts/GetConversation",
        GetArticle = "Knowledge/GetArticle",
        Stats = "Insights/Stats",
    );
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

fn forbidden(who: &Who, rpc: &str) -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::error(
            Some(who),
            &format!(
                "{rpc} needs another role; you are signed in as {} ({})",
                who.subject,
                who.roles_text()
            ),
        ),
    )
}

/// A signed-in person whom the role rules let call `R`.
pub struct Signed<R>(pub Who, pub PhantomData<R>);

impl<R: Rpc> FromRequestParts<Arc<Console>> for Signed<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<Self, Response> {
        let who = c
            .who(&parts.headers, peer(parts))
            .ok_or_else(|| Redirect::to("/console/login").into_response())?;
        if !who.may(R::NAME) {
            return Err(forbidden(&who, R::NAME));
        }
        Ok(Signed(who, PhantomData))
    }
}

/// A signed-in person acting as `R` through a form of this console, and the form.
pub struct Acting<R>(pub Who, pub HashMap<String, String>, pub PhantomData<R>);

impl<R: Rpc> FromRequest<Arc<Console>> for Acting<R> {
    type Rejection = Response;

    async fn from_request(request: Request, c: &Arc<Console>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let who = c.who(&parts.headers, peer(&parts)).ok_or_else(|| {
            (StatusCode::UNAUTHORIZED, "sign in first: /console/login").into_response()
        })?;
        let here = super::from_here(&parts.headers);
        let Form(fields) =
            Form::<HashMap<String, String>>::from_request(Request::from_parts(parts, body), c)
                .await
                .map_err(IntoResponse::into_response)?;
        let token = fields
            .get(CSRF_FIELD)
            .map(String::as_str)
            .unwrap_or_default();
        if !here || !session::csrf_holds(&who, token) {
            return Err(html(
                StatusCode::FORBIDDEN,
                pages::error(
                    Some(&who),
                    "This form is stale or came from another site; reload the page and try again.",
                ),
            ));
        }
        if !who.may(R::NAME) {
            return Err(forbidden(&who, R::NAME));
        }
        Ok(Acting(who, fields, PhantomData))
    }
}

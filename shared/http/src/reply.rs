//! The answers of the REST routes: JSON bodies with one error shape.
//!
//! Every error body is `{"error": <code>, "message": <words>, "errors":
//! [{"field", "message"}]}` (`errors` may be empty). Every answer carries
//! `Cache-Control: no-store`: tokens, accounts and shipments must not be cached.

use lambda_http::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::{Body, Error, Response};
use std::fmt::Display;

use pharmaguard_domain::FieldError;
use serde::Serialize;
use tracing::error;

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// An HTTP answer, before it becomes a `lambda_http` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Headers besides `content-type` and `cache-control`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body; empty for 204.
    pub body: String,
}

/// The body of every error.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    errors: &'a [FieldError],
}

impl Reply {
    /// `status` with `body` as JSON. A body that cannot be serialized (a bug,
    /// never bad input) becomes a 500.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        match serde_json::to_string(body) {
            Ok(body) => Self {
                status,
                headers: Vec::new(),
                body,
            },
            Err(serialization) => {
                error!(%serialization, "response body could not be serialized");
                Self::internal()
            }
        }
    }

    /// 204, no body.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// An error answer.
    pub fn error(status: u16, code: &str, message: &str, errors: &[FieldError]) -> Self {
        Self::json(
            status,
            &ErrorBody {
                error: code,
                message,
                errors,
            },
        )
    }

    /// 400: the request is malformed; `errors` name the fields.
    pub fn invalid(errors: &[FieldError]) -> Self {
        Self::error(400, "invalid_request", "the request is invalid", errors)
    }

    /// 401 with a message that reveals nothing about which part was wrong.
    pub fn unauthorized(message: &str) -> Self {
        Self::error(401, "unauthorized", message, &[])
    }

    /// 403 with the reason the domain rules gave.
    pub fn forbidden(reason: &impl Display) -> Self {
        Self::error(403, "forbidden", &reason.to_string(), &[])
    }

    /// 404.
    pub fn not_found(message: &str) -> Self {
        Self::error(404, "not_found", message, &[])
    }

    /// 405 with `Allow`.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> Self {
        let mut reply = Self::error(
            405,
            "method_not_allowed",
            &format!("{method} is not allowed here; use {allow}"),
            &[],
        );
        reply.headers.push((ALLOW.as_str(), allow.to_owned()));
        reply
    }

    /// 409: the change conflicts with the stored state.
    pub fn conflict(message: &str, errors: &[FieldError]) -> Self {
        Self::error(409, "conflict", message, errors)
    }

    /// 503 with `Retry-After`: a dependency is unavailable.
    pub fn unavailable() -> Self {
        let mut reply = Self::error(
            503,
            "unavailable",
            "the service is temporarily unavailable; try again",
            &[],
        );
        reply
            .headers
            .push((RETRY_AFTER.as_str(), RETRY_AFTER_SECONDS.to_string()));
        reply
    }

    /// 500: a bug or broken data; details are in the logs only.
    pub fn internal() -> Self {
        Self {
            status: 500,
            headers: Vec::new(),
            body: r#"{"error":"internal_error","message":"internal error","errors":[]}"#.to_owned(),
        }
    }

    /// The `lambda_http` response.
    pub fn into_response(self) -> Result<Response<Body>, Error> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(CACHE_CONTROL, "no-store");
        if !self.body.is_empty() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        let body = if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Text(self.body)
        };
        Ok(builder.body(body)?)
    }
}

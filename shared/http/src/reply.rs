//! The answers of the REST routes: JSON bodies with one error shape.
//!
//! Every error body is `{"error": <code>, "message": <words>, "errors":
//! [{"field", "message"}]}` (`errors` may be empty). Every answer carries
//! `Cache-Control: no-store`: tokens, accounts and shipments must not be cached.
//!
//! Every answer carries the CORS headers the dashboard (another origin) needs
//! to read it: `Access-Control-Allow-Origin` (env [`CORS_ALLOW_ORIGIN_VAR`],
//! `*` when unset; with a single origin also `Vary: Origin`) and
//! `Access-Control-Expose-Headers` (`Location`, `Retry-After`). Tokens travel
//! in the `Authorization` header, never in cookies, so credentials are not
//! allowed. The preflight `OPTIONS` requests are answered by the REST API
//! itself (the template's `Cors` setting), before any function.

use lambda_http::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ALLOW, CACHE_CONTROL, CONTENT_TYPE,
    RETRY_AFTER, VARY,
};
use lambda_http::{Body, Error, Response};
use std::fmt::Display;
use std::sync::OnceLock;

use pharmaguard_domain::FieldError;
use serde::Serialize;
use tracing::error;

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The environment variable naming the origin allowed to read the answers
/// (the dashboard's, e.g. `https://dashboard.pharmaguard.example`, or `*`).
pub const CORS_ALLOW_ORIGIN_VAR: &str = "CORS_ALLOW_ORIGIN";
/// The headers a browser script may read besides the simple ones.
pub const CORS_EXPOSE_HEADERS: &str = "Location, Retry-After";

/// The allowed origin: `value` trimmed, `*` when absent or blank.
pub fn allowed_origin_of(value: Option<&str>) -> String {
    value
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .unwrap_or("*")
        .to_owned()
}

/// The allowed origin of this process ([`CORS_ALLOW_ORIGIN_VAR`], read once).
pub fn allowed_origin() -> &'static str {
    static ORIGIN: OnceLock<String> = OnceLock::new();
    ORIGIN.get_or_init(|| allowed_origin_of(std::env::var(CORS_ALLOW_ORIGIN_VAR).ok().as_deref()))
}

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

    /// The `lambda_http` response, readable by the allowed origin of this
    /// process ([`allowed_origin`]).
    pub fn into_response(self) -> Result<Response<Body>, Error> {
        self.into_response_for(allowed_origin())
    }

    /// The `lambda_http` response with the CORS headers for `origin`.
    pub fn into_response_for(self, origin: &str) -> Result<Response<Body>, Error> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(CACHE_CONTROL, "no-store")
            .header(ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .header(ACCESS_CONTROL_EXPOSE_HEADERS, CORS_EXPOSE_HEADERS);
        if origin != "*" {
            builder = builder.header(VARY, "Origin");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_answer_is_readable_by_the_allowed_origin() {
        for reply in [
            Reply::json(200, &serde_json::json!({"ok": true})),
            Reply::no_content(),
            Reply::not_found("no such thing"),
            Reply::unavailable(),
            Reply::internal(),
        ] {
            let status = reply.status;
            let response = reply.into_response_for("*").unwrap();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
            assert_eq!(
                header(&response, "access-control-expose-headers"),
                Some("Location, Retry-After")
            );
            assert_eq!(header(&response, "vary"), None);
            assert_eq!(header(&response, "cache-control"), Some("no-store"));
            assert_eq!(header(&response, "access-control-allow-credentials"), None);
        }
        let response = Reply::no_content()
            .into_response_for("https://dashboard.example")
            .unwrap();
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some("https://dashboard.example")
        );
        assert_eq!(header(&response, "vary"), Some("Origin"));
    }

    #[test]
    fn the_origin_defaults_to_any() {
        assert_eq!(allowed_origin_of(None), "*");
        assert_eq!(allowed_origin_of(Some("  ")), "*");
        assert_eq!(
            allowed_origin_of(Some(" https://dashboard.example ")),
            "https://dashboard.example"
        );
    }
}

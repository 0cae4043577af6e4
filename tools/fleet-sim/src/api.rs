//! A small client of the PharmaGuard REST API: what the simulator needs to
//! set up its world and to send telemetry.

use std::time::Duration;

use serde_json::{Value, json};

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`Null` when empty; a string when not JSON).
    pub body: Value,
    /// The `Retry-After` header, seconds.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// The API could not be reached, or answered something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer (connection refused, timeout…).
    #[error("{what}: the API did not answer: {error}")]
    Transport {
        /// What was being done.
        what: String,
        /// The transport error.
        error: String,
    },
    /// An answer other than the one expected.
    #[error("{what}: unexpected answer {reply}")]
    Unexpected {
        /// What was being done.
        what: String,
        /// The answer.
        reply: Reply,
    },
}

impl ApiError {
    /// An unexpected `reply` while doing `what`.
    pub fn unexpected(what: impl Into<String>, reply: Reply) -> Self {
        ApiError::Unexpected {
            what: what.into(),
            reply,
        }
    }
}

/// A client of the REST API at a base URL.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// An access token and how long it is good for.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub access_token: String,
    /// Lifetime from when it was issued.
    pub expires_in: Duration,
}

impl Api {
    /// A client of the API at `base` (e.g. the stack output `ApiBaseUrl`).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, ApiError> {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let transport = |error: reqwest::Error| ApiError::Transport {
            what: what.clone(),
            error: error.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(transport)?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }

    /// `GET path`.
    pub async fn get(&self, token: &str, path: &str) -> Result<Reply, ApiError> {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// `POST path` with `body`.
    pub async fn post(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> Result<Reply, ApiError> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Logs a user in: `Ok(None)` for wrong credentials (401).
    pub async fn login(&self, email: &str, password: &str) -> Result<Option<Token>, ApiError> {
        let reply = self
            .post(
                None,
                "/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .await?;
        token_of(reply, &format!("login of {email}"))
    }

    /// A device's access token: `Ok(None)` for an unknown device or a wrong secret (401).
    pub async fn device_token(
        &self,
        device_id: &str,
        secret: &str,
    ) -> Result<Option<Token>, ApiError> {
        let reply = self
            .post(
                None,
                "/v1/auth/devices/token",
                &json!({"device_id": device_id, "secret": secret}),
            )
            .await?;
        token_of(reply, &format!("token of device {device_id}"))
    }
}

fn token_of(reply: Reply, what: &str) -> Result<Option<Token>, ApiError> {
    match reply.status {
        200 => {
            let access_token = reply.body["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ApiError::unexpected(what, reply.clone()))?;
            let expires_in = Duration::from_secs(reply.body["expires_in"].as_u64().unwrap_or(900));
            Ok(Some(Token {
                access_token,
                expires_in,
            }))
        }
        401 => Ok(None),
        _ => Err(ApiError::unexpected(what, reply)),
    }
}

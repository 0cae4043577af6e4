//! The WebSocket API's `$connect` route: who may open a connection, and
//! its entry in the connection registry.
//!
//! The client connects to `<WebSocketUrl>?token=<access token>` (browsers
//! cannot set an `Authorization` header on a WebSocket). The token is the
//! REST API's 15-minute access token and is verified exactly as the REST
//! API's authorizer verifies it ([`pharmaguard_security::TokenVerifier`]:
//! EdDSA only, signature, issuer, audience, expiry). Then:
//!
//! - a user's token whose account may still act (read as the authorizer
//!   reads it: [`pharmaguard_domain::accounts::session`] — not disabled,
//!   not issued before the user's last role change or disable, the role and
//!   organisation the user has now): the [`Connection`] (user, role,
//!   organisation, connected at, expires 2 hours later as API Gateway
//!   closes it) is put in the registry and the answer is 200: the handshake
//!   completes;
//! - no token, an invalid, forged or expired one, a device's token, or a
//!   disabled, deleted or changed account: 401, the handshake is refused
//!   (the reason goes to the log only);
//! - the account's status cannot be read, or the registry cannot be
//!   written: 500, refused too (the client retries).
//!
//! A connection open when its user is disabled or changes role is closed
//! within a minute by `ws-broadcast`'s sweep.
//!
//! The work is done by [`connect`], a plain function of the request, the
//! verifier, the account statuses, the registry and the time.

use std::collections::HashMap;

use pharmaguard_domain::accounts::session::{
    AccountStatus, Revoked, check_token, issued_at, status_of,
};
use pharmaguard_domain::identity::Principal;
use pharmaguard_domain::live::{Connection, ConnectionRefused, ConnectionRegistry};
use pharmaguard_domain::ports::AccountStatuses;
use pharmaguard_security::{TokenError, TokenVerifier};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{error, info};

/// Environment variable naming the SSM parameter (a plain String) holding
/// the Ed25519 public key PEM that verifies access tokens.
pub const PUBLIC_KEY_PARAM_VAR: &str = "JWT_PUBLIC_KEY_PARAM";
/// Environment variable naming the connections table.
pub use pharmaguard_aws::connections::CONNECTIONS_TABLE_VAR;
/// Environment variable naming the identity table (account statuses).
pub use pharmaguard_aws::identity_store::IDENTITY_TABLE_VAR;
/// The query string parameter carrying the access token.
pub const TOKEN_PARAM: &str = "token";

/// The `$connect` event of API Gateway (or the local gateway), as far as
/// this function reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// Who and what.
    #[serde(default)]
    pub request_context: RequestContext,
    /// The query string of the connection URL.
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, String>>,
}

/// The `requestContext` of a WebSocket event, as far as it is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// API Gateway's id of the connection.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// When the connection was opened, epoch milliseconds.
    #[serde(default)]
    pub connected_at: Option<i64>,
    /// The request, for the logs.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The answer to API Gateway: a status decides whether the handshake
/// completes (2xx) or is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    /// HTTP status.
    pub status_code: u16,
}

/// Why a connection is refused (401; the detail goes to the log only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `token` in the query string.
    #[error("no access token")]
    MissingToken,
    /// The token did not verify.
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenError),
    /// A device's token, or no connection id.
    #[error("{0}")]
    Refused(#[from] ConnectionRefused),
    /// The token is genuine but its account may no longer act.
    #[error("revoked: {0}")]
    Revoked(#[from] Revoked),
}

/// Decides on a `$connect` at `now` and registers the connection.
pub async fn connect<S: AccountStatuses, R: ConnectionRegistry>(
    verifier: &TokenVerifier,
    statuses: &S,
    registry: &R,
    request: &ConnectRequest,
    now: OffsetDateTime,
) -> WsResponse {
    let context = &request.request_context;
    let connection_id = context.connection_id.as_deref().unwrap_or_default();
    let request_id = context.request_id.as_deref().unwrap_or_default();
    let refused = |refusal: Refusal| {
        info!(%connection_id, %request_id, reason = %refusal, "connection refused");
        WsResponse { status_code: 401 }
    };
    let (connection, issued) = match admit(verifier, request, now) {
        Ok(admitted) => admitted,
        Err(refusal) => return refused(refusal),
    };
    let principal = Principal::User {
        user_id: connection.user_id.clone(),
        org_id: connection.org_id.clone(),
        role: connection.role,
    };
    let status: Option<AccountStatus> = match status_of(statuses, &principal).await {
        Ok(status) => status,
        Err(failure) => {
            error!(%connection_id, %request_id, error = %failure, "account status not read; refused");
            return WsResponse { status_code: 500 };
        }
    };
    if let Err(revoked) = check_token(&principal, issued, status.as_ref()) {
        return refused(Refusal::Revoked(revoked));
    }
    match registry.put(&connection).await {
        Ok(()) => {
            info!(
                %connection_id, user_id = %connection.user_id, org_id = %connection.org_id,
                role = %connection.role, "connection registered"
            );
            WsResponse { status_code: 200 }
        }
        Err(failure) => {
            error!(%connection_id, %request_id, error = %failure, "connection not registered; refused");
            WsResponse { status_code: 500 }
        }
    }
}

/// The connection a `$connect` opens and when its token was issued, or why
/// not (before the account's status is looked at).
pub fn admit(
    verifier: &TokenVerifier,
    request: &ConnectRequest,
    now: OffsetDateTime,
) -> Result<(Connection, OffsetDateTime), Refusal> {
    let token = request
        .query_string_parameters
        .as_ref()
        .and_then(|parameters| parameters.get(TOKEN_PARAM))
        .map(|token| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(Refusal::MissingToken)?;
    let claims = verifier.claims_at(token, now)?;
    let principal = claims.principal().ok_or_else(|| {
        TokenError::InvalidClaims("kind, role and ids do not describe a principal".to_owned())
    })?;
    let issued = issued_at(claims.iat)
        .ok_or_else(|| TokenError::InvalidClaims("iat out of range".to_owned()))?;
    let context = &request.request_context;
    let connected_at = context
        .connected_at
        .and_then(|millis| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
        })
        .unwrap_or(now);
    let connection_id = context.connection_id.as_deref().unwrap_or_default();
    Ok((
        Connection::open(connection_id, &principal, connected_at)?,
        issued,
    ))
}

#[cfg(test)]
mod tests;

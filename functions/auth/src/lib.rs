//! `/v1/auth/*`: sign-in, token refresh and revocation, and the
//! administration of organisations, users and devices.
//!
//! | method and path | who | answers |
//! |---|---|---|
//! | `POST /v1/auth/login` `{email, password}` | public | 200 tokens and user · 400 · 401 · 403 (account disabled) · 429 with `Retry-After` (too many failures, see below) |
//! | `POST /v1/auth/refresh` `{refresh_token}` | public | 200 new tokens · 400 · 401 (unknown, expired, revoked or reused token; disabled user; family older than the user's last role change or disable) |
//! | `POST /v1/auth/logout` `{refresh_token}` | public (the token is the proof) | 204 (also for an unknown token) · 400 |
//! | `GET /v1/auth/me` | any user (devices: 403, their credentials are for telemetry only) | 200 `{id, kind, org_id, role, email, name}` · 401 · 403 |
//! | `POST /v1/auth/organisations` `{name, kind}` | ADMIN | 201 · 400 · 403 |
//! | `GET /v1/auth/organisations` | any user: every organisation (ADMIN: whole; others: `{id, name, kind}`) | 200 `{organisations}` · 403 (devices) |
//! | `GET /v1/auth/organisations/{id}/notifications` | its users, ADMIN | 200 `{org_id, policy, default}` (the default policy while it set none) · 403 · 404 |
//! | `PUT /v1/auth/organisations/{id}/notifications` a whole [`NotificationPolicy`](pharmaguard_domain::notification::NotificationPolicy) | ADMIN anywhere, MANAGER of the organisation | 200 as `GET` · 400 naming each field · 403 · 404 |
//! | `POST /v1/auth/users` `{email, name, password, role, org_id}` | ADMIN anywhere, MANAGER in their organisation, never a role above their own | 201 user · 400 · 403 · 409 (email taken) |
//! | `GET /v1/auth/users?org_id=` | ADMIN any organisation, MANAGER their own (default: the caller's) | 200 `{users}` · 400 · 403 |
//! | `PATCH /v1/auth/users/{id}` `{role, version}` | [`may_change_role`](pharmaguard_domain::identity::may_change_role): nobody their own role; a MANAGER only users below MANAGER | 200 user · 400 · 403 · 404 · 409 (stale version) |
//! | `POST /v1/auth/users/{id}/disable`, `…/enable` `{version}` | [`may_set_user_disabled`](pharmaguard_domain::identity::may_set_user_disabled): ADMIN anyone, MANAGER users below MANAGER of their organisation, nobody themselves | 200 user · 400 · 403 · 404 · 409 (stale version) |
//! | `POST /v1/auth/devices` `{device_id, name, org_id}` | ADMIN anywhere, MANAGER in their organisation | 201 with the `secret` (shown once) · 400 · 403 · 409 |
//! | `POST /v1/auth/devices/{id}/disable`, `…/enable` (no body) | ADMIN anywhere, MANAGER in their organisation | 200 device · 400 · 403 · 404 |
//! | `POST /v1/auth/devices/token` `{device_id, secret}` | public | 200 device access token · 400 · 401 (also for a disabled device) |
//!
//! Other methods on these paths answer 405 (with `Allow`), other paths 404;
//! a protected route without an authorizer context answers 401; a store that
//! cannot be reached, 503. Errors are `{"error", "message", "errors":
//! [{"field", "message"}]}` ([`Reply`]).
//!
//! The caller of a protected route is the [`Principal`] the Lambda authorizer
//! put in the request context ([`pharmaguard_http::caller`]); public routes
//! ignore it. The work is done by [`route`], a plain function of the request
//! and of [`Services`] (store, audit log, token issuer, clock, password
//! hasher), so every route is tested with in-memory fakes.
//!
//! # Tokens
//!
//! Access tokens are EdDSA JWTs valid for 15 minutes
//! ([`pharmaguard_domain::identity::ACCESS_TOKEN_TTL`]); the authorizer also
//! refuses those of a disabled account and those issued before the user's
//! last role change or disable. Refresh tokens are 256-bit random strings,
//! stored only as SHA-256 fingerprints, and single-use: a refresh uses up the
//! presented token and returns its successor in the same family. A family
//! lives 10 hours from its login
//! ([`pharmaguard_domain::identity::REFRESH_FAMILY_LIFETIME`]), however often
//! it rotates; a role change or a disable voids every family of the user. A token presented a second time (it was
//! copied, or two refreshes raced) revokes its whole family, so both the
//! thief and the legitimate holder must sign in again; the event is written
//! to the audit trail. Logout revokes the family of the presented token.
//!
//! Login verifies the password against a dummy argon2id hash when the email
//! is unknown, so unknown emails and wrong passwords take as long and answer
//! the same 401. Failures are counted per normalized email, known or not
//! ([`pharmaguard_domain::accounts::lockout`]): from the 5th in a row the
//! next attempt waits 5 s, doubling up to 80 s; the 10th locks the email out
//! for 15 minutes (audited as `auth.login_locked`). Meanwhile logins answer
//! 429 with `Retry-After`, before any password is checked.

mod notifications;
mod reply;
mod routes;

use std::collections::BTreeMap;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use pharmaguard_domain::identity::Principal;
use pharmaguard_domain::ports::{AuditLog, IdentityStore};
use pharmaguard_domain::shipment::ports::Clock;
use pharmaguard_security::{IssuedToken, Passwords, TokenError, TokenSigner};
use time::OffsetDateTime;
use tracing::info;

pub use reply::{RETRY_AFTER_SECONDS, Reply};

/// Environment variable naming the identity table.
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";
/// Environment variable naming the audit table.
pub const AUDIT_TABLE_VAR: &str = "AUDIT_TABLE";
/// Environment variable naming the SSM parameter (SecureString) holding the
/// PKCS#8 Ed25519 private key PEM that signs access tokens.
pub const PRIVATE_KEY_PARAM_VAR: &str = "JWT_PRIVATE_KEY_PARAM";

/// The path prefix of every route.
pub const PATH_PREFIX: &str = "/v1/auth";

/// A required environment variable is missing or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {0} must be set")]
pub struct MissingVar(pub &'static str);

/// The value of the environment variable `name` (`value` as read; blank counts
/// as missing).
pub fn required_var(name: &'static str, value: Option<String>) -> Result<String, MissingVar> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or(MissingVar(name))
}

/// Issues access tokens (the [`TokenSigner`] in production).
pub trait IssueTokens: Send + Sync {
    /// An access token for `principal` at `now`.
    fn issue(&self, principal: &Principal, now: OffsetDateTime) -> Result<IssuedToken, TokenError>;
}

impl IssueTokens for TokenSigner {
    fn issue(&self, principal: &Principal, now: OffsetDateTime) -> Result<IssuedToken, TokenError> {
        TokenSigner::issue(self, principal, now)
    }
}

/// What the routes need, built once per cold start.
pub struct Services<S, A, T, C> {
    /// Organisations, users, devices, refresh tokens (and the audit records
    /// of their changes).
    pub store: S,
    /// The audit trail, for security events that change no entity.
    pub audit: A,
    /// Signs access tokens.
    pub tokens: T,
    /// The current time.
    pub clock: C,
    /// Hashes and verifies passwords.
    pub passwords: Passwords,
}

/// One request, as the routes see it.
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The resource path, e.g. `/v1/auth/users/usr-1` (a stage prefix is ignored).
    pub path: String,
    /// Query string parameters (the first value of each).
    pub query: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The caller from the authorizer context, if any.
    pub caller: Option<Principal>,
}

/// The Lambda handler: adapts the request and runs [`route`].
///
/// Errors only when the response itself cannot be built; bad input never
/// makes it fail.
pub async fn handle<S, A, T, C>(
    services: &Services<S, A, T, C>,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let request = auth_request(&request);
    route(services, &request).await.into_response()
}

/// The [`AuthRequest`] of a `lambda_http` request.
pub fn auth_request(request: &Request) -> AuthRequest {
    let path = match request.raw_http_path() {
        "" => request.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let query = match request.query_string_parameters_ref() {
        Some(parameters) => parameters
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        None => request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    };
    AuthRequest {
        method: request.method().as_str().to_owned(),
        path,
        query,
        body: request.body().as_ref().to_vec(),
        caller: pharmaguard_http::caller(request),
    }
}

/// The routes (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Login,
    Refresh,
    Logout,
    Me,
    Organisations,
    Notifications(&'a str),
    Users,
    User(&'a str),
    UserStatus(&'a str, bool),
    Devices,
    DeviceStatus(&'a str, bool),
    DeviceToken,
}

impl Route<'_> {
    /// The methods the route answers.
    fn allow(self) -> &'static str {
        match self {
            Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::Devices
            | Route::DeviceToken
            | Route::UserStatus(..)
            | Route::DeviceStatus(..) => "POST",
            Route::Me => "GET",
            Route::Organisations | Route::Users => "GET, POST",
            Route::User(_) => "PATCH",
            Route::Notifications(_) => "GET, PUT",
        }
    }
}

/// The route of a path: the part after [`PATH_PREFIX`] (anything before it,
/// such as a stage, is ignored; a trailing `/` too).
fn parse_route(path: &str) -> Option<Route<'_>> {
    let start = path.find(PATH_PREFIX)?;
    let rest = path[start + PATH_PREFIX.len()..].trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    match segments.as_slice() {
        ["login"] => Some(Route::Login),
        ["refresh"] => Some(Route::Refresh),
        ["logout"] => Some(Route::Logout),
        ["me"] => Some(Route::Me),
        ["organisations"] => Some(Route::Organisations),
        ["organisations", id, "notifications"] if !id.is_empty() => Some(Route::Notifications(id)),
        ["users"] => Some(Route::Users),
        ["users", id] if !id.is_empty() => Some(Route::User(id)),
        ["users", id, "disable"] if !id.is_empty() => Some(Route::UserStatus(id, true)),
        ["users", id, "enable"] if !id.is_empty() => Some(Route::UserStatus(id, false)),
        ["devices"] => Some(Route::Devices),
        ["devices", "token"] => Some(Route::DeviceToken),
        ["devices", id, "disable"] if !id.is_empty() => Some(Route::DeviceStatus(id, true)),
        ["devices", id, "enable"] if !id.is_empty() => Some(Route::DeviceStatus(id, false)),
        _ => None,
    }
}

/// Answers one request. Never panics, whatever the input.
pub async fn route<S, A, T, C>(services: &Services<S, A, T, C>, request: &AuthRequest) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let Some(found) = parse_route(&request.path) else {
        info!(path = %request.path, "no such route");
        return Reply::not_found("no such route");
    };
    let method = request.method.as_str();
    let body = request.body.as_slice();
    let reply = match (found, method) {
        (Route::Login, "POST") => routes::login(services, body).await,
        (Route::Refresh, "POST") => routes::refresh(services, body).await,
        (Route::Logout, "POST") => routes::logout(services, body).await,
        (Route::DeviceToken, "POST") => routes::device_token(services, body).await,
        (route, method) if route.allow().split(", ").any(|allowed| allowed == method) => {
            let Some(caller) = request.caller.as_ref() else {
                info!(path = %request.path, "protected route without a caller");
                return Reply::unauthorized("authentication required");
            };
            match (route, method) {
                (Route::Me, _) => routes::me(services, caller).await,
                (Route::Organisations, "POST") => {
                    routes::create_organisation(services, caller, body).await
                }
                (Route::Organisations, _) => routes::list_organisations(services, caller).await,
                (Route::Notifications(id), "PUT") => {
                    notifications::put_policy(services, caller, id, body).await
                }
                (Route::Notifications(id), _) => {
                    notifications::get_policy(services, caller, id).await
                }
                (Route::Users, "POST") => routes::create_user(services, caller, body).await,
                (Route::Users, _) => {
                    routes::list_users(services, caller, request.query.get("org_id")).await
                }
                (Route::User(id), _) => routes::change_role(services, caller, id, body).await,
                (Route::UserStatus(id, disable), _) => {
                    routes::set_user_disabled(services, caller, id, disable, body).await
                }
                (Route::DeviceStatus(id, disable), _) => {
                    routes::set_device_disabled(services, caller, id, disable, body).await
                }
                (Route::Devices, _) => routes::create_device(services, caller, body).await,
                _ => Reply::not_found("no such route"),
            }
        }
        (route, method) => Reply::method_not_allowed(method, route.allow()),
    };
    info!(
        method,
        path = %request.path,
        status = reply.status,
        caller = request.caller.as_ref().map(Principal::id),
        "auth request"
    );
    reply
}

#[cfg(test)]
mod tests;

//! The handlers of the routes (see the crate documentation).
//!
//! Each handler is a plain async function of the services, the caller (for
//! protected routes) and the body. Helpers return `Result<_, Reply>` so that
//! the first problem becomes the answer.

use pharmaguard_domain::FieldError;
use pharmaguard_domain::accounts::lockout::{self, LoginAttempts};
use pharmaguard_domain::accounts::{
    Device, Organisation, RefreshToken, User, new_id, parse_change_role_request,
    parse_create_device_request, parse_create_organisation_request, parse_create_user_request,
    parse_device_status_request, parse_device_token_request, parse_login_request,
    parse_refresh_request, parse_user_status_request,
};
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::{
    Denied, Principal, Role, may_administer, may_change_role, may_create_organisation,
    may_create_user, may_set_device_disabled, may_set_user_disabled,
};
use pharmaguard_domain::ports::{AuditLog, IdentityStore, IdentityStoreError, Rotation};
use pharmaguard_domain::shipment::ports::Clock;
use pharmaguard_security::{IssuedToken, constant_time_eq, random_secret, sha256_hex};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::{IssueTokens, Reply, Services};

/// The answer to a login or refresh with bad credentials: the same words
/// whatever was wrong.
const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH_TOKEN: &str = "invalid, expired or revoked refresh token; sign in again";
const BAD_DEVICE_CREDENTIALS: &str = "invalid device id or secret";
const TOO_MANY_LOGINS: &str =
    "too many failed sign-ins for this email; wait for Retry-After seconds and try again";
const ACCOUNT_DISABLED: &str = "this account is disabled; ask your manager to enable it";

/// The fingerprint [`device_token`] compares against when the device does
/// not exist, so that unknown devices take as long as wrong secrets.
const NO_DEVICE_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

type Outcome<T> = Result<T, Reply>;

/// A store failure as an answer: 503 when it may pass, 500 otherwise.
pub(crate) fn store_failed(error: IdentityStoreError) -> Reply {
    match error {
        IdentityStoreError::Unavailable(message) => {
            warn!(%message, "identity store unavailable");
            Reply::unavailable()
        }
        other => {
            error!(error = %other, "identity store failed");
            Reply::internal()
        }
    }
}

pub(crate) fn denied(reason: Denied) -> Reply {
    info!(%reason, "denied");
    Reply::forbidden(&reason)
}

pub(crate) fn invalid(errors: Vec<FieldError>) -> Reply {
    info!(fields = ?errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), "invalid request");
    Reply::invalid(&errors)
}

fn token_failed(error: impl std::fmt::Display) -> Reply {
    error!(%error, "access token not issued");
    Reply::internal()
}

/// The users that may administer anyone at all: ADMINs and MANAGERs. Checked
/// before the body is read, so that others learn nothing from validation.
fn administrator(caller: &Principal) -> Outcome<()> {
    may_administer(caller, caller.org_id()).map_err(denied)
}

/// A user as the API shows it.
#[derive(Serialize)]
struct UserView<'a> {
    id: &'a str,
    email: &'a str,
    name: &'a str,
    org_id: &'a str,
    role: Role,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: &user.id,
            email: &user.email,
            name: &user.name,
            org_id: &user.org_id,
            role: user.role,
        }
    }
}

/// The body of a successful login or refresh.
#[derive(Serialize)]
struct Session<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
    refresh_expires_in: u64,
    user: UserView<'a>,
}

/// 429 with `Retry-After`: sign-ins for this email wait.
fn too_many_logins(retry_after: u64) -> Reply {
    let mut reply = Reply::error(429, "too_many_requests", TOO_MANY_LOGINS, &[]);
    reply.headers.push(("retry-after", retry_after.to_string()));
    reply
}

/// Starts a refresh-token family for `user` and issues both tokens.
async fn new_session<S, A, T, C>(
    services: &Services<S, A, T, C>,
    user: &User,
    now: OffsetDateTime,
) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let refresh = match random_secret() {
        Ok(secret) => secret,
        Err(error) => return token_failed(error),
    };
    let first = RefreshToken::new(sha256_hex(&refresh), new_id("fam"), &user.id, now);
    if let Err(error) = services.store.start_refresh_family(&first).await {
        return store_failed(error);
    }
    session_reply(services, user, &refresh, &first, now)
}

/// The session answer: a fresh access token and the refresh token.
fn session_reply<S, A, T, C>(
    services: &Services<S, A, T, C>,
    user: &User,
    refresh_token: &str,
    stored: &RefreshToken,
    now: OffsetDateTime,
) -> Reply
where
    T: IssueTokens,
{
    let access: IssuedToken = match services.tokens.issue(&user.principal(), now) {
        Ok(access) => access,
        Err(error) => return token_failed(error),
    };
    Reply::json(
        200,
        &Session {
            access_token: &access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token,
            refresh_expires_in: stored.seconds_left(now),
            user: UserView::from(user),
        },
    )
}

/// `POST /v1/auth/login`, with the failed-login counter of
/// [`lockout`]: while the email's window lasts, 429 with `Retry-After`
/// before any password is checked; each failure (an unknown email's too)
/// is counted, a lockout audited; a success resets the counter.
pub async fn login<S, A, T, C>(services: &Services<S, A, T, C>, body: &[u8]) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let request = match parse_login_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let key = lockout::login_key(&request.email);
    let attempts = match services.store.login_attempts(&key).await {
        Ok(attempts) => attempts,
        Err(error) => return store_failed(error),
    };
    if let Some(refused) = lockout::refusal(attempts.as_ref(), services.clock.now()) {
        info!(
            retry_after = refused.retry_after,
            "login refused: too many failures"
        );
        return too_many_logins(refused.retry_after);
    }
    let user = match services.store.find_user_by_email(&request.email).await {
        Ok(user) => user,
        Err(error) => return store_failed(error),
    };
    let verified = match &user {
        Some(user) => services
            .passwords
            .verify(&request.password, &user.password_hash),
        None => {
            services.passwords.verify_dummy(&request.password);
            false
        }
    };
    let now = services.clock.now();
    let user = match user {
        Some(user) if verified => user,
        user => {
            match &user {
                Some(user) => info!(user_id = %user.id, "login refused: wrong password"),
                None => info!("login refused: unknown email"),
            }
            return failed_login(services, &key, user.as_ref(), now).await;
        }
    };
    if user.is_disabled() {
        info!(user_id = %user.id, "login refused: the account is disabled");
        return Reply::error(403, "account_disabled", ACCOUNT_DISABLED, &[]);
    }
    if attempts
        .as_ref()
        .is_some_and(|a: &LoginAttempts| a.failures > 0)
    {
        if let Err(error) = services.store.reset_login_failures(&key).await {
            return store_failed(error);
        }
    }
    info!(user_id = %user.id, "login");
    new_session(services, &user, now).await
}

/// Counts a failed login for `key` (of `user`, if the email has one), opens
/// the window it earns, audits a lockout, and answers 401.
async fn failed_login<S, A, T, C>(
    services: &Services<S, A, T, C>,
    key: &str,
    user: Option<&User>,
    now: OffsetDateTime,
) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
{
    let failures = match services.store.count_login_failure(key, now).await {
        Ok(failures) => failures,
        Err(error) => return store_failed(error),
    };
    let Some(block) = lockout::block_after(failures, now) else {
        return Reply::unauthorized(BAD_CREDENTIALS);
    };
    if let Err(error) = services.store.block_login(key, block.until).await {
        return store_failed(error);
    }
    if block.lockout {
        warn!(
            user_id = user.map(|u| u.id.as_str()),
            failures, "sign-in locked out"
        );
        // an unknown email's trail is kept under the email itself
        let entity_id = user.map_or(key, |user| user.id.as_str());
        let record = AuditRecord::new(
            EntityType::User,
            entity_id,
            Actor::system(),
            "auth.login_locked",
            now,
            None,
            Some(json!({
                "email": key,
                "known_account": user.is_some(),
                "failures": failures,
                "locked_until": block.until.format(&time::format_description::well_known::Rfc3339).ok(),
            })),
        );
        if let Err(error) = services.audit.append(&record).await {
            // the lockout holds, which is what protects the account
            warn!(%error, "lockout not recorded in the audit trail");
        }
    }
    Reply::unauthorized(BAD_CREDENTIALS)
}

/// `POST /v1/auth/refresh`: rotation with reuse detection. Refused (and the
/// family revoked) when the user is disabled or the family was started
/// before the user's last role change or disable; every family ends
/// [`pharmaguard_domain::identity::REFRESH_FAMILY_LIFETIME`] after its login.
pub async fn refresh<S, A, T, C>(services: &Services<S, A, T, C>, body: &[u8]) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let request = match parse_refresh_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let now = services.clock.now();
    let presented_hash = sha256_hex(&request.refresh_token);
    let token = match services.store.get_refresh_token(&presented_hash).await {
        Ok(Some(token)) => token,
        Ok(None) => {
            info!("refresh refused: unknown token");
            return Reply::unauthorized(BAD_REFRESH_TOKEN);
        }
        Err(error) => return store_failed(error),
    };
    if token.is_expired(now) {
        info!(family_id = %token.family_id, "refresh refused: the family's day is over");
        return Reply::unauthorized(BAD_REFRESH_TOKEN);
    }
    if token.used_at.is_some() {
        return reuse_detected(services, &token, now).await;
    }
    let user = match services.store.get_user(&token.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            info!(user_id = %token.user_id, "refresh refused: the user is gone");
            return Reply::unauthorized(BAD_REFRESH_TOKEN);
        }
        Err(error) => return store_failed(error),
    };
    let superseded = user
        .tokens_valid_after
        .is_some_and(|cutoff| token.family_started_at < cutoff);
    if user.is_disabled() || superseded {
        info!(
            user_id = %user.id, family_id = %token.family_id, disabled = user.is_disabled(),
            "refresh refused: the account was disabled or its role changed; family revoked"
        );
        if let Err(error) = services
            .store
            .revoke_refresh_family(&token.family_id, now)
            .await
        {
            return store_failed(error);
        }
        return Reply::unauthorized(BAD_REFRESH_TOKEN);
    }
    let next_secret = match random_secret() {
        Ok(secret) => secret,
        Err(error) => return token_failed(error),
    };
    let next = token.successor(sha256_hex(&next_secret), now);
    match services
        .store
        .rotate_refresh_token(&presented_hash, &next, now)
        .await
    {
        Ok(Rotation::Rotated) => {
            info!(user_id = %user.id, family_id = %token.family_id, "refresh");
            session_reply(services, &user, &next_secret, &next, now)
        }
        Ok(Rotation::AlreadyUsed) => reuse_detected(services, &token, now).await,
        Ok(Rotation::FamilyRevoked) => {
            info!(family_id = %token.family_id, "refresh refused: revoked family");
            Reply::unauthorized(BAD_REFRESH_TOKEN)
        }
        Ok(Rotation::Unknown) => Reply::unauthorized(BAD_REFRESH_TOKEN),
        Err(error) => store_failed(error),
    }
}

/// A used-up refresh token came back: revoke its family, record the event,
/// and refuse.
async fn reuse_detected<S, A, T, C>(
    services: &Services<S, A, T, C>,
    token: &RefreshToken,
    now: OffsetDateTime,
) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    C: Clock,
{
    warn!(
        user_id = %token.user_id,
        family_id = %token.family_id,
        "refresh token reused: revoking its family"
    );
    if let Err(error) = services
        .store
        .revoke_refresh_family(&token.family_id, now)
        .await
    {
        return store_failed(error);
    }
    let record = AuditRecord::new(
        EntityType::User,
        &token.user_id,
        Actor::system(),
        "auth.refresh_token_reused",
        now,
        None,
        Some(json!({"family_id": token.family_id, "revoked": true})),
    );
    if let Err(error) = services.audit.append(&record).await {
        // The family is revoked, which is what protects the user.
        warn!(%error, "reuse of a refresh token not recorded in the audit trail");
    }
    Reply::unauthorized(BAD_REFRESH_TOKEN)
}

/// `POST /v1/auth/logout`: revokes the family of the presented refresh
/// token. 204 whether or not the token was known (nothing to learn here).
pub async fn logout<S, A, T, C>(services: &Services<S, A, T, C>, body: &[u8]) -> Reply
where
    S: IdentityStore,
    A: AuditLog,
    T: IssueTokens,
    C: Clock,
{
    let request = match parse_refresh_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let now = services.clock.now();
    match services
        .store
        .get_refresh_token(&sha256_hex(&request.refresh_token))
        .await
    {
        Ok(Some(token)) => {
            if let Err(error) = services
                .store
                .revoke_refresh_family(&token.family_id, now)
                .await
            {
                return store_failed(error);
            }
            info!(user_id = %token.user_id, family_id = %token.family_id, "logout");
            Reply::no_content()
        }
        Ok(None) => Reply::no_content(),
        Err(error) => store_failed(error),
    }
}

/// `GET /v1/auth/me`: the calling user. Devices are refused: their
/// credentials are good for sending telemetry only.
pub async fn me<S, A, T, C>(services: &Services<S, A, T, C>, caller: &Principal) -> Reply
where
    S: IdentityStore,
{
    match caller {
        Principal::Device { .. } => denied(Denied::Role("device".to_owned())),
        Principal::User {
            user_id,
            org_id,
            role,
        } => {
            let mut body = json!({"id": user_id, "kind": "user", "org_id": org_id, "role": role});
            match services.store.get_user(user_id).await {
                Ok(Some(user)) => {
                    body["email"] = json!(user.email);
                    body["name"] = json!(user.name);
                }
                Ok(None) => {}
                Err(error) => return store_failed(error),
            }
            Reply::json(200, &body)
        }
    }
}

/// `POST /v1/auth/organisations` (ADMIN).
pub async fn create_organisation<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if let Err(reason) = may_create_organisation(caller) {
        return denied(reason);
    }
    let request = match parse_create_organisation_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let now = services.clock.now();
    let organisation = Organisation::new(request.name, request.kind, now);
    let record = AuditRecord::new(
        EntityType::Organisation,
        &organisation.id,
        Actor::from(caller),
        "organisation.created",
        now,
        None,
        Some(organisation.to_json()),
    );
    match services
        .store
        .create_organisation(&organisation, &record)
        .await
    {
        Ok(()) => {
            info!(org_id = %organisation.id, "organisation created");
            Reply::json(201, &organisation)
        }
        Err(error) => store_failed(error),
    }
}

/// `GET /v1/auth/organisations`: every organisation, for any signed-in user
/// (who picks the shipper and the recipient of a new shipment from them):
/// whole for an ADMIN, as `{id, name, kind}` for everyone else. Devices: 403.
pub async fn list_organisations<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
) -> Reply
where
    S: IdentityStore,
{
    let Some(role) = caller.role() else {
        return denied(Denied::Role("device".to_owned()));
    };
    match services.store.list_organisations().await {
        Ok(organisations) if role == Role::Admin => {
            Reply::json(200, &json!({ "organisations": organisations }))
        }
        Ok(organisations) => {
            let directory: Vec<_> = organisations
                .iter()
                .map(|org| json!({ "id": org.id, "name": org.name, "kind": org.kind }))
                .collect();
            Reply::json(200, &json!({ "organisations": directory }))
        }
        Err(error) => store_failed(error),
    }
}

/// `POST /v1/auth/users`.
pub async fn create_user<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if let Err(reply) = administrator(caller) {
        return reply;
    }
    let request = match parse_create_user_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    if let Err(reason) = may_create_user(caller, &request.org_id, request.role) {
        return denied(reason);
    }
    let password_hash = match services.passwords.hash(&request.password) {
        Ok(hash) => hash,
        Err(error) => {
            error!(%error, "password not hashed");
            return Reply::internal();
        }
    };
    let now = services.clock.now();
    let user = User::new(&request, password_hash, now);
    let record = AuditRecord::new(
        EntityType::User,
        &user.id,
        Actor::from(caller),
        "user.created",
        now,
        None,
        Some(user.to_json()),
    );
    match services.store.create_user(&user, &record).await {
        Ok(()) => {
            info!(user_id = %user.id, org_id = %user.org_id, role = %user.role, "user created");
            Reply::json(201, &user.summary())
        }
        Err(IdentityStoreError::EmailTaken) => Reply::conflict(
            "a user with this email exists already",
            &[FieldError::new("email", "is registered already")],
        ),
        Err(IdentityStoreError::OrganisationNotFound) => {
            Reply::invalid(&[FieldError::new("org_id", "no organisation has this id")])
        }
        Err(error) => store_failed(error),
    }
}

/// `GET /v1/auth/users?org_id=`: the users of an organisation (the caller's
/// by default).
pub async fn list_users<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    org_id: Option<&String>,
) -> Reply
where
    S: IdentityStore,
{
    let org_id = org_id.map_or(caller.org_id(), String::as_str);
    if org_id.is_empty() || org_id.chars().count() > 64 {
        return Reply::invalid(&[FieldError::new(
            "org_id",
            "must be an organisation id (1 to 64 characters)",
        )]);
    }
    if let Err(reason) = may_administer(caller, org_id) {
        return denied(reason);
    }
    match services.store.list_users(org_id).await {
        Ok(users) => {
            let users: Vec<_> = users.iter().map(User::summary).collect();
            Reply::json(200, &json!({ "org_id": org_id, "users": users }))
        }
        Err(error) => store_failed(error),
    }
}

/// `PATCH /v1/auth/users/{id}`: a role change at a known version.
pub async fn change_role<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    user_id: &str,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if caller.id() == user_id && caller.role().is_some() {
        return denied(Denied::OwnRole);
    }
    if let Err(reply) = administrator(caller) {
        return reply;
    }
    let request = match parse_change_role_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let target = match services.store.get_user(user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Reply::not_found("no user has this id"),
        Err(error) => return store_failed(error),
    };
    if let Err(reason) = may_change_role(caller, user_id, &target.org_id, target.role, request.role)
    {
        return denied(reason);
    }
    if target.version != request.expected_version {
        return stale(target.version);
    }
    let now = services.clock.now();
    let changed = target.with_role(request.role, now);
    let record = AuditRecord::new(
        EntityType::User,
        &target.id,
        Actor::from(caller),
        "user.role_changed",
        now,
        Some(target.to_json()),
        Some(changed.to_json()),
    );
    match services
        .store
        .update_user(&changed, request.expected_version, &record)
        .await
    {
        Ok(()) => {
            info!(user_id = %changed.id, from = %target.role, to = %changed.role, "role changed");
            Reply::json(200, &changed.summary())
        }
        Err(IdentityStoreError::VersionConflict { current_version }) => {
            stale(current_version.unwrap_or(target.version))
        }
        Err(IdentityStoreError::NotFound) => Reply::not_found("no user has this id"),
        Err(error) => store_failed(error),
    }
}

/// `POST /v1/auth/users/{id}/disable` and `…/enable` with `{version}`:
/// [`may_set_user_disabled`]. A disable ends the user's tokens, refresh
/// families and WebSocket connections (through `tokens_valid_after`); an
/// enable lets them sign in again. Asking for the state the user is in
/// answers 200 with the user unchanged.
pub async fn set_user_disabled<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    user_id: &str,
    disable: bool,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if caller.id() == user_id && caller.role().is_some() {
        return denied(Denied::OwnAccount);
    }
    if let Err(reply) = administrator(caller) {
        return reply;
    }
    let expected_version = match parse_user_status_request(body) {
        Ok(version) => version,
        Err(errors) => return invalid(errors),
    };
    let target = match services.store.get_user(user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Reply::not_found("no user has this id"),
        Err(error) => return store_failed(error),
    };
    if let Err(reason) = may_set_user_disabled(caller, user_id, &target.org_id, target.role) {
        return denied(reason);
    }
    if target.version != expected_version {
        return stale(target.version);
    }
    if target.is_disabled() == disable {
        return Reply::json(200, &target.summary());
    }
    let now = services.clock.now();
    let (changed, action) = if disable {
        (target.disabled(now), "user.disabled")
    } else {
        (target.enabled(now), "user.enabled")
    };
    let record = AuditRecord::new(
        EntityType::User,
        &target.id,
        Actor::from(caller),
        action,
        now,
        Some(target.to_json()),
        Some(changed.to_json()),
    );
    match services
        .store
        .update_user(&changed, expected_version, &record)
        .await
    {
        Ok(()) => {
            info!(user_id = %changed.id, action, "user status changed");
            Reply::json(200, &changed.summary())
        }
        Err(IdentityStoreError::VersionConflict { current_version }) => {
            stale(current_version.unwrap_or(target.version))
        }
        Err(IdentityStoreError::NotFound) => Reply::not_found("no user has this id"),
        Err(error) => store_failed(error),
    }
}

/// `POST /v1/auth/devices/{id}/disable` and `…/enable` (no body):
/// [`may_set_device_disabled`]. A disabled device gets no token, so the
/// MQTT broker refuses its login too, and the authorizer refuses the tokens
/// it holds. Idempotent: 200 with the device as it is now.
pub async fn set_device_disabled<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    device_id: &str,
    disable: bool,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if let Err(reply) = administrator(caller) {
        return reply;
    }
    if let Err(errors) = parse_device_status_request(body) {
        return invalid(errors);
    }
    let device = match services.store.get_device(device_id).await {
        Ok(Some(device)) => device,
        Ok(None) => return Reply::not_found("no device has this id"),
        Err(error) => return store_failed(error),
    };
    if let Err(reason) = may_set_device_disabled(caller, &device.org_id) {
        return denied(reason);
    }
    if device.is_disabled() == disable {
        return Reply::json(200, &device.summary());
    }
    let now = services.clock.now();
    let (changed, action) = if disable {
        (
            Device {
                disabled_at: Some(now),
                ..device.clone()
            },
            "device.disabled",
        )
    } else {
        (
            Device {
                disabled_at: None,
                ..device.clone()
            },
            "device.enabled",
        )
    };
    let record = AuditRecord::new(
        EntityType::Device,
        &device.id,
        Actor::from(caller),
        action,
        now,
        Some(device.to_json()),
        Some(changed.to_json()),
    );
    match services.store.update_device_status(&changed, &record).await {
        Ok(()) => {
            info!(device_id = %changed.id, action, "device status changed");
            Reply::json(200, &changed.summary())
        }
        Err(IdentityStoreError::NotFound) => Reply::not_found("no device has this id"),
        Err(error) => store_failed(error),
    }
}

/// 409 for a change based on an old version.
fn stale(current_version: u64) -> Reply {
    Reply::conflict(
        &format!(
            "the user was changed meanwhile (now at version {current_version}); reload and retry"
        ),
        &[FieldError::new(
            "version",
            format!("is stale: the current version is {current_version}"),
        )],
    )
}

/// The body of a registered device: its secret, shown only here.
#[derive(Serialize)]
struct RegisteredDevice<'a> {
    device_id: &'a str,
    org_id: &'a str,
    name: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    secret: &'a str,
}

/// `POST /v1/auth/devices`.
pub async fn create_device<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if let Err(reply) = administrator(caller) {
        return reply;
    }
    let request = match parse_create_device_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    if let Err(reason) = may_administer(caller, &request.org_id) {
        return denied(reason);
    }
    let secret = match random_secret() {
        Ok(secret) => secret,
        Err(error) => return token_failed(error),
    };
    let now = services.clock.now();
    let device = Device {
        id: request.device_id,
        org_id: request.org_id,
        name: request.name,
        secret_hash: sha256_hex(&secret),
        created_at: now,
        disabled_at: None,
    };
    let record = AuditRecord::new(
        EntityType::Device,
        &device.id,
        Actor::from(caller),
        "device.registered",
        now,
        None,
        Some(device.to_json()),
    );
    match services.store.create_device(&device, &record).await {
        Ok(()) => {
            info!(device_id = %device.id, org_id = %device.org_id, "device registered");
            Reply::json(
                201,
                &RegisteredDevice {
                    device_id: &device.id,
                    org_id: &device.org_id,
                    name: &device.name,
                    created_at: device.created_at,
                    secret: &secret,
                },
            )
        }
        Err(IdentityStoreError::AlreadyExists(_)) => Reply::conflict(
            "a device with this id is registered already",
            &[FieldError::new("device_id", "is registered already")],
        ),
        Err(IdentityStoreError::OrganisationNotFound) => {
            Reply::invalid(&[FieldError::new("org_id", "no organisation has this id")])
        }
        Err(error) => store_failed(error),
    }
}

/// `POST /v1/auth/devices/token`: a device signs in with its secret.
pub async fn device_token<S, A, T, C>(services: &Services<S, A, T, C>, body: &[u8]) -> Reply
where
    S: IdentityStore,
    T: IssueTokens,
    C: Clock,
{
    let request = match parse_device_token_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(errors),
    };
    let device = match services.store.get_device(&request.device_id).await {
        Ok(device) => device,
        Err(error) => return store_failed(error),
    };
    let presented = sha256_hex(&request.secret);
    let expected = device
        .as_ref()
        .map_or(NO_DEVICE_HASH, |device| device.secret_hash.as_str());
    let matches = constant_time_eq(presented.as_bytes(), expected.as_bytes());
    let Some(device) = device.filter(|_| matches) else {
        info!(device_id = %request.device_id, "device token refused");
        return Reply::unauthorized(BAD_DEVICE_CREDENTIALS);
    };
    if device.is_disabled() {
        info!(device_id = %device.id, "device token refused: the device is disabled");
        return Reply::unauthorized(BAD_DEVICE_CREDENTIALS);
    }
    match services
        .tokens
        .issue(&device.principal(), services.clock.now())
    {
        Ok(access) => {
            info!(device_id = %device.id, "device token issued");
            Reply::json(
                200,
                &json!({
                    "access_token": access.token,
                    "token_type": "Bearer",
                    "expires_in": access.expires_in,
                }),
            )
        }
        Err(error) => token_failed(error),
    }
}

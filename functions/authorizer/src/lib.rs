//! The REST API's TOKEN authorizer: verifies the access token of a request
//! and hands the caller to the routes.
//!
//! API Gateway calls it with the `Authorization` header
//! (`ApiGatewayCustomAuthorizerRequest`, `type` = `TOKEN`) and caches the
//! answer per token for 30 seconds (the template's `ReauthorizeEvery`). It
//! answers:
//!
//! - for `Bearer <jwt>` with a valid access token (see
//!   [`pharmaguard_security::TokenVerifier`]) whose account may still act
//!   (one projected, strongly consistent `GetItem` of the user or device
//!   item: see [`pharmaguard_domain::accounts::session`]; not disabled, not
//!   issued before the user's last role change or disable, the role and
//!   organisation the account has now): `principalId` = the user or
//!   device id, a policy allowing `execute-api:Invoke` on every method and
//!   path of the API stage (so a cached answer serves every route; the
//!   routes enforce roles themselves), and the context of
//!   [`pharmaguard_domain::identity::Principal::to_context`] (`kind`, `org`,
//!   `role`);
//! - otherwise (no header, another scheme, a malformed, forged, expired or
//!   foreign token, a disabled, deleted or changed account): the error
//!   `Unauthorized`, which API Gateway turns into a 401;
//! - when the account's status cannot be read: another error, which API
//!   Gateway answers with a 500 and does not cache (never an Allow).
//!
//! So a revoked user's token is refused by every call API Gateway does not
//! answer from its cache: at most 30 seconds after the disable or role
//! change.
//!
//! The work is done by [`authorize`], a plain function of the request, the
//! verifier, the account statuses and the time.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use pharmaguard_domain::accounts::session::{Revoked, check_token, issued_at, status_of};
use pharmaguard_domain::identity::Principal;
use pharmaguard_domain::ports::AccountStatuses;
use pharmaguard_security::{TokenError, TokenVerifier};
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{error, info};

/// Environment variable naming the SSM parameter (a plain String) holding
/// the Ed25519 public key PEM that verifies access tokens.
pub const PUBLIC_KEY_PARAM_VAR: &str = "JWT_PUBLIC_KEY_PARAM";

/// The error message that makes API Gateway answer 401. It must be exactly this.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// The authorizer's answer to API Gateway.
pub type AuthorizerResponse = ApiGatewayCustomAuthorizerResponse<Value>;

/// Why a request is refused; every one of them is reported to API Gateway
/// as [`UNAUTHORIZED`] (the detail goes to the log only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` value.
    #[error("no authorization token")]
    MissingToken,
    /// Not `Bearer <token>`.
    #[error("not a bearer token")]
    NotBearer,
    /// The token did not verify.
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenError),
    /// No `methodArn` to build the policy on.
    #[error("no method ARN in the request")]
    MissingMethodArn,
    /// The token is genuine but its account may no longer act.
    #[error("revoked: {0}")]
    Revoked(#[from] Revoked),
    /// The account's status could not be read (not an Unauthorized: the
    /// caller gets a 500, and nothing is cached).
    #[error("account status unavailable: {0}")]
    StatusUnavailable(String),
}

/// What API Gateway is told when the account's status cannot be read.
pub const STATUS_UNAVAILABLE: &str = "account status unavailable";

/// Decides on one request at `now`.
pub async fn authorize<S: AccountStatuses>(
    verifier: &TokenVerifier,
    statuses: &S,
    request: &ApiGatewayCustomAuthorizerRequest,
    now: OffsetDateTime,
) -> Result<AuthorizerResponse, Refusal> {
    let header = request
        .authorization_token
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(Refusal::MissingToken)?;
    let token = bearer_token(header).ok_or(Refusal::NotBearer)?;
    let claims = verifier.claims_at(token, now)?;
    let principal = claims.principal().ok_or_else(|| {
        TokenError::InvalidClaims("kind, role and ids do not describe a principal".to_owned())
    })?;
    let issued = issued_at(claims.iat)
        .ok_or_else(|| TokenError::InvalidClaims("iat out of range".to_owned()))?;
    let method_arn = request
        .method_arn
        .as_deref()
        .filter(|arn| !arn.is_empty())
        .ok_or(Refusal::MissingMethodArn)?;
    let status = status_of(statuses, &principal)
        .await
        .map_err(|error| Refusal::StatusUnavailable(error.to_string()))?;
    check_token(&principal, issued, status.as_ref())?;
    Ok(allow(&principal, &stage_resource(method_arn)))
}

/// The token of `Bearer <token>` (the scheme in any case), if that is what
/// the header holds.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// The resource covering every method and path of the method's API stage:
/// `arn:aws:execute-api:<region>:<account>:<api id>/<stage>/*/*` from
/// `arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>`.
/// An ARN of another shape is used as it is (it then covers that method only).
pub fn stage_resource(method_arn: &str) -> String {
    let mut parts = method_arn.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(api), Some(stage))
            if api.starts_with("arn:") && api.contains(":execute-api:") && !stage.is_empty() =>
        {
            format!("{api}/{stage}/*/*")
        }
        _ => method_arn.to_owned(),
    }
}

/// The Allow answer for `principal` on `resource`.
pub fn allow(principal: &Principal, resource: &str) -> AuthorizerResponse {
    let (principal_id, context) = principal.to_context();
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![resource.to_owned()];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = AuthorizerResponse::default();
    response.principal_id = Some(principal_id);
    response.policy_document = policy;
    response.context = context_value(context);
    response
}

fn context_value(context: BTreeMap<String, String>) -> Value {
    Value::Object(
        context
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect(),
    )
}

/// Runs [`authorize`] now and logs the decision; a refusal becomes the
/// error [`UNAUTHORIZED`], an unreadable status [`STATUS_UNAVAILABLE`].
pub async fn handle<S: AccountStatuses>(
    verifier: &TokenVerifier,
    statuses: &S,
    request: &ApiGatewayCustomAuthorizerRequest,
) -> Result<AuthorizerResponse, String> {
    match authorize(verifier, statuses, request, OffsetDateTime::now_utc()).await {
        Ok(response) => {
            info!(
                principal_id = response.principal_id.as_deref().unwrap_or_default(),
                "allowed"
            );
            Ok(response)
        }
        Err(Refusal::StatusUnavailable(message)) => {
            error!(error = %message, "account status not read; no decision");
            Err(STATUS_UNAVAILABLE.to_owned())
        }
        Err(refusal) => {
            info!(reason = %refusal, method_arn = request.method_arn.as_deref().unwrap_or_default(), "refused");
            Err(UNAUTHORIZED.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
    use pharmaguard_domain::accounts::{CreateUserRequest, Device, User};
    use pharmaguard_domain::identity::Role;
    use pharmaguard_security::TokenSigner;
    use pharmaguard_security::token::{KeyPairPem, generate_key_pair};
    use serde_json::json;
    use std::sync::LazyLock;
    use std::time::Duration;

    /// Two key pairs, generated once per test run.
    static KEY_A: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key a"));
    static KEY_B: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key b"));
    const METHOD_ARN: &str =
        "arn:aws:execute-api:eu-central-1:000000000000:abc123/local/GET/v1/shipments/shp-1";

    fn verifier() -> TokenVerifier {
        TokenVerifier::from_public_key_pem(&KEY_A.public_pem).expect("test public key")
    }

    fn signer(pem: &str) -> TokenSigner {
        TokenSigner::from_pkcs8_pem(pem).expect("test key")
    }

    fn manager() -> Principal {
        Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Manager,
        }
    }

    fn stored_manager() -> User {
        let mut user = User::new(
            &CreateUserRequest {
                email: "m@example.org".into(),
                name: "M".into(),
                password: "unused".into(),
                role: Role::Manager,
                org_id: "org-a".into(),
            },
            "hash".into(),
            now() - Duration::from_secs(3600),
        );
        user.id = "usr-1".into();
        user
    }

    fn stored_device(disabled: bool) -> Device {
        Device {
            id: "truck-7".into(),
            org_id: "org-a".into(),
            name: "Truck 7".into(),
            secret_hash: "00".repeat(32),
            created_at: now() - Duration::from_secs(3600),
            disabled_at: disabled.then(now),
        }
    }

    /// The accounts as stored: the manager `usr-1` and the device `truck-7`.
    fn accounts() -> MemoryIdentityStore {
        let store = MemoryIdentityStore::new();
        store.seed_user(stored_manager());
        store.seed_device(stored_device(false));
        store
    }

    fn request(token: Option<&str>) -> ApiGatewayCustomAuthorizerRequest {
        serde_json::from_value(json!({
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": METHOD_ARN,
        }))
        .expect("request")
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[tokio::test]
    async fn a_valid_token_is_allowed_on_the_whole_stage_with_the_context() {
        let token = signer(&KEY_A.private_pem)
            .issue(&manager(), now())
            .expect("token")
            .token;
        let response = authorize(
            &verifier(),
            &accounts(),
            &request(Some(&format!("Bearer {token}"))),
            now(),
        )
        .await
        .expect("allowed");
        let json = serde_json::to_value(&response).expect("JSON");
        assert_eq!(json["principalId"], "usr-1");
        assert_eq!(
            json["policyDocument"],
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": ["execute-api:Invoke"],
                    "Effect": "Allow",
                    "Resource": ["arn:aws:execute-api:eu-central-1:000000000000:abc123/local/*/*"]
                }]
            })
        );
        assert_eq!(
            json["context"],
            json!({"kind": "user", "org": "org-a", "role": "MANAGER"})
        );

        // the context reads back as the same principal in the routes
        let context = response.context.as_object().expect("object");
        let back = Principal::from_context(response.principal_id.as_deref(), |key| {
            context.get(key).and_then(Value::as_str)
        });
        assert_eq!(back, Ok(manager()));
    }

    #[tokio::test]
    async fn devices_are_allowed_without_a_role() {
        let device = Principal::Device {
            device_id: "truck-7".into(),
            org_id: "org-a".into(),
        };
        let token = signer(&KEY_A.private_pem)
            .issue(&device, now())
            .expect("token")
            .token;
        let response = authorize(
            &verifier(),
            &accounts(),
            &request(Some(&format!("bearer {token}"))),
            now(),
        )
        .await
        .expect("allowed");
        assert_eq!(response.principal_id.as_deref(), Some("truck-7"));
        assert_eq!(response.context, json!({"kind": "device", "org": "org-a"}));
    }

    #[tokio::test]
    async fn a_missing_or_non_bearer_header_is_refused() {
        let token = signer(&KEY_A.private_pem)
            .issue(&manager(), now())
            .expect("token")
            .token;
        assert_eq!(
            authorize(&verifier(), &accounts(), &request(None), now()).await,
            Err(Refusal::MissingToken)
        );
        assert_eq!(
            authorize(&verifier(), &accounts(), &request(Some("  ")), now()).await,
            Err(Refusal::MissingToken)
        );
        for header in [
            token.clone(),
            format!("Basic {token}"),
            "Bearer".to_owned(),
            "Bearer  ".to_owned(),
        ] {
            assert_eq!(
                authorize(&verifier(), &accounts(), &request(Some(&header)), now()).await,
                Err(Refusal::NotBearer),
                "{header:.20}"
            );
        }
    }

    #[tokio::test]
    async fn forged_expired_and_garbage_tokens_are_refused() {
        let forged = signer(&KEY_B.private_pem)
            .issue(&manager(), now())
            .expect("token")
            .token;
        let expired = signer(&KEY_A.private_pem)
            .issue(&manager(), now() - Duration::from_secs(3600))
            .expect("token")
            .token;
        let future = signer(&KEY_A.private_pem)
            .issue(&manager(), now() + Duration::from_secs(3600))
            .expect("token")
            .token;
        for (token, expected) in [
            (forged, TokenError::BadSignature),
            (expired, TokenError::Expired),
            (future, TokenError::NotYetValid),
        ] {
            assert_eq!(
                authorize(
                    &verifier(),
                    &accounts(),
                    &request(Some(&format!("Bearer {token}"))),
                    now()
                )
                .await,
                Err(Refusal::InvalidToken(expected))
            );
        }
        assert!(matches!(
            authorize(
                &verifier(),
                &accounts(),
                &request(Some("Bearer not.a.jwt")),
                now()
            )
            .await,
            Err(Refusal::InvalidToken(_))
        ));
    }

    #[tokio::test]
    async fn every_refusal_is_reported_as_exactly_unauthorized() {
        for header in [None, Some("Bearer garbage"), Some("Basic abc")] {
            assert_eq!(
                handle(&verifier(), &accounts(), &request(header)).await,
                Err("Unauthorized".to_owned())
            );
        }
        let token = signer(&KEY_A.private_pem)
            .issue(&manager(), now())
            .expect("token")
            .token;
        assert!(
            handle(
                &verifier(),
                &accounts(),
                &request(Some(&format!("Bearer {token}")))
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn the_policy_covers_the_stage_derived_from_the_method_arn() {
        assert_eq!(
            stage_resource(
                "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/POST/v1/auth/users"
            ),
            "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/*/*"
        );
        assert_eq!(
            stage_resource("arn:aws-cn:execute-api:cn-north-1:123:api/dev/GET/"),
            "arn:aws-cn:execute-api:cn-north-1:123:api/dev/*/*"
        );
        assert_eq!(stage_resource("not-an-arn"), "not-an-arn");
        let mut missing = request(Some("Bearer x"));
        missing.method_arn = None;
        let token = signer(&KEY_A.private_pem)
            .issue(&manager(), now())
            .expect("token")
            .token;
        missing.authorization_token = Some(format!("Bearer {token}"));
        assert_eq!(
            authorize(&verifier(), &accounts(), &missing, now()).await,
            Err(Refusal::MissingMethodArn)
        );
    }

    #[tokio::test]
    async fn bearer_tokens_are_extracted_strictly() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Token abc"), None);
        assert_eq!(bearer_token("abc"), None);
    }

    fn bearer(principal: &Principal, at: OffsetDateTime) -> String {
        let token = signer(&KEY_A.private_pem)
            .issue(principal, at)
            .expect("token")
            .token;
        format!("Bearer {token}")
    }

    #[tokio::test]
    async fn tokens_of_disabled_or_deleted_accounts_are_refused() {
        let store = accounts();
        store.seed_user(stored_manager().disabled(now()));
        assert_eq!(
            authorize(
                &verifier(),
                &store,
                &request(Some(&bearer(&manager(), now()))),
                now()
            )
            .await,
            Err(Refusal::Revoked(Revoked::Disabled))
        );
        let ghost = Principal::User {
            user_id: "usr-ghost".into(),
            org_id: "org-a".into(),
            role: Role::Admin,
        };
        assert_eq!(
            authorize(
                &verifier(),
                &store,
                &request(Some(&bearer(&ghost, now()))),
                now()
            )
            .await,
            Err(Refusal::Revoked(Revoked::UnknownAccount))
        );
        let device = stored_device(false).principal();
        store.seed_device(stored_device(true));
        assert_eq!(
            authorize(
                &verifier(),
                &store,
                &request(Some(&bearer(&device, now()))),
                now()
            )
            .await,
            Err(Refusal::Revoked(Revoked::Disabled))
        );
        assert_eq!(
            handle(&verifier(), &store, &request(Some(&bearer(&device, now())))).await,
            Err("Unauthorized".to_owned())
        );
    }

    #[tokio::test]
    async fn tokens_issued_before_a_role_change_are_refused_and_later_ones_allowed() {
        let store = accounts();
        let issued = now() - Duration::from_secs(60);
        let old = bearer(&manager(), issued);
        let changed = stored_manager().with_role(Role::Driver, now() - Duration::from_secs(30));
        store.seed_user(changed);
        assert_eq!(
            authorize(&verifier(), &store, &request(Some(&old)), now()).await,
            Err(Refusal::Revoked(Revoked::Superseded))
        );
        let driver = Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Driver,
        };
        let fresh = bearer(&driver, now());
        let response = authorize(&verifier(), &store, &request(Some(&fresh)), now())
            .await
            .expect("a token of the new role");
        assert_eq!(response.context["role"], "DRIVER");
        // a token claiming a role the user does not have now
        let stale_role = bearer(&manager(), now());
        assert_eq!(
            authorize(&verifier(), &store, &request(Some(&stale_role)), now()).await,
            Err(Refusal::Revoked(Revoked::Changed))
        );
    }

    #[tokio::test]
    async fn an_unreadable_status_is_no_allow_and_no_unauthorized() {
        let mut store = accounts();
        store.unavailable = true;
        let header = bearer(&manager(), now());
        assert!(matches!(
            authorize(&verifier(), &store, &request(Some(&header)), now()).await,
            Err(Refusal::StatusUnavailable(_))
        ));
        assert_eq!(
            handle(&verifier(), &store, &request(Some(&header))).await,
            Err(STATUS_UNAVAILABLE.to_owned())
        );
    }
}

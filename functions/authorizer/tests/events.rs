//! The sample events in `events/authorizer/` parse as TOKEN authorizer
//! requests and get the answers `events/README.md` promises.

use std::path::PathBuf;
use std::sync::LazyLock;

use authorizer::handle;
use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
use pharmaguard_domain::accounts::{CreateUserRequest, User};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_security::token::{KeyPairPem, generate_key_pair};
use pharmaguard_security::{TokenSigner, TokenVerifier};
use time::OffsetDateTime;

/// The key pair, generated once per test run.
static KEY: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key"));

fn event(name: &str) -> ApiGatewayCustomAuthorizerRequest {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/authorizer")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn verifier() -> TokenVerifier {
    TokenVerifier::from_public_key_pem(&KEY.public_pem).expect("test key")
}

#[test]
fn the_samples_are_token_authorizer_requests() {
    for name in ["token.json", "token-missing.json"] {
        let event = event(name);
        assert_eq!(event.type_.as_deref(), Some("TOKEN"), "{name}");
        assert!(event.method_arn.is_some(), "{name}");
    }
}

/// The sample's admin, as stored.
fn accounts() -> MemoryIdentityStore {
    let store = MemoryIdentityStore::new();
    let mut admin = User::new(
        &CreateUserRequest {
            email: "admin@example.org".into(),
            name: "Admin".into(),
            password: "unused".into(),
            role: Role::Admin,
            org_id: "org-operator".into(),
        },
        "hash".into(),
        OffsetDateTime::now_utc() - time::Duration::hours(1),
    );
    admin.id = "usr-admin-0001".into();
    store.seed_user(admin);
    store
}

#[tokio::test]
async fn a_missing_or_placeholder_token_is_unauthorized() {
    for name in ["token.json", "token-missing.json"] {
        assert_eq!(
            handle(&verifier(), &accounts(), &event(name)).await,
            Err("Unauthorized".to_owned()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_sample_with_a_real_token_is_allowed_on_the_stage() {
    let principal = Principal::User {
        user_id: "usr-admin-0001".into(),
        org_id: "org-operator".into(),
        role: Role::Admin,
    };
    let token = TokenSigner::from_pkcs8_pem(&KEY.private_pem)
        .expect("test key")
        .issue(&principal, OffsetDateTime::now_utc())
        .expect("token")
        .token;
    let mut request = event("token.json");
    request.authorization_token = Some(format!("Bearer {token}"));
    let response = handle(&verifier(), &accounts(), &request)
        .await
        .expect("allowed");
    assert_eq!(response.principal_id.as_deref(), Some("usr-admin-0001"));
    assert_eq!(
        response.policy_document.statement[0].resource,
        ["arn:aws:execute-api:eu-central-1:000000000000:pharmaguard/local/*/*"]
    );
}

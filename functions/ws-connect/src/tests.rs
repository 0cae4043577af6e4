//! `$connect` against an in-memory registry and test key pairs.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
use pharmaguard_domain::accounts::{CreateUserRequest, User};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::live::memory::MemoryConnectionRegistry;
use pharmaguard_security::TokenSigner;
use pharmaguard_security::token::{KeyPairPem, generate_key_pair};
use serde_json::json;
use time::macros::datetime;

use super::*;

/// Two key pairs, generated once per test run.
static KEY_A: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key a"));
static KEY_B: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key b"));

/// `connectedAt` of the sample events: 2026-11-21 08:00:00 UTC.
const CONNECTED_AT_MS: i64 = 1_795_248_000_000;

fn verifier() -> TokenVerifier {
    TokenVerifier::from_public_key_pem(&KEY_A.public_pem).expect("test public key")
}

fn token(key: &KeyPairPem, principal: &Principal, issued: OffsetDateTime) -> String {
    TokenSigner::from_pkcs8_pem(&key.private_pem)
        .expect("test key")
        .issue(principal, issued)
        .expect("token")
        .token
}

fn pharmacist() -> Principal {
    Principal::User {
        user_id: "usr-7".into(),
        org_id: "org-hospital".into(),
        role: Role::Pharmacist,
    }
}

fn stored_pharmacist() -> User {
    let mut user = User::new(
        &CreateUserRequest {
            email: "p@example.org".into(),
            name: "P".into(),
            password: "unused".into(),
            role: Role::Pharmacist,
            org_id: "org-hospital".into(),
        },
        "hash".into(),
        datetime!(2026-01-01 00:00 UTC),
    );
    user.id = "usr-7".into();
    user
}

/// The pharmacist `usr-7`, as stored.
fn accounts() -> MemoryIdentityStore {
    let store = MemoryIdentityStore::new();
    store.seed_user(stored_pharmacist());
    store
}

fn request(token: Option<&str>) -> ConnectRequest {
    serde_json::from_value(json!({
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "connectionId": "Lk3QbfJqFiACHgw=",
            "connectedAt": CONNECTED_AT_MS, "requestId": "req-1", "stage": "local"
        },
        "queryStringParameters": token.map(|token| json!({ "token": token })),
    }))
    .expect("a $connect event")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[tokio::test]
async fn a_user_token_registers_the_connection_for_two_hours() {
    let registry = MemoryConnectionRegistry::new();
    let token = token(&KEY_A, &pharmacist(), now());
    let response = connect(
        &verifier(),
        &accounts(),
        &registry,
        &request(Some(&token)),
        now(),
    )
    .await;
    assert_eq!(response, WsResponse { status_code: 200 });
    let entry = registry.entry("Lk3QbfJqFiACHgw=").expect("registered");
    assert_eq!(entry.user_id, "usr-7");
    assert_eq!(entry.org_id, "org-hospital");
    assert_eq!(entry.role, Role::Pharmacist);
    assert_eq!(entry.connected_at, datetime!(2026-11-21 08:00 UTC));
    assert_eq!(entry.expires_at, datetime!(2026-11-21 10:00 UTC));
    assert_eq!(entry.subscription, None);
}

#[tokio::test]
async fn without_connected_at_the_connection_starts_now() {
    let registry = MemoryConnectionRegistry::new();
    let at = now();
    let mut request = request(Some(&token(&KEY_A, &pharmacist(), at)));
    request.request_context.connected_at = None;
    assert_eq!(
        connect(&verifier(), &accounts(), &registry, &request, at)
            .await
            .status_code,
        200
    );
    let entry = registry.entry("Lk3QbfJqFiACHgw=").expect("registered");
    assert_eq!(entry.connected_at, at);
    assert_eq!(
        entry.expires_at - entry.connected_at,
        time::Duration::hours(2)
    );
}

#[tokio::test]
async fn missing_invalid_expired_forged_and_device_tokens_are_refused_with_401() {
    let device = Principal::Device {
        device_id: "truck-7".into(),
        org_id: "org-hospital".into(),
    };
    let cases = [
        None,
        Some(String::new()),
        Some("   ".to_owned()),
        Some("not.a.jwt".to_owned()),
        Some(token(&KEY_B, &pharmacist(), now())),
        Some(token(
            &KEY_A,
            &pharmacist(),
            now() - Duration::from_secs(3600),
        )),
        Some(token(&KEY_A, &device, now())),
    ];
    for token in cases {
        let registry = MemoryConnectionRegistry::new();
        let response = connect(
            &verifier(),
            &accounts(),
            &registry,
            &request(token.as_deref()),
            now(),
        )
        .await;
        assert_eq!(response.status_code, 401, "{token:.20?}");
        assert!(registry.ids().is_empty(), "{token:.20?}");
    }
}

#[test]
fn refusals_say_why() {
    let device = Principal::Device {
        device_id: "truck-7".into(),
        org_id: "org-hospital".into(),
    };
    assert_eq!(
        admit(&verifier(), &request(None), now()),
        Err(Refusal::MissingToken)
    );
    assert_eq!(
        admit(
            &verifier(),
            &request(Some(&token(&KEY_B, &pharmacist(), now()))),
            now()
        ),
        Err(Refusal::InvalidToken(TokenError::BadSignature))
    );
    assert_eq!(
        admit(
            &verifier(),
            &request(Some(&token(&KEY_A, &device, now()))),
            now()
        ),
        Err(Refusal::Refused(ConnectionRefused::Device))
    );
    let mut nameless = request(Some(&token(&KEY_A, &pharmacist(), now())));
    nameless.request_context.connection_id = None;
    assert_eq!(
        admit(&verifier(), &nameless, now()),
        Err(Refusal::Refused(ConnectionRefused::MissingConnectionId))
    );
}

#[tokio::test]
async fn a_registry_failure_refuses_the_connection_with_500() {
    let registry = MemoryConnectionRegistry::new();
    registry.set_unavailable(true);
    let token = token(&KEY_A, &pharmacist(), now());
    let response = connect(
        &verifier(),
        &accounts(),
        &registry,
        &request(Some(&token)),
        now(),
    )
    .await;
    assert_eq!(response.status_code, 500);
}

#[test]
fn answers_are_what_api_gateway_reads() {
    assert_eq!(
        serde_json::to_value(WsResponse { status_code: 401 }).unwrap(),
        json!({"statusCode": 401})
    );
}

fn sample(name: &str) -> ConnectRequest {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/ws-connect")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_samples_get_the_answers_the_readme_promises() {
    let registry = MemoryConnectionRegistry::new();
    for name in ["connect.json", "connect-no-token.json"] {
        let response = connect(&verifier(), &accounts(), &registry, &sample(name), now()).await;
        assert_eq!(response.status_code, 401, "{name}");
    }
    // with a real token in place of the placeholder
    let mut event = sample("connect.json");
    let token = token(&KEY_A, &pharmacist(), now());
    event
        .query_string_parameters
        .as_mut()
        .expect("a query string")
        .insert(TOKEN_PARAM.into(), token);
    let response = connect(&verifier(), &accounts(), &registry, &event, now()).await;
    assert_eq!(response.status_code, 200);
    let id = event.request_context.connection_id.expect("an id");
    assert_eq!(
        registry.entry(&id).expect("registered").connected_at,
        datetime!(2026-11-21 08:00 UTC)
    );
}

#[tokio::test]
async fn disabled_deleted_and_changed_accounts_get_no_connection() {
    let token = token(&KEY_A, &pharmacist(), now() - Duration::from_secs(60));
    let disabled = accounts();
    disabled.seed_user(stored_pharmacist().disabled(now()));
    let changed = accounts();
    changed.seed_user(stored_pharmacist().with_role(Role::Driver, now() - Duration::from_secs(30)));
    for (label, store) in [
        ("disabled", disabled),
        ("role changed after the token", changed),
        ("deleted", MemoryIdentityStore::new()),
    ] {
        let registry = MemoryConnectionRegistry::new();
        let response = connect(
            &verifier(),
            &store,
            &registry,
            &request(Some(&token)),
            now(),
        )
        .await;
        assert_eq!(response.status_code, 401, "{label}");
        assert!(registry.ids().is_empty(), "{label}");
    }
    let mut unreadable = accounts();
    unreadable.unavailable = true;
    let registry = MemoryConnectionRegistry::new();
    let response = connect(
        &verifier(),
        &unreadable,
        &registry,
        &request(Some(&token)),
        now(),
    )
    .await;
    assert_eq!(response.status_code, 500);
    assert!(registry.ids().is_empty());
}

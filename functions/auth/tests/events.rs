//! The sample events in `events/auth/` parse as API Gateway REST proxy
//! requests and get the answers `events/README.md` promises.

use std::path::PathBuf;
use std::sync::LazyLock;

use auth::{Services, handle};
use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_http::{Request, RequestExt};
use pharmaguard_domain::accounts::memory::{MemoryAuditLog, MemoryIdentityStore};
use pharmaguard_domain::accounts::{CreateUserRequest, Organisation, User};
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::shipment::ports::SystemClock;
use pharmaguard_security::token::{KeyPairPem, generate_key_pair};
use pharmaguard_security::{Passwords, TokenSigner};
use serde_json::Value;
use time::OffsetDateTime;

/// The signing key, generated once per test run.
static KEY: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key"));
/// The password `login.json` carries (a placeholder for the real one).
const LOGIN_PASSWORD: &str = "the password from localstack/.state/admin.json";

fn read_event(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/auth")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn request(name: &str) -> Request {
    lambda_http::request::from_str(&read_event(name)).expect("a lambda_http request")
}

/// The operator organisation and its admin, as the samples name them.
fn services(
    admin_password: &str,
) -> Services<MemoryIdentityStore, MemoryAuditLog, TokenSigner, SystemClock> {
    let passwords = Passwords::with_cost(64, 1, 1).expect("cheap argon2");
    let store = MemoryIdentityStore::new();
    let now = OffsetDateTime::now_utc();
    store.seed_organisation(Organisation {
        id: "org-operator".into(),
        name: "PharmaGuard Operations".into(),
        kind: OrganisationKind::LogisticsOperator,
        created_at: now,
    });
    let mut admin = User::new(
        &CreateUserRequest {
            email: "admin@pharmaguard.local".into(),
            name: "Platform administrator".into(),
            password: admin_password.into(),
            role: Role::Admin,
            org_id: "org-operator".into(),
        },
        passwords.hash(admin_password).expect("hash"),
        now,
    );
    admin.id = "usr-admin-0001".into();
    store.seed_user(admin);
    Services {
        store,
        audit: MemoryAuditLog::default(),
        tokens: TokenSigner::from_pkcs8_pem(&KEY.private_pem).expect("test key"),
        clock: SystemClock,
        passwords,
    }
}

async fn replay(name: &str, admin_password: &str) -> (u16, Value) {
    let response = handle(&services(admin_password), request(name))
        .await
        .expect("response");
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

const SAMPLES: [&str; 5] = [
    "login.json",
    "refresh.json",
    "create-user.json",
    "create-user-invalid.json",
    "me.json",
];

#[test]
fn every_sample_is_an_api_gateway_rest_proxy_request() {
    for name in SAMPLES {
        let event: ApiGatewayProxyRequest =
            serde_json::from_str(&read_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = event.path.as_deref().unwrap_or_default();
        assert!(path.starts_with("/v1/auth/"), "{name}");
        assert!(request(name).request_context_ref().is_some(), "{name}");
    }
}

#[tokio::test]
async fn login_signs_in_with_the_right_password_only() {
    let (status, body) = replay("login.json", LOGIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], "usr-admin-0001");
    assert!(body["refresh_token"].is_string());
    let (status, body) = replay("login.json", "another password entirely").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn refresh_with_the_placeholder_token_is_401() {
    let (status, body) = replay("refresh.json", LOGIN_PASSWORD).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn the_admin_creates_a_manager() {
    let (status, body) = replay("create-user.json", LOGIN_PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], "m.keller@st-mary.example");
    assert_eq!(body["role"], "MANAGER");
    assert!(body.get("password_hash").is_none());
}

#[tokio::test]
async fn an_invalid_user_names_every_field() {
    let (status, body) = replay("create-user-invalid.json", LOGIN_PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "name", "password", "role"]);
}

#[tokio::test]
async fn me_describes_the_caller_of_the_context() {
    let (status, body) = replay("me.json", LOGIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "usr-admin-0001");
    assert_eq!(body["role"], "ADMIN");
    assert_eq!(body["email"], "admin@pharmaguard.local");
}

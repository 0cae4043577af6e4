//! Every route through [`route`], with the in-memory store and audit log, a
//! real token signer (test key) and a clock the tests move.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use pharmaguard_domain::accounts::memory::{MemoryAuditLog, MemoryIdentityStore};
use pharmaguard_domain::accounts::{CreateUserRequest, Organisation, User};
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_security::token::{KeyPairPem, generate_key_pair};
use pharmaguard_security::{TokenVerifier, sha256_hex};
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;

/// The signing key, generated once per test run.
static KEY: LazyLock<KeyPairPem> = LazyLock::new(|| generate_key_pair().expect("test key"));
const START: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);
const PASSWORD: &str = "correct horse battery staple";

/// A clock the test moves.
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock");
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock")
    }
}

type TestServices = Services<MemoryIdentityStore, MemoryAuditLog, TokenSigner, TestClock>;

/// The platform with two organisations and a user of every role in the
/// first (`op`), and a manager and a driver in the second (`hosp`).
struct World {
    services: TestServices,
    op: String,
    hosp: String,
}

fn principal(user: &User) -> Principal {
    user.principal()
}

impl World {
    fn new() -> Self {
        let passwords = Passwords::with_cost(64, 1, 1).expect("cheap argon2");
        let store = MemoryIdentityStore::new();
        let op = Organisation::new("Operator", OrganisationKind::LogisticsOperator, START);
        let hosp = Organisation::new("Hospital", OrganisationKind::Hospital, START);
        let world = Self {
            op: op.id.clone(),
            hosp: hosp.id.clone(),
            services: Services {
                store,
                audit: MemoryAuditLog::default(),
                tokens: TokenSigner::from_pkcs8_pem(&KEY.private_pem).expect("test key"),
                clock: TestClock(Mutex::new(START)),
                passwords,
            },
        };
        world.services.store.seed_organisation(op);
        world.services.store.seed_organisation(hosp);
        for (name, org, role) in [
            ("admin", world.op.clone(), Role::Admin),
            ("manager", world.op.clone(), Role::Manager),
            ("pharmacist", world.op.clone(), Role::Pharmacist),
            ("driver", world.op.clone(), Role::Driver),
            ("hmanager", world.hosp.clone(), Role::Manager),
            ("hdriver", world.hosp.clone(), Role::Driver),
        ] {
            world.seed(name, &org, role);
        }
        world
    }

    fn seed(&self, name: &str, org_id: &str, role: Role) {
        let request = CreateUserRequest {
            email: format!("{name}@example.org"),
            name: name.to_owned(),
            password: PASSWORD.to_owned(),
            role,
            org_id: org_id.to_owned(),
        };
        let hash = self.services.passwords.hash(PASSWORD).expect("hash");
        let mut user = User::new(&request, hash, START);
        user.id = format!("usr-{name}");
        self.services.store.seed_user(user);
    }

    fn user(&self, name: &str) -> User {
        let store = &self.services.store;
        let id = format!("usr-{name}");
        ready(store.get_user(&id))
            .expect("store")
            .expect("seeded user")
    }

    fn as_user(&self, name: &str) -> Principal {
        principal(&self.user(name))
    }

    fn verifier(&self) -> TokenVerifier {
        self.services.tokens.verifier()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        caller: Option<&Principal>,
        body: Value,
    ) -> (u16, Value) {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.call_raw(method, path, caller, body).await
    }

    async fn call_raw(
        &self,
        method: &str,
        path: &str,
        caller: Option<&Principal>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let request = AuthRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body,
            caller: caller.cloned(),
        };
        let reply = route(&self.services, &request).await;
        let json = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&reply.body).expect("JSON body")
        };
        (reply.status, json)
    }

    async fn post(&self, path: &str, caller: Option<&Principal>, body: Value) -> (u16, Value) {
        self.call("POST", path, caller, body).await
    }

    async fn login(&self, name: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/auth/login",
                None,
                json!({"email": format!("{name}@example.org"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn refresh(&self, token: &Value) -> (u16, Value) {
        self.post("/v1/auth/refresh", None, json!({"refresh_token": token}))
            .await
    }
}

/// Runs a future that never waits (the fakes are in memory).
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory call waited"),
    }
}

fn fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ login

#[tokio::test]
async fn login_answers_tokens_and_the_user() {
    let world = World::new();
    let body = world.login("manager").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_expires_in"], 10 * 3600);
    assert_eq!(
        body["user"],
        json!({"id": "usr-manager", "email": "manager@example.org", "name": "manager",
               "org_id": world.op, "role": "MANAGER"})
    );
    let access = body["access_token"].as_str().expect("access token");
    assert_eq!(
        world.verifier().verify_at(access, START),
        Ok(world.as_user("manager"))
    );
    let refresh = body["refresh_token"].as_str().expect("refresh token");
    assert_eq!(refresh.len(), 43);
    let stored = world.services.store.refresh_tokens();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].token_hash,
        sha256_hex(refresh),
        "only the hash is stored"
    );
    assert!(!body.to_string().contains("argon2"));
}

#[tokio::test]
async fn login_email_is_case_insensitive() {
    let world = World::new();
    let (status, _) = world
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "  MANAGER@Example.ORG", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let world = World::new();
    let wrong = world
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "manager@example.org", "password": "not the password"}),
        )
        .await;
    let unknown = world
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "nobody@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown, "no user enumeration");
    assert_eq!(wrong.1["error"], "unauthorized");
    assert!(world.services.store.refresh_tokens().is_empty());
}

#[tokio::test]
async fn login_with_bad_input_names_the_fields() {
    let world = World::new();
    let (status, body) = world
        .post("/v1/auth/login", None, json!({"email": 5}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(fields(&body), ["email", "password"]);
}

// ------------------------------------------------------------------ refresh

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let world = World::new();
    let login = world.login("driver").await;
    world.services.clock.advance(Duration::from_secs(600));

    let (status, body) = world.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["refresh_token"], login["refresh_token"]);
    assert_ne!(body["access_token"], login["access_token"]);
    let now = START + Duration::from_secs(600);
    assert_eq!(
        world
            .verifier()
            .verify_at(body["access_token"].as_str().expect("token"), now),
        Ok(world.as_user("driver"))
    );

    // the new one works in turn
    let (status, third) = world.refresh(&body["refresh_token"]).await;
    assert_eq!(status, 200, "{third}");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let world = World::new();
    let login = world.login("driver").await;
    let (status, rotated) = world.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200);

    // the old token comes back (stolen copy): refused, family revoked
    let (status, body) = world.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    let family = world.services.store.refresh_tokens()[0].family_id.clone();
    assert!(world.services.store.is_family_revoked(&family));

    // the legitimate holder's newer token is dead too
    let (status, _) = world.refresh(&rotated["refresh_token"]).await;
    assert_eq!(status, 401);

    let records = world.services.audit.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "auth.refresh_token_reused");
    assert_eq!(records[0].entity_key(), "USER#usr-driver");

    // another login starts a new family that works
    let again = world.login("driver").await;
    assert_eq!(world.refresh(&again["refresh_token"]).await.0, 200);
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_cannot_both_succeed() {
    let world = World::new();
    let login = world.login("driver").await;
    let (first, second) = tokio::join!(
        world.refresh(&login["refresh_token"]),
        world.refresh(&login["refresh_token"])
    );
    let statuses = [first.0, second.0];
    assert!(statuses.contains(&401), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 200).count() <= 1);
}

#[tokio::test]
async fn a_role_change_voids_the_users_refresh_families_and_a_new_login_has_the_new_role() {
    let world = World::new();
    let first = world.login("driver").await;
    let second = world.login("driver").await;
    let admin = world.as_user("admin");
    world.services.clock.advance(Duration::from_secs(1));
    let (status, _) = world
        .call(
            "PATCH",
            "/v1/auth/users/usr-driver",
            Some(&admin),
            json!({"role": "PHARMACIST", "version": 1}),
        )
        .await;
    assert_eq!(status, 200);
    for login in [&first, &second] {
        assert_eq!(world.refresh(&login["refresh_token"]).await.0, 401);
    }
    assert_eq!(world.services.store.refresh_tokens().len(), 2);
    world.services.clock.advance(Duration::from_secs(1));
    let body = world.login("driver").await;
    assert_eq!(body["user"]["role"], "PHARMACIST");
    let principal = world
        .verifier()
        .verify_at(
            body["access_token"].as_str().expect("token"),
            world.services.clock.now(),
        )
        .expect("valid");
    assert_eq!(principal.role(), Some(Role::Pharmacist));
    assert_eq!(world.refresh(&body["refresh_token"]).await.0, 200);
}

#[tokio::test]
async fn a_family_ends_ten_hours_after_its_login_however_often_it_rotates() {
    let world = World::new();
    let mut token = world.login("driver").await["refresh_token"].clone();
    for hour in 1..10 {
        world.services.clock.advance(Duration::from_secs(3600));
        let (status, body) = world.refresh(&token).await;
        assert_eq!(status, 200, "hour {hour}: {body}");
        assert_eq!(
            body["refresh_expires_in"],
            (10 - hour) * 3600,
            "hour {hour}"
        );
        token = body["refresh_token"].clone();
    }
    world.services.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        world.refresh(&token).await.0,
        401,
        "the working day is over"
    );
}

#[tokio::test]
async fn unknown_expired_or_malformed_refresh_tokens_are_refused() {
    let world = World::new();
    let (status, _) = world.refresh(&json!("never-issued")).await;
    assert_eq!(status, 401);

    let login = world.login("driver").await;
    world
        .services
        .clock
        .advance(Duration::from_secs(12 * 3600 + 1));
    assert_eq!(world.refresh(&login["refresh_token"]).await.0, 401);

    let (status, body) = world.post("/v1/auth/refresh", None, json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["refresh_token"]);
}

// ------------------------------------------------------------------ logout

#[tokio::test]
async fn logout_revokes_the_family() {
    let world = World::new();
    let login = world.login("pharmacist").await;
    let (status, body) = world.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200);
    let (status, nothing) = world
        .post(
            "/v1/auth/logout",
            None,
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    assert_eq!((status, nothing), (204, Value::Null));
    assert_eq!(world.refresh(&body["refresh_token"]).await.0, 401);

    // unknown tokens: still 204; malformed request: 400
    let (status, _) = world
        .post("/v1/auth/logout", None, json!({"refresh_token": "unknown"}))
        .await;
    assert_eq!(status, 204);
    let (status, body) = world
        .post("/v1/auth/logout", None, json!({"token": "x"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["token", "refresh_token"]);
}

// ------------------------------------------------------------------ me

#[tokio::test]
async fn me_describes_the_caller() {
    let world = World::new();
    let (status, body) = world
        .call(
            "GET",
            "/v1/auth/me",
            Some(&world.as_user("manager")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": "usr-manager", "kind": "user", "org_id": world.op, "role": "MANAGER",
               "email": "manager@example.org", "name": "manager"})
    );

    let device = Principal::Device {
        device_id: "truck-7".into(),
        org_id: world.op.clone(),
    };
    let (status, body) = world
        .call("GET", "/v1/auth/me", Some(&device), Value::Null)
        .await;
    assert_eq!(status, 403, "device credentials are for telemetry only");
    assert_eq!(body["error"], "forbidden");

    let (status, body) = world.call("GET", "/v1/auth/me", None, Value::Null).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
}

// ------------------------------------------------------------------ organisations

#[tokio::test]
async fn admins_create_organisations_with_an_audit_record() {
    let world = World::new();
    let admin = world.as_user("admin");
    let (status, body) = world
        .post(
            "/v1/auth/organisations",
            Some(&admin),
            json!({"name": "Pharmacy Nord", "kind": "PHARMACY"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id");
    assert!(id.starts_with("org-"));
    assert_eq!(body["kind"], "PHARMACY");
    assert_eq!(body["created_at"], "2026-11-21T08:00:00Z");

    let records = world.services.store.audit_records();
    let record = records.last().expect("audit record");
    assert_eq!(record.entity_key(), format!("ORG#{id}"));
    assert_eq!(record.action, "organisation.created");
    assert_eq!(
        (record.actor.id.as_str(), record.actor.role.as_str()),
        ("usr-admin", "ADMIN")
    );
    assert_eq!(record.before, None);
    assert_eq!(
        record.after.as_ref().map(|a| &a["name"]),
        Some(&json!("Pharmacy Nord"))
    );
}

#[tokio::test]
async fn an_organisation_reads_the_default_policy_until_a_manager_sets_its_own() {
    let world = World::new();
    let path = format!("/v1/auth/organisations/{}/notifications", world.op);
    let (status, body) = world
        .call("GET", &path, Some(&world.as_user("driver")), Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["default"], json!(true));
    assert_eq!(
        body["policy"]["major"]["roles"],
        json!(["MANAGER", "PHARMACIST"])
    );
    assert_eq!(
        body["policy"]["escalation"]["critical_after_minutes"],
        json!(15)
    );

    let mut policy = body["policy"].clone();
    policy["time_zone"] = json!("Europe/Berlin");
    policy["critical"]["emails"] = json!(["qa@operator.example"]);
    let (status, body) = world
        .call(
            "PUT",
            &path,
            Some(&world.as_user("manager")),
            policy.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["default"], json!(false));
    let (_, body) = world
        .call(
            "GET",
            &path,
            Some(&world.as_user("pharmacist")),
            Value::Null,
        )
        .await;
    assert_eq!(body["policy"], policy);

    let records = world.services.store.audit_records();
    let record = records.last().expect("audit record");
    assert_eq!(record.action, "organisation.notification_policy_changed");
    assert_eq!(record.entity_key(), format!("ORG#{}", world.op));
    assert_eq!(record.before, None, "the default was never stored");
    assert_eq!(record.after.as_ref(), Some(&policy));
}

#[tokio::test]
async fn only_its_managers_and_admins_set_a_policy_and_no_other_organisation_reads_it() {
    let world = World::new();
    let path = format!("/v1/auth/organisations/{}/notifications", world.op);
    let (_, body) = world
        .call("GET", &path, Some(&world.as_user("admin")), Value::Null)
        .await;
    let policy = body["policy"].clone();
    for name in ["pharmacist", "driver", "hmanager"] {
        let (status, body) = world
            .call("PUT", &path, Some(&world.as_user(name)), policy.clone())
            .await;
        assert_eq!(status, 403, "{name}: {body}");
    }
    for name in ["hmanager", "hdriver"] {
        let (status, _) = world
            .call("GET", &path, Some(&world.as_user(name)), Value::Null)
            .await;
        assert_eq!(status, 403, "{name} of another organisation");
    }
    let (status, _) = world
        .call("PUT", &path, Some(&world.as_user("admin")), policy.clone())
        .await;
    assert_eq!(status, 200, "an ADMIN may");
    let unknown = "/v1/auth/organisations/org-nowhere/notifications";
    let (status, _) = world
        .call("PUT", unknown, Some(&world.as_user("admin")), policy)
        .await;
    assert_eq!(status, 404);
    let (status, _) = world
        .call("DELETE", &path, Some(&world.as_user("admin")), Value::Null)
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_bad_policy_is_refused_naming_each_field() {
    let world = World::new();
    let path = format!("/v1/auth/organisations/{}/notifications", world.op);
    let manager = world.as_user("manager");
    let bad = json!({
        "time_zone": "Mars/Olympus",
        "major": { "roles": [] },
        "critical": { "roles": ["MANAGER"], "emails": ["nobody"] },
        "escalation": { "major_after_minutes": 0, "critical_after_minutes": 15,
                        "reminders": 1, "tiers": [] }
    });
    let (status, body) = world.call("PUT", &path, Some(&manager), bad).await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "time_zone",
            "major",
            "critical.emails[0]",
            "escalation.major_after_minutes"
        ]
    );
    for garbage in [json!("all of them"), json!({"time_zone": "UTC"})] {
        let (status, body) = world.call("PUT", &path, Some(&manager), garbage).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["field"], "body");
    }
    let huge = vec![b' '; 20_000];
    let (status, _) = world.call_raw("PUT", &path, Some(&manager), huge).await;
    assert_eq!(status, 400);
    assert!(
        world
            .services
            .store
            .audit_records()
            .iter()
            .all(|r| r.action != "organisation.notification_policy_changed")
    );
}

#[tokio::test]
async fn only_admins_create_organisations() {
    let world = World::new();
    for name in ["manager", "pharmacist", "driver"] {
        let (status, body) = world
            .post(
                "/v1/auth/organisations",
                Some(&world.as_user(name)),
                json!({"name": "X", "kind": "PHARMACY"}),
            )
            .await;
        assert_eq!(status, 403, "{name}");
        assert_eq!(body["error"], "forbidden");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("may not"))
        );
    }
    assert!(world.services.store.audit_records().is_empty());
}

#[tokio::test]
async fn a_bad_organisation_names_its_fields() {
    let world = World::new();
    let (status, body) = world
        .post(
            "/v1/auth/organisations",
            Some(&world.as_user("admin")),
            json!({"name": "   ", "kind": "CASTLE", "extra": 1}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["extra", "name", "kind"]);
}

#[tokio::test]
async fn every_user_lists_every_organisation_admins_in_full() {
    let world = World::new();
    let (status, body) = world
        .call(
            "GET",
            "/v1/auth/organisations",
            Some(&world.as_user("admin")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["organisations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|org| org["name"].as_str())
        .collect();
    assert_eq!(names, ["Hospital", "Operator"]);
    assert!(
        body["organisations"][0]["created_at"].is_string(),
        "admins see what they always saw: {body}"
    );

    // every other role of either organisation: every organisation, as id, name and kind
    for name in ["manager", "pharmacist", "driver", "hmanager", "hdriver"] {
        let (status, body) = world
            .call(
                "GET",
                "/v1/auth/organisations",
                Some(&world.as_user(name)),
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            body["organisations"],
            json!([
                {"id": world.hosp, "name": "Hospital", "kind": "HOSPITAL"},
                {"id": world.op, "name": "Operator", "kind": "LOGISTICS_OPERATOR"},
            ]),
            "{name}"
        );
    }

    let device = Principal::Device {
        device_id: "truck-7".into(),
        org_id: world.op.clone(),
    };
    let (status, _) = world
        .call("GET", "/v1/auth/organisations", Some(&device), Value::Null)
        .await;
    assert_eq!(status, 403);
}

// ------------------------------------------------------------------ users

fn new_user(email: &str, role: &str, org_id: &str) -> Value {
    json!({"email": email, "name": "New Person", "password": "a good long password",
           "role": role, "org_id": org_id})
}

#[tokio::test]
async fn admins_create_users_anywhere_without_showing_the_hash() {
    let world = World::new();
    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&world.as_user("admin")),
            new_user("New@Example.org", "MANAGER", &world.hosp),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], "new@example.org");
    assert_eq!(body["role"], "MANAGER");
    assert_eq!(body["org_id"], json!(world.hosp));
    assert_eq!(body["version"], 1);
    assert!(body.get("password_hash").is_none());
    assert!(body.get("password").is_none());

    let record = world.services.store.audit_records().pop().expect("record");
    assert_eq!(record.action, "user.created");
    let after = record.after.expect("after").to_string();
    assert!(!after.contains("argon2") && !after.contains("a good long password"));

    // the new user signs in
    let (status, _) = world
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "new@example.org", "password": "a good long password"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn managers_create_users_in_their_own_organisation_up_to_their_role() {
    let world = World::new();
    let manager = world.as_user("manager");
    let (status, _) = world
        .post(
            "/v1/auth/users",
            Some(&manager),
            new_user("d@example.org", "DRIVER", &world.op),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = world
        .post(
            "/v1/auth/users",
            Some(&manager),
            new_user("m@example.org", "MANAGER", &world.op),
        )
        .await;
    assert_eq!(status, 201);

    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&manager),
            new_user("a@example.org", "ADMIN", &world.op),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("above their own"))
    );

    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&manager),
            new_user("x@example.org", "DRIVER", &world.hosp),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("another organisation"))
    );

    for name in ["pharmacist", "driver"] {
        let (status, _) = world
            .post(
                "/v1/auth/users",
                Some(&world.as_user(name)),
                new_user("y@example.org", "DRIVER", &world.op),
            )
            .await;
        assert_eq!(status, 403, "{name}");
    }
    // a non-administrator learns nothing from validation
    let (status, _) = world
        .post("/v1/auth/users", Some(&world.as_user("driver")), json!({}))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_taken_email_is_409() {
    let world = World::new();
    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&world.as_user("admin")),
            new_user("DRIVER@example.org", "DRIVER", &world.hosp),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "conflict");
    assert_eq!(fields(&body), ["email"]);
}

#[tokio::test]
async fn a_new_user_with_bad_fields_or_no_organisation_is_400() {
    let world = World::new();
    let admin = world.as_user("admin");
    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&admin),
            json!({"email": "no", "name": "", "password": "short", "role": "KING", "org_id": ""}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        fields(&body),
        ["email", "name", "password", "role", "org_id"]
    );

    let (status, body) = world
        .post(
            "/v1/auth/users",
            Some(&admin),
            new_user("z@example.org", "DRIVER", "org-missing"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["org_id"]);
}

#[tokio::test]
async fn users_are_listed_per_organisation_for_administrators() {
    let world = World::new();
    let (status, body) = world
        .call(
            "GET",
            &format!("/v1/auth/users?org_id={}", world.hosp),
            Some(&world.as_user("admin")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, ["hdriver@example.org", "hmanager@example.org"]);
    assert!(!body.to_string().contains("argon2"));

    // a manager: their own organisation by default, not another
    let (status, body) = world
        .call(
            "GET",
            "/v1/auth/users",
            Some(&world.as_user("hmanager")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["org_id"], json!(world.hosp));
    let (status, _) = world
        .call(
            "GET",
            &format!("/v1/auth/users?org_id={}", world.op),
            Some(&world.as_user("hmanager")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = world
        .call(
            "GET",
            "/v1/auth/users",
            Some(&world.as_user("driver")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
}

// ------------------------------------------------------------------ role changes

async fn patch(world: &World, caller: &str, target: &str, body: Value) -> (u16, Value) {
    world
        .call(
            "PATCH",
            &format!("/v1/auth/users/usr-{target}"),
            Some(&world.as_user(caller)),
            body,
        )
        .await
}

#[tokio::test]
async fn a_role_change_bumps_the_version_and_is_audited() {
    let world = World::new();
    let (status, body) = patch(
        &world,
        "manager",
        "driver",
        json!({"role": "PHARMACIST", "version": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "PHARMACIST");
    assert_eq!(body["version"], 2);
    assert_eq!(world.user("driver").role, Role::Pharmacist);

    let record = world.services.store.audit_records().pop().expect("record");
    assert_eq!(record.action, "user.role_changed");
    assert_eq!(record.entity_key(), "USER#usr-driver");
    assert_eq!(
        record.before.as_ref().map(|b| &b["role"]),
        Some(&json!("DRIVER"))
    );
    assert_eq!(
        record.after.as_ref().map(|a| &a["role"]),
        Some(&json!("PHARMACIST"))
    );
    assert_eq!(record.actor.id, "usr-manager");

    // the same version again is stale
    let (status, body) = patch(
        &world,
        "manager",
        "driver",
        json!({"role": "DRIVER", "version": 1}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(fields(&body), ["version"]);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("version 2"))
    );
}

#[tokio::test]
async fn nobody_changes_their_own_role() {
    let world = World::new();
    for name in ["admin", "manager", "driver"] {
        let (status, body) =
            patch(&world, name, name, json!({"role": "ADMIN", "version": 1})).await;
        assert_eq!(status, 403, "{name}");
        assert_eq!(body["message"], "nobody can change their own role");
    }
}

#[tokio::test]
async fn managers_change_roles_only_below_theirs_in_their_organisation() {
    let world = World::new();
    world.seed("manager2", &world.op, Role::Manager);
    for role in ["DRIVER", "MANAGER"] {
        let (status, body) = patch(
            &world,
            "manager",
            "manager2",
            json!({"role": role, "version": 1}),
        )
        .await;
        assert_eq!(status, 403, "not another manager: {body}");
        assert_eq!(body["message"], "a MANAGER cannot change a MANAGER");
    }
    let (status, _) = patch(
        &world,
        "admin",
        "manager2",
        json!({"role": "DRIVER", "version": 1}),
    )
    .await;
    assert_eq!(status, 200, "an admin changes a manager's role");
    let (status, _) = patch(
        &world,
        "manager",
        "driver",
        json!({"role": "ADMIN", "version": 1}),
    )
    .await;
    assert_eq!(status, 403, "no role above their own");
    let (status, _) = patch(
        &world,
        "manager",
        "admin",
        json!({"role": "DRIVER", "version": 1}),
    )
    .await;
    assert_eq!(status, 403, "no user above them");
    let (status, _) = patch(
        &world,
        "manager",
        "hdriver",
        json!({"role": "PHARMACIST", "version": 1}),
    )
    .await;
    assert_eq!(status, 403, "not another organisation");
    let (status, _) = patch(
        &world,
        "pharmacist",
        "driver",
        json!({"role": "DRIVER", "version": 1}),
    )
    .await;
    assert_eq!(status, 403, "pharmacists administer nobody");
    let (status, _) = patch(
        &world,
        "admin",
        "hdriver",
        json!({"role": "MANAGER", "version": 1}),
    )
    .await;
    assert_eq!(status, 200, "admins anywhere");
}

#[tokio::test]
async fn a_role_change_of_nobody_or_with_bad_input() {
    let world = World::new();
    let (status, _) = patch(
        &world,
        "admin",
        "ghost",
        json!({"role": "DRIVER", "version": 1}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = patch(&world, "admin", "driver", json!({"role": "BOSS"})).await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["role", "version"]);
}

// ------------------------------------------------------------------ devices

async fn register(world: &World, caller: &str, device_id: &str, org_id: &str) -> (u16, Value) {
    world
        .post(
            "/v1/auth/devices",
            Some(&world.as_user(caller)),
            json!({"device_id": device_id, "name": "Truck", "org_id": org_id}),
        )
        .await
}

#[tokio::test]
async fn a_registered_device_gets_tokens_with_its_secret() {
    let world = World::new();
    let (status, body) = register(&world, "manager", "truck-7", &world.op).await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(body["device_id"], "truck-7");

    let stored = ready(world.services.store.get_device("truck-7"))
        .expect("store")
        .expect("device");
    assert_eq!(stored.secret_hash, sha256_hex(&secret));
    let record = world.services.store.audit_records().pop().expect("record");
    assert_eq!(record.action, "device.registered");
    assert!(!record.after.expect("after").to_string().contains(&secret));

    let (status, token) = world
        .post(
            "/v1/auth/devices/token",
            None,
            json!({"device_id": "truck-7", "secret": secret}),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(
        world
            .verifier()
            .verify_at(token["access_token"].as_str().expect("token"), START),
        Ok(Principal::Device {
            device_id: "truck-7".into(),
            org_id: world.op.clone()
        })
    );
}

#[tokio::test]
async fn wrong_device_secrets_and_unknown_devices_get_the_same_401() {
    let world = World::new();
    assert_eq!(
        register(&world, "admin", "truck-8", &world.hosp).await.0,
        201
    );
    let wrong = world
        .post(
            "/v1/auth/devices/token",
            None,
            json!({"device_id": "truck-8", "secret": "guess"}),
        )
        .await;
    let unknown = world
        .post(
            "/v1/auth/devices/token",
            None,
            json!({"device_id": "truck-9", "secret": "guess"}),
        )
        .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown);
    let (status, body) = world
        .post("/v1/auth/devices/token", None, json!({"device_id": "a b"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["device_id", "secret"]);
}

#[tokio::test]
async fn devices_are_registered_by_administrators_of_their_organisation_once() {
    let world = World::new();
    assert_eq!(
        register(&world, "manager", "truck-1", &world.hosp).await.0,
        403
    );
    assert_eq!(
        register(&world, "driver", "truck-1", &world.op).await.0,
        403
    );
    assert_eq!(
        register(&world, "manager", "truck-1", &world.op).await.0,
        201
    );
    let (status, body) = register(&world, "admin", "truck-1", &world.op).await;
    assert_eq!(status, 409);
    assert_eq!(fields(&body), ["device_id"]);
    let (status, body) = register(&world, "admin", "truck-2", "org-missing").await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["org_id"]);
}

// ------------------------------------------------------------------ routing and failures

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let world = World::new();
    let admin = world.as_user("admin");
    for path in [
        "/v1/auth",
        "/v1/auth/nothing",
        "/v1/authx/login",
        "/v2/auth/login",
        "/",
    ] {
        let (status, _) = world.call("GET", path, Some(&admin), Value::Null).await;
        assert_eq!(status, 404, "{path}");
    }
    let reply = route(
        &world.services,
        &AuthRequest {
            method: "GET".into(),
            path: "/v1/auth/login".into(),
            ..AuthRequest::default()
        },
    )
    .await;
    assert_eq!(reply.status, 405);
    assert!(reply.headers.contains(&("allow", "POST".to_owned())));
    let (status, _) = world
        .call("DELETE", "/v1/auth/users", Some(&admin), Value::Null)
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_stage_prefix_and_a_trailing_slash_are_ignored() {
    let world = World::new();
    let (status, _) = world
        .call(
            "GET",
            "/local/v1/auth/me/",
            Some(&world.as_user("admin")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unavailable_store_is_503_with_retry_after() {
    let mut world = World::new();
    world.services.store.unavailable = true;
    let reply = route(
        &world.services,
        &AuthRequest {
            method: "POST".into(),
            path: "/v1/auth/login".into(),
            body: br#"{"email":"a@b.org","password":"x"}"#.to_vec(),
            ..AuthRequest::default()
        },
    )
    .await;
    assert_eq!(reply.status, 503);
    assert!(reply.headers.contains(&("retry-after", "1".to_owned())));
}

#[tokio::test]
async fn hostile_bodies_never_panic_nor_answer_5xx() {
    let world = World::new();
    let admin = world.as_user("admin");
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        vec![0xff; 32],
        deep.into_bytes(),
        vec![b' '; 20_000],
        br#"{"email": "\u0000", "password": 1e999}"#.to_vec(),
        br#"{"role": "ADMIN", "version": 18446744073709551616}"#.to_vec(),
    ];
    let routes = [
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/refresh"),
        ("POST", "/v1/auth/logout"),
        ("POST", "/v1/auth/organisations"),
        ("POST", "/v1/auth/users"),
        ("PATCH", "/v1/auth/users/usr-driver"),
        ("POST", "/v1/auth/users/usr-driver/disable"),
        ("POST", "/v1/auth/users/usr-driver/enable"),
        ("POST", "/v1/auth/devices"),
        ("POST", "/v1/auth/devices/token"),
    ];
    for (method, path) in routes {
        for body in &bodies {
            let (status, json) = world
                .call_raw(method, path, Some(&admin), body.clone())
                .await;
            assert_eq!(
                status,
                400,
                "{method} {path} {}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(json["error"], "invalid_request");
        }
    }
}

#[tokio::test]
async fn handle_reads_the_caller_from_the_authorizer_context() {
    use aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;

    let world = World::new();
    let mut context = ApiGatewayProxyRequestContext::default();
    let (id, values) = world.as_user("manager").to_context();
    context
        .authorizer
        .fields
        .insert("principalId".into(), json!(id));
    for (key, value) in values {
        context.authorizer.fields.insert(key, json!(value));
    }
    let request = lambda_http::http::Request::builder()
        .method("GET")
        .uri("/v1/auth/me")
        .body(Body::Empty)
        .expect("request")
        .with_request_context(RequestContext::ApiGatewayV1(context));
    let response = handle(&world.services, request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let body: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
    assert_eq!(body["id"], "usr-manager");

    // no context on a protected route: 401
    let request = lambda_http::http::Request::builder()
        .method("GET")
        .uri("/v1/auth/me")
        .body(Body::Empty)
        .expect("request");
    let response = handle(&world.services, request).await.expect("response");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn logout_answers_204_without_a_body_through_lambda_http() {
    let world = World::new();
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/auth/logout")
        .body(Body::Text(r#"{"refresh_token":"x"}"#.into()))
        .expect("request");
    let response = handle(&world.services, request).await.expect("response");
    assert_eq!(response.status(), 204);
    assert!(response.headers().get("content-type").is_none());
    assert!(response.body().is_empty());
}

#[test]
fn required_variables_must_be_set_and_not_blank() {
    assert_eq!(
        required_var(IDENTITY_TABLE_VAR, Some(" t ".into())),
        Ok("t".to_owned())
    );
    assert_eq!(
        required_var(IDENTITY_TABLE_VAR, Some("  ".into())),
        Err(MissingVar(IDENTITY_TABLE_VAR))
    );
    assert_eq!(
        required_var(AUDIT_TABLE_VAR, None),
        Err(MissingVar(AUDIT_TABLE_VAR))
    );
}

// ------------------------------------------------------------------ login abuse

/// A login as `email` with `password`: the status and `Retry-After`.
async fn try_login(world: &World, email: &str, password: &str) -> (u16, Option<String>) {
    let reply = route(
        &world.services,
        &AuthRequest {
            method: "POST".into(),
            path: "/v1/auth/login".into(),
            body: json!({"email": email, "password": password})
                .to_string()
                .into_bytes(),
            ..AuthRequest::default()
        },
    )
    .await;
    let retry_after = reply
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .map(|(_, value)| value.clone());
    (reply.status, retry_after)
}

#[tokio::test]
async fn failed_logins_wait_longer_and_longer_then_lock_out_for_15_minutes() {
    let world = World::new();
    let email = "driver@example.org";
    let clock = &world.services.clock;
    for _ in 1..=4 {
        assert_eq!(try_login(&world, email, "wrong").await, (401, None));
    }
    for wait in [5, 10, 20, 40, 80] {
        assert_eq!(try_login(&world, email, "wrong").await, (401, None));
        // refused at once, even with the right password, and not counted
        assert_eq!(
            try_login(&world, email, PASSWORD).await,
            (429, Some(wait.to_string()))
        );
        clock.advance(Duration::from_secs(wait - 1));
        assert_eq!(
            try_login(&world, email, PASSWORD).await,
            (429, Some("1".into()))
        );
        clock.advance(Duration::from_secs(1));
    }
    // the 10th failure locks the email out
    assert_eq!(try_login(&world, email, "wrong").await, (401, None));
    assert_eq!(
        try_login(&world, email, PASSWORD).await,
        (429, Some("900".to_owned()))
    );
    let records = world.services.audit.records();
    let locked: Vec<_> = records
        .iter()
        .filter(|r| r.action == "auth.login_locked")
        .collect();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].entity_key(), "USER#usr-driver");
    assert_eq!(
        locked[0].after.as_ref().map(|a| &a["failures"]),
        Some(&json!(10))
    );
    clock.advance(Duration::from_secs(900));
    // after the lockout, a success resets the counter
    assert_eq!(try_login(&world, email, PASSWORD).await.0, 200);
    for _ in 1..=4 {
        assert_eq!(try_login(&world, email, "wrong").await, (401, None));
    }
    assert_eq!(
        try_login(&world, email, PASSWORD).await.0,
        200,
        "4 failures wait for nothing"
    );
}

#[tokio::test]
async fn another_failure_after_a_lockout_locks_again() {
    let world = World::new();
    let email = "driver@example.org";
    world.services.store.seed_login_attempts(
        email,
        pharmaguard_domain::accounts::lockout::LoginAttempts {
            failures: 10,
            last_failure_at: START,
            blocked_until: Some(START),
        },
    );
    world.services.clock.advance(Duration::from_secs(60));
    assert_eq!(try_login(&world, email, "still wrong").await, (401, None));
    assert_eq!(
        try_login(&world, email, PASSWORD).await,
        (429, Some("900".to_owned()))
    );
}

#[tokio::test]
async fn unknown_emails_get_the_same_answers_as_accounts_under_attack() {
    let world = World::new();
    let known = "Driver@Example.org";
    let unknown = "nobody@example.org";
    let mut answers = Vec::new();
    for email in [known, unknown] {
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(try_login(&world, email, "wrong").await);
            seen.push(try_login(&world, email, "wrong").await);
            world.services.clock.advance(Duration::from_secs(100));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].iter().any(|(status, _)| *status == 429));
    assert_eq!(
        world
            .services
            .audit
            .records()
            .iter()
            .filter(|r| r.action == "auth.login_locked")
            .count(),
        2,
        "both lockouts audited"
    );
    let unknown_record = world
        .services
        .audit
        .records()
        .into_iter()
        .find(|r| r.entity_id == unknown)
        .expect("the unknown email's lockout");
    assert_eq!(
        unknown_record.after.as_ref().map(|a| &a["known_account"]),
        Some(&json!(false))
    );
    // the counter is per normalized email: other accounts are not affected
    assert_eq!(
        try_login(&world, "manager@example.org", PASSWORD).await.0,
        200
    );
}

#[tokio::test]
async fn a_failure_is_forgotten_a_day_later() {
    let world = World::new();
    for _ in 0..4 {
        try_login(&world, "driver@example.org", "wrong").await;
    }
    world
        .services
        .clock
        .advance(Duration::from_secs(24 * 3600 + 1));
    assert_eq!(
        try_login(&world, "driver@example.org", "wrong").await,
        (401, None)
    );
    assert_eq!(
        try_login(&world, "driver@example.org", PASSWORD).await.0,
        200
    );
}

// ------------------------------------------------------------------ disabling

async fn set_status(world: &World, caller: &str, path: &str, body: Value) -> (u16, Value) {
    world.post(path, Some(&world.as_user(caller)), body).await
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_nor_refresh_and_is_audited() {
    let world = World::new();
    let login = world.login("driver").await;
    world.services.clock.advance(Duration::from_secs(1));
    let (status, body) = set_status(
        &world,
        "manager",
        "/v1/auth/users/usr-driver/disable",
        json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["disabled_at"], "2026-11-21T08:00:01Z");
    let record = world.services.store.audit_records().pop().expect("record");
    assert_eq!(record.action, "user.disabled");
    assert_eq!(record.actor.id, "usr-manager");
    assert_eq!(record.entity_key(), "USER#usr-driver");

    let (status, body) = world
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "driver@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("account_disabled"))
    );
    let (status, _) = world.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 401);
    assert!(
        world
            .services
            .store
            .is_family_revoked(&world.services.store.refresh_tokens()[0].family_id),
        "the family is revoked too"
    );
    // the same state again: 200, unchanged
    let (status, body) = set_status(
        &world,
        "manager",
        "/v1/auth/users/usr-driver/disable",
        json!({"version": 2}),
    )
    .await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)));

    // enabled again: a new login works, the old family stays void
    world.services.clock.advance(Duration::from_secs(1));
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/users/usr-driver/enable",
        json!({"version": 2}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("disabled_at").is_none(), "{body}");
    assert_eq!(
        world
            .services
            .store
            .audit_records()
            .pop()
            .expect("record")
            .action,
        "user.enabled"
    );
    assert_eq!(world.refresh(&login["refresh_token"]).await.0, 401);
    world.services.clock.advance(Duration::from_secs(1));
    let fresh = world.login("driver").await;
    assert_eq!(world.refresh(&fresh["refresh_token"]).await.0, 200);
}

#[tokio::test]
async fn who_may_disable_and_enable_whom() {
    let world = World::new();
    world.seed("manager2", &world.op, Role::Manager);
    let cases = [
        ("manager", "admin", 403),
        ("manager", "manager2", 403),
        ("manager", "manager", 403),
        ("admin", "admin", 403),
        ("manager", "hdriver", 403),
        ("pharmacist", "driver", 403),
        ("driver", "pharmacist", 403),
        ("manager", "pharmacist", 200),
        ("hmanager", "hdriver", 200),
        ("admin", "manager2", 200),
    ];
    for (caller, target, expected) in cases {
        for action in ["disable", "enable"] {
            let version = world.user(target).version;
            let (status, body) = set_status(
                &world,
                caller,
                &format!("/v1/auth/users/usr-{target}/{action}"),
                json!({"version": version}),
            )
            .await;
            assert_eq!(status, expected, "{caller} {action}s {target}: {body}");
        }
    }
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/users/usr-ghost/disable",
        json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/users/usr-driver/disable",
        json!({}),
    )
    .await;
    assert_eq!((status, fields(&body)), (400, vec!["version"]));
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/users/usr-driver/disable",
        json!({"version": 7}),
    )
    .await;
    assert_eq!((status, fields(&body)), (409, vec!["version"]));
    let device = Principal::Device {
        device_id: "truck-1".into(),
        org_id: world.op.clone(),
    };
    let (status, _) = world
        .post(
            "/v1/auth/users/usr-driver/disable",
            Some(&device),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = world
        .post(
            "/v1/auth/users/usr-driver/disable",
            None,
            json!({"version": 1}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = world
        .call(
            "GET",
            "/v1/auth/users/usr-driver/disable",
            Some(&world.as_user("admin")),
            Value::Null,
        )
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_disabled_device_gets_no_token_until_enabled() {
    let world = World::new();
    let (status, body) = register(&world, "manager", "truck-9", &world.op).await;
    assert_eq!(status, 201);
    let secret = body["secret"].clone();
    let token = || async {
        world
            .post(
                "/v1/auth/devices/token",
                None,
                json!({"device_id": "truck-9", "secret": secret}),
            )
            .await
    };
    assert_eq!(token().await.0, 200);

    let (status, _) = set_status(
        &world,
        "hmanager",
        "/v1/auth/devices/truck-9/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, 403, "another organisation's manager");
    let (status, _) = set_status(
        &world,
        "driver",
        "/v1/auth/devices/truck-9/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, 403, "drivers administer nothing");
    let (status, body) = set_status(
        &world,
        "manager",
        "/v1/auth/devices/truck-9/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled_at"], "2026-11-21T08:00:00Z");
    let record = world.services.store.audit_records().pop().expect("record");
    assert_eq!(
        (record.action.as_str(), record.entity_key()),
        ("device.disabled", "DEVICE#truck-9".to_owned())
    );
    let (status, body) = token().await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("invalid device id or secret"))
    );

    let (status, _) = set_status(
        &world,
        "admin",
        "/v1/auth/devices/truck-9/disable",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "idempotent");
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/devices/truck-9/enable",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("disabled_at").is_none());
    assert_eq!(token().await.0, 200);

    let (status, _) = set_status(
        &world,
        "admin",
        "/v1/auth/devices/truck-0/disable",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = set_status(
        &world,
        "admin",
        "/v1/auth/devices/truck-9/disable",
        json!({"why": 1}),
    )
    .await;
    assert_eq!((status, fields(&body)), (400, vec!["why"]));
}

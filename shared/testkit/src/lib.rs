//! Helpers for integration tests that talk to the stack deployed on LocalStack.
//!
//! `infra/deploy` writes the stack's outputs to `localstack/.state/outputs.json`;
//! [`Stack::load`] reads them (or the file named by `PHARMAGUARD_OUTPUTS`), so a
//! test finds the REST API, the stream and the tables of the deployed stack.

pub mod queues;
pub mod tables;

use std::collections::HashMap;
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials as AwsCredentials;

/// The deployed local stack, as `infra/deploy` described it.
#[derive(Debug, Clone)]
pub struct Stack {
    outputs: HashMap<String, String>,
}

impl Stack {
    /// Reads the stack outputs. Panics with the command to run when no stack is deployed:
    /// an integration test without its stack must fail, never pass silently.
    pub fn load() -> Self {
        let path = outputs_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "no deployed local stack ({}: {error}); run `localstack/up` first",
                path.display()
            )
        });
        let outputs = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not valid JSON: {error}", path.display()));
        Self { outputs }
    }

    /// One output of the stack, e.g. `TelemetryStreamName`.
    pub fn output(&self, key: &str) -> &str {
        self.outputs
            .get(key)
            .unwrap_or_else(|| panic!("the stack has no output {key}; redeploy with infra/deploy"))
    }

    /// Full URL of a REST API path, e.g. `api_url("/v1/telemetry")`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.output("ApiBaseUrl"))
    }

    /// SDK configuration pointed at LocalStack with its test account.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.output("AwsEndpointUrl"))
            .region(Region::new(self.output("Region").to_owned()))
            .credentials_provider(AwsCredentials::new(
                "test",
                "test",
                None,
                None,
                "local-stack",
            ))
            .load()
            .await
    }
}

fn outputs_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PHARMAGUARD_OUTPUTS") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/.state/outputs.json")
}

/// An answer of the REST API: status and JSON body (`Value::Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body, or a JSON string holding a body that is not JSON.
    pub body: serde_json::Value,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// A client of the deployed REST API.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// A signed-in user or device: the tokens the API gave.
#[derive(Debug, Clone)]
pub struct Session {
    /// Bearer access token.
    pub access_token: String,
    /// Refresh token (users only).
    pub refresh_token: Option<String>,
    /// The id of the user or device.
    pub id: String,
    /// The organisation.
    pub org_id: String,
}

/// Email and password of a user a test created.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user's id.
    pub id: String,
    /// Login email.
    pub email: String,
    /// Login password.
    pub password: String,
    /// The user's organisation.
    pub org_id: String,
    /// The user's role, e.g. `MANAGER`.
    pub role: String,
}

impl Api {
    /// A client of the stack's REST API.
    pub fn new(stack: &Stack) -> Self {
        Self {
            base: stack.output("ApiBaseUrl").to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Calls `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the REST API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Reply { status, body }
    }

    /// `GET path` as `session`.
    pub async fn get(&self, session: &Session, path: &str) -> Reply {
        self.call("GET", path, Some(&session.access_token), None)
            .await
    }

    /// `POST path` with `body` as `session`.
    pub async fn post(&self, session: &Session, path: &str, body: serde_json::Value) -> Reply {
        self.call("POST", path, Some(&session.access_token), Some(&body))
            .await
    }

    /// Logs in; panics unless the API says 200.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let body = serde_json::json!({ "email": email, "password": password });
        let reply = self.call("POST", "/v1/auth/login", None, Some(&body)).await;
        assert_eq!(reply.status, 200, "login of {email}: {reply}");
        session_of(&reply.body)
    }

    /// Logs in with the credentials of a user a test created.
    pub async fn login_as(&self, user: &Credentials) -> Session {
        self.login(&user.email, &user.password).await
    }

    /// Logs in as the stack's first admin (`localstack/.state/admin.json`).
    pub async fn admin(&self) -> Session {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/.state/admin.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "no first admin ({}: {error}); run `localstack/up`",
                path.display()
            )
        });
        let admin: serde_json::Value = serde_json::from_str(&text).expect("admin.json is JSON");
        self.login(
            admin["email"].as_str().expect("email"),
            admin["password"].as_str().expect("password"),
        )
        .await
    }

    /// Creates an organisation (as an admin) named after `label` and a fresh id; returns its id.
    pub async fn create_organisation(&self, admin: &Session, label: &str, kind: &str) -> String {
        let name = format!("{label} {}", unique());
        let reply = self
            .post(
                admin,
                "/v1/auth/organisations",
                serde_json::json!({ "name": name, "kind": kind }),
            )
            .await;
        assert_eq!(reply.status, 201, "create organisation {name}: {reply}");
        reply.body["id"]
            .as_str()
            .expect("organisation id")
            .to_owned()
    }

    /// Creates a user with `role` in `org_id` as `actor`; panics unless 201.
    pub async fn create_user(&self, actor: &Session, org_id: &str, role: &str) -> Credentials {
        let email = format!(
            "{}-{}@test.pharmaguard.local",
            role.to_lowercase(),
            unique()
        );
        let password = format!("pw-{}-{}", unique(), unique());
        let reply = self
            .post(
                actor,
                "/v1/auth/users",
                serde_json::json!({
                    "email": email, "password": password, "name": format!("Test {role}"),
                    "role": role, "org_id": org_id,
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "create {role} in {org_id}: {reply}");
        Credentials {
            id: reply.body["id"].as_str().expect("user id").to_owned(),
            email,
            password,
            org_id: org_id.to_owned(),
            role: role.to_owned(),
        }
    }

    /// Registers a new device in `org_id` as `actor`: its id and secret.
    pub async fn register_device(&self, actor: &Session, org_id: &str) -> (String, String) {
        let device_id = format!("truck-{}", unique());
        let reply = self
            .post(
                actor,
                "/v1/auth/devices",
                serde_json::json!({ "device_id": device_id, "name": "Test truck sensor", "org_id": org_id }),
            )
            .await;
        assert_eq!(reply.status, 201, "register device {device_id}: {reply}");
        let secret = reply.body["secret"]
            .as_str()
            .expect("device secret")
            .to_owned();
        (device_id, secret)
    }

    /// Registers a device in `org_id` as `actor` and signs it in.
    pub async fn create_device(&self, actor: &Session, org_id: &str) -> Session {
        let (device_id, secret) = self.register_device(actor, org_id).await;
        let body = serde_json::json!({ "device_id": device_id, "secret": secret });
        let reply = self
            .call("POST", "/v1/auth/devices/token", None, Some(&body))
            .await;
        assert_eq!(reply.status, 200, "device token of {device_id}: {reply}");
        Session {
            access_token: reply.body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh_token: None,
            id: device_id,
            org_id: org_id.to_owned(),
        }
    }
}

/// The session a login or refresh answer describes.
pub fn session_of(body: &serde_json::Value) -> Session {
    Session {
        access_token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        id: body["user"]["id"].as_str().unwrap_or_default().to_owned(),
        org_id: body["user"]["org_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// A short id no other test run uses.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// The roles a [`World`] organisation has a signed-in user of.
pub const ROLES: [&str; 4] = ["ADMIN", "MANAGER", "PHARMACIST", "DRIVER"];

/// An organisation of a [`World`] with one signed-in user per role.
#[derive(Debug, Clone)]
pub struct Org {
    /// The organisation's id.
    pub id: String,
    /// Credentials per role (see [`ROLES`]).
    pub users: std::collections::BTreeMap<String, Credentials>,
    /// Signed-in session per role.
    pub sessions: std::collections::BTreeMap<String, Session>,
}

impl Org {
    /// The signed-in user with `role`.
    pub fn as_role(&self, role: &str) -> &Session {
        self.sessions
            .get(role)
            .unwrap_or_else(|| panic!("no {role} in organisation {}", self.id))
    }
}

/// Three fresh organisations, each with a signed-in user of every role: a
/// supplier that ships, a hospital that receives and a pharmacy that has
/// nothing to do with their shipments.
#[derive(Debug, Clone)]
pub struct World {
    /// The REST API.
    pub api: Api,
    /// The platform's first admin.
    pub admin: Session,
    /// Ships the test shipments.
    pub shipper: Org,
    /// Receives them.
    pub recipient: Org,
    /// Party to none of them.
    pub outsider: Org,
}

impl World {
    /// Creates the organisations and users through the API (as the first admin).
    pub async fn build(stack: &Stack) -> Self {
        let api = Api::new(stack);
        let admin = api.admin().await;
        let (shipper, recipient, outsider) = tokio::join!(
            org_with_every_role(&api, &admin, "Supplier", "SUPPLIER"),
            org_with_every_role(&api, &admin, "Hospital", "HOSPITAL"),
            org_with_every_role(&api, &admin, "Pharmacy", "PHARMACY"),
        );
        Self {
            api,
            admin,
            shipper,
            recipient,
            outsider,
        }
    }

    /// The body of a new refrigerated shipment from the shipper to the
    /// recipient, without a device (dispatching needs one: set `device_id` to
    /// a device of the shipper, or use [`World::create_shipment`]).
    pub fn new_shipment(&self) -> serde_json::Value {
        serde_json::json!({
            "product": "COVID-19 vaccine, 6-dose vials",
            "quantity": 600,
            "cargo_value": { "amount": "48000.00", "currency": "EUR" },
            "profile": { "kind": "REFRIGERATED" },
            "shipper_org_id": self.shipper.id,
            "recipient_org_id": self.recipient.id,
            "origin": { "name": "Pharma Hub Rotterdam", "lat": 51.9244, "lon": 4.4777 },
            "destination": { "name": "Charité Berlin", "lat": 52.5263, "lon": 13.3766 },
        })
    }

    /// Creates a shipment as the shipper's manager, with a device of its own
    /// registered for it; returns it.
    pub async fn create_shipment(&self) -> serde_json::Value {
        let manager = self.shipper.as_role("MANAGER");
        let device = self.api.create_device(manager, &self.shipper.id).await;
        let mut body = self.new_shipment();
        body["device_id"] = serde_json::json!(device.id);
        let reply = self.api.post(manager, "/v1/shipments", body).await;
        assert_eq!(reply.status, 201, "create shipment: {reply}");
        reply.body
    }

    /// `POST /v1/shipments/{id}/{action}` with `version` as `session`.
    pub async fn transition(
        &self,
        session: &Session,
        id: &str,
        action: &str,
        version: u64,
    ) -> Reply {
        self.api
            .post(
                session,
                &format!("/v1/shipments/{id}/{action}"),
                serde_json::json!({ "version": version }),
            )
            .await
    }
}

async fn org_with_every_role(api: &Api, admin: &Session, label: &str, kind: &str) -> Org {
    let id = api.create_organisation(admin, label, kind).await;
    let mut users = std::collections::BTreeMap::new();
    let mut sessions = std::collections::BTreeMap::new();
    for role in ROLES {
        let user = api.create_user(admin, &id, role).await;
        sessions.insert(role.to_owned(), api.login_as(&user).await);
        users.insert(role.to_owned(), user);
    }
    Org {
        id,
        users,
        sessions,
    }
}

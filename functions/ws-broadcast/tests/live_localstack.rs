//! Live events on the deployed local stack, through real WebSocket
//! connections to `localstack/ws-gateway` (which invokes ws-connect,
//! ws-message and ws-disconnect) and real events (shipments created over the
//! REST API, alarm and position events published on their topics) that reach
//! ws-broadcast through SNS. Needs `localstack/up` (or `infra/deploy` and
//! `localstack/ws-gateway start`) first.
//!
//! What it proves: an organisation's connection receives the events of its
//! shipments and another organisation's connection nothing of them; a
//! connection gone without its `$disconnect` reaching the registry is found
//! by the next event (410) and deleted; bad tokens never get a connection;
//! `subscribe` narrows to one shipment; the minute's sweep closes the open
//! connections of a user disabled or given another role, and `$connect`
//! refuses the disabled one.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use pharmaguard_aws::sns::{MessagePublisher, SnsPublisher};
use pharmaguard_domain::coldchain::{
    AlarmBook, AlarmContext, AlarmEvent, AlarmType, Severity, ShipmentSummary, Signal,
    TrackingUpdated, position_messages,
};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::live::{Connection, ConnectionRegistry};
use pharmaguard_domain::messaging::OutboundMessage;
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_security::TokenSigner;
use pharmaguard_security::token::generate_key_pair;
use pharmaguard_testkit::{Api, Credentials, Session, Stack, unique};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long an expected message may take (REST → DynamoDB stream → SNS →
/// Lambda → gateway → socket).
const WAIT: Duration = Duration::from_secs(60);
/// How long "nothing arrives" is watched, once the same event has reached
/// the connections that should have it.
const QUIET: Duration = Duration::from_secs(8);

/// A WebSocket client of the local gateway.
struct Client {
    label: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages read while waiting for something else, oldest first.
    seen: Vec<Value>,
}

impl Client {
    /// Opens a connection with `token`; the HTTP status of a refused handshake otherwise.
    async fn connect(stack: &Stack, token: Option<&str>, label: &str) -> Result<Self, u16> {
        let base = stack.output("WebSocketUrl");
        let url = match token {
            Some(token) => format!("{base}?token={token}"),
            None => base.to_owned(),
        };
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((stream, _)) => Ok(Self {
                label: label.to_owned(),
                stream,
                seen: Vec::new(),
            }),
            Err(WsError::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!(
                "{label}: no WebSocket gateway at {base} ({error}); is localstack/ws-gateway running?"
            ),
        }
    }

    async fn open(stack: &Stack, session: &Session, label: &str) -> Self {
        Self::connect(stack, Some(&session.access_token), label)
            .await
            .unwrap_or_else(|status| panic!("{label}: connection refused with {status}"))
    }

    async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("frame sent");
    }

    /// The next JSON message within `wait`, if any.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("{}: the connection closed", self.label),
                Ok(Some(frame)) => frame.unwrap_or_else(|e| panic!("{}: {e}", self.label)),
            };
            match frame {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.label));
                    assert_eq!(value["v"], 1, "{}: {value}", self.label);
                    return Some(value);
                }
                Message::Close(close) => panic!("{}: closed by the server: {close:?}", self.label),
                _ => continue,
            }
        }
    }

    /// Waits for the first message `wanted` accepts (those read before it
    /// are kept in `seen`).
    async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.seen.iter().position(&wanted) {
            return self.seen.remove(index);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(message) if wanted(&message) => return message,
                Some(message) => self.seen.push(message),
                None => panic!(
                    "{}: no {what} within {WAIT:?}; got {:?}; see localstack/.state/logs/",
                    self.label, self.seen
                ),
            }
        }
    }

    /// The event `event_id` (waits for it).
    async fn event(&mut self, event_id: &str) -> Value {
        self.wait_for(&format!("event {event_id}"), |m| m["id"] == event_id)
            .await
    }

    /// Every message arriving within `wait`, with those seen before.
    async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut messages = std::mem::take(&mut self.seen);
        while let Some(message) = self
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            messages.push(message);
        }
        messages
    }

    /// How long until the server closes the connection (a Close frame or
    /// the end of the stream), if it does within `wait`; messages on the way
    /// are skipped.
    async fn closed_within(&mut self, wait: Duration) -> Option<Duration> {
        let since = Instant::now();
        loop {
            let left = wait.saturating_sub(since.elapsed());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => {
                    return Some(since.elapsed());
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// The stack's first admin: `localstack/.state/admin.json`, or the file
/// `PHARMAGUARD_ADMIN` names (a stack of another stage, with
/// `PHARMAGUARD_OUTPUTS`).
async fn admin(api: &Api) -> Session {
    let Some(path) = std::env::var_os("PHARMAGUARD_ADMIN") else {
        return api.admin().await;
    };
    let text = std::fs::read_to_string(&path).expect("the admin file");
    let admin: Value = serde_json::from_str(&text).expect("admin JSON");
    api.login(
        admin["email"].as_str().expect("email"),
        admin["password"].as_str().expect("password"),
    )
    .await
}

/// A fresh organisation with a signed-in user of each role given.
struct Org {
    id: String,
    users: Vec<(Credentials, Session)>,
}

impl Org {
    fn as_role(&self, role: &str) -> &Session {
        &self
            .users
            .iter()
            .find(|(user, _)| user.role == role)
            .unwrap_or_else(|| panic!("no {role} in {}", self.id))
            .1
    }

    fn user(&self, role: &str) -> &Credentials {
        &self
            .users
            .iter()
            .find(|(user, _)| user.role == role)
            .unwrap_or_else(|| panic!("no {role} in {}", self.id))
            .0
    }
}

async fn org(api: &Api, admin: &Session, label: &str, kind: &str, roles: &[&str]) -> Org {
    let id = api.create_organisation(admin, label, kind).await;
    let mut users = Vec::new();
    for role in roles {
        let user = api.create_user(admin, &id, role).await;
        let session = api.login_as(&user).await;
        users.push((user, session));
    }
    Org { id, users }
}

/// Creates a shipment from `shipper` to `recipient` as `session` (a manager
/// of the shipper), with a device it registers for it; returns it.
async fn create_shipment(api: &Api, session: &Session, shipper: &str, recipient: &str) -> Shipment {
    let device = api.create_device(session, shipper).await;
    let body = json!({
        "product": "Insulin glargine pens", "quantity": 400,
        "cargo_value": { "amount": "16000.00", "currency": "EUR" },
        "profile": { "kind": "REFRIGERATED" },
        "shipper_org_id": shipper, "recipient_org_id": recipient,
        "origin": { "name": "Pharma Hub Rotterdam", "lat": 51.9244, "lon": 4.4777 },
        "destination": { "name": "Charité Berlin", "lat": 52.5263, "lon": 13.3766 },
        "device_id": device.id,
    });
    let reply = api.post(session, "/v1/shipments", body).await;
    assert_eq!(reply.status, 201, "create shipment: {reply}");
    serde_json::from_value(reply.body).expect("a shipment")
}

async fn transition(api: &Api, session: &Session, shipment: &Shipment, action: &str, version: u64) {
    let reply = api
        .post(
            session,
            &format!("/v1/shipments/{}/{action}", shipment.id),
            json!({ "version": version }),
        )
        .await;
    assert_eq!(reply.status, 200, "{action} {}: {reply}", shipment.id);
}

async fn registry(stack: &Stack) -> DynamoConnectionRegistry {
    DynamoConnectionRegistry::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk_config().await),
        stack.output("ConnectionsTableName"),
    )
}

/// The registered connections of `user_id` in `org_id`.
async fn connections_of(
    registry: &DynamoConnectionRegistry,
    org_id: &str,
    user_id: &str,
) -> Vec<Connection> {
    registry
        .connections_of(org_id)
        .await
        .expect("registry listed")
        .into_iter()
        .filter(|connection| connection.user_id == user_id)
        .collect()
}

/// Waits until `condition` holds (checked every 250 ms).
async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < WAIT, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A WARNING alarm (not mailed) raised now on `shipment`.
fn warning_alarm(shipment: &Shipment) -> AlarmEvent {
    let now = OffsetDateTime::now_utc();
    let mut book = AlarmBook::new();
    let transitions = book.apply(
        &shipment.id,
        Signal::Present {
            alarm_type: AlarmType::PreExcursion,
            severity: Severity::Warning,
            value: 7.6,
            magnitude: 0.0,
            detail: "7.6 °C and rising; 8.0 °C within 20 min".into(),
            crossing: None,
            at: now,
        },
    );
    AlarmEvent::from_transition(
        &transitions[0],
        ShipmentSummary::from(shipment),
        AlarmContext {
            reading_ts: Some(now),
            temperature_c: Some(7.6),
            lat: Some(52.1),
            lon: Some(9.7),
            ..AlarmContext::default()
        },
    )
    .expect("a raise is published")
}

/// A position update of `shipment` (tracking version 3), in a
/// `tracking.batch` message as the anomaly detector publishes it.
fn tracking_update(shipment: &Shipment) -> OutboundMessage {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time");
    let body = json!({
        "event_id": format!("{}:v3", shipment.id), "event_type": "tracking.updated", "occurred_at": now,
        "shipment_id": shipment.id, "shipper_org_id": shipment.shipper_org_id,
        "recipient_org_id": shipment.recipient_org_id, "state": "IN_TRANSIT",
        "device_id": shipment.device_id,
        "latest": {"reading_id": format!("r-{}", unique()), "ts": now, "lat": 52.1, "lon": 9.7,
                   "temperature_c": 5.2, "vibration_g": 0.3},
        "mkt_c": 5.4, "excursion_minutes": 0.0, "budget_minutes": 60.0,
        "profile": {"kind": "REFRIGERATED", "min_c": 2.0, "max_c": 8.0}, "active_alarms": [],
    });
    let update: TrackingUpdated = serde_json::from_value(body).expect("a position event");
    let mut messages = position_messages(&[update]);
    assert_eq!(messages.len(), 1);
    messages.remove(0).0
}

#[tokio::test]
async fn events_reach_the_shipper_and_the_recipient_and_no_other_organisation() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = admin(&api).await;
    let (supplier, hospital, pharmacy) = tokio::join!(
        org(&api, &admin, "Live supplier", "SUPPLIER", &["MANAGER"]),
        org(&api, &admin, "Live hospital", "HOSPITAL", &["PHARMACIST"]),
        org(
            &api,
            &admin,
            "Live pharmacy",
            "PHARMACY",
            &["MANAGER", "PHARMACIST"]
        ),
    );
    let mut shipper = Client::open(&stack, supplier.as_role("MANAGER"), "supplier manager").await;
    let mut recipient = Client::open(
        &stack,
        hospital.as_role("PHARMACIST"),
        "hospital pharmacist",
    )
    .await;
    let mut outsider = Client::open(
        &stack,
        pharmacy.as_role("PHARMACIST"),
        "pharmacy pharmacist",
    )
    .await;
    let mut outsider_manager =
        Client::open(&stack, pharmacy.as_role("MANAGER"), "pharmacy manager").await;

    // a shipment event, from the orders function through the table's stream and SNS
    let shipment = create_shipment(
        &api,
        supplier.as_role("MANAGER"),
        &supplier.id,
        &hospital.id,
    )
    .await;
    let created = format!("{}:v1", shipment.id);
    for client in [&mut shipper, &mut recipient] {
        let event = client.event(&created).await;
        assert_eq!(event["type"], "shipment.created", "{event}");
        assert_eq!(event["shipment_id"], shipment.id.as_str());
        assert_eq!(event["data"]["event_id"], created.as_str());
        assert_eq!(event["data"]["shipper_org_id"], supplier.id.as_str());
        assert_eq!(event["data"]["recipient_org_id"], hospital.id.as_str());
        assert_eq!(
            event["data"]["shipment"]["product"],
            "Insulin glargine pens"
        );
    }

    // an alarm event, published on the alarm topic (shipment and organisations nested)
    let alarm = warning_alarm(&shipment);
    let sns = aws_sdk_sns::Client::new(&stack.sdk_config().await);
    SnsPublisher::new(sns, stack.output("AlarmEventsTopicArn"))
        .publish(&alarm.to_message())
        .await
        .expect("alarm event published");
    for client in [&mut shipper, &mut recipient] {
        let event = client.event(&alarm.event_id).await;
        assert_eq!(event["type"], "alarm.raised");
        assert_eq!(event["shipment_id"], shipment.id.as_str());
        assert_eq!(event["data"]["alarm"]["alarm_type"], "PRE_EXCURSION");
    }

    // a position update, published on the tracking topic as the anomaly detector does
    let position = tracking_update(&shipment);
    SnsPublisher::new(
        aws_sdk_sns::Client::new(&stack.sdk_config().await),
        stack.output("TrackingEventsTopicArn"),
    )
    .publish(&position)
    .await
    .expect("tracking event published");
    let position_id = format!("{}:v3", shipment.id);
    for client in [&mut shipper, &mut recipient] {
        let event = client.event(&position_id).await;
        assert_eq!(event["type"], "tracking.updated");
        assert_eq!(event["data"]["latest"]["temperature_c"], 5.2);
    }

    // all three reached the parties: nothing of them reaches the other organisation
    for client in [&mut outsider, &mut outsider_manager] {
        let leaked = client.drain(QUIET).await;
        assert!(
            leaked.is_empty(),
            "{} received another organisation's events: {leaked:?}",
            client.label
        );
    }
    for client in [shipper, recipient, outsider, outsider_manager] {
        client.close().await;
    }
}

#[tokio::test]
async fn a_connection_gone_without_its_disconnect_is_deleted_by_the_next_event() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = admin(&api).await;
    let (supplier, hospital) = tokio::join!(
        org(
            &api,
            &admin,
            "Gone supplier",
            "SUPPLIER",
            &["MANAGER", "DRIVER"]
        ),
        org(&api, &admin, "Gone hospital", "HOSPITAL", &["PHARMACIST"]),
    );
    let registry = registry(&stack).await;

    // 1. a real connection that closes; its $disconnect removes it, and then its entry is
    //    put back as if that $disconnect had never reached the registry
    let driver = supplier.user("DRIVER");
    let closing = Client::open(&stack, supplier.as_role("DRIVER"), "driver").await;
    let entries = connections_of(&registry, &supplier.id, &driver.id).await;
    assert_eq!(
        entries.len(),
        1,
        "the driver's connection is registered: {entries:?}"
    );
    let closed = entries[0].clone();
    closing.close().await;
    eventually(
        "the closed connection leaves the registry ($disconnect)",
        || async {
            registry
                .get(&closed.connection_id)
                .await
                .expect("read")
                .is_none()
        },
    )
    .await;
    registry.put(&closed).await.expect("entry put back");

    // 2. an entry for a connection the gateway never had
    let ghost = Connection::open(
        &format!("gone{}=", &unique()[..11]),
        &Principal::User {
            user_id: supplier.user("MANAGER").id.clone(),
            org_id: supplier.id.clone(),
            role: Role::Manager,
        },
        OffsetDateTime::now_utc(),
    )
    .expect("a connection");
    registry.put(&ghost).await.expect("ghost registered");

    // an event of the supplier's shipment: both answer 410 and are deleted; the live
    // connection still gets the event
    let mut manager = Client::open(&stack, supplier.as_role("MANAGER"), "manager").await;
    let shipment = create_shipment(
        &api,
        supplier.as_role("MANAGER"),
        &supplier.id,
        &hospital.id,
    )
    .await;
    manager.event(&format!("{}:v1", shipment.id)).await;
    for gone in [&closed.connection_id, &ghost.connection_id] {
        eventually(&format!("{gone} deleted after its 410"), || async {
            registry.get(gone).await.expect("read").is_none()
        })
        .await;
    }
    let manager_entries =
        connections_of(&registry, &supplier.id, &supplier.user("MANAGER").id).await;
    assert_eq!(
        manager_entries.len(),
        1,
        "the open connection stays: {manager_entries:?}"
    );
    manager.close().await;
}

#[tokio::test]
async fn a_missing_invalid_expired_or_device_token_is_refused() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = admin(&api).await;
    let supplier = org(&api, &admin, "Token supplier", "SUPPLIER", &["PHARMACIST"]).await;
    let pharmacist = supplier.as_role("PHARMACIST");
    let principal = Principal::User {
        user_id: pharmacist.id.clone(),
        org_id: supplier.id.clone(),
        role: Role::Pharmacist,
    };

    // signed by a key nobody trusts
    let stranger = TokenSigner::from_pkcs8_pem(&generate_key_pair().expect("key").private_pem)
        .expect("signer")
        .issue(&principal, OffsetDateTime::now_utc())
        .expect("token")
        .token;
    // signed by the stack's own key, but an hour old
    let stage = stack
        .output("StackName")
        .trim_start_matches("pharmaguard-")
        .to_owned();
    let ssm = aws_sdk_ssm::Client::new(&stack.sdk_config().await);
    let private_pem = ssm
        .get_parameter()
        .name(format!("/pharmaguard/{stage}/jwt-private-key"))
        .with_decryption(true)
        .send()
        .await
        .expect("signing key")
        .parameter
        .and_then(|parameter| parameter.value)
        .expect("a value");
    let expired = TokenSigner::from_pkcs8_pem(&private_pem)
        .expect("the stack's key")
        .issue(
            &principal,
            OffsetDateTime::now_utc() - time::Duration::hours(1),
        )
        .expect("token")
        .token;
    let device = api.create_device(&admin, &supplier.id).await;

    for (what, token) in [
        ("no token", None),
        ("an empty token", Some(String::new())),
        ("garbage", Some("not.a.token".to_owned())),
        ("a forged token", Some(stranger)),
        ("an expired token", Some(expired)),
        ("a device's token", Some(device.access_token.clone())),
    ] {
        match Client::connect(&stack, token.as_deref(), what).await {
            Err(status) => assert_eq!(status, 401, "{what}"),
            Ok(_) => panic!("{what} was accepted"),
        }
    }

    // the same user's real token is accepted, and registered with user, role, organisation
    // and the 2-hour lifetime; closing removes it
    let client = Client::open(&stack, pharmacist, "pharmacist").await;
    let registry = registry(&stack).await;
    let entries = connections_of(&registry, &supplier.id, &pharmacist.id).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.role, Role::Pharmacist);
    let lifetime = entry.expires_at - entry.connected_at;
    assert!(
        (lifetime - time::Duration::hours(2)).abs() <= time::Duration::seconds(1),
        "{lifetime}"
    );
    assert!((OffsetDateTime::now_utc() - entry.connected_at).abs() < time::Duration::minutes(1));
    client.close().await;
    let id = entry.connection_id.clone();
    eventually("the closed connection leaves the registry", || async {
        registry.get(&id).await.expect("read").is_none()
    })
    .await;
}

/// The sweep runs every minute; a connection may have to wait for the one
/// after next if it opened just as one started.
const SWEEP_WITHIN: Duration = Duration::from_secs(2 * 60 + 15);

#[tokio::test]
async fn a_disabled_or_changed_users_open_connections_are_closed_by_the_sweep() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = admin(&api).await;
    let supplier = org(
        &api,
        &admin,
        "Sweep supplier",
        "SUPPLIER",
        &["MANAGER", "DRIVER", "PHARMACIST"],
    )
    .await;
    let manager = supplier.as_role("MANAGER");
    let mut driver = Client::open(&stack, supplier.as_role("DRIVER"), "driver").await;
    let mut pharmacist = Client::open(&stack, supplier.as_role("PHARMACIST"), "pharmacist").await;
    let mut bystander = Client::open(&stack, manager, "manager").await;

    let driver_id = &supplier.user("DRIVER").id;
    let disabled = api
        .post(
            manager,
            &format!("/v1/auth/users/{driver_id}/disable"),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{disabled}");
    let pharmacist_id = &supplier.user("PHARMACIST").id;
    let changed = api
        .call(
            "PATCH",
            &format!("/v1/auth/users/{pharmacist_id}"),
            Some(&manager.access_token),
            Some(&json!({"role": "DRIVER", "version": 1})),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed}");

    let (driver_closed, pharmacist_closed) = tokio::join!(
        driver.closed_within(SWEEP_WITHIN),
        pharmacist.closed_within(SWEEP_WITHIN)
    );
    let driver_closed = driver_closed.expect("the disabled driver's connection is closed");
    let pharmacist_closed =
        pharmacist_closed.expect("the connection of the role it no longer has is closed");
    println!(
        "closed by the sweep after {:.1} s (disabled) and {:.1} s (role changed)",
        driver_closed.as_secs_f64(),
        pharmacist_closed.as_secs_f64()
    );
    let registry = registry(&stack).await;
    for user in [driver_id, pharmacist_id] {
        let left = connections_of(&registry, &supplier.id, user).await;
        assert!(left.is_empty(), "{user}: {left:?}");
    }

    // the manager was neither: still open, and still served
    assert_eq!(bystander.closed_within(Duration::from_secs(1)).await, None);
    assert_eq!(
        connections_of(&registry, &supplier.id, &supplier.user("MANAGER").id)
            .await
            .len(),
        1
    );
    bystander.close().await;

    // and the disabled driver cannot connect again with the token it still holds
    match Client::connect(
        &stack,
        Some(&supplier.as_role("DRIVER").access_token),
        "again",
    )
    .await
    {
        Err(status) => assert!(matches!(status, 401 | 403), "{status}"),
        Ok(_) => panic!("a disabled user connected"),
    }
}

#[tokio::test]
async fn subscribe_narrows_to_one_shipment_of_the_organisation() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = admin(&api).await;
    let (supplier, hospital, pharmacy) = tokio::join!(
        org(&api, &admin, "Follow supplier", "SUPPLIER", &["MANAGER"]),
        org(&api, &admin, "Follow hospital", "HOSPITAL", &["PHARMACIST"]),
        org(&api, &admin, "Follow pharmacy", "PHARMACY", &["MANAGER"]),
    );
    let manager = supplier.as_role("MANAGER");
    let mut client = Client::open(
        &stack,
        hospital.as_role("PHARMACIST"),
        "hospital pharmacist",
    )
    .await;

    client.send(json!({"v": 1, "action": "ping"})).await;
    client.wait_for("pong", |m| m["type"] == "pong").await;

    let first = create_shipment(&api, manager, &supplier.id, &hospital.id).await;
    let second = create_shipment(&api, manager, &supplier.id, &hospital.id).await;
    let foreign = create_shipment(
        &api,
        pharmacy.as_role("MANAGER"),
        &pharmacy.id,
        &supplier.id,
    )
    .await;
    client.event(&format!("{}:v1", first.id)).await;
    client.event(&format!("{}:v1", second.id)).await;

    // another organisation's shipment cannot be followed, and is not told apart from none
    client
        .send(json!({"v": 1, "action": "subscribe", "shipment_id": foreign.id}))
        .await;
    let refused = client.wait_for("an error", |m| m["type"] == "error").await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    assert_eq!(refused["field"], "shipment_id");

    client
        .send(json!({"v": 1, "action": "subscribe", "shipment_id": first.id}))
        .await;
    let subscribed = client
        .wait_for("subscribed", |m| m["type"] == "subscribed")
        .await;
    assert_eq!(subscribed["shipment_id"], first.id.as_str());

    // the second shipment moves first, then the followed one
    transition(&api, manager, &second, "dispatch", 1).await;
    transition(&api, manager, &first, "dispatch", 1).await;
    let dispatched = client.event(&format!("{}:v2", first.id)).await;
    assert_eq!(dispatched["type"], "shipment.dispatched");
    let others = client.drain(QUIET).await;
    assert!(
        others
            .iter()
            .all(|m| m["shipment_id"] != second.id.as_str()),
        "an event of the shipment not followed arrived: {others:?}"
    );

    // unsubscribed, every shipment of the organisation again
    client.send(json!({"v": 1, "action": "unsubscribe"})).await;
    client
        .wait_for("unsubscribed", |m| m["type"] == "unsubscribed")
        .await;
    transition(&api, manager, &second, "cancel", 2).await;
    let cancelled = client.event(&format!("{}:v3", second.id)).await;
    assert_eq!(cancelled["type"], "shipment.cancelled");

    // what is not an action gets an error naming it
    client.send(json!({"v": 1, "action": "publish"})).await;
    let error = client.wait_for("an error", |m| m["type"] == "error").await;
    assert_eq!(error["code"], "unknown_action");
    assert_eq!(error["field"], "action");
    client.close().await;
}

//! The message routes against an in-memory registry, an in-memory
//! `@connections` API and a fake shipments table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use pharmaguard_domain::fixtures::{T0, shipment};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::live::memory::{MemoryConnectionRegistry, MemoryGateway};
use pharmaguard_domain::shipment::ShipmentState;
use serde_json::{Value, json};
use time::Duration;

use super::*;

/// The shipments table in memory; `down` makes it fail.
#[derive(Default)]
struct FakeShipments {
    shipments: BTreeMap<String, Shipment>,
    down: AtomicBool,
}

impl FakeShipments {
    /// `shp-1` and `shp-2`, from `org-ship` to `org-recv`.
    fn new() -> Self {
        let shipments = ["shp-1", "shp-2"]
            .into_iter()
            .map(|id| {
                (
                    id.to_owned(),
                    shipment(id, "truck-7", ShipmentState::InTransit),
                )
            })
            .collect();
        Self {
            shipments,
            down: AtomicBool::new(false),
        }
    }
}

impl ShipmentLookup for FakeShipments {
    async fn find(&self, shipment_id: &str) -> Result<Option<Shipment>, String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("ProvisionedThroughputExceededException: slow down".into());
        }
        Ok(self.shipments.get(shipment_id).cloned())
    }
}

struct World {
    registry: MemoryConnectionRegistry,
    gateway: MemoryGateway,
    shipments: FakeShipments,
}

impl World {
    /// Connections `c-ship` (a manager of the shipper), `c-recv` (a
    /// pharmacist of the recipient) and `c-other` (a manager elsewhere),
    /// opened at [`T0`].
    async fn new() -> Self {
        let registry = MemoryConnectionRegistry::new();
        for (id, org, role) in [
            ("c-ship", "org-ship", Role::Manager),
            ("c-recv", "org-recv", Role::Pharmacist),
            ("c-other", "org-other", Role::Manager),
        ] {
            let user = Principal::User {
                user_id: format!("usr-{id}"),
                org_id: org.into(),
                role,
            };
            registry
                .put(&Connection::open(id, &user, T0).unwrap())
                .await
                .unwrap();
        }
        Self {
            registry,
            gateway: MemoryGateway::new(),
            shipments: FakeShipments::new(),
        }
    }

    fn messenger(&self) -> Messenger<'_, MemoryConnectionRegistry, MemoryGateway, FakeShipments> {
        Messenger {
            registry: &self.registry,
            gateway: &self.gateway,
            shipments: &self.shipments,
        }
    }

    /// Sends `body` as a text frame from `connection_id` a minute after T0;
    /// returns the reply as JSON (`Value::Null` for none).
    async fn send(&self, connection_id: &str, body: &str) -> Value {
        let request = request(connection_id, "$default", body);
        self.reply(&request, T0 + Duration::minutes(1)).await
    }

    async fn reply(&self, request: &MessageRequest, now: OffsetDateTime) -> Value {
        let response = self.messenger().handle(request, now).await;
        assert_eq!(response.status_code, 200);
        response
            .body
            .map(|body| serde_json::from_str(&body).expect("a JSON reply"))
            .unwrap_or(Value::Null)
    }

    fn subscription(&self, connection_id: &str) -> Option<String> {
        self.registry
            .entry(connection_id)
            .expect("registered")
            .subscription
    }
}

fn request(connection_id: &str, route: &str, body: &str) -> MessageRequest {
    serde_json::from_value(json!({
        "requestContext": {
            "routeKey": route, "eventType": "MESSAGE", "connectionId": connection_id,
            "messageId": "m-1", "requestId": "r-1", "connectedAt": 1_795_248_000_000_i64,
        },
        "body": body,
        "isBase64Encoded": false,
    }))
    .expect("a message event")
}

fn error_of(reply: &Value) -> (&str, Option<&str>) {
    assert_eq!(reply["v"], 1, "{reply}");
    assert_eq!(reply["type"], "error", "{reply}");
    (
        reply["code"].as_str().expect("a code"),
        reply["field"].as_str(),
    )
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let world = World::new().await;
    let reply = world.send("c-recv", r#"{"v":1,"action":"ping"}"#).await;
    assert_eq!(reply, json!({"v": 1, "type": "pong"}));
}

#[tokio::test]
async fn both_organisations_may_subscribe_to_a_shipment() {
    let world = World::new().await;
    for connection in ["c-ship", "c-recv"] {
        let reply = world
            .send(
                connection,
                r#"{"v":1,"action":"subscribe","shipment_id":"shp-1"}"#,
            )
            .await;
        assert_eq!(
            reply,
            json!({"v": 1, "type": "subscribed", "shipment_id": "shp-1"})
        );
        assert_eq!(world.subscription(connection).as_deref(), Some("shp-1"));
    }
    // another subscription replaces the first
    world
        .send(
            "c-ship",
            r#"{"v":1,"action":"subscribe","shipment_id":"shp-2"}"#,
        )
        .await;
    assert_eq!(world.subscription("c-ship").as_deref(), Some("shp-2"));
}

#[tokio::test]
async fn another_organisations_shipment_is_not_found_like_a_missing_one() {
    let world = World::new().await;
    let hidden = world
        .send(
            "c-other",
            r#"{"v":1,"action":"subscribe","shipment_id":"shp-1"}"#,
        )
        .await;
    let missing = world
        .send(
            "c-ship",
            r#"{"v":1,"action":"subscribe","shipment_id":"shp-404"}"#,
        )
        .await;
    assert_eq!(error_of(&hidden), ("not_found", Some("shipment_id")));
    assert_eq!(error_of(&missing), ("not_found", Some("shipment_id")));
    assert_eq!(world.subscription("c-other"), None);
    assert_eq!(world.subscription("c-ship"), None);
}

#[tokio::test]
async fn unsubscribe_follows_every_shipment_again() {
    let world = World::new().await;
    world
        .send(
            "c-recv",
            r#"{"v":1,"action":"subscribe","shipment_id":"shp-1"}"#,
        )
        .await;
    let reply = world
        .send("c-recv", r#"{"v":1,"action":"unsubscribe"}"#)
        .await;
    assert_eq!(reply, json!({"v": 1, "type": "unsubscribed"}));
    assert_eq!(world.subscription("c-recv"), None);
}

#[tokio::test]
async fn bad_frames_get_an_error_naming_the_problem() {
    let world = World::new().await;
    for (body, expected) in [
        ("hello", ("invalid_json", None)),
        ("[]", ("invalid_message", None)),
        (r#"{"action":"ping"}"#, ("invalid_field", Some("v"))),
        (
            r#"{"v":2,"action":"ping"}"#,
            ("unsupported_version", Some("v")),
        ),
        (
            r#"{"v":1,"action":"publish"}"#,
            ("unknown_action", Some("action")),
        ),
        (
            r#"{"v":1,"action":"subscribe"}"#,
            ("invalid_field", Some("shipment_id")),
        ),
        (
            r#"{"v":1,"action":"subscribe","shipment_id":"../etc"}"#,
            ("invalid_field", Some("shipment_id")),
        ),
        (
            r#"{"v":1,"action":"ping","org_id":"org-recv"}"#,
            ("invalid_field", Some("org_id")),
        ),
    ] {
        let reply = world.send("c-ship", body).await;
        assert_eq!(error_of(&reply), expected, "{body}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(world.subscription("c-ship"), None);
    assert!(world.gateway.sent().is_empty());
}

#[tokio::test]
async fn a_base64_frame_is_decoded() {
    let world = World::new().await;
    let mut frame = request(
        "c-ship",
        "$default",
        &STANDARD.encode(r#"{"v":1,"action":"ping"}"#),
    );
    frame.is_base64_encoded = Some(true);
    assert_eq!(
        world.reply(&frame, T0).await,
        json!({"v": 1, "type": "pong"})
    );
    let mut binary = request("c-ship", "$default", &STANDARD.encode([0xff, 0xfe, 0x00]));
    binary.is_base64_encoded = Some(true);
    assert_eq!(
        error_of(&world.reply(&binary, T0).await),
        ("invalid_json", None)
    );
}

#[tokio::test]
async fn an_unregistered_or_expired_connection_is_told_and_closed() {
    let world = World::new().await;
    let reply = world.send("c-ghost", r#"{"v":1,"action":"ping"}"#).await;
    assert_eq!(reply, Value::Null, "no reply: the connection is closed");
    let sent = world.gateway.sent_to("c-ghost");
    assert_eq!(sent.len(), 1);
    let told: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(error_of(&told), ("not_connected", None));
    assert_eq!(world.gateway.closed(), ["c-ghost"]);

    // two hours after connecting the registry's entry no longer counts
    let late = request("c-ship", "ping", r#"{"v":1,"action":"ping"}"#);
    let reply = world.reply(&late, T0 + Duration::hours(2)).await;
    assert_eq!(reply, Value::Null);
    assert_eq!(world.gateway.closed(), ["c-ghost", "c-ship"]);
}

#[tokio::test]
async fn an_unreachable_registry_or_shipments_table_asks_to_try_again() {
    let world = World::new().await;
    world.shipments.down.store(true, Ordering::SeqCst);
    let reply = world
        .send(
            "c-ship",
            r#"{"v":1,"action":"subscribe","shipment_id":"shp-1"}"#,
        )
        .await;
    assert_eq!(error_of(&reply), ("unavailable", None));
    assert_eq!(world.subscription("c-ship"), None);

    world.registry.set_unavailable(true);
    let reply = world.send("c-ship", r#"{"v":1,"action":"ping"}"#).await;
    assert_eq!(error_of(&reply), ("unavailable", None));
    assert!(
        world.gateway.closed().is_empty(),
        "nothing closed on a failure"
    );
}

#[tokio::test]
async fn a_message_without_a_connection_id_is_not_answered() {
    let world = World::new().await;
    let mut orphan = request("x", "ping", r#"{"v":1,"action":"ping"}"#);
    orphan.request_context.connection_id = None;
    let response = world.messenger().handle(&orphan, T0).await;
    assert_eq!(
        response,
        WsResponse {
            status_code: 400,
            body: None
        }
    );
}

fn sample(name: &str) -> MessageRequest {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/ws-message")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_samples_get_the_answers_the_readme_promises() {
    let world = World::new().await;
    // the samples come from connection Lk3QbfJqFiACHgw=, a pharmacist of org-recv
    let user = Principal::User {
        user_id: "usr-7".into(),
        org_id: "org-recv".into(),
        role: Role::Pharmacist,
    };
    let id = "Lk3QbfJqFiACHgw=";
    world
        .registry
        .put(&Connection::open(id, &user, T0).unwrap())
        .await
        .unwrap();
    let at = T0 + Duration::minutes(5);
    assert_eq!(
        world.reply(&sample("subscribe.json"), at).await,
        json!({"v": 1, "type": "subscribed", "shipment_id": "shp-1"})
    );
    assert_eq!(world.subscription(id).as_deref(), Some("shp-1"));
    assert_eq!(
        world.reply(&sample("unsubscribe.json"), at).await,
        json!({"v": 1, "type": "unsubscribed"})
    );
    assert_eq!(
        world.reply(&sample("ping.json"), at).await,
        json!({"v": 1, "type": "pong"})
    );
    let reply = world.reply(&sample("unknown-action.json"), at).await;
    assert_eq!(error_of(&reply), ("unknown_action", Some("action")));
}

//! The broadcast against an in-memory registry and an in-memory
//! `@connections` API: who receives what, gone connections, failures.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::live::memory::{MemoryConnectionRegistry, MemoryGateway};
use pharmaguard_domain::live::{CONNECTION_TTL, MAX_MESSAGE_BYTES};
use serde_json::{Value, json};
use time::Duration;
use time::macros::datetime;

use super::*;

const T0: OffsetDateTime = datetime!(2026-11-21 08:00 UTC);
const NOW: OffsetDateTime = datetime!(2026-11-21 08:30 UTC);

async fn connect(registry: &MemoryConnectionRegistry, id: &str, org: &str, role: Role) {
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

/// `a-manager` and `a-driver` of org A, `b-pharmacist` of org B,
/// `c-manager` of org C.
async fn registry() -> MemoryConnectionRegistry {
    let registry = MemoryConnectionRegistry::new();
    connect(&registry, "a-manager", "org-a", Role::Manager).await;
    connect(&registry, "a-driver", "org-a", Role::Driver).await;
    connect(&registry, "b-pharmacist", "org-b", Role::Pharmacist).await;
    connect(&registry, "c-manager", "org-c", Role::Manager).await;
    registry
}

fn broadcaster<'a, R, G>(registry: &'a R, gateway: &'a G) -> Broadcaster<'a, R, G> {
    Broadcaster {
        registry,
        gateway,
        concurrency: MAX_CONCURRENT_POSTS,
    }
}

/// A shipment event of `shipment` from `shipper` to `recipient`, as the
/// shipment-events function publishes it.
fn shipment_event(
    shipment: &str,
    shipper: &str,
    recipient: &str,
) -> (String, BTreeMap<String, String>) {
    let body = json!({
        "event_id": format!("{shipment}:v2"), "event_type": "shipment.dispatched", "version": 2,
        "occurred_at": "2026-11-21T08:29:00Z", "shipment_id": shipment,
        "shipper_org_id": shipper, "recipient_org_id": recipient, "state": "DISPATCHED",
        "shipment": {"id": shipment},
    });
    let attributes = BTreeMap::from([
        ("event_type".to_owned(), "shipment.dispatched".to_owned()),
        ("shipper_org_id".to_owned(), shipper.to_owned()),
        ("recipient_org_id".to_owned(), recipient.to_owned()),
        ("state".to_owned(), "DISPATCHED".to_owned()),
        ("version".to_owned(), "2".to_owned()),
    ]);
    (body.to_string(), attributes)
}

fn delivery(outcome: Outcome) -> Delivery {
    match outcome {
        Outcome::Broadcast(delivery) => delivery,
        other => panic!("not broadcast: {other:?}"),
    }
}

fn received(gateway: &MemoryGateway, connection_id: &str) -> Vec<Value> {
    gateway
        .sent_to(connection_id)
        .iter()
        .map(|text| serde_json::from_str(text).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn an_event_reaches_the_shipper_and_the_recipient_and_nobody_else() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let outcome = broadcaster(&registry, &gateway)
        .broadcast(&body, &attributes, NOW)
        .await
        .unwrap();
    let delivery = delivery(outcome);
    assert_eq!(delivery.event_id, "shp-1:v2");
    assert_eq!(
        (
            delivery.candidates,
            delivery.delivered,
            delivery.gone,
            delivery.failed
        ),
        (3, 3, 0, 0)
    );
    for id in ["a-manager", "a-driver", "b-pharmacist"] {
        let messages = received(&gateway, id);
        assert_eq!(messages.len(), 1, "{id}");
        assert_eq!(messages[0]["v"], 1);
        assert_eq!(messages[0]["type"], "shipment.dispatched");
        assert_eq!(messages[0]["id"], "shp-1:v2");
        assert_eq!(messages[0]["shipment_id"], "shp-1");
        assert_eq!(
            messages[0]["data"],
            serde_json::from_str::<Value>(&body).unwrap()
        );
    }
    assert!(gateway.sent_to("c-manager").is_empty());
}

#[tokio::test]
async fn org_b_receives_nothing_of_org_as_own_shipment() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    // org A ships to org C: org B is not a party
    let (body, attributes) = shipment_event("shp-7", "org-a", "org-c");
    broadcaster(&registry, &gateway)
        .broadcast(&body, &attributes, NOW)
        .await
        .unwrap();
    assert!(gateway.sent_to("b-pharmacist").is_empty());
    assert_eq!(gateway.sent_to("a-manager").len(), 1);
    assert_eq!(gateway.sent_to("c-manager").len(), 1);
    // only the parties' connections were even looked at
    assert_eq!(gateway.attempts(), 3);
}

#[tokio::test]
async fn attributes_that_contradict_the_body_send_nothing() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let (body, mut attributes) = shipment_event("shp-1", "org-a", "org-c");
    attributes.insert("recipient_org_id".into(), "org-b".into());
    let outcome = broadcaster(&registry, &gateway)
        .broadcast(&body, &attributes, NOW)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Malformed(reason) if reason.contains("recipient_org_id")));
    assert!(gateway.sent().is_empty());
}

#[tokio::test]
async fn a_subscribed_connection_receives_only_its_shipment() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    registry
        .set_subscription("a-manager", Some("shp-2"))
        .await
        .unwrap();
    let broadcaster = broadcaster(&registry, &gateway);
    for shipment in ["shp-1", "shp-2"] {
        let (body, attributes) = shipment_event(shipment, "org-a", "org-b");
        broadcaster
            .broadcast(&body, &attributes, NOW)
            .await
            .unwrap();
    }
    let ids: Vec<Value> = received(&gateway, "a-manager")
        .iter()
        .map(|m| m["shipment_id"].clone())
        .collect();
    assert_eq!(ids, [json!("shp-2")]);
    assert_eq!(received(&gateway, "a-driver").len(), 2);
}

#[tokio::test]
async fn a_gone_connection_is_deleted_and_the_others_still_receive() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    gateway.mark_gone("a-driver");
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(&body, &attributes, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(
        (delivery.delivered, delivery.gone, delivery.failed),
        (2, 1, 0)
    );
    assert_eq!(registry.entry("a-driver"), None);
    assert_eq!(
        registry.ids(),
        ["a-manager", "b-pharmacist", "c-manager"],
        "only the gone connection was deleted"
    );
    assert_eq!(gateway.sent_to("a-manager").len(), 1);
    assert_eq!(gateway.sent_to("b-pharmacist").len(), 1);
}

#[tokio::test]
async fn a_failing_connection_neither_stops_the_others_nor_fails_the_event() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    gateway.mark_failing("a-manager");
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(&body, &attributes, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(
        (delivery.delivered, delivery.gone, delivery.failed),
        (2, 0, 1)
    );
    assert!(
        registry.entry("a-manager").is_some(),
        "a throttled connection is not gone"
    );
}

#[tokio::test]
async fn expired_connections_are_skipped() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(
                &body,
                &attributes,
                T0 + CONNECTION_TTL + Duration::seconds(1),
            )
            .await
            .unwrap(),
    );
    assert_eq!((delivery.candidates, delivery.delivered), (3, 0));
    assert!(gateway.sent().is_empty());
}

#[tokio::test]
async fn an_event_over_128_kb_is_sent_truncated() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let body = json!({
        "event_id": "shp-1:v9", "event_type": "tracking.updated", "shipment_id": "shp-1",
        "shipper_org_id": "org-a", "recipient_org_id": "org-b", "padding": "x".repeat(MAX_MESSAGE_BYTES),
    })
    .to_string();
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(&body, &BTreeMap::new(), NOW)
            .await
            .unwrap(),
    );
    assert!(delivery.truncated);
    let message = &received(&gateway, "b-pharmacist")[0];
    assert_eq!(message["truncated"], true);
    assert_eq!(message.get("data"), None);
    assert!(
        gateway
            .sent()
            .iter()
            .all(|(_, text)| text.len() <= MAX_MESSAGE_BYTES)
    );
}

#[tokio::test]
async fn a_registry_that_cannot_list_fails_the_event() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    registry.set_unavailable(true);
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let failure = broadcaster(&registry, &gateway)
        .broadcast(&body, &attributes, NOW)
        .await
        .unwrap_err();
    assert_eq!(failure.event_id, "shp-1:v2");
    assert_eq!(failure.org_id, "org-a");
    assert!(gateway.sent().is_empty());
}

/// A gateway that takes a moment per post and counts the posts in flight.
#[derive(Default)]
struct SlowGateway {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    posted: AtomicUsize,
}

impl ConnectionGateway for SlowGateway {
    async fn post(&self, _connection_id: &str, _message: &str) -> Result<(), PostError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.posted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn close(&self, _connection_id: &str) -> Result<(), PostError> {
        Ok(())
    }
}

#[tokio::test]
async fn posts_run_concurrently_within_the_bound() {
    let registry = MemoryConnectionRegistry::new();
    for n in 0..40 {
        connect(&registry, &format!("a-{n:02}"), "org-a", Role::Driver).await;
    }
    let gateway = SlowGateway::default();
    let broadcaster = Broadcaster {
        registry: &registry,
        gateway: &gateway,
        concurrency: 8,
    };
    let (body, attributes) = shipment_event("shp-1", "org-a", "org-b");
    let delivery = delivery(
        broadcaster
            .broadcast(&body, &attributes, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(delivery.delivered, 40);
    assert_eq!(gateway.posted.load(Ordering::SeqCst), 40);
    assert_eq!(gateway.most.load(Ordering::SeqCst), 8);
}

fn sample(name: &str) -> SnsEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/ws-broadcast")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_samples_reach_the_supplier_and_the_hospital_only() {
    let registry = MemoryConnectionRegistry::new();
    connect(&registry, "supplier", "org-supplier", Role::Manager).await;
    connect(&registry, "hospital", "org-hospital", Role::Pharmacist).await;
    connect(&registry, "pharmacy", "org-pharmacy", Role::Pharmacist).await;
    let gateway = MemoryGateway::new();
    let broadcaster = broadcaster(&registry, &gateway);
    let mut types = Vec::new();
    for name in [
        "shipment-dispatched.json",
        "alarm-raised.json",
        "tracking-updated.json",
    ] {
        let event = sample(name);
        assert_eq!(event.records.len(), 1, "{name}");
        let notification = &event.records[0].sns;
        let delivery = delivery(
            broadcaster
                .broadcast(&notification.message, &notification.attributes(), T0)
                .await
                .unwrap(),
        );
        assert_eq!(delivery.delivered, 2, "{name}");
        let message = received(&gateway, "hospital").pop().expect("a message");
        assert_eq!(
            message["shipment_id"],
            "shp-0b5f4a6e-8d1c-4f7a-9f6b-2a1d3c4e5f60"
        );
        assert_eq!(
            message["data"],
            serde_json::from_str::<Value>(&notification.message).unwrap(),
            "{name}"
        );
        types.push(message["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        ["shipment.dispatched", "alarm.raised", "tracking.updated"]
    );
    assert!(gateway.sent_to("pharmacy").is_empty());
    assert_eq!(gateway.sent_to("supplier").len(), 3);
}

/// A position update of `shipment` from `shipper` to `recipient`, as the
/// anomaly detector puts it in a batch.
fn position_update(shipment: &str, shipper: &str, recipient: &str) -> Value {
    json!({
        "event_id": format!("{shipment}:v3"), "event_type": "tracking.updated",
        "occurred_at": "2026-11-21T08:29:00Z", "shipment_id": shipment,
        "shipper_org_id": shipper, "recipient_org_id": recipient, "state": "IN_TRANSIT",
        "mkt_c": 5.4, "active_alarms": [],
    })
}

#[tokio::test]
async fn each_update_of_a_batch_reaches_its_own_organisations_only() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let mut forged = position_update("shp-9", "org-c", "org-c");
    forged["event_type"] = json!("alarm.cleared");
    let body = json!({"event_id": "shp-1:v3+3", "event_type": "tracking.batch", "updates": [
        position_update("shp-1", "org-a", "org-b"),
        position_update("shp-2", "org-c", "org-c"),
        forged,
        position_update("shp-3", "org-a", "org-a"),
    ]});
    let attributes = BTreeMap::from([("event_type".to_owned(), "tracking.batch".to_owned())]);
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(&body.to_string(), &attributes, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(delivery.event_id, "shp-1:v3+3");
    assert_eq!(delivery.events, 3, "the forged update is skipped");
    // shp-1 to a-manager, a-driver, b-pharmacist; shp-2 to c-manager; shp-3 to org A's two
    assert_eq!((delivery.delivered, delivery.failed), (6, 0));
    assert_eq!(registry.listings(), 3, "org A, B and C listed once each");
    let shipments = |id: &str| -> Vec<String> {
        received(&gateway, id)
            .iter()
            .map(|m| {
                assert_eq!(m["type"], "tracking.updated");
                assert_eq!(
                    m["id"],
                    format!("{}:v3", m["shipment_id"].as_str().unwrap())
                );
                m["shipment_id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let mut a = shipments("a-manager");
    a.sort();
    assert_eq!(a, ["shp-1", "shp-3"]);
    assert_eq!(shipments("b-pharmacist"), ["shp-1"]);
    assert_eq!(shipments("c-manager"), ["shp-2"], "never the forged alarm");
    let first = received(&gateway, "b-pharmacist").remove(0);
    assert_eq!(first["data"], position_update("shp-1", "org-a", "org-b"));

    // a batch that cannot be listed fails whole, to be delivered again
    registry.set_unavailable(true);
    let failure = broadcaster(&registry, &gateway)
        .broadcast(&body.to_string(), &attributes, NOW)
        .await
        .unwrap_err();
    assert_eq!(failure.event_id, "shp-1:v3+3");
    // and one without updates is not a live event
    let outcome = broadcaster(&registry, &gateway)
        .broadcast(
            &json!({"event_id": "b", "event_type": "tracking.batch"}).to_string(),
            &attributes,
            NOW,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Malformed(reason) if reason.starts_with("updates")));
}

#[tokio::test]
async fn the_batch_sample_reaches_each_shipments_organisations() {
    let registry = MemoryConnectionRegistry::new();
    connect(&registry, "supplier", "org-supplier", Role::Manager).await;
    connect(&registry, "hospital", "org-hospital", Role::Pharmacist).await;
    connect(&registry, "pharmacy", "org-pharmacy", Role::Pharmacist).await;
    let gateway = MemoryGateway::new();
    let event = sample("tracking-batch.json");
    let notification = &event.records[0].sns;
    let delivery = delivery(
        broadcaster(&registry, &gateway)
            .broadcast(&notification.message, &notification.attributes(), T0)
            .await
            .unwrap(),
    );
    assert_eq!((delivery.events, delivery.delivered), (2, 4));
    assert_eq!(gateway.sent_to("supplier").len(), 2);
    let only = |id: &str| {
        let messages = received(&gateway, id);
        assert_eq!(messages.len(), 1, "{id}");
        messages[0]["shipment_id"].as_str().unwrap().to_owned()
    };
    assert_eq!(only("hospital"), "shp-0b5f4a6e-8d1c-4f7a-9f6b-2a1d3c4e5f60");
    assert_eq!(only("pharmacy"), "shp-7c2e9b1d-3f4a-4b5c-8d6e-0f1a2b3c4d5e");
}

#[tokio::test]
async fn the_handler_fails_only_when_connections_cannot_be_listed() {
    // the handler broadcasts at the current time: connections opened now
    let registry = MemoryConnectionRegistry::new();
    let now = OffsetDateTime::now_utc();
    for (id, org) in [
        ("a-1", "org-a"),
        ("a-2", "org-a"),
        ("b-1", "org-b"),
        ("c-1", "org-c"),
    ] {
        let user = Principal::User {
            user_id: format!("usr-{id}"),
            org_id: org.into(),
            role: Role::Manager,
        };
        registry
            .put(&Connection::open(id, &user, now).unwrap())
            .await
            .unwrap();
    }
    let gateway = MemoryGateway::new();
    let broadcaster = broadcaster(&registry, &gateway);
    let (body, _) = shipment_event("shp-1", "org-a", "org-b");
    let event = |message: &str| {
        let payload: SnsEvent = serde_json::from_value(json!({
            "Records": [
                {"Sns": {"MessageId": "m-1", "Message": message, "MessageAttributes": {
                    "event_type": {"Type": "String", "Value": "shipment.dispatched"}
                }}},
                {"Sns": {"MessageId": "m-2", "Message": "not json"}}
            ]
        }))
        .unwrap();
        LambdaEvent::new(payload, lambda_runtime::Context::default())
    };
    // the good record is broadcast, the unreadable one fails the invocation
    let failed = handle(&broadcaster, event(&body))
        .await
        .expect_err("reported");
    assert!(failed.to_string().contains("m-2"), "{failed}");
    assert_eq!(gateway.sent().len(), 3);
    registry.set_unavailable(true);
    assert!(handle(&broadcaster, event(&body)).await.is_err());
}

// ------------------------------------------------------------------ failures reported

impl AllConnections for MemoryConnectionRegistry {
    async fn all_connections(&self) -> Result<Vec<Connection>, RegistryError> {
        let mut all = Vec::new();
        for id in self.ids() {
            if let Some(connection) = self.get(&id).await? {
                all.push(connection);
            }
        }
        Ok(all)
    }
}

fn sns_payload(message: &str) -> Value {
    json!({"Records": [{"Sns": {"MessageId": "m-9", "Message": message}}]})
}

#[tokio::test]
async fn an_unreadable_event_is_an_error_for_the_failure_destination() {
    let (registry, gateway) = (registry().await, MemoryGateway::new());
    let statuses = pharmaguard_domain::accounts::memory::MemoryIdentityStore::new();
    let broadcaster = broadcaster(&registry, &gateway);
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &statuses,
        gateway: &gateway,
    };
    let call = |payload: Value| {
        handle_any(
            &broadcaster,
            &sweeper,
            LambdaEvent::new(payload, lambda_runtime::Context::default()),
        )
    };
    for payload in [
        sns_payload("not json"),
        sns_payload(r#"{"event_id": "e-1"}"#),
        json!({"Records": "not a list"}),
        json!({"hello": "world"}),
        json!(null),
    ] {
        assert!(call(payload.clone()).await.is_err(), "{payload}");
    }
    assert!(gateway.sent().is_empty());
    let (body, _) = shipment_event("shp-1", "org-a", "org-b");
    assert!(
        call(sns_payload(&body)).await.is_ok(),
        "a live event is no error"
    );
}

// ------------------------------------------------------------------ the sweep

fn stored_user(id: &str, org: &str, role: Role) -> pharmaguard_domain::accounts::User {
    let mut user = pharmaguard_domain::accounts::User::new(
        &pharmaguard_domain::accounts::CreateUserRequest {
            email: format!("{id}@example.org"),
            name: id.into(),
            password: "unused".into(),
            role,
            org_id: org.into(),
        },
        "hash".into(),
        T0 - Duration::days(1),
    );
    user.id = format!("usr-{id}");
    user
}

#[tokio::test]
async fn the_sweep_closes_the_connections_of_revoked_users_only() {
    use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
    let registry = registry().await;
    let gateway = MemoryGateway::new();
    let statuses = MemoryIdentityStore::new();
    // a-manager: fine; a-driver: disabled; b-pharmacist: role changed after
    // connecting; c-manager: deleted (no user item)
    statuses.seed_user(stored_user("a-manager", "org-a", Role::Manager));
    statuses.seed_user(
        stored_user("a-driver", "org-a", Role::Driver).disabled(T0 + Duration::minutes(10)),
    );
    statuses.seed_user(
        stored_user("b-pharmacist", "org-b", Role::Pharmacist)
            .with_role(Role::Driver, T0 + Duration::minutes(20)),
    );
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &statuses,
        gateway: &gateway,
    };
    let swept = sweeper.sweep(NOW).await.expect("swept");
    assert_eq!(
        swept,
        Swept {
            connections: 4,
            closed: 3,
            failed: 0
        }
    );
    let mut closed = gateway.closed();
    closed.sort();
    assert_eq!(closed, ["a-driver", "b-pharmacist", "c-manager"]);
    assert_eq!(registry.ids(), ["a-manager"]);
    // nothing left to do
    assert_eq!(sweeper.sweep(NOW).await.expect("swept").closed, 0);
}

#[tokio::test]
async fn the_sweep_leaves_what_it_cannot_check_and_forgets_gone_connections() {
    use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
    let registry = registry().await;
    let gateway = MemoryGateway::new();
    gateway.mark_gone("a-driver");
    let statuses = MemoryIdentityStore::new();
    statuses.seed_user(stored_user("a-manager", "org-a", Role::Manager));
    statuses.seed_user(stored_user("a-driver", "org-a", Role::Driver).disabled(T0));
    statuses.seed_user(stored_user("b-pharmacist", "org-b", Role::Pharmacist));
    statuses.seed_user(stored_user("c-manager", "org-c", Role::Manager));
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &statuses,
        gateway: &gateway,
    };
    assert_eq!(sweeper.sweep(NOW).await.expect("swept").closed, 1);
    assert!(
        registry.entry("a-driver").is_none(),
        "a gone connection is forgotten"
    );

    let mut down = MemoryIdentityStore::new();
    down.unavailable = true;
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &down,
        gateway: &gateway,
    };
    let swept = sweeper.sweep(NOW).await.expect("swept");
    assert_eq!(
        (swept.closed, swept.failed),
        (0, 3),
        "nothing closed on a guess"
    );
    assert_eq!(registry.ids().len(), 3);

    registry.set_unavailable(true);
    assert!(sweeper.sweep(NOW).await.is_err());
}

#[tokio::test]
async fn the_schedule_runs_the_sweep() {
    use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
    let registry = MemoryConnectionRegistry::new();
    let now = OffsetDateTime::now_utc();
    let user = Principal::User {
        user_id: "usr-x".into(),
        org_id: "org-a".into(),
        role: Role::Manager,
    };
    registry
        .put(&Connection::open("x-1", &user, now).unwrap())
        .await
        .unwrap();
    let gateway = MemoryGateway::new();
    let statuses = MemoryIdentityStore::new();
    let broadcaster = broadcaster(&registry, &gateway);
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &statuses,
        gateway: &gateway,
    };
    let scheduled = json!({
        "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-21T08:31:00Z", "detail": {}
    });
    assert!(is_scheduled(&scheduled));
    handle_any(
        &broadcaster,
        &sweeper,
        LambdaEvent::new(scheduled, lambda_runtime::Context::default()),
    )
    .await
    .expect("swept");
    assert_eq!(gateway.closed(), ["x-1"], "the user is gone");
}

//! Every route through [`route`] (and [`handle`] for the sample events),
//! against an in-memory store, a fake alarm topic and a fixed clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use pharmaguard_aws::sns::PublishError;
use pharmaguard_domain::audit::AuditRecord;
use pharmaguard_domain::coldchain::dashboard::{
    AlarmPage, AlarmsQuery, FeedStatus, QueryError, ReadingPage, ReadingPages, ReadingsQuery,
    ShipmentLookup, TrackingRecords,
};
use pharmaguard_domain::coldchain::detector::alarm_states;
use pharmaguard_domain::coldchain::tracking::{SaveError, Tracking};
use pharmaguard_domain::coldchain::{
    Alarm, AlarmEvent, AlarmState, AlarmType, MonitorSettings, Position,
};
use pharmaguard_domain::fixtures::{T0, reading, shipment};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::messaging::OutboundMessage;
use pharmaguard_domain::shipment::policy::{Relation, is_permitted};
use pharmaguard_domain::shipment::{Shipment, ShipmentState, Transition};
use pharmaguard_domain::telemetry::Reading;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;

const SHIPPER: &str = "org-ship";
const RECIPIENT: &str = "org-recv";
const OUTSIDER: &str = "org-other";
/// The time of every request.
const NOW: OffsetDateTime = datetime!(2026-11-21 09:00:00 UTC);

// ------------------------------------------------------------------ fakes

#[derive(Default)]
struct Store {
    shipments: Mutex<HashMap<String, Shipment>>,
    trackings: Mutex<HashMap<String, Tracking>>,
    alarms: Mutex<HashMap<String, Alarm>>,
    readings: Mutex<BTreeMap<(String, OffsetDateTime, String), Reading>>,
    audit: Mutex<Vec<AuditRecord>>,
    /// Readings the detector applies (one per acknowledgement save) just
    /// before an acknowledgement is saved: a version conflict.
    detector_writes: Mutex<Vec<Reading>>,
    /// Every acknowledgement save conflicts.
    always_conflict: Mutex<bool>,
    down: Mutex<bool>,
}

impl Store {
    fn check(&self) -> Result<(), QueryError> {
        if *self.down.lock().unwrap() {
            return Err(QueryError::Unavailable(
                "ProvisionedThroughputExceeded".into(),
            ));
        }
        Ok(())
    }

    fn add(&self, shipment: Shipment) {
        self.shipments
            .lock()
            .unwrap()
            .insert(shipment.id.clone(), shipment);
    }

    /// Applies readings to the shipment's tracking as the detector does:
    /// history, monitor, alarms, one write.
    fn detect(&self, shipment_id: &str, readings: &[Reading]) {
        let shipment = self.shipments.lock().unwrap()[shipment_id].clone();
        let current = self
            .trackings
            .lock()
            .unwrap()
            .get(shipment_id)
            .cloned()
            .unwrap_or_else(|| Tracking::new(&shipment, T0));
        let mut monitor = current.monitor.clone();
        let mut transitions = Vec::new();
        for r in readings {
            self.readings.lock().unwrap().insert(
                (shipment_id.to_owned(), r.ts, r.reading_id.clone()),
                r.clone(),
            );
            let seen = monitor.observe(r, &shipment.profile, &MonitorSettings::default());
            transitions.extend(seen.transitions);
        }
        let next = current.next(&shipment, monitor, readings.last().cloned(), T0);
        for alarm in alarm_states(&transitions) {
            self.alarms
                .lock()
                .unwrap()
                .insert(alarm.alarm_id.clone(), alarm);
        }
        self.trackings
            .lock()
            .unwrap()
            .insert(shipment_id.to_owned(), next);
    }

    fn tracking_of(&self, id: &str) -> Tracking {
        self.trackings.lock().unwrap()[id].clone()
    }

    fn alarm_of(&self, alarm_id: &str) -> Alarm {
        self.alarms.lock().unwrap()[alarm_id].clone()
    }

    fn feed_key(alarm: &Alarm) -> String {
        format!(
            "{}#{}",
            alarm.raised_at.unix_timestamp_nanos(),
            alarm.alarm_id
        )
    }
}

impl ShipmentLookup for Store {
    async fn shipment(&self, id: &str) -> Result<Option<Shipment>, QueryError> {
        self.check()?;
        Ok(self.shipments.lock().unwrap().get(id).cloned())
    }

    async fn shipments(&self, ids: &[String]) -> Result<Vec<Shipment>, QueryError> {
        self.check()?;
        let shipments = self.shipments.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| shipments.get(id).cloned())
            .collect())
    }

    async fn shipments_in(
        &self,
        org_id: &str,
        state: ShipmentState,
        created_since: Option<OffsetDateTime>,
    ) -> Result<Vec<Shipment>, QueryError> {
        self.check()?;
        Ok(self
            .shipments
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.shipper_org_id == org_id || s.recipient_org_id == org_id)
            .filter(|s| s.state == state)
            .filter(|s| created_since.is_none_or(|since| s.created_at >= since))
            .cloned()
            .collect())
    }
}

impl TrackingRecords for Store {
    async fn tracking(&self, shipment_id: &str) -> Result<Option<Tracking>, QueryError> {
        self.check()?;
        Ok(self.trackings.lock().unwrap().get(shipment_id).cloned())
    }

    async fn trackings(&self, shipment_ids: &[String]) -> Result<Vec<Tracking>, QueryError> {
        self.check()?;
        let trackings = self.trackings.lock().unwrap();
        Ok(shipment_ids
            .iter()
            .filter_map(|id| trackings.get(id).cloned())
            .collect())
    }

    async fn alarms_of(&self, shipment_id: &str) -> Result<Vec<Alarm>, QueryError> {
        self.check()?;
        Ok(self
            .alarms
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.shipment_id == shipment_id)
            .cloned()
            .collect())
    }

    async fn alarm(&self, shipment_id: &str, alarm_id: &str) -> Result<Option<Alarm>, QueryError> {
        self.check()?;
        Ok(self
            .alarms
            .lock()
            .unwrap()
            .get(alarm_id)
            .filter(|a| a.shipment_id == shipment_id)
            .cloned())
    }

    async fn org_alarms(&self, org_id: &str, query: &AlarmsQuery) -> Result<AlarmPage, QueryError> {
        self.check()?;
        if query.next.as_deref().is_some_and(|t| !t.contains('#')) {
            return Err(QueryError::InvalidPageToken);
        }
        let shipments = self.shipments.lock().unwrap();
        let mut alarms: Vec<Alarm> = self
            .alarms
            .lock()
            .unwrap()
            .values()
            .filter(|a| {
                shipments
                    .get(&a.shipment_id)
                    .is_some_and(|s| s.shipper_org_id == org_id || s.recipient_org_id == org_id)
            })
            .filter(|a| query.filter.statuses().contains(&FeedStatus::of(a)))
            .filter(|a| {
                query
                    .next
                    .as_deref()
                    .is_none_or(|before| Self::feed_key(a).as_str() < before)
            })
            .cloned()
            .collect();
        alarms.sort_by_key(|a| std::cmp::Reverse(Self::feed_key(a)));
        let more = alarms.len() > query.limit as usize;
        alarms.truncate(query.limit as usize);
        let next = alarms.last().filter(|_| more).map(Self::feed_key);
        Ok(AlarmPage {
            items: alarms,
            next,
        })
    }

    async fn acknowledge(
        &self,
        tracking: &Tracking,
        expected_version: u64,
        alarm: &Alarm,
        audit: &AuditRecord,
    ) -> Result<(), SaveError> {
        if *self.down.lock().unwrap() {
            return Err(SaveError::Unavailable("InternalServerError".into()));
        }
        if *self.always_conflict.lock().unwrap() {
            return Err(SaveError::VersionConflict);
        }
        let interfering = self.detector_writes.lock().unwrap().pop();
        if let Some(reading) = interfering {
            self.detect(&tracking.shipment_id, &[reading]);
        }
        let stored = self.tracking_of(&tracking.shipment_id).version;
        if stored != expected_version {
            return Err(SaveError::VersionConflict);
        }
        self.trackings
            .lock()
            .unwrap()
            .insert(tracking.shipment_id.clone(), tracking.clone());
        self.alarms
            .lock()
            .unwrap()
            .insert(alarm.alarm_id.clone(), alarm.clone());
        self.audit.lock().unwrap().push(audit.clone());
        Ok(())
    }

    async fn review_cleared(
        &self,
        _shipment: &Shipment,
        alarm: &Alarm,
        audit: &AuditRecord,
    ) -> Result<(), SaveError> {
        if *self.down.lock().unwrap() {
            return Err(SaveError::Unavailable("InternalServerError".into()));
        }
        let mut alarms = self.alarms.lock().unwrap();
        match alarms.get(&alarm.alarm_id) {
            Some(stored) if stored.state == AlarmState::Cleared && stored.review.is_none() => {}
            _ => return Err(SaveError::VersionConflict),
        }
        alarms.insert(alarm.alarm_id.clone(), alarm.clone());
        self.audit.lock().unwrap().push(audit.clone());
        Ok(())
    }
}

impl ReadingPages for Store {
    async fn readings(
        &self,
        shipment_id: &str,
        query: &ReadingsQuery,
    ) -> Result<ReadingPage, QueryError> {
        self.check()?;
        let after: Option<(i128, String)> = match query.next.as_deref() {
            Some(token) => {
                let (nanos, id) = token.split_once('#').ok_or(QueryError::InvalidPageToken)?;
                Some((
                    nanos.parse().map_err(|_| QueryError::InvalidPageToken)?,
                    id.to_owned(),
                ))
            }
            None => None,
        };
        let mut items: Vec<Reading> = self
            .readings
            .lock()
            .unwrap()
            .iter()
            .filter(|((s, ..), _)| s == shipment_id)
            .map(|(_, r)| r.clone())
            .filter(|r| query.from.is_none_or(|from| r.ts >= from))
            .filter(|r| query.to.is_none_or(|to| r.ts <= to))
            .filter(|r| {
                after.as_ref().is_none_or(|(nanos, id)| {
                    (r.ts.unix_timestamp_nanos(), &r.reading_id) > (*nanos, id)
                })
            })
            .collect();
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let next = items
            .last()
            .filter(|_| more)
            .map(|r| format!("{}#{}", r.ts.unix_timestamp_nanos(), r.reading_id));
        Ok(ReadingPage {
            items: items.iter().map(Position::from).collect(),
            next,
        })
    }
}

#[derive(Default)]
struct Topic {
    messages: Mutex<Vec<OutboundMessage>>,
    down: Mutex<bool>,
}

impl Topic {
    fn events(&self) -> Vec<AlarmEvent> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }
}

impl MessagePublisher for Topic {
    async fn publish(&self, message: &OutboundMessage) -> Result<String, PublishError> {
        if *self.down.lock().unwrap() {
            return Err(PublishError {
                retryable: true,
                message: "Throttling".into(),
            });
        }
        let mut messages = self.messages.lock().unwrap();
        messages.push(message.clone());
        Ok(format!("msg-{}", messages.len()))
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

type TestServices = Services<Store, Topic, FixedClock>;

fn services() -> TestServices {
    Services {
        store: Store::default(),
        alarm_topic: Topic::default(),
        clock: FixedClock,
    }
}

// ------------------------------------------------------------------ world

fn user(org: &str, role: Role) -> Principal {
    Principal::User {
        user_id: format!("{}-of-{org}", role.as_str().to_lowercase()),
        org_id: org.to_owned(),
        role,
    }
}

fn device(org: &str) -> Principal {
    Principal::Device {
        device_id: "truck-7".into(),
        org_id: org.to_owned(),
    }
}

fn org_of(relation: Relation) -> &'static str {
    match relation {
        Relation::Shipper => SHIPPER,
        Relation::Recipient => RECIPIENT,
    }
}

/// `shp-road` on its way with readings (the third a crash: an active SHOCK),
/// `shp-new` dispatched without readings, `shp-done` delivered half an hour
/// before [`NOW`], `shp-old` delivered two days ago, `shp-idle` pending and
/// `shp-else` of two other organisations, on its way.
fn world() -> TestServices {
    let s = services();
    let store = &s.store;
    store.add(shipment("shp-road", "truck-7", ShipmentState::InTransit));
    store.add(shipment("shp-new", "truck-8", ShipmentState::Dispatched));
    let on_road = shipment("shp-done", "truck-9", ShipmentState::InTransit);
    store.add(
        on_road
            .transition(
                Transition::Deliver,
                on_road.version,
                NOW - Duration::minutes(30),
                None,
            )
            .unwrap(),
    );
    let mut old = shipment("shp-old", "truck-10", ShipmentState::Delivered);
    old.delivered_at = Some(NOW - Duration::days(2));
    store.add(old);
    store.add(shipment("shp-idle", "truck-11", ShipmentState::Pending));
    let mut other = shipment("shp-else", "truck-12", ShipmentState::InTransit);
    other.shipper_org_id = "org-x".into();
    other.recipient_org_id = "org-y".into();
    store.add(other);
    store.detect(
        "shp-road",
        &[
            reading("truck-7", 0, 5.0, 0.2),
            reading("truck-7", 1, 5.5, 0.2),
            reading("truck-7", 2, 5.5, 6.5),
        ],
    );
    store.detect("shp-done", &[reading("truck-9", 0, 4.0, 0.1)]);
    store.detect("shp-else", &[reading("truck-12", 0, 5.0, 7.0)]);
    s
}

/// The active SHOCK alarm of `shp-road`.
fn shock(s: &TestServices) -> Alarm {
    s.store
        .tracking_of("shp-road")
        .monitor
        .alarms
        .get(AlarmType::Shock)
        .cloned()
        .expect("an active shock")
}

async fn call(
    s: &TestServices,
    caller: Option<&Principal>,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let reply = route(
        s,
        caller,
        &ApiRequest {
            method,
            path,
            query,
            body: body.as_bytes(),
        },
    )
    .await;
    (reply.status, body_json(&reply))
}

async fn get(
    s: &TestServices,
    caller: &Principal,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, Value) {
    call(s, Some(caller), "GET", path, query, "").await
}

/// A review body: no product impact.
const REVIEW: &str = r#"{"reason": "cargo checked", "disposition": "NO_PRODUCT_IMPACT"}"#;

/// The percent-encoded path of an acknowledgement.
fn ack_path(shipment_id: &str, alarm_id: &str) -> String {
    format!(
        "/v1/shipments/{shipment_id}/alarms/{}/acknowledge",
        alarm_id.replace('#', "%23")
    )
}

async fn ack(
    s: &TestServices,
    caller: &Principal,
    shipment_id: &str,
    alarm_id: &str,
    body: &str,
) -> (u16, Value) {
    call(
        s,
        Some(caller),
        "POST",
        &ack_path(shipment_id, alarm_id),
        &[],
        body,
    )
    .await
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn shipment_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["shipment_id"].as_str().unwrap().to_owned())
        .collect()
}

// ------------------------------------------------------------------ the map

#[tokio::test]
async fn the_map_shows_both_parties_their_shipments_on_the_way_and_delivered_today() {
    let s = world();
    for org in [SHIPPER, RECIPIENT] {
        for role in Role::ALL {
            let (status, body) = get(&s, &user(org, role), "/v1/tracking", &[]).await;
            assert_eq!(status, 200, "{role} of {org}: {body}");
            let mut ids = shipment_ids(&body);
            ids.sort();
            assert_eq!(ids, ["shp-done", "shp-new", "shp-road"], "{role} of {org}");
        }
    }
    let (_, body) = get(&s, &user(SHIPPER, Role::Driver), "/v1/tracking", &[]).await;
    let items = body["items"].as_array().unwrap();
    let road = items
        .iter()
        .find(|i| i["shipment_id"] == "shp-road")
        .unwrap();
    assert_eq!(road["state"], "IN_TRANSIT");
    assert_eq!(road["product"], "Insulin glargine 100 U/ml");
    assert_eq!(road["device_id"], "truck-7");
    assert_eq!(road["shipper_org_id"], SHIPPER);
    assert_eq!(road["recipient_org_id"], RECIPIENT);
    assert_eq!(road["origin"]["name"], "Pharma Hub Rotterdam");
    assert_eq!(road["destination"]["name"], "Charité Berlin");
    assert_eq!(road["latest"]["reading_id"], "truck-7-2");
    assert_eq!(road["latest"]["vibration_g"], 6.5);
    assert!(road["mkt_c"].as_f64().is_some());
    assert_eq!(road["excursion_minutes"], 0.0);
    assert_eq!(road["budget_minutes"], 75.0);
    assert_eq!(
        road["profile"],
        json!({"kind": "REFRIGERATED", "min_c": 2.0, "max_c": 8.0,
               "hot_zone_c": 25.0, "cold_zone_c": 0.0})
    );
    assert_eq!(road["active_alarms"][0]["alarm_type"], "SHOCK");
    assert_eq!(road["active_alarms"][0]["state"], "ACTIVE_UNACK");
    let fresh = items
        .iter()
        .find(|i| i["shipment_id"] == "shp-new")
        .unwrap();
    assert_eq!(fresh["latest"], Value::Null, "no reading yet");
    assert_eq!(fresh["active_alarms"], json!([]));

    // another organisation sees only its own; an admin too
    for role in Role::ALL {
        let (status, body) = get(&s, &user(OUTSIDER, role), "/v1/tracking", &[]).await;
        assert_eq!((status, shipment_ids(&body).len()), (200, 0), "{role}");
    }
    let (_, body) = get(&s, &user("org-x", Role::Pharmacist), "/v1/tracking", &[]).await;
    assert_eq!(shipment_ids(&body), ["shp-else"]);
}

#[tokio::test]
async fn the_map_refuses_devices_strangers_and_parameters() {
    let s = world();
    let (status, _) = get(&s, &device(SHIPPER), "/v1/tracking", &[]).await;
    assert_eq!(status, 403);
    let (status, _) = call(&s, None, "GET", "/v1/tracking", &[], "").await;
    assert_eq!(status, 401);
    let (status, body) = get(
        &s,
        &user(SHIPPER, Role::Manager),
        "/v1/tracking",
        &[("state", "X")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["state"]);
    *s.store.down.lock().unwrap() = true;
    let (status, _) = get(&s, &user(SHIPPER, Role::Manager), "/v1/tracking", &[]).await;
    assert_eq!(status, 503);
}

// ------------------------------------------------------------------ one shipment

#[tokio::test]
async fn a_shipments_tracking_has_every_alarm_and_the_risk() {
    let s = world();
    // the shock clears after quiet readings; a second crash raises a new one
    s.store.detect(
        "shp-road",
        &[
            reading("truck-7", 15, 5.0, 0.2),
            reading("truck-7", 16, 5.0, 8.0),
        ],
    );
    for org in [SHIPPER, RECIPIENT] {
        let (status, body) = get(
            &s,
            &user(org, Role::Driver),
            "/v1/shipments/shp-road/tracking",
            &[],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["shipment_id"], "shp-road");
        assert_eq!(body["latest"]["reading_id"], "truck-7-16");
        let alarms = body["alarms"].as_array().unwrap();
        let states: Vec<(&str, &str)> = alarms
            .iter()
            .map(|a| {
                (
                    a["alarm_type"].as_str().unwrap(),
                    a["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [("SHOCK", "ACTIVE_UNACK"), ("SHOCK", "CLEARED")],
            "newest first"
        );
        assert!(alarms[0]["raised_at"].as_str() > alarms[1]["raised_at"].as_str());
        assert_eq!(body["active_alarms"].as_array().unwrap().len(), 1);
        assert_eq!(body["risk"]["cargo_value"], "48000.00");
        assert_eq!(body["risk"]["parts"][0]["component"], "CRASH");
        assert!(body["risk"]["parts"][0]["fraction"].as_f64().unwrap() > 0.0);
    }
    let (status, body) = get(
        &s,
        &user(SHIPPER, Role::Manager),
        "/v1/shipments/shp-new/tracking",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["latest"].clone(), body["risk"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(body["alarms"], json!([]));
}

#[tokio::test]
async fn another_organisations_shipment_does_not_exist() {
    let s = world();
    for role in Role::ALL {
        for path in [
            "/v1/shipments/shp-road/tracking",
            "/v1/shipments/shp-road/readings",
            "/v1/shipments/shp-nope/tracking",
            "/v1/shipments/shp-nope/readings",
        ] {
            let (status, body) = get(&s, &user(OUTSIDER, role), path, &[]).await;
            assert_eq!(status, 404, "{role} {path}: {body}");
            assert_eq!(body["error"], "not_found");
        }
    }
    let (status, _) = get(
        &s,
        &user(SHIPPER, Role::Admin),
        "/v1/shipments/shp-else/tracking",
        &[],
    )
    .await;
    assert_eq!(status, 404, "admins have no power over others' shipments");
    let (status, _) = get(&s, &device(SHIPPER), "/v1/shipments/shp-road/tracking", &[]).await;
    assert_eq!(status, 403);
    let (status, _) = get(
        &s,
        &user(SHIPPER, Role::Manager),
        "/v1/shipments/a%20b/tracking",
        &[],
    )
    .await;
    assert_eq!(status, 404, "not an id");
    let (status, body) = get(
        &s,
        &user(SHIPPER, Role::Manager),
        "/v1/shipments/shp-road/tracking",
        &[("x", "1")],
    )
    .await;
    assert_eq!((status, fields(&body)), (400, vec!["x".to_owned()]));
}

// ------------------------------------------------------------------ readings

#[tokio::test]
async fn readings_page_oldest_first_within_the_window() {
    let s = world();
    let more: Vec<Reading> = (3..10).map(|m| reading("truck-7", m, 5.0, 0.2)).collect();
    s.store.detect("shp-road", &more);
    let manager = user(RECIPIENT, Role::Pharmacist);
    let path = "/v1/shipments/shp-road/readings";
    let (status, body) = get(&s, &manager, path, &[]).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reading_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids[0], "truck-7-0");
    assert_eq!(body["next"], Value::Null);
    assert_eq!(
        body["items"][2],
        json!({"reading_id": "truck-7-2", "ts": "2026-11-21T08:02:00Z", "lat": 52.002, "lon": 5.0,
               "temperature_c": 5.5, "vibration_g": 6.5})
    );

    // minutes 2 to 8, three at a time
    let (from, to) = ("2026-11-21T08:02:00Z", "2026-11-21T08:08:00Z");
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..5 {
        let mut query = vec![("from", from), ("to", to), ("limit", "3")];
        if let Some(token) = next.as_deref() {
            query.push(("next", token));
        }
        let (status, body) = get(&s, &manager, path, &query).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["reading_id"].as_str().unwrap().to_owned()),
        );
        next = body["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        (2..=8).map(|m| format!("truck-7-{m}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn bad_reading_queries_name_their_fields() {
    let s = world();
    let manager = user(SHIPPER, Role::Manager);
    let path = "/v1/shipments/shp-road/readings";
    for (query, expected) in [
        (vec![("from", "last tuesday")], vec!["from"]),
        (vec![("to", "2026-13-01T00:00:00Z")], vec!["to"]),
        (vec![("limit", "0")], vec!["limit"]),
        (vec![("limit", "2001")], vec!["limit"]),
        (vec![("limit", "ten")], vec!["limit"]),
        (
            vec![
                ("from", "2026-11-21T09:00:00Z"),
                ("to", "2026-11-21T08:00:00Z"),
            ],
            vec!["to"],
        ),
        (vec![("next", "not-a-token")], vec!["next"]),
        (vec![("sort", "desc")], vec!["sort"]),
    ] {
        let (status, body) = get(&s, &manager, path, &query).await;
        assert_eq!(status, 400, "{query:?}: {body}");
        assert_eq!(fields(&body), expected, "{query:?}");
        assert_eq!(body["error"], "invalid_request");
    }
    let (status, _) = get(&s, &manager, path, &[("limit", "2000")]).await;
    assert_eq!(status, 200);
}

// ------------------------------------------------------------------ the alarm feed

#[tokio::test]
async fn the_alarm_feed_lists_the_organisations_alarms_newest_first() {
    let s = world();
    // a second shipment with an excursion that clears: one cleared alarm
    s.store
        .add(shipment("shp-warm", "truck-13", ShipmentState::InTransit));
    let mut warm: Vec<Reading> = (0..18).map(|m| reading("truck-13", m, 9.0, 0.2)).collect();
    warm.push(reading("truck-13", 18, 5.0, 0.2));
    s.store.detect("shp-warm", &warm);
    s.store
        .detect("shp-warm", &[reading("truck-13", 40, 5.0, 9.0)]);

    let (status, body) = get(&s, &user(RECIPIENT, Role::Driver), "/v1/alarms", &[]).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let listed: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|a| {
            (
                a["shipment_id"].as_str().unwrap(),
                a["alarm_type"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .filter(|(_, t, _)| *t != "PRE_EXCURSION")
        .collect();
    assert_eq!(
        listed,
        [
            ("shp-warm", "SHOCK", "ACTIVE_UNACK"),
            ("shp-road", "SHOCK", "ACTIVE_UNACK")
        ],
        "active only by default, newest first"
    );
    assert_eq!(items[0]["product"], "Insulin glargine 100 U/ml");
    assert_eq!(items[0]["shipper_org_id"], SHIPPER);
    assert_eq!(items[0]["recipient_org_id"], RECIPIENT);
    assert!(
        items[0]["alarm_id"]
            .as_str()
            .unwrap()
            .starts_with("shp-warm#SHOCK#")
    );
    assert_eq!(items[0]["severity"], "CRITICAL");

    let (_, body) = get(
        &s,
        &user(SHIPPER, Role::Manager),
        "/v1/alarms",
        &[("active", "false")],
    )
    .await;
    let kinds: Vec<(&str, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["alarm_type"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("TEMPERATURE_EXCURSION", "CLEARED")),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("SHOCK", "ACTIVE_UNACK")));

    // one at a time
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = vec![("active", "false"), ("limit", "1")];
        if let Some(token) = next.as_deref() {
            query.push(("next", token));
        }
        let (status, body) = get(&s, &user(SHIPPER, Role::Manager), "/v1/alarms", &query).await;
        assert_eq!(status, 200, "{body}");
        all.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["alarm_id"].clone()),
        );
        next = body["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(all.len(), kinds.len());

    // nobody else's
    let (_, body) = get(
        &s,
        &user(OUTSIDER, Role::Admin),
        "/v1/alarms",
        &[("active", "false")],
    )
    .await;
    assert_eq!(body["items"], json!([]));
    let (_, body) = get(&s, &user("org-y", Role::Driver), "/v1/alarms", &[]).await;
    assert_eq!(shipment_ids(&body), ["shp-else"]);
}

#[tokio::test]
async fn bad_alarm_queries_name_their_fields() {
    let s = world();
    let manager = user(SHIPPER, Role::Manager);
    for (query, expected) in [
        (vec![("active", "maybe")], vec!["active"]),
        (vec![("limit", "101")], vec!["limit"]),
        (vec![("next", "garbage")], vec!["next"]),
        (
            vec![("active", "true"), ("active", "false")],
            vec!["active"],
        ),
        (vec![("org_id", SHIPPER)], vec!["org_id"]),
    ] {
        let (status, body) = get(&s, &manager, "/v1/alarms", &query).await;
        assert_eq!(status, 400, "{query:?}: {body}");
        assert_eq!(fields(&body), expected, "{query:?}");
    }
    let (status, _) = get(&s, &device(SHIPPER), "/v1/alarms", &[]).await;
    assert_eq!(status, 403);
}

// ------------------------------------------------------------------ acknowledgement

#[tokio::test]
async fn a_manager_acknowledges_an_alarm_once_audited_and_published() {
    let s = world();
    let alarm = shock(&s);
    let before = s.store.tracking_of("shp-road");
    let manager = user(RECIPIENT, Role::Manager);
    let (status, body) = ack(&s, &manager, "shp-road", &alarm.alarm_id, REVIEW).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alarm_id"], json!(alarm.alarm_id));
    assert_eq!(body["state"], "ACTIVE_ACK");
    assert_eq!(body["acknowledged_by"], "manager-of-org-recv");
    assert_eq!(body["acknowledged_at"], "2026-11-21T09:00:00Z");

    // through the tracking's versioned save: book, alarm item, audit record
    let after = s.store.tracking_of("shp-road");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        after.monitor.alarms.get(AlarmType::Shock).unwrap().state,
        AlarmState::ActiveAck
    );
    assert_eq!(after.latest, before.latest, "the readings are untouched");
    assert_eq!(
        s.store.alarm_of(&alarm.alarm_id).state,
        AlarmState::ActiveAck
    );
    let audit = s.store.audit.lock().unwrap().clone();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entity_key(), "SHIPMENT#shp-road");
    assert_eq!(audit[0].action, "alarm.acknowledged");
    assert_eq!(audit[0].actor.id, "manager-of-org-recv");
    assert_eq!(audit[0].actor.org_id, RECIPIENT);
    assert_eq!(audit[0].at, NOW);
    assert_eq!(audit[0].before.as_ref().unwrap()["state"], "ACTIVE_UNACK");
    assert_eq!(audit[0].after.as_ref().unwrap()["state"], "ACTIVE_ACK");
    let reviewed = audit[0].after.as_ref().unwrap();
    assert_eq!(reviewed["review"]["reason"], "cargo checked");
    assert_eq!(reviewed["review"]["disposition"], "NO_PRODUCT_IMPACT");
    assert_eq!(body["review"]["by"], "manager-of-org-recv");

    // alarm.acknowledged on the alarm topic
    let events = s.alarm_topic.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "alarm.acknowledged");
    assert_eq!(
        events[0].event_id,
        format!("{}:ACKNOWLEDGED:CRITICAL", alarm.alarm_id)
    );
    assert_eq!(events[0].occurred_at, NOW);
    assert_eq!(events[0].alarm.state, AlarmState::ActiveAck);
    assert_eq!(events[0].shipment.shipment_id, "shp-road");
    assert_eq!(events[0].context.reading_id.as_deref(), Some("truck-7-2"));
    let message = s.alarm_topic.messages.lock().unwrap()[0].clone();
    assert_eq!(
        message.attributes["event_type"].as_str(),
        "alarm.acknowledged"
    );
    assert_eq!(message.attributes["shipper_org_id"].as_str(), SHIPPER);

    // again, by someone else: unchanged, not audited again, the same event
    let (status, again) = ack(
        &s,
        &user(SHIPPER, Role::Pharmacist),
        "shp-road",
        &alarm.alarm_id,
        REVIEW,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again, body, "the first review stays");
    assert_eq!(s.store.tracking_of("shp-road").version, after.version);
    assert_eq!(s.store.audit.lock().unwrap().len(), 1);
    let ids: Vec<String> = s
        .alarm_topic
        .events()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids[0], ids[1], "a repeat carries the same event id");
}

#[tokio::test]
async fn acknowledging_is_for_managers_pharmacists_and_admins_of_either_party() {
    for relation in Relation::ALL {
        for role in Role::ALL {
            let s = world();
            let alarm = shock(&s);
            let (status, body) = ack(
                &s,
                &user(org_of(relation), role),
                "shp-road",
                &alarm.alarm_id,
                REVIEW,
            )
            .await;
            if is_permitted(Action::AcknowledgeAlarm, role, relation) {
                assert_eq!(status, 200, "{role} of the {relation}: {body}");
                assert_eq!(body["state"], "ACTIVE_ACK");
            } else {
                assert_eq!(status, 403, "{role} of the {relation}: {body}");
                assert_eq!(
                    s.store.alarm_of(&alarm.alarm_id).state,
                    AlarmState::ActiveUnack
                );
                assert!(s.alarm_topic.events().is_empty());
            }
            // another organisation: no such shipment, whatever the role
            let (status, _) = ack(
                &s,
                &user(OUTSIDER, role),
                "shp-road",
                &alarm.alarm_id,
                REVIEW,
            )
            .await;
            assert_eq!(status, 404, "{role} of another organisation");
        }
    }
    let s = world();
    let alarm = shock(&s);
    let (status, _) = ack(&s, &device(SHIPPER), "shp-road", &alarm.alarm_id, REVIEW).await;
    assert_eq!(status, 403, "devices");
    let (status, _) = call(
        &s,
        None,
        "POST",
        &ack_path("shp-road", &alarm.alarm_id),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_cleared_alarm_is_reviewed_once_audited_and_published() {
    let s = world();
    let alarm = shock(&s);
    let pharmacist = user(RECIPIENT, Role::Pharmacist);
    // quiet readings clear the shock
    s.store
        .detect("shp-road", &[reading("truck-7", 20, 5.0, 0.2)]);
    assert_eq!(s.store.alarm_of(&alarm.alarm_id).state, AlarmState::Cleared);
    let (status, body) = get(&s, &pharmacist, "/v1/alarms", &[("status", "unreviewed")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");

    let review =
        r#"{"reason": "Truck hit a kerb; cartons inspected", "disposition": "ESCALATED_TO_QA"}"#;
    let (status, body) = ack(&s, &pharmacist, "shp-road", &alarm.alarm_id, review).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "CLEARED", "a cleared alarm stays cleared");
    assert_eq!(
        body["review"]["reason"],
        "Truck hit a kerb; cartons inspected"
    );
    assert_eq!(body["review"]["disposition"], "ESCALATED_TO_QA");
    assert_eq!(body["review"]["after_clearing"], true);
    assert_eq!(body["acknowledged_by"], "pharmacist-of-org-recv");
    assert_eq!(
        s.store
            .alarm_of(&alarm.alarm_id)
            .review
            .as_ref()
            .unwrap()
            .by,
        "pharmacist-of-org-recv"
    );
    let audit = s.store.audit.lock().unwrap().clone();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "alarm.acknowledged");
    assert!(audit[0].before.as_ref().unwrap().get("review").is_none());
    assert_eq!(
        audit[0].after.as_ref().unwrap()["review"]["disposition"],
        "ESCALATED_TO_QA"
    );
    let events = s.alarm_topic.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].alarm.state, AlarmState::Cleared);
    assert!(events[0].alarm.is_reviewed());

    // the feed shows it among the reviewed ones now
    for (status_filter, count) in [("unreviewed", 0), ("reviewed", 1), ("active", 0)] {
        let (_, feed) = get(&s, &pharmacist, "/v1/alarms", &[("status", status_filter)]).await;
        let shocks = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["alarm_id"] == json!(alarm.alarm_id))
            .count();
        assert_eq!(shocks, count, "{status_filter}: {feed}");
    }

    // again, by someone else: the first review stays, nothing audited again
    let (status, again) = ack(
        &s,
        &user(SHIPPER, Role::Manager),
        "shp-road",
        &alarm.alarm_id,
        REVIEW,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again, body);
    assert_eq!(s.store.audit.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_and_foreign_alarms_are_refused() {
    let s = world();
    let manager = user(SHIPPER, Role::Manager);
    let (status, _) = ack(&s, &manager, "shp-road", "shp-road#SHOCK#1", REVIEW).await;
    assert_eq!(status, 404, "unknown alarm");
    let other = s.store.tracking_of("shp-else").monitor.alarms.active[0]
        .alarm_id
        .clone();
    let (status, _) = ack(&s, &manager, "shp-road", &other, REVIEW).await;
    assert_eq!(status, 404, "an alarm of another shipment");
    let (status, _) = ack(&s, &manager, "shp-new", "shp-new#SHOCK#1", REVIEW).await;
    assert_eq!(status, 404, "a shipment without tracking");
    assert!(s.store.audit.lock().unwrap().is_empty());
    assert!(s.alarm_topic.events().is_empty());
}

#[tokio::test]
async fn a_bad_acknowledgement_body_names_its_fields() {
    let s = world();
    let alarm = shock(&s);
    let manager = user(SHIPPER, Role::Manager);
    for (body, expected) in [
        ("", vec!["body"]),
        ("{}", vec!["reason", "disposition"]),
        (
            r#"{"note": "cargo checked"}"#,
            vec!["note", "reason", "disposition"],
        ),
        (
            r#"{"reason": "ok", "disposition": "FINE", "by": "someone"}"#,
            vec!["by", "disposition"],
        ),
        (
            r#"{"reason": "", "disposition": "DEVICE_FAULT"}"#,
            vec!["reason"],
        ),
        ("[]", vec!["body"]),
        ("{oops", vec!["body"]),
    ] {
        let (status, reply) = ack(&s, &manager, "shp-road", &alarm.alarm_id, body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(fields(&reply), expected, "{body}");
    }
    assert_eq!(
        s.store.alarm_of(&alarm.alarm_id).state,
        AlarmState::ActiveUnack
    );
}

#[tokio::test]
async fn an_acknowledgement_racing_the_detector_keeps_both() {
    let s = world();
    let alarm = shock(&s);
    // the detector writes two batches while the acknowledgement is saved
    *s.store.detector_writes.lock().unwrap() = vec![
        reading("truck-7", 4, 5.2, 0.3),
        reading("truck-7", 3, 5.1, 0.3),
    ];
    let version = s.store.tracking_of("shp-road").version;
    let (status, body) = ack(
        &s,
        &user(SHIPPER, Role::Admin),
        "shp-road",
        &alarm.alarm_id,
        REVIEW,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let tracking = s.store.tracking_of("shp-road");
    assert_eq!(
        tracking.version,
        version + 3,
        "two detector writes, then the acknowledgement"
    );
    assert_eq!(
        tracking.latest.as_ref().unwrap().reading_id,
        "truck-7-4",
        "the detector's reading kept"
    );
    assert_eq!(
        tracking.monitor.alarms.get(AlarmType::Shock).unwrap().state,
        AlarmState::ActiveAck
    );
    assert_eq!(s.store.audit.lock().unwrap().len(), 1);
    assert_eq!(s.alarm_topic.events().len(), 1);

    // a tracking that never holds still: given up, nothing saved
    let s = world();
    let alarm = shock(&s);
    *s.store.always_conflict.lock().unwrap() = true;
    let (status, _) = ack(
        &s,
        &user(SHIPPER, Role::Admin),
        "shp-road",
        &alarm.alarm_id,
        REVIEW,
    )
    .await;
    assert_eq!(status, 503);
    assert!(s.store.audit.lock().unwrap().is_empty());
    assert!(s.alarm_topic.events().is_empty());
}

#[tokio::test]
async fn an_unpublished_acknowledgement_is_published_by_the_retry() {
    let s = world();
    let alarm = shock(&s);
    let manager = user(SHIPPER, Role::Manager);
    *s.alarm_topic.down.lock().unwrap() = true;
    let (status, _) = ack(&s, &manager, "shp-road", &alarm.alarm_id, REVIEW).await;
    assert_eq!(
        status, 503,
        "saved, but not published: the client sends it again"
    );
    assert_eq!(
        s.store.alarm_of(&alarm.alarm_id).state,
        AlarmState::ActiveAck
    );
    *s.alarm_topic.down.lock().unwrap() = false;
    let (status, body) = ack(&s, &manager, "shp-road", &alarm.alarm_id, REVIEW).await;
    assert_eq!(status, 200, "{body}");
    let events = s.alarm_topic.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "alarm.acknowledged");
    assert_eq!(s.store.audit.lock().unwrap().len(), 1);

    let s = world();
    *s.store.down.lock().unwrap() = true;
    let (status, body) = ack(&s, &manager, "shp-road", &shock(&s).alarm_id, REVIEW).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "unavailable");
}

// ------------------------------------------------------------------ routing

#[tokio::test]
async fn unknown_paths_and_methods() {
    let s = world();
    let manager = user(SHIPPER, Role::Manager);
    for path in [
        "/v1/trackings",
        "/v1/shipments/shp-road/positions",
        "/v2/alarms",
        "/",
    ] {
        let (status, _) = get(&s, &manager, path, &[]).await;
        assert_eq!(status, 404, "{path}");
    }
    for (method, path, allow) in [
        ("POST", "/v1/tracking", "GET"),
        ("DELETE", "/v1/alarms", "GET"),
        ("PUT", "/v1/shipments/shp-road/readings", "GET"),
        ("GET", "/v1/shipments/shp-road/alarms/x/acknowledge", "POST"),
    ] {
        let reply = route(
            &s,
            Some(&manager),
            &ApiRequest {
                method,
                path,
                query: &[],
                body: b"",
            },
        )
        .await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert!(reply.headers.contains(&("allow", allow.to_owned())));
    }
    // a stage prefix and a trailing slash are fine; the alarm id may come decoded
    let (status, _) = get(&s, &manager, "/local/v1/tracking/", &[]).await;
    assert_eq!(status, 200);
    let alarm = shock(&s);
    let raw = format!(
        "/v1/shipments/shp-road/alarms/{}/acknowledge",
        alarm.alarm_id
    );
    let (status, _) = call(&s, Some(&manager), "POST", &raw, &[], REVIEW).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &s,
        Some(&manager),
        "POST",
        "/v1/shipments/shp-road/alarms/%zz/acknowledge",
        &[],
        REVIEW,
    )
    .await;
    assert_eq!(status, 404, "a malformed escape");
}

// ------------------------------------------------------------------ sample events

/// Each file of `events/tracking-api` through [`handle`], as API Gateway
/// delivers it (with the authorizer context of its caller).
#[tokio::test]
async fn the_sample_events_answer_as_their_readme_says() {
    let cases: [(&str, &str, u16); 6] = [
        (
            "tracking.json",
            include_str!("../../../events/tracking-api/tracking.json"),
            200,
        ),
        (
            "shipment-tracking.json",
            include_str!("../../../events/tracking-api/shipment-tracking.json"),
            200,
        ),
        (
            "readings.json",
            include_str!("../../../events/tracking-api/readings.json"),
            200,
        ),
        (
            "readings-invalid.json",
            include_str!("../../../events/tracking-api/readings-invalid.json"),
            400,
        ),
        (
            "alarms.json",
            include_str!("../../../events/tracking-api/alarms.json"),
            200,
        ),
        (
            "acknowledge.json",
            include_str!("../../../events/tracking-api/acknowledge.json"),
            200,
        ),
    ];
    let s = services();
    let id = "shp-0b5f4a6e-6c1e-4b8e-9a51-2f0c8d7e4a10";
    let mut sample = shipment(id, "truck-0042", ShipmentState::InTransit);
    sample.shipper_org_id = "org-supplier".into();
    sample.recipient_org_id = "org-hospital".into();
    s.store.add(sample);
    s.store.detect(
        id,
        &[
            reading("truck-0042", 0, 5.1, 0.2),
            reading("truck-0042", 1, 5.3, 6.2),
        ],
    );
    let alarm_id = s.store.tracking_of(id).monitor.alarms.active[0]
        .alarm_id
        .clone();
    assert_eq!(
        alarm_id,
        format!("{id}#SHOCK#1795248060000"),
        "the alarm acknowledge.json names"
    );
    for (name, text, expected) in cases {
        let event: aws_lambda_events::apigw::ApiGatewayProxyRequest =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            event
                .request_context
                .authorizer
                .fields
                .contains_key("principalId"),
            "{name}: with the authorizer's caller"
        );
        let request =
            lambda_http::request::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let response = handle(&s, request).await.unwrap();
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Text(text) => text.clone(),
            _ => String::new(),
        };
        assert_eq!(status, expected, "{name}: {body}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "{name}: readable by the dashboard"
        );
        if name == "readings-invalid.json" {
            let body: Value = serde_json::from_str(&body).unwrap();
            let mut named = fields(&body);
            named.sort();
            assert_eq!(named, ["from", "limit"]);
        }
    }
    assert_eq!(s.store.alarm_of(&alarm_id).state, AlarmState::ActiveAck);
}

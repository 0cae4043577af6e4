//! The routes against an in-memory store.

use lambda_http::http::header::CONTENT_TYPE;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pharmaguard_domain::audit::AuditRecord;
use pharmaguard_domain::fixtures::path_to;
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::shipment::binding::{ClaimChange, claim_change};
use pharmaguard_domain::shipment::policy::{PERMISSIONS, Relation, is_permitted};
use pharmaguard_domain::shipment::ports::ShipmentPage;
use pharmaguard_domain::shipment::{ShipmentState, Transition};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use pharmaguard_domain::telemetry::RegisteredDevice;

/// A fresh device id for every new shipment, so that shipments on their way
/// never share one.
fn next_device() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("truck-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

const T0: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);
const SHIPPER: &str = "org-ship";
const RECIPIENT: &str = "org-recv";
const OUTSIDER: &str = "org-other";

/// A clock that moves one second forward at every reading.
struct TickingClock(AtomicU64);

impl TickingClock {
    fn new() -> Self {
        Self(AtomicU64::new(0))
    }
}

impl Clock for TickingClock {
    fn now(&self) -> OffsetDateTime {
        let tick = self.0.fetch_add(1, Ordering::SeqCst);
        T0 + time::Duration::seconds(i64::try_from(tick).unwrap_or(0))
    }
}

/// An in-memory store with the semantics of the real one: conditional
/// writes on the version, one listing per organisation, tokens bound to it.
#[derive(Default)]
struct MemoryStore {
    shipments: Mutex<HashMap<String, Shipment>>,
    audit: Mutex<Vec<AuditRecord>>,
    /// Every call fails with this, when set.
    failing: Mutex<Option<StoreError>>,
    /// Someone else changes the shipment between our read and our write.
    racing: AtomicBool,
    /// The device claims: device → (last shipment to take it, still held).
    claims: Mutex<HashMap<String, (String, bool)>>,
}

impl MemoryStore {
    fn fail_with(&self, error: StoreError) {
        *self.failing.lock().unwrap() = Some(error);
    }

    fn check(&self) -> Result<(), StoreError> {
        match self.failing.lock().unwrap().clone() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn stored(&self, id: &str) -> Shipment {
        self.shipments.lock().unwrap()[id].clone()
    }

    fn audit_count(&self) -> usize {
        self.audit.lock().unwrap().len()
    }
}

/// Every organisation exists but `org-nowhere`; every device is the
/// shipper's, except `truck-of-<org>` (that organisation's), `truck-0042`
/// (the samples' supplier's), `truck-foreign` (the outsider's), `truck-off`
/// (disabled) and `truck-unknown` (not registered).
impl Parties for MemoryStore {
    async fn organisation_exists(&self, org_id: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(org_id != "org-nowhere")
    }

    async fn registered_device(
        &self,
        device_id: &str,
    ) -> Result<Option<RegisteredDevice>, StoreError> {
        self.check()?;
        Ok((device_id != "truck-unknown").then(|| RegisteredDevice {
            id: device_id.to_owned(),
            org_id: match device_id {
                "truck-foreign" => OUTSIDER,
                "truck-0042" => "org-supplier",
                other => other.strip_prefix("truck-of-").unwrap_or(SHIPPER),
            }
            .to_owned(),
            disabled: device_id == "truck-off",
        }))
    }

    async fn shipments_of_device(&self, device_id: &str) -> Result<Vec<Shipment>, StoreError> {
        self.check()?;
        Ok(self
            .shipments
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.device_id.as_deref() == Some(device_id))
            .cloned()
            .collect())
    }
}

fn token(org: &str, state: Option<ShipmentState>, offset: usize) -> String {
    format!("mem:{org}:{state:?}:{offset}")
}

impl ShipmentStore for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Shipment>, StoreError> {
        self.check()?;
        Ok(self.shipments.lock().unwrap().get(id).cloned())
    }

    async fn create(&self, shipment: &Shipment, audit: &AuditRecord) -> Result<(), StoreError> {
        self.check()?;
        let mut shipments = self.shipments.lock().unwrap();
        if shipments.contains_key(&shipment.id) {
            return Err(StoreError::AlreadyExists);
        }
        shipments.insert(shipment.id.clone(), shipment.clone());
        self.audit.lock().unwrap().push(audit.clone());
        Ok(())
    }

    async fn update(
        &self,
        shipment: &Shipment,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.check()?;
        let mut shipments = self.shipments.lock().unwrap();
        let stored = shipments
            .get_mut(&shipment.id)
            .ok_or(StoreError::VersionConflict {
                current_version: None,
            })?;
        if self.racing.swap(false, Ordering::SeqCst) {
            stored.version += 1;
        }
        if stored.version != expected_version {
            return Err(StoreError::VersionConflict {
                current_version: Some(stored.version),
            });
        }
        let mut claims = self.claims.lock().unwrap();
        if let Some((device_id, change)) = claim_change(shipment) {
            let holder = claims.get(device_id).cloned();
            let mine = |holder: &(String, bool)| holder.0 == shipment.id;
            match change {
                ClaimChange::Take => match holder {
                    Some(other) if other.1 && !mine(&other) => {
                        return Err(StoreError::DeviceClaimed {
                            device_id: device_id.to_owned(),
                            shipment_id: Some(other.0),
                        });
                    }
                    _ => {
                        claims.insert(device_id.to_owned(), (shipment.id.clone(), true));
                    }
                },
                ClaimChange::Release => {
                    if holder.as_ref().is_none_or(mine) {
                        claims.insert(device_id.to_owned(), (shipment.id.clone(), false));
                    }
                }
            }
        }
        *stored = shipment.clone();
        self.audit.lock().unwrap().push(audit.clone());
        Ok(())
    }

    async fn list(&self, query: &ListQuery) -> Result<ShipmentPage, StoreError> {
        self.check()?;
        let offset = match &query.next {
            None => 0,
            Some(next) => {
                let prefix = token(&query.org_id, query.state, 0);
                let prefix = prefix.trim_end_matches('0');
                next.strip_prefix(prefix)
                    .and_then(|offset| offset.parse().ok())
                    .ok_or(StoreError::InvalidPageToken)?
            }
        };
        let mut visible: Vec<Shipment> = self
            .shipments
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.shipper_org_id == query.org_id || s.recipient_org_id == query.org_id)
            .filter(|s| query.state.is_none_or(|state| s.state == state))
            .cloned()
            .collect();
        visible.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let limit = query.limit as usize;
        let items: Vec<Shipment> = visible.iter().skip(offset).take(limit).cloned().collect();
        let next = (offset + limit < visible.len())
            .then(|| token(&query.org_id, query.state, offset + limit));
        Ok(ShipmentPage { items, next })
    }

    async fn audit_trail(&self, shipment_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        self.check()?;
        Ok(self
            .audit
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.entity_id == shipment_id)
            .cloned()
            .collect())
    }
}

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

fn new_shipment() -> Value {
    json!({
        "product": "Insulin glargine 100 U/ml",
        "quantity": 1200,
        "cargo_value": {"amount": "48000.00", "currency": "EUR"},
        "profile": {"kind": "REFRIGERATED"},
        "shipper_org_id": SHIPPER,
        "recipient_org_id": RECIPIENT,
        "origin": {"name": "Pharma Hub Rotterdam", "lat": 51.9244, "lon": 4.4777},
        "destination": {"name": "Charité Berlin", "lat": 52.5263, "lon": 13.3766},
        "device_id": next_device()
    })
}

struct Fixture {
    store: MemoryStore,
    clock: TickingClock,
}

impl Fixture {
    fn new() -> Self {
        Self {
            store: MemoryStore::default(),
            clock: TickingClock::new(),
        }
    }

    async fn call(
        &self,
        caller: Option<&Principal>,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value, Reply) {
        let reply = route(
            &self.store,
            &self.store,
            &self.clock,
            caller,
            &ApiRequest {
                method,
                path,
                query,
                body,
            },
        )
        .await;
        let json = serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", reply.body));
        (reply.status, json, reply)
    }

    async fn post(&self, caller: &Principal, path: &str, body: Value) -> (u16, Value) {
        let (status, json, _) = self
            .call(Some(caller), "POST", path, &[], body.to_string().as_bytes())
            .await;
        (status, json)
    }

    async fn put(&self, caller: &Principal, path: &str, body: Value) -> (u16, Value) {
        let (status, json, _) = self
            .call(Some(caller), "PUT", path, &[], body.to_string().as_bytes())
            .await;
        (status, json)
    }

    async fn get(&self, caller: &Principal, path: &str) -> (u16, Value) {
        let (status, json, _) = self.call(Some(caller), "GET", path, &[], b"").await;
        (status, json)
    }

    async fn list(&self, caller: &Principal, query: &[(&str, &str)]) -> (u16, Value) {
        let (status, json, _) = self
            .call(Some(caller), "GET", "/v1/shipments", query, b"")
            .await;
        (status, json)
    }

    /// Creates a shipment as the shipper's manager; returns its id.
    async fn create(&self) -> String {
        let (status, json) = self
            .post(
                &user(SHIPPER, Role::Manager),
                "/v1/shipments",
                new_shipment(),
            )
            .await;
        assert_eq!(status, 201, "{json}");
        json["id"].as_str().unwrap().to_owned()
    }

    /// Creates a shipment and moves it to `state` as the shipper's manager.
    async fn create_in(&self, state: ShipmentState) -> String {
        let id = self.create().await;
        for (version, transition) in path_to(state).iter().enumerate() {
            let (status, json) = self
                .transition(
                    &user(SHIPPER, Role::Manager),
                    &id,
                    *transition,
                    version as u64 + 1,
                )
                .await;
            assert_eq!(status, 200, "{json}");
        }
        assert_eq!(self.store.stored(&id).state, state);
        id
    }

    async fn transition(
        &self,
        caller: &Principal,
        id: &str,
        transition: Transition,
        version: u64,
    ) -> (u16, Value) {
        self.post(
            caller,
            &format!("/v1/shipments/{id}/{transition}"),
            json!({ "version": version }),
        )
        .await
    }
}

fn fields(json: &Value) -> Vec<&str> {
    json["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ create

#[tokio::test]
async fn create_answers_201_with_a_pending_shipment_at_version_1() {
    let fixture = Fixture::new();
    let (status, json, reply) = fixture
        .call(
            Some(&user(SHIPPER, Role::Manager)),
            "POST",
            "/v1/shipments",
            &[],
            new_shipment().to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 201, "{json}");
    assert_eq!(json["state"], "PENDING");
    assert_eq!(json["version"], 1);
    assert_eq!(json["created_by"], "manager-of-org-ship");
    assert_eq!(json["created_at"], "2026-11-21T08:00:00Z");
    assert!(
        json["device_id"].as_str().unwrap().starts_with("truck-"),
        "{json}"
    );
    assert_eq!(json["cargo_value"]["amount"], "48000.00");
    let id = json["id"].as_str().unwrap();
    assert!(id.starts_with("shp-"));
    assert!(
        reply
            .headers
            .contains(&("location", format!("/v1/shipments/{id}")))
    );
    assert_eq!(fixture.store.stored(id).version, 1);
    let audit = fixture.store.audit.lock().unwrap().clone();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "shipment.created");
    assert_eq!(audit[0].before, None);
    assert_eq!(audit[0].actor.id, "manager-of-org-ship");
}

#[tokio::test]
async fn create_follows_the_permission_table() {
    for relation in Relation::ALL {
        for role in Role::ALL {
            let fixture = Fixture::new();
            let caller = user(org_of(relation), role);
            let (status, json) = fixture.post(&caller, "/v1/shipments", new_shipment()).await;
            let expected = if is_permitted(Action::Create, role, relation) {
                201
            } else {
                403
            };
            assert_eq!(status, expected, "{role} of the {relation}: {json}");
        }
    }
}

#[tokio::test]
async fn nobody_creates_for_two_other_organisations() {
    let fixture = Fixture::new();
    for role in Role::ALL {
        let (status, json) = fixture
            .post(&user(OUTSIDER, role), "/v1/shipments", new_shipment())
            .await;
        assert_eq!(status, 403, "{role}: {json}");
        assert_eq!(json["error"], "forbidden");
    }
    let (status, _) = fixture
        .post(&device(SHIPPER), "/v1/shipments", new_shipment())
        .await;
    assert_eq!(status, 403);
    assert_eq!(fixture.store.shipments.lock().unwrap().len(), 0);
    assert_eq!(fixture.store.audit_count(), 0);
}

#[tokio::test]
async fn create_reports_every_field_error() {
    let fixture = Fixture::new();
    let mut body = new_shipment();
    body["quantity"] = json!(0);
    body["origin"]["lat"] = json!(123);
    body["recipient_org_id"] = json!(SHIPPER);
    body["profile"] = json!({"kind": "CUSTOM", "min_c": 8, "max_c": 2,
        "alarm_delay_minutes": 5, "excursion_budget_minutes": 5});
    body["colour"] = json!("blue");
    let (status, json) = fixture
        .post(&user(SHIPPER, Role::Manager), "/v1/shipments", body)
        .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["error"], "invalid_request");
    assert_eq!(
        fields(&json),
        [
            "colour",
            "quantity",
            "profile.max_c",
            "recipient_org_id",
            "origin.lat"
        ]
    );
}

#[tokio::test]
async fn create_refuses_oversized_bodies() {
    let fixture = Fixture::new();
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let (status, json, _) = fixture
        .call(
            Some(&user(SHIPPER, Role::Manager)),
            "POST",
            "/v1/shipments",
            &[],
            &body,
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(json["error"], "payload_too_large");
}

// ------------------------------------------------------------------ read

#[tokio::test]
async fn every_role_of_both_parties_reads_and_nobody_else_even_learns_it_exists() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let path = format!("/v1/shipments/{id}");
    for relation in Relation::ALL {
        for role in Role::ALL {
            let (status, json) = fixture.get(&user(org_of(relation), role), &path).await;
            assert_eq!(
                status == 200,
                is_permitted(Action::Read, role, relation),
                "{role} {relation}"
            );
            assert_eq!(json["id"], id.as_str());
        }
    }
    let (missing_status, missing) = fixture
        .get(
            &user(OUTSIDER, Role::Admin),
            "/v1/shipments/shp-does-not-exist",
        )
        .await;
    for role in Role::ALL {
        let (status, json) = fixture.get(&user(OUTSIDER, role), &path).await;
        assert_eq!(status, 404, "{role}");
        assert_eq!(json["error"], missing["error"]);
    }
    assert_eq!(missing_status, 404);
    let (status, _) = fixture.get(&device(SHIPPER), &path).await;
    assert_eq!(status, 403, "devices may do nothing here");
}

#[tokio::test]
async fn malformed_ids_are_not_found() {
    let fixture = Fixture::new();
    let long = "x".repeat(65);
    for id in ["shp%20x", "a b", long.as_str(), "ü"] {
        let (status, _) = fixture
            .get(
                &user(SHIPPER, Role::Manager),
                &format!("/v1/shipments/{id}"),
            )
            .await;
        assert_eq!(status, 404, "{id}");
    }
}

// ------------------------------------------------------------------ transitions

#[tokio::test]
async fn transitions_follow_the_permission_table() {
    // each transition from a state that allows it, by every role of each party
    let cases = [
        (Transition::Dispatch, ShipmentState::Pending),
        (Transition::Start, ShipmentState::Dispatched),
        (Transition::Deliver, ShipmentState::InTransit),
        (Transition::Cancel, ShipmentState::Pending),
        (Transition::Cancel, ShipmentState::Dispatched),
    ];
    for (transition, from) in cases {
        for relation in Relation::ALL {
            for role in Role::ALL {
                let fixture = Fixture::new();
                let id = fixture.create_in(from).await;
                let version = fixture.store.stored(&id).version;
                let caller = user(org_of(relation), role);
                let (status, json) = fixture.transition(&caller, &id, transition, version).await;
                let action = Action::from(transition);
                if is_permitted(action, role, relation) {
                    assert_eq!(
                        status, 200,
                        "{transition} by {role} of the {relation}: {json}"
                    );
                    assert_eq!(json["state"], transition.target().as_str());
                    assert_eq!(json["version"], version + 1);
                    let trail = fixture.store.audit.lock().unwrap().clone();
                    let last = trail.last().unwrap();
                    assert_eq!(last.actor.id, caller.id());
                    assert_eq!(last.before.as_ref().unwrap()["version"], version);
                } else {
                    assert_eq!(
                        status, 403,
                        "{transition} by {role} of the {relation}: {json}"
                    );
                    assert_eq!(fixture.store.stored(&id).version, version, "unchanged");
                }
                // outsiders never learn it exists
                let (status, _) = fixture
                    .transition(&user(OUTSIDER, role), &id, transition, version)
                    .await;
                assert_eq!(status, 404);
            }
        }
    }
}

#[tokio::test]
async fn the_table_is_complete_for_the_routes() {
    // every row of PERMISSIONS is exercised by some test above; make sure
    // each (action, role, relation) that is allowed answers 2xx through the routes
    for permission in PERMISSIONS {
        let fixture = Fixture::new();
        let caller = user(org_of(permission.relation), permission.role);
        let status = match permission.action {
            Action::Create => {
                fixture
                    .post(&caller, "/v1/shipments", new_shipment())
                    .await
                    .0
            }
            Action::List => fixture.list(&caller, &[]).await.0,
            Action::Read => {
                let id = fixture.create().await;
                fixture.get(&caller, &format!("/v1/shipments/{id}")).await.0
            }
            Action::Audit => {
                let id = fixture.create().await;
                fixture
                    .get(&caller, &format!("/v1/shipments/{id}/audit"))
                    .await
                    .0
            }
            Action::Dispatch | Action::Start | Action::Deliver | Action::Cancel => {
                let transition = match permission.action {
                    Action::Dispatch => Transition::Dispatch,
                    Action::Start => Transition::Start,
                    Action::Deliver => Transition::Deliver,
                    _ => Transition::Cancel,
                };
                let from = transition.allowed_from()[0];
                let id = fixture.create_in(from).await;
                let version = fixture.store.stored(&id).version;
                fixture
                    .transition(&caller, &id, transition, version)
                    .await
                    .0
            }
            // a route of tracking-api (functions/tracking-api tests every row of it)
            Action::AcknowledgeAlarm => continue,
            Action::DeclareSilences => {
                let id = fixture.create_in(ShipmentState::InTransit).await;
                let version = fixture.store.stored(&id).version;
                fixture
                    .put(
                        &caller,
                        &format!("/v1/shipments/{id}/silences"),
                        json!({ "version": version, "expected_silences": [] }),
                    )
                    .await
                    .0
            }
        };
        assert!(
            (200..300).contains(&status),
            "{permission:?} answered {status}"
        );
    }
}

#[tokio::test]
async fn every_illegal_transition_is_409_naming_the_states() {
    for from in ShipmentState::ALL {
        for transition in Transition::ALL {
            if transition.allowed_from().contains(&from) {
                continue;
            }
            let fixture = Fixture::new();
            let id = fixture.create_in(from).await;
            let version = fixture.store.stored(&id).version;
            let audit_before = fixture.store.audit_count();
            let (status, json) = fixture
                .transition(&user(SHIPPER, Role::Admin), &id, transition, version)
                .await;
            assert_eq!(status, 409, "{transition} from {from}: {json}");
            assert_eq!(json["error"], "invalid_transition");
            assert_eq!(json["from"], from.as_str());
            assert_eq!(json["to"], transition.target().as_str());
            let message = json["message"].as_str().unwrap();
            assert!(message.contains(from.as_str()), "{message}");
            assert!(message.contains(transition.target().as_str()), "{message}");
            assert_eq!(fixture.store.stored(&id).state, from, "unchanged");
            assert_eq!(fixture.store.audit_count(), audit_before, "nothing audited");
        }
    }
}

#[tokio::test]
async fn a_stale_version_is_409_with_the_current_version() {
    let fixture = Fixture::new();
    let id = fixture.create_in(ShipmentState::Dispatched).await;
    for stale in [1, 3, 99] {
        let (status, json) = fixture
            .transition(&user(SHIPPER, Role::Manager), &id, Transition::Start, stale)
            .await;
        assert_eq!(status, 409);
        assert_eq!(json["error"], "version_conflict");
        assert_eq!(json["current_version"], 2);
    }
    assert_eq!(fixture.store.stored(&id).state, ShipmentState::Dispatched);
}

#[tokio::test]
async fn losing_a_race_in_the_store_is_409_with_the_current_version() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    fixture.store.racing.store(true, Ordering::SeqCst);
    let (status, json) = fixture
        .transition(&user(SHIPPER, Role::Manager), &id, Transition::Dispatch, 1)
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "version_conflict");
    assert_eq!(json["current_version"], 2);
}

#[tokio::test]
async fn of_two_updates_from_the_same_version_exactly_one_wins() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let manager = user(SHIPPER, Role::Manager);
    let recipient_manager = user(RECIPIENT, Role::Manager);
    let (a, b) = tokio::join!(
        fixture.transition(&manager, &id, Transition::Dispatch, 1),
        fixture.transition(&recipient_manager, &id, Transition::Cancel, 1),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(fixture.store.stored(&id).version, 2);
    assert_eq!(fixture.store.audit_count(), 2);
}

#[tokio::test]
async fn a_cancellation_records_its_reason() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let (status, json) = fixture
        .post(
            &user(RECIPIENT, Role::Manager),
            &format!("/v1/shipments/{id}/cancel"),
            json!({"version": 1, "reason": "ordered twice"}),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["state"], "CANCELLED");
    assert_eq!(json["cancel_reason"], "ordered twice");
    assert_eq!(json["cancelled_at"], "2026-11-21T08:00:01Z");
}

#[tokio::test]
async fn transition_bodies_are_validated() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let manager = user(SHIPPER, Role::Manager);
    let path = format!("/v1/shipments/{id}/dispatch");
    for (body, field) in [
        (json!({}), "version"),
        (json!({"version": "1"}), "version"),
        (json!({"version": 1, "reason": "x"}), "reason"),
    ] {
        let (status, json) = fixture.post(&manager, &path, body).await;
        assert_eq!(status, 400);
        assert_eq!(fields(&json), [field]);
    }
    let (status, json, _) = fixture.call(Some(&manager), "POST", &path, &[], b"").await;
    assert_eq!(status, 400);
    assert_eq!(fields(&json), ["body"]);
}

#[tokio::test]
async fn devices_change_nothing() {
    let fixture = Fixture::new();
    let id = fixture.create_in(ShipmentState::Dispatched).await;
    for transition in Transition::ALL {
        let (status, _) = fixture
            .transition(&device(SHIPPER), &id, transition, 2)
            .await;
        assert_eq!(status, 403);
    }
}

// ------------------------------------------------------------------ list

#[tokio::test]
async fn a_listing_shows_only_the_callers_organisations_shipments() {
    let fixture = Fixture::new();
    let ours = fixture.create().await;
    // a shipment between two other organisations
    let mut theirs = new_shipment();
    theirs["shipper_org_id"] = json!("org-x");
    theirs["recipient_org_id"] = json!("org-y");
    theirs["device_id"] = json!("truck-of-org-x");
    let (status, _) = fixture
        .post(&user("org-x", Role::Manager), "/v1/shipments", theirs)
        .await;
    assert_eq!(status, 201);

    for org in [SHIPPER, RECIPIENT] {
        for role in Role::ALL {
            let (status, json) = fixture.list(&user(org, role), &[]).await;
            assert_eq!(status, 200);
            let ids: Vec<&str> = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["id"].as_str())
                .collect();
            assert_eq!(ids, [ours.as_str()], "{role} of {org}");
            assert_eq!(json["next"], Value::Null);
        }
    }
    let (status, json) = fixture.list(&user(OUTSIDER, Role::Admin), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(json["items"], json!([]));
    let (status, _) = fixture.list(&device(SHIPPER), &[]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn listings_filter_by_state_and_page() {
    let fixture = Fixture::new();
    let mut pending = Vec::new();
    for _ in 0..5 {
        pending.push(fixture.create().await);
    }
    let dispatched = fixture.create_in(ShipmentState::Dispatched).await;
    let manager = user(RECIPIENT, Role::Pharmacist);

    let (status, json) = fixture.list(&manager, &[("state", "DISPATCHED")]).await;
    assert_eq!(status, 200);
    assert_eq!(json["items"][0]["id"], dispatched.as_str());
    assert_eq!(json["items"].as_array().unwrap().len(), 1);

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut query = vec![("state", "PENDING"), ("limit", "2")];
        if let Some(token) = next.as_deref() {
            query.push(("next", token));
        }
        let (status, json) = fixture.list(&manager, &query).await;
        assert_eq!(status, 200, "{json}");
        let items = json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match json["next"].as_str() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    pending.reverse(); // newest first
    assert_eq!(seen, pending);
}

#[tokio::test]
async fn a_token_of_another_listing_is_400() {
    let fixture = Fixture::new();
    for _ in 0..3 {
        fixture.create().await;
    }
    let (_, first) = fixture
        .list(&user(SHIPPER, Role::Manager), &[("limit", "1")])
        .await;
    let token = first["next"].as_str().unwrap().to_owned();
    let (status, json) = fixture
        .list(&user(OUTSIDER, Role::Manager), &[("next", &token)])
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&json), ["next"]);
    let (status, _) = fixture
        .list(
            &user(SHIPPER, Role::Manager),
            &[("next", &token), ("state", "DELIVERED")],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn listing_parameters_are_validated() {
    let fixture = Fixture::new();
    let (status, json) = fixture
        .list(
            &user(SHIPPER, Role::Manager),
            &[("state", "LOST"), ("limit", "1000"), ("org", "org-x")],
        )
        .await;
    assert_eq!(status, 400);
    let mut fields = fields(&json);
    fields.sort_unstable();
    assert_eq!(fields, ["limit", "org", "state"]);
}

// ------------------------------------------------------------------ audit

#[tokio::test]
async fn the_audit_trail_is_for_the_parties_only_and_in_order() {
    let fixture = Fixture::new();
    let id = fixture.create_in(ShipmentState::InTransit).await;
    let path = format!("/v1/shipments/{id}/audit");
    for relation in Relation::ALL {
        for role in Role::ALL {
            let (status, json) = fixture.get(&user(org_of(relation), role), &path).await;
            assert_eq!(status, 200);
            let actions: Vec<&str> = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["action"].as_str())
                .collect();
            assert_eq!(
                actions,
                [
                    "shipment.created",
                    "shipment.dispatched",
                    "shipment.in_transit"
                ]
            );
            assert_eq!(json["items"][1]["before"]["state"], "PENDING");
            assert_eq!(json["items"][1]["after"]["state"], "DISPATCHED");
            assert_eq!(json["items"][1]["actor"]["role"], "MANAGER");
        }
    }
    for role in Role::ALL {
        let (status, _) = fixture.get(&user(OUTSIDER, role), &path).await;
        assert_eq!(status, 404);
    }
    let (status, _) = fixture
        .get(
            &user(SHIPPER, Role::Manager),
            "/v1/shipments/shp-nope/audit",
        )
        .await;
    assert_eq!(status, 404);
}

// ------------------------------------------------------------------ plumbing

#[tokio::test]
async fn no_caller_is_401() {
    let fixture = Fixture::new();
    for (method, path) in [
        ("GET", "/v1/shipments"),
        ("POST", "/v1/shipments"),
        ("GET", "/v1/shipments/shp-1"),
        ("POST", "/v1/shipments/shp-1/dispatch"),
        ("GET", "/v1/shipments/shp-1/audit"),
    ] {
        let (status, json, _) = fixture.call(None, method, path, &[], b"{}").await;
        assert_eq!(status, 401, "{method} {path}");
        assert_eq!(json["error"], "unauthorized");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    for path in [
        "/v1/other",
        "/v1/shipments/shp-1/teleport",
        "/v1/shipments/shp-1/audit/x",
        "/",
    ] {
        let (status, _, _) = fixture.call(Some(&manager), "GET", path, &[], b"").await;
        assert_eq!(status, 404, "{path}");
    }
    for (method, path, allow) in [
        ("DELETE", "/v1/shipments", "GET, POST"),
        ("PUT", "/v1/shipments/shp-1", "GET"),
        ("GET", "/v1/shipments/shp-1/dispatch", "POST"),
        ("POST", "/v1/shipments/shp-1/audit", "GET"),
    ] {
        let (status, _, reply) = fixture.call(Some(&manager), method, path, &[], b"").await;
        assert_eq!(status, 405, "{method} {path}");
        assert!(reply.headers.contains(&("allow", allow.to_owned())));
    }
}

#[tokio::test]
async fn a_stage_prefix_and_a_trailing_slash_are_ignored() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let manager = user(SHIPPER, Role::Manager);
    let (status, _) = fixture
        .get(&manager, &format!("/local/v1/shipments/{id}/"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unavailable_store_is_503_with_retry_after() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    fixture
        .store
        .fail_with(StoreError::Unavailable("throttled".into()));
    let manager = user(SHIPPER, Role::Manager);
    for (method, path, body) in [
        ("GET", "/v1/shipments".to_owned(), String::new()),
        ("GET", format!("/v1/shipments/{id}"), String::new()),
        (
            "POST",
            "/v1/shipments".to_owned(),
            new_shipment().to_string(),
        ),
        (
            "POST",
            format!("/v1/shipments/{id}/dispatch"),
            r#"{"version":1}"#.to_owned(),
        ),
    ] {
        let (status, json, reply) = fixture
            .call(Some(&manager), method, &path, &[], body.as_bytes())
            .await;
        assert_eq!(status, 503, "{method} {path}");
        assert_eq!(json["error"], "unavailable");
        assert!(reply.headers.contains(&("retry-after", "1".to_owned())));
    }
}

#[tokio::test]
async fn hostile_input_never_panics_nor_answers_5xx() {
    let fixture = Fixture::new();
    let id = fixture.create().await;
    let manager = user(SHIPPER, Role::Manager);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"version\": 1e999}".to_vec(),
        b"{\"version\": -1}".to_vec(),
        b"{\"version\": 18446744073709551616}".to_vec(),
        b"{\"product\": \"\\u0000\"}".to_vec(),
        vec![0xff; 64],
        deep.into_bytes(),
    ];
    let paths = [
        "/v1/shipments".to_owned(),
        format!("/v1/shipments/{id}/dispatch"),
        format!("/v1/shipments/{id}/cancel"),
    ];
    for path in &paths {
        for body in &bodies {
            let (status, _, _) = fixture.call(Some(&manager), "POST", path, &[], body).await;
            assert!(
                (400..500).contains(&status),
                "{path} {}: {status}",
                String::from_utf8_lossy(body)
            );
        }
    }
    let (status, _, _) = fixture
        .call(
            Some(&manager),
            "GET",
            "/v1/shipments",
            &[("next", "\u{0}\u{1}"), ("limit", "-1")],
            b"",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(fixture.store.stored(&id).version, 1);
}

#[tokio::test]
async fn handle_reads_the_caller_from_the_authorizer_context() {
    let fixture = Fixture::new();
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/shipments")
        .body(Body::Text(new_shipment().to_string()))
        .unwrap();
    let anonymous = handle(&fixture.store, &fixture.store, &fixture.clock, request)
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/shipments")
        .body(Body::Text(new_shipment().to_string()))
        .unwrap();
    let request = pharmaguard_http::with_caller(request, &user(RECIPIENT, Role::Pharmacist));
    let response = handle(&fixture.store, &fixture.store, &fixture.clock, request)
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let json: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(json["created_by"], "pharmacist-of-org-recv");
}

#[test]
fn environment_variables_must_be_set_and_not_blank() {
    assert_eq!(
        required_env("SHIPMENTS_TABLE", Some(" t ".into())),
        Ok("t".to_owned())
    );
    assert_eq!(
        required_env("SHIPMENTS_TABLE", Some("  ".into())),
        Err(MissingEnv("SHIPMENTS_TABLE"))
    );
    assert_eq!(
        required_env("AUDIT_TABLE", None),
        Err(MissingEnv("AUDIT_TABLE"))
    );
    assert!(
        MissingEnv("AUDIT_TABLE")
            .to_string()
            .contains("AUDIT_TABLE")
    );
}

// ------------------------------------------------------------------ sample events

mod samples {
    use super::*;
    use aws_lambda_events::apigw::ApiGatewayProxyRequest;

    /// The id the committed `dispatch.json` names.
    const SAMPLE_ID: &str = "shp-0b5f4a6e-1c2d-4e3f-8a9b-0c1d2e3f4a5b";

    fn read(name: &str) -> String {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/orders")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    async fn replay(fixture: &Fixture, name: &str) -> (u16, Value) {
        let request = lambda_http::request::from_str(&read(name)).expect("a lambda_http request");
        let response = handle(&fixture.store, &fixture.store, &fixture.clock, request)
            .await
            .expect("a response");
        let json = serde_json::from_slice(response.body().as_ref()).expect("JSON");
        (response.status().as_u16(), json)
    }

    #[test]
    fn every_sample_is_a_rest_proxy_request_with_a_caller() {
        for name in [
            "create.json",
            "create-invalid.json",
            "list.json",
            "dispatch.json",
        ] {
            let event: ApiGatewayProxyRequest =
                serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                event
                    .path
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("/v1/shipments")
            );
            let request = lambda_http::request::from_str(&read(name)).unwrap();
            assert!(pharmaguard_http::caller(&request).is_some(), "{name}");
        }
    }

    #[tokio::test]
    async fn the_samples_get_the_answers_the_readme_promises() {
        let fixture = Fixture::new();
        let (status, created) = replay(&fixture, "create.json").await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["state"], "PENDING");
        assert_eq!(created["created_by"], "usr-manager-supplier");

        let (status, json) = replay(&fixture, "create-invalid.json").await;
        assert_eq!(status, 400);
        assert_eq!(
            fields(&json),
            [
                "priority",
                "product",
                "quantity",
                "cargo_value.amount",
                "cargo_value.currency",
                "profile.max_c",
                "recipient_org_id",
                "origin.lat"
            ]
        );

        let (status, json) = replay(&fixture, "list.json").await;
        assert_eq!(status, 200);
        assert_eq!(json["items"][0]["id"], created["id"]);
        assert_eq!(json["next"], Value::Null);

        let (status, json) = replay(&fixture, "dispatch.json").await;
        assert_eq!(status, 404, "the sample's id does not exist yet: {json}");
        let mut sample = fixture.store.stored(created["id"].as_str().unwrap());
        sample.id = SAMPLE_ID.to_owned();
        fixture
            .store
            .shipments
            .lock()
            .unwrap()
            .insert(SAMPLE_ID.to_owned(), sample);
        let (status, json) = replay(&fixture, "dispatch.json").await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["state"], "DISPATCHED");
        assert_eq!(json["version"], 2);
    }
}

// ------------------------------------------------------------------ device binding

#[tokio::test]
async fn a_shipment_names_existing_organisations_and_a_device_of_its_shipper() {
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    for (field, value, expected) in [
        ("recipient_org_id", json!("org-nowhere"), "recipient_org_id"),
        ("device_id", json!("truck-foreign"), "device_id"),
        ("device_id", json!("truck-unknown"), "device_id"),
        ("device_id", json!("truck-off"), "device_id"),
    ] {
        let mut body = new_shipment();
        body[field] = value.clone();
        let (status, json) = fixture.post(&manager, "/v1/shipments", body).await;
        assert_eq!(status, 400, "{field}={value}: {json}");
        assert_eq!(fields(&json), [expected], "{json}");
    }
    // an unknown device and another organisation's answer alike
    let answer = |device: &'static str| {
        let fixture = &fixture;
        let manager = manager.clone();
        async move {
            let mut body = new_shipment();
            body["device_id"] = json!(device);
            fixture.post(&manager, "/v1/shipments", body).await.1["errors"].clone()
        }
    };
    assert_eq!(answer("truck-foreign").await, answer("truck-unknown").await);
    assert_eq!(fixture.store.audit_count(), 0, "nothing was created");
}

#[tokio::test]
async fn another_organisation_cannot_bind_the_shippers_device() {
    // organisation B (the outsider) ships with A's truck: refused
    let fixture = Fixture::new();
    let mut body = new_shipment();
    body["shipper_org_id"] = json!(OUTSIDER);
    body["device_id"] = json!("truck-7");
    let (status, json) = fixture
        .post(&user(OUTSIDER, Role::Manager), "/v1/shipments", body)
        .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(fields(&json), ["device_id"]);
}

#[tokio::test]
async fn a_device_on_a_shipment_on_its_way_is_409_naming_that_shipment() {
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    let moving = fixture.create_in(ShipmentState::InTransit).await;
    let device = fixture.store.stored(&moving).device_id.unwrap();
    let mut body = new_shipment();
    body["device_id"] = json!(device);
    let (status, json) = fixture.post(&manager, "/v1/shipments", body.clone()).await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "device_busy");
    assert_eq!(json["shipment_id"], json!(moving));

    // created while the device was free, dispatched while it is busy: 409 too
    let (status, json) = fixture
        .post(&manager, "/v1/shipments", {
            let mut b = new_shipment();
            b["device_id"] = json!("truck-shared");
            b
        })
        .await;
    assert_eq!(status, 201, "{json}");
    let first = json["id"].as_str().unwrap().to_owned();
    let (status, json) = fixture
        .post(&manager, "/v1/shipments", {
            let mut b = new_shipment();
            b["device_id"] = json!("truck-shared");
            b
        })
        .await;
    assert_eq!(status, 201, "both pending: {json}");
    let second = json["id"].as_str().unwrap().to_owned();
    let (status, _) = fixture
        .transition(&manager, &first, Transition::Dispatch, 1)
        .await;
    assert_eq!(status, 200);
    let (status, json) = fixture
        .transition(&manager, &second, Transition::Dispatch, 1)
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["shipment_id"], json!(first));
    assert_eq!(fixture.store.stored(&second).state, ShipmentState::Pending);
}

#[tokio::test]
async fn a_dispatch_that_loses_the_race_for_the_device_is_409_naming_the_winner() {
    // both passed the binding check; the store's claim decides
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    let loser = fixture.create().await;
    let device = fixture.store.stored(&loser).device_id.unwrap();
    fixture
        .store
        .claims
        .lock()
        .unwrap()
        .insert(device, ("shp-winner".into(), true));
    let (status, json) = fixture
        .transition(&manager, &loser, Transition::Dispatch, 1)
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "device_busy");
    assert_eq!(json["shipment_id"], "shp-winner");
    assert_eq!(fields(&json), ["device_id"]);
    assert_eq!(fixture.store.stored(&loser).state, ShipmentState::Pending);
}

#[tokio::test]
async fn delivering_or_cancelling_gives_the_device_back() {
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    for end in [ShipmentState::Delivered, ShipmentState::Cancelled] {
        let first = match end {
            ShipmentState::Cancelled => {
                let dispatched = fixture.create_in(ShipmentState::Dispatched).await;
                let (status, json) = fixture
                    .transition(&manager, &dispatched, Transition::Cancel, 2)
                    .await;
                assert_eq!(status, 200, "{json}");
                dispatched
            }
            _ => fixture.create_in(end).await,
        };
        let device = fixture.store.stored(&first).device_id.unwrap();
        let mut body = new_shipment();
        body["device_id"] = json!(device);
        let (status, json) = fixture.post(&manager, "/v1/shipments", body).await;
        assert_eq!(status, 201, "{json}");
        let next = json["id"].as_str().unwrap().to_owned();
        let (status, json) = fixture
            .transition(&manager, &next, Transition::Dispatch, 1)
            .await;
        assert_eq!(status, 200, "after {end}: {json}");
    }
}

#[tokio::test]
async fn a_shipment_without_a_device_is_created_but_not_dispatched() {
    let fixture = Fixture::new();
    let manager = user(SHIPPER, Role::Manager);
    let mut body = new_shipment();
    body.as_object_mut().unwrap().remove("device_id");
    let (status, json) = fixture.post(&manager, "/v1/shipments", body).await;
    assert_eq!(status, 201, "{json}");
    let id = json["id"].as_str().unwrap().to_owned();
    let (status, json) = fixture
        .transition(&manager, &id, Transition::Dispatch, 1)
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "no_device");
}

fn ferry() -> Value {
    json!([{ "from": "2026-11-21T12:00:00Z", "to": "2026-11-21T15:30:00Z",
             "reason": "ferry Rostock-Trelleborg" }])
}

#[tokio::test]
async fn the_driver_declares_a_ferry_during_the_trip_and_it_is_audited() {
    let fixture = Fixture::new();
    let id = fixture.create_in(ShipmentState::InTransit).await;
    let version = fixture.store.stored(&id).version;
    let driver = user(SHIPPER, Role::Driver);
    let path = format!("/v1/shipments/{id}/silences");
    let (status, json) = fixture
        .put(
            &driver,
            &path,
            json!({ "version": version, "expected_silences": ferry() }),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["version"], json!(version + 1));
    assert_eq!(json["state"], "IN_TRANSIT", "the state stays");
    assert_eq!(json["expected_silences"], ferry());
    let stored = fixture.store.stored(&id);
    assert_eq!(stored.expected_silences.len(), 1);
    assert_eq!(
        stored.expected_silences[0].reason.as_deref(),
        Some("ferry Rostock-Trelleborg")
    );
    let (_, trail) = fixture
        .get(
            &user(RECIPIENT, Role::Pharmacist),
            &format!("/v1/shipments/{id}/audit"),
        )
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "shipment.silences_changed");
    assert_eq!(last["actor"]["role"], "DRIVER");

    // a stale version is refused; so is removing them all with it
    let (status, json) = fixture
        .put(
            &driver,
            &path,
            json!({ "version": version, "expected_silences": [] }),
        )
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "version_conflict");
    // with the current one the list is replaced (here: emptied)
    let (status, json) = fixture
        .put(
            &driver,
            &path,
            json!({ "version": version + 1, "expected_silences": [] }),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert!(fixture.store.stored(&id).expected_silences.is_empty());
}

#[tokio::test]
async fn silences_are_declared_by_the_shipper_only_and_only_until_the_trip_ends() {
    let fixture = Fixture::new();
    let id = fixture.create_in(ShipmentState::InTransit).await;
    let version = fixture.store.stored(&id).version;
    let path = format!("/v1/shipments/{id}/silences");
    let body = json!({ "version": version, "expected_silences": ferry() });
    for role in [Role::Manager, Role::Pharmacist, Role::Driver] {
        let (status, json) = fixture
            .put(&user(RECIPIENT, role), &path, body.clone())
            .await;
        assert_eq!(status, 403, "recipient {role}: {json}");
    }
    let (status, _) = fixture
        .put(&user(SHIPPER, Role::Pharmacist), &path, body.clone())
        .await;
    assert_eq!(status, 403);
    let (status, _) = fixture
        .put(&user(OUTSIDER, Role::Manager), &path, body.clone())
        .await;
    assert_eq!(status, 404, "outsiders never learn it exists");

    let (status, json) = fixture
        .put(
            &user(SHIPPER, Role::Manager),
            &path,
            json!({ "version": version, "expected_silences": [{"from": "soon", "to": 4}], "x": 1 }),
        )
        .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(
        fields(&json),
        ["x", "expected_silences[0].from", "expected_silences[0].to"]
    );

    let delivered = fixture.create_in(ShipmentState::Delivered).await;
    let version = fixture.store.stored(&delivered).version;
    let (status, json) = fixture
        .put(
            &user(SHIPPER, Role::Manager),
            &format!("/v1/shipments/{delivered}/silences"),
            json!({ "version": version, "expected_silences": ferry() }),
        )
        .await;
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"], "invalid_state");
    let (status, _) = fixture.get(&user(SHIPPER, Role::Manager), &path).await;
    assert_eq!(status, 405, "GET is the shipment's own route");
}

//! The DynamoDB shipment store against LocalStack's DynamoDB: conditional
//! transactions, concurrent updates, the organisation listings and their
//! tokens, the audit trail and the by-device index.
//!
//! Each test creates its own pair of tables (the layout of
//! `infra/template.yaml`) and deletes them afterwards, so it needs LocalStack
//! running (`localstack/up`) but not the orders function deployed.

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::shipment_store::{BY_DEVICE_INDEX, DynamoShipmentStore};
use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::shipment::ports::{ListQuery, ShipmentStore, StoreError};
use pharmaguard_domain::shipment::{
    Location, Money, Shipment, ShipmentDraft, ShipmentState, TemperatureProfile, Transition,
    audit_record, new_shipment_id,
};
use pharmaguard_testkit::Stack;
use pharmaguard_testkit::tables::{Layout, create_table};
use time::OffsetDateTime;

struct Tables {
    client: Client,
    store: DynamoShipmentStore,
}

impl Tables {
    async fn create() -> Self {
        let stack = Stack::load();
        let client = Client::new(&stack.sdk_config().await);
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let shipments = format!("it-shipments-{tag}");
        let audit = format!("it-audit-{tag}");
        create_table(&client, &shipments, Layout::Shipments).await;
        create_table(&client, &audit, Layout::Keys).await;
        let store = DynamoShipmentStore::new(client.clone(), shipments, audit);
        Self { client, store }
    }

    async fn drop_tables(self) {
        for table in [&self.store.table, &self.store.audit_table] {
            let _ = self.client.delete_table().table_name(table).send().await;
        }
    }
}

fn manager(org: &str) -> Principal {
    Principal::User {
        user_id: format!("manager-of-{org}"),
        org_id: org.to_owned(),
        role: Role::Manager,
    }
}

fn draft(shipper: &str, recipient: &str, device: &str) -> ShipmentDraft {
    ShipmentDraft {
        product: "Insulin glargine 100 U/ml".into(),
        quantity: 120,
        cargo_value: Money {
            amount: "4800.50".into(),
            currency: "EUR".into(),
        },
        profile: TemperatureProfile::custom(-20.0, -10.5, 10, 30).unwrap(),
        shipper_org_id: shipper.into(),
        recipient_org_id: recipient.into(),
        origin: Location {
            name: "Rotterdam".into(),
            lat: 51.9244,
            lon: 4.4777,
        },
        destination: Location {
            name: "Berlin".into(),
            lat: 52.5263,
            lon: 13.3766,
        },
        device_id: Some(device.into()),
        truck_id: None,
        expected_silences: Vec::new(),
    }
}

async fn create(store: &DynamoShipmentStore, shipper: &str, recipient: &str) -> Shipment {
    let device = format!("truck-{}", uuid::Uuid::new_v4().simple());
    create_on(store, shipper, recipient, &device).await
}

async fn create_on(
    store: &DynamoShipmentStore,
    shipper: &str,
    recipient: &str,
    device: &str,
) -> Shipment {
    let now = OffsetDateTime::now_utc();
    let shipment = Shipment::create(
        new_shipment_id(),
        draft(shipper, recipient, device),
        &manager(shipper),
        now,
    );
    let record = audit_record(&manager(shipper), None, &shipment, now);
    store.create(&shipment, &record).await.expect("created");
    shipment
}

async fn apply(
    store: &DynamoShipmentStore,
    shipment: &Shipment,
    transition: Transition,
    actor: &Principal,
) -> Result<Shipment, StoreError> {
    let now = OffsetDateTime::now_utc();
    let next = shipment
        .transition(transition, shipment.version, now, None)
        .unwrap();
    let record = audit_record(actor, Some(shipment), &next, now);
    store.update(&next, shipment.version, &record).await?;
    Ok(next)
}

fn query(org: &str, state: Option<ShipmentState>, limit: u32, next: Option<String>) -> ListQuery {
    ListQuery {
        org_id: org.into(),
        state,
        limit,
        next,
    }
}

#[tokio::test]
async fn creates_reads_and_changes_with_optimistic_concurrency_and_an_audit_trail() {
    let tables = Tables::create().await;
    let store = &tables.store;
    let shipment = create(store, "org-a", "org-b").await;

    assert_eq!(
        store.get(&shipment.id).await.unwrap(),
        Some(shipment.clone())
    );
    assert_eq!(store.get("shp-none").await.unwrap(), None);

    // the same id again
    let record = audit_record(&manager("org-a"), None, &shipment, shipment.created_at);
    assert_eq!(
        store.create(&shipment, &record).await,
        Err(StoreError::AlreadyExists)
    );

    let dispatched = apply(store, &shipment, Transition::Dispatch, &manager("org-a"))
        .await
        .unwrap();
    assert_eq!(
        store.get(&shipment.id).await.unwrap(),
        Some(dispatched.clone())
    );

    // a stale writer (still at version 1) loses and learns the current version
    let stale = apply(store, &shipment, Transition::Cancel, &manager("org-b")).await;
    assert_eq!(
        stale,
        Err(StoreError::VersionConflict {
            current_version: Some(2)
        })
    );

    let trail = store.audit_trail(&shipment.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["shipment.created", "shipment.dispatched"]);
    assert_eq!(trail[1].before.as_ref().unwrap()["state"], "PENDING");
    assert_eq!(trail[1].after.as_ref().unwrap()["version"], 2);

    tables.drop_tables().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_updates_from_one_version_exactly_one_wins() {
    let tables = Tables::create().await;
    let store = &tables.store;
    let shipment = create(store, "org-a", "org-b").await;

    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let (transition, actor) = if i % 2 == 0 {
                (Transition::Dispatch, manager("org-a"))
            } else {
                (Transition::Cancel, manager("org-b"))
            };
            let (store, shipment) = (store.clone(), shipment.clone());
            async move { apply(&store, &shipment, transition, &actor).await }
        })
        .collect();
    let results = join_all(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, StoreError::VersionConflict { .. }),
                "{error:?}"
            );
        }
    }
    let stored = store.get(&shipment.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    let trail = store.audit_trail(&shipment.id).await.unwrap();
    assert_eq!(trail.len(), 2, "only the winner is audited");

    tables.drop_tables().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_dispatches_with_one_device_exactly_one_takes_it() {
    let tables = Tables::create().await;
    let store = &tables.store;
    let device = format!("truck-{}", uuid::Uuid::new_v4().simple());
    let mut shipments = Vec::new();
    for _ in 0..6 {
        shipments.push(create_on(store, "org-a", "org-b", &device).await);
    }
    let attempts: Vec<_> = shipments
        .iter()
        .map(|shipment| {
            let (store, shipment) = (store.clone(), shipment.clone());
            async move { apply(&store, &shipment, Transition::Dispatch, &manager("org-a")).await }
        })
        .collect();
    let results = join_all(attempts).await;
    let winners: Vec<&Shipment> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0].clone();
    for result in &results {
        if let Err(error) = result {
            assert_eq!(
                error,
                &StoreError::DeviceClaimed {
                    device_id: device.clone(),
                    shipment_id: Some(winner.id.clone()),
                }
            );
        }
    }
    for shipment in &shipments {
        let stored = store.get(&shipment.id).await.unwrap().unwrap();
        let expected = if shipment.id == winner.id {
            ShipmentState::Dispatched
        } else {
            ShipmentState::Pending
        };
        assert_eq!(stored.state, expected, "{}", shipment.id);
    }

    // once the winner is delivered, the device is free for the next
    let started = apply(store, &winner, Transition::Start, &manager("org-a"))
        .await
        .unwrap();
    apply(store, &started, Transition::Deliver, &manager("org-b"))
        .await
        .unwrap();
    let next = shipments.iter().find(|s| s.id != winner.id).unwrap();
    apply(store, next, Transition::Dispatch, &manager("org-a"))
        .await
        .expect("the device was given back");

    tables.drop_tables().await;
}

/// Runs the futures concurrently and collects their outputs in order.
async fn join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = Vec::new();
    for future in futures {
        set.push(tokio::spawn(future));
    }
    let mut outputs = Vec::new();
    for handle in set {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

#[tokio::test]
async fn listings_are_per_organisation_paged_and_filtered() {
    let tables = Tables::create().await;
    let store = &tables.store;
    let mut ours = Vec::new();
    for i in 0..5 {
        let shipment = if i % 2 == 0 {
            create(store, "org-a", "org-b").await
        } else {
            create(store, "org-c", "org-a").await
        };
        ours.push(shipment);
    }
    let foreign = create(store, "org-x", "org-y").await;
    let dispatched = apply(store, &ours[0], Transition::Dispatch, &manager("org-a"))
        .await
        .unwrap();

    // all of org-a's, newest first, two at a time
    let mut seen = Vec::new();
    let mut next = None;
    for _ in 0..10 {
        let page = store.list(&query("org-a", None, 2, next)).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|s| s.id.clone()));
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    let mut expected: Vec<String> = ours.iter().map(|s| s.id.clone()).collect();
    expected.reverse();
    assert_eq!(seen, expected);
    assert!(!seen.contains(&foreign.id));

    // the listing carries the current state
    let page = store
        .list(&query("org-a", Some(ShipmentState::Dispatched), 10, None))
        .await
        .unwrap();
    assert_eq!(page.items, vec![dispatched.clone()]);
    let page = store
        .list(&query("org-b", Some(ShipmentState::Pending), 10, None))
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [ours[4].id.as_str(), ours[2].id.as_str()]);

    // a token only opens the listing it came from
    let first = store
        .list(&query("org-a", Some(ShipmentState::Pending), 1, None))
        .await
        .unwrap();
    let token = first.next.expect("more pending shipments");
    for other in [
        query(
            "org-x",
            Some(ShipmentState::Pending),
            10,
            Some(token.clone()),
        ),
        query("org-a", None, 10, Some(token.clone())),
        query(
            "org-a",
            Some(ShipmentState::Delivered),
            10,
            Some(token.clone()),
        ),
    ] {
        assert_eq!(store.list(&other).await, Err(StoreError::InvalidPageToken));
    }
    let rest = store
        .list(&query(
            "org-a",
            Some(ShipmentState::Pending),
            10,
            Some(token),
        ))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);

    // only the shipment item is in the by-device index
    let device = dispatched.device_id.clone().unwrap();
    let by_device = tables
        .client
        .query()
        .table_name(&store.table)
        .index_name(BY_DEVICE_INDEX)
        .key_condition_expression("device_id = :d")
        .expression_attribute_values(":d", aws_sdk_dynamodb::types::AttributeValue::S(device))
        .send()
        .await
        .unwrap();
    assert_eq!(by_device.items().len(), 1);

    tables.drop_tables().await;
}

/// The committed sample events, through the function's handler, on real tables.
#[tokio::test]
async fn the_sample_events_work_on_real_tables() {
    use lambda_http::Body;
    use pharmaguard_domain::shipment::ports::SystemClock;
    use serde_json::Value;

    let tables = Tables::create().await;
    let store = &tables.store;
    let read = |name: &str| {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/orders")
            .join(name);
        std::fs::read_to_string(path).expect("sample event")
    };
    let replay = |event: String| async move {
        let request = lambda_http::request::from_str(&event).expect("a request");
        let response = orders::handle(store, &SampleParties(store), &SystemClock, request)
            .await
            .expect("a response");
        let body = match response.body() {
            Body::Text(text) => text.clone(),
            other => String::from_utf8_lossy(other.as_ref()).into_owned(),
        };
        let json: Value = serde_json::from_str(&body).expect("JSON");
        (response.status().as_u16(), json)
    };

    let (status, created) = replay(read("create.json")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, invalid) = replay(read("create-invalid.json")).await;
    assert_eq!(status, 400, "{invalid}");

    let (status, listed) = replay(read("list.json")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0], created);

    let (status, _) = replay(read("dispatch.json")).await;
    assert_eq!(status, 404, "the sample's own id does not exist here");
    let dispatch = read("dispatch.json").replace("shp-0b5f4a6e-1c2d-4e3f-8a9b-0c1d2e3f4a5b", &id);
    let (status, dispatched) = replay(dispatch.clone()).await;
    assert_eq!(status, 200, "{dispatched}");
    assert_eq!(dispatched["state"], "DISPATCHED");
    assert_eq!(dispatched["version"], 2);
    let (status, again) = replay(dispatch).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"], "version_conflict");
    assert_eq!(again["current_version"], 2);

    tables.drop_tables().await;
}

/// The samples' parties: every organisation exists and every device is the
/// samples' supplier's; a device's shipments are read from the store under test.
struct SampleParties<'a>(&'a pharmaguard_aws::shipment_store::DynamoShipmentStore);

impl pharmaguard_domain::shipment::ports::Parties for SampleParties<'_> {
    async fn organisation_exists(
        &self,
        _org_id: &str,
    ) -> Result<bool, pharmaguard_domain::shipment::ports::StoreError> {
        Ok(true)
    }

    async fn registered_device(
        &self,
        device_id: &str,
    ) -> Result<
        Option<pharmaguard_domain::telemetry::RegisteredDevice>,
        pharmaguard_domain::shipment::ports::StoreError,
    > {
        Ok(Some(pharmaguard_domain::telemetry::RegisteredDevice {
            id: device_id.to_owned(),
            org_id: "org-supplier".to_owned(),
            disabled: false,
        }))
    }

    async fn shipments_of_device(
        &self,
        device_id: &str,
    ) -> Result<
        Vec<pharmaguard_domain::shipment::Shipment>,
        pharmaguard_domain::shipment::ports::StoreError,
    > {
        use pharmaguard_domain::coldchain::tracking::ShipmentDirectory;
        self.0.shipments_of_device(device_id).await.map_err(|e| {
            pharmaguard_domain::shipment::ports::StoreError::Unavailable(e.to_string())
        })
    }
}

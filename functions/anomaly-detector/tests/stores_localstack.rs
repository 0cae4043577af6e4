//! The detector's DynamoDB stores on LocalStack, in throw-away tables with
//! the template's layouts: the reading history (time ranges, idempotent
//! writes, more than one batch write), the tracking store (optimistic
//! concurrency, the `watched` index) and the alarms, and the batch reads of
//! trackings, shipments and devices.
//!
//! Needs LocalStack running (`localstack/up`), not the functions.

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::readings_store::DynamoReadingHistory;
use pharmaguard_aws::tracking_store::DynamoTrackingStore;
use pharmaguard_domain::coldchain::detector::Owner;
use pharmaguard_domain::coldchain::tracking::{ReadingHistory, SaveError, Tracking, TrackingStore};
use pharmaguard_domain::coldchain::{AlarmState, AlarmType, MonitorSettings};
use pharmaguard_domain::fixtures::{T0, shipment};
use pharmaguard_domain::shipment::{ShipmentState, TemperatureProfile, Transition};
use pharmaguard_domain::telemetry::{READING_SCHEMA_VERSION, Reading};
use pharmaguard_testkit::Stack;
use pharmaguard_testkit::tables::{Layout, create_table};
use time::Duration;

fn reading(device: &str, second: i64, temperature_c: f64, vibration_g: f64) -> Reading {
    let ts = T0 + Duration::seconds(second);
    Reading {
        v: READING_SCHEMA_VERSION,
        reading_id: format!("{device}-{second}"),
        device_id: device.into(),
        shipment_id: None,
        ts,
        lat: 52.0,
        lon: 5.0 + second as f64 / 10_000.0,
        temperature_c,
        vibration_g,
        received_at: ts + Duration::milliseconds(300),
        source: "https".into(),
        sender: None,
    }
}

#[tokio::test]
async fn the_history_answers_time_ranges_and_writes_idempotently() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let table = format!("it-readings-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table, Layout::Keys).await;
    let history = DynamoReadingHistory::new(client.clone(), &table);

    // 60 readings a second apart (three batch writes), one of them twice,
    // and one reading of a device without a shipment
    let ship = Owner::Shipment("shp-1".into());
    let device = Owner::Device("truck-9".into());
    let mut entries: Vec<(Owner, Reading)> = (0..60)
        .map(|s| (ship.clone(), reading("truck-1", s, 5.0, 0.2)))
        .collect();
    entries.push(entries[10].clone());
    entries.push((device.clone(), reading("truck-9", 5, 4.0, 0.1)));
    let results = history.put(&pairs(&entries)).await;
    assert_eq!(results.len(), entries.len());
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let all = history
        .between(&ship, T0, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(all.len(), 60, "the repeat is one item");
    assert_eq!(all[0], entries[0].1, "every field survives");
    assert!(all.windows(2).all(|w| w[0].ts < w[1].ts), "by time");

    // both ends included, to the millisecond
    let range = history
        .between(
            &ship,
            T0 + Duration::seconds(10),
            T0 + Duration::seconds(19),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = range.iter().map(|r| r.reading_id.as_str()).collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids[0], "truck-1-10");
    assert_eq!(ids[9], "truck-1-19");
    let nothing = history
        .between(&ship, T0 - Duration::hours(1), T0 - Duration::seconds(1))
        .await
        .unwrap();
    assert!(nothing.is_empty());
    assert_eq!(
        history
            .between(&device, T0, T0 + Duration::minutes(1))
            .await
            .unwrap(),
        [entries.last().unwrap().1.clone()]
    );

    // writing it all again changes nothing
    assert!(
        history
            .put(&pairs(&entries))
            .await
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(
        history
            .between(&ship, T0, T0 + Duration::minutes(1))
            .await
            .unwrap(),
        all
    );
    let _ = client.delete_table().table_name(&table).send().await;
}

#[tokio::test]
async fn the_tracking_store_saves_on_its_version_and_finds_silent_shipments() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (tracking_table, alarms_table) = (format!("it-tracking-{tag}"), format!("it-alarms-{tag}"));
    create_table(&client, &tracking_table, Layout::Tracking).await;
    create_table(&client, &alarms_table, Layout::Keys).await;
    let store = DynamoTrackingStore::new(client.clone(), &tracking_table, &alarms_table);

    let shipment = shipment("shp-1", "truck-1", ShipmentState::InTransit);
    assert_eq!(store.load("shp-1").await.unwrap(), None);
    let fresh = Tracking::new(&shipment, T0);
    let mut monitor = fresh.monitor.clone();
    let settings = MonitorSettings::default();
    let profile = TemperatureProfile::Refrigerated;
    monitor.observe(&reading("truck-1", 0, 5.0, 0.2), &profile, &settings);
    let crash = monitor.observe(&reading("truck-1", 60, 5.0, 6.5), &profile, &settings);
    let alarms: Vec<_> = crash
        .transitions
        .iter()
        .map(|t| t.alarm().clone())
        .collect();
    let first = fresh.next(
        &shipment,
        monitor,
        Some(reading("truck-1", 60, 5.0, 6.5)),
        T0,
    );
    store.save(&first, 0, &alarms).await.unwrap();
    assert_eq!(store.load("shp-1").await.unwrap(), Some(first.clone()));

    // a second first write, or a write from a stale version, is refused
    assert_eq!(
        store.save(&first, 0, &[]).await,
        Err(SaveError::VersionConflict)
    );
    let mut second = first.next(&shipment, first.monitor.clone(), None, T0);
    second.updated_at = T0 + Duration::minutes(5);
    assert_eq!(
        store.save(&second, 7, &[]).await,
        Err(SaveError::VersionConflict)
    );
    let mut cleared = alarms[0].clone();
    cleared.state = AlarmState::Cleared;
    cleared.cleared_at = Some(T0 + Duration::minutes(5));
    store.save(&second, 1, &[cleared.clone()]).await.unwrap();
    assert_eq!(store.load("shp-1").await.unwrap().unwrap().version, 2);
    let stored = store.alarms_of("shp-1").await.unwrap();
    assert_eq!(stored, [cleared]);
    assert_eq!(stored[0].alarm_type, AlarmType::Shock);

    // the index lists the watched shipments silent since a cutoff (eventually consistent)
    let last = T0 + Duration::seconds(60);
    let mut listed = Vec::new();
    for _ in 0..50 {
        listed = store.silent_since(last).await.unwrap();
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(listed, ["shp-1"]);
    assert!(
        store
            .silent_since(last - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );

    // delivered: it leaves the index
    let mut delivered_shipment = shipment.clone();
    delivered_shipment = delivered_shipment
        .transition(Transition::Deliver, 3, T0, None)
        .unwrap();
    let done = second.next(&delivered_shipment, second.monitor.clone(), None, T0);
    store.save(&done, 2, &[]).await.unwrap();
    let mut gone = false;
    for _ in 0..50 {
        if store.silent_since(last).await.unwrap().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(gone, "a delivered shipment is not watched");

    for name in [&tracking_table, &alarms_table] {
        let _ = client.delete_table().table_name(name).send().await;
    }
}

/// The history's input: each reading with its owner, borrowed.
fn pairs(entries: &[(Owner, Reading)]) -> Vec<(&Owner, &Reading)> {
    entries
        .iter()
        .map(|(owner, reading)| (owner, reading))
        .collect()
}

#[tokio::test]
async fn batch_reads_find_each_item_under_its_id_past_one_request() {
    use futures_util::stream::{self, StreamExt};
    use pharmaguard_aws::device_registry::DynamoDeviceRegistry;
    use pharmaguard_aws::dynamo::s;
    use pharmaguard_aws::shipment_store::{DynamoShipmentStore, shipment_item};
    use pharmaguard_domain::coldchain::tracking::ShipmentDirectory;
    use pharmaguard_domain::ports::DeviceRegistry;

    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let tables = [
        format!("it-tracking-{tag}"),
        format!("it-alarms-{tag}"),
        format!("it-shipments-{tag}"),
        format!("it-identity-{tag}"),
    ];
    create_table(&client, &tables[0], Layout::Tracking).await;
    create_table(&client, &tables[1], Layout::Keys).await;
    create_table(&client, &tables[2], Layout::Shipments).await;
    create_table(&client, &tables[3], Layout::Keys).await;
    let trackings = DynamoTrackingStore::new(client.clone(), &tables[0], &tables[1]);
    let directory = DynamoShipmentStore::new(client.clone(), &tables[2], "unused-audit");
    let registry = DynamoDeviceRegistry::new(client.clone(), &tables[3]);

    // 130 shipments with a tracking each: two requests of at most 100 keys
    let shipments: Vec<_> = (0..130)
        .map(|k| {
            shipment(
                &format!("shp-{k}"),
                &format!("truck-{k}"),
                ShipmentState::InTransit,
            )
        })
        .collect();
    stream::iter(&shipments)
        .map(|shipment| {
            let (client, trackings, table) = (&client, &trackings, &tables[2]);
            async move {
                client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(shipment_item(shipment).unwrap()))
                    .send()
                    .await
                    .unwrap();
                let tracking = Tracking::new(shipment, T0);
                trackings.save(&tracking, 0, &[]).await.unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    for (device, org, disabled) in [("truck-1", "org-a", false), ("truck-2", "org-b", true)] {
        let mut put = client
            .put_item()
            .table_name(&tables[3])
            .item("pk", s(format!("DEVICE#{device}")))
            .item("sk", s("DEVICE"))
            .item("id", s(device))
            .item("org_id", s(org))
            .item("secret_hash", s("never read"));
        if disabled {
            put = put.item("disabled_at", s("2026-12-04T10:00:00Z"));
        }
        put.send().await.unwrap();
    }

    // every id, one missing, one twice; answers in the order asked
    let mut ids: Vec<String> = (0..130).rev().map(|k| format!("shp-{k}")).collect();
    ids.insert(3, "shp-none".into());
    ids.push("shp-7".into());
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let loaded = trackings.load_many(&ids).await;
    assert_eq!(loaded.len(), ids.len());
    for (id, result) in ids.iter().zip(&loaded) {
        let found = result.as_ref().expect("read");
        match *id {
            "shp-none" => assert!(found.is_none()),
            id => assert_eq!(found.as_ref().map(|t| t.shipment_id.as_str()), Some(id)),
        }
    }
    let found = directory.shipments(&ids).await;
    for (id, result) in ids.iter().zip(&found) {
        let found = result.as_ref().expect("read");
        match *id {
            "shp-none" => assert!(found.is_none()),
            id => assert_eq!(found.as_ref().map(|s| s.id.as_str()), Some(id)),
        }
    }
    assert_eq!(
        found[0].as_ref().unwrap().as_ref(),
        shipments.last(),
        "the whole shipment"
    );

    let devices = registry
        .registered_devices(&["truck-2", "truck-9", "truck-1"])
        .await;
    let devices: Vec<_> = devices.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        devices
            .iter()
            .map(|d| d.as_ref().map(|d| (d.org_id.as_str(), d.disabled)))
            .collect::<Vec<_>>(),
        [Some(("org-b", true)), None, Some(("org-a", false))]
    );

    for table in &tables {
        let _ = client.delete_table().table_name(table).send().await;
    }
}

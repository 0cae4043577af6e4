//! The dashboard's store against the local stack's DynamoDB, on fresh tables
//! of the template's layouts (created and deleted by each test): the alarm
//! feed of an organisation merged from its shipper and recipient partitions
//! and paged newest first, a clearing moving an alarm between partitions, the
//! reading history paged within a window, the acknowledgement's conditional
//! transaction with its audit record, and the shipment and tracking lookups.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use pharmaguard_aws::dashboard_store::DynamoDashboard;
use pharmaguard_aws::readings_store::DynamoReadingHistory;
use pharmaguard_aws::shipment_store::DynamoShipmentStore;
use pharmaguard_domain::coldchain::dashboard::{
    AlarmFilter, AlarmsQuery, QueryError, ReadingPages, ReadingsQuery, ShipmentLookup,
    TrackingRecords, alarm_audit_record,
};
use pharmaguard_domain::coldchain::detector::Owner;
use pharmaguard_domain::coldchain::tracking::{
    Acknowledgement, ReadingHistory, SaveError, Tracking, TrackingStore,
};
use pharmaguard_domain::coldchain::{
    Alarm, AlarmBook, AlarmState, AlarmType, Severity, ShipmentMonitor, Signal,
};
use pharmaguard_domain::fixtures::{T0, manager, reading, review, shipment};
use pharmaguard_domain::shipment::ports::ShipmentStore;
use pharmaguard_domain::shipment::{Shipment, ShipmentState, audit_record};
use pharmaguard_testkit::tables::{Layout, create_table};
use pharmaguard_testkit::{Stack, unique};
use time::Duration;

struct Tables {
    client: Client,
    names: Vec<String>,
    store: DynamoDashboard,
}

impl Tables {
    async fn new() -> Self {
        let stack = Stack::load();
        let client = Client::new(&stack.sdk_config().await);
        let id = unique();
        let name = |kind: &str| format!("test-dashboard-{kind}-{id}");
        let layouts = [
            ("shipments", Layout::Shipments),
            ("tracking", Layout::Tracking),
            ("alarms", Layout::Alarms),
            ("readings", Layout::Keys),
            ("audit", Layout::Keys),
        ];
        for (kind, layout) in layouts {
            create_table(&client, &name(kind), layout).await;
        }
        let store = DynamoDashboard::new(
            client.clone(),
            name("shipments"),
            name("tracking"),
            name("alarms"),
            name("readings"),
            name("audit"),
        );
        Self {
            names: layouts.iter().map(|(kind, _)| name(kind)).collect(),
            client,
            store,
        }
    }

    async fn drop(self) {
        for name in &self.names {
            let _ = self.client.delete_table().table_name(name).send().await;
        }
    }

    /// Saves the tracking of `shipment` with these alarms, as the detector does.
    async fn save_alarms(&self, shipment: &Shipment, version: u64, alarms: &[Alarm]) -> Tracking {
        let mut tracking = Tracking::new(shipment, T0);
        tracking.version = version + 1;
        tracking.monitor = ShipmentMonitor::new(&shipment.id);
        tracking.monitor.alarms.active = alarms
            .iter()
            .filter(|a| a.state.is_active())
            .cloned()
            .collect();
        self.store
            .tracking
            .save(&tracking, version, alarms)
            .await
            .expect("saved");
        tracking
    }
}

fn between(id: &str, shipper: &str, recipient: &str) -> Shipment {
    let mut shipment = shipment(id, &format!("truck-{id}"), ShipmentState::InTransit);
    shipment.shipper_org_id = shipper.into();
    shipment.recipient_org_id = recipient.into();
    shipment
}

/// An alarm of `shipment_id` raised `minute` minutes after T0.
fn alarm(shipment_id: &str, alarm_type: AlarmType, minute: i64) -> Alarm {
    AlarmBook::new().apply(
        shipment_id,
        Signal::Present {
            alarm_type,
            severity: Severity::Major,
            value: 1.0,
            magnitude: 1.0,
            detail: "test".into(),
            crossing: None,
            at: T0 + Duration::minutes(minute),
        },
    )[0]
    .alarm()
    .clone()
}

fn cleared(mut alarm: Alarm) -> Alarm {
    alarm.state = AlarmState::Cleared;
    alarm.cleared_at = Some(alarm.last_seen + Duration::minutes(1));
    alarm
}

/// Every page of an organisation's feed, `limit` at a time: (shipment, type) per alarm.
async fn feed(
    store: &DynamoDashboard,
    org: &str,
    filter: AlarmFilter,
    limit: u32,
) -> Vec<(String, AlarmType, AlarmState)> {
    let mut listed = Vec::new();
    let mut next = None;
    for _ in 0..20 {
        let page = store
            .org_alarms(
                org,
                &AlarmsQuery {
                    filter,
                    limit,
                    next: next.take(),
                },
            )
            .await
            .expect("a page");
        assert!(page.items.len() <= limit as usize);
        listed.extend(
            page.items
                .into_iter()
                .map(|a| (a.shipment_id, a.alarm_type, a.state)),
        );
        match page.next {
            Some(token) => next = Some(token),
            None => return listed,
        }
    }
    panic!("the feed never ended");
}

#[tokio::test]
async fn the_alarm_feed_merges_both_relations_newest_first_page_by_page() {
    let t = Tables::new().await;
    let shipped = between("shp-1", "org-a", "org-b");
    let received = between("shp-2", "org-b", "org-a");
    let foreign = between("shp-3", "org-c", "org-d");
    let shock = alarm("shp-1", AlarmType::Shock, 1);
    t.save_alarms(
        &shipped,
        0,
        &[
            shock.clone(),
            cleared(alarm("shp-1", AlarmType::TemperatureExcursion, 3)),
        ],
    )
    .await;
    t.save_alarms(
        &received,
        0,
        &[
            alarm("shp-2", AlarmType::DeviceOffline, 2),
            alarm("shp-2", AlarmType::PreExcursion, 5),
        ],
    )
    .await;
    t.save_alarms(&foreign, 0, &[alarm("shp-3", AlarmType::Shock, 4)])
        .await;

    let s = |id: &str| id.to_owned();
    let active = vec![
        (s("shp-2"), AlarmType::PreExcursion, AlarmState::ActiveUnack),
        (
            s("shp-2"),
            AlarmType::DeviceOffline,
            AlarmState::ActiveUnack,
        ),
        (s("shp-1"), AlarmType::Shock, AlarmState::ActiveUnack),
    ];
    for limit in [1, 2, 50] {
        assert_eq!(
            feed(&t.store, "org-a", AlarmFilter::Active, limit).await,
            active,
            "limit {limit}"
        );
    }
    let every = feed(&t.store, "org-a", AlarmFilter::All, 2).await;
    assert_eq!(
        every,
        [
            (s("shp-2"), AlarmType::PreExcursion, AlarmState::ActiveUnack),
            (
                s("shp-1"),
                AlarmType::TemperatureExcursion,
                AlarmState::Cleared
            ),
            (
                s("shp-2"),
                AlarmType::DeviceOffline,
                AlarmState::ActiveUnack
            ),
            (s("shp-1"), AlarmType::Shock, AlarmState::ActiveUnack),
        ]
    );
    assert_eq!(feed(&t.store, "org-b", AlarmFilter::All, 3).await.len(), 4);
    assert_eq!(
        feed(&t.store, "org-d", AlarmFilter::Active, 10).await,
        [(s("shp-3"), AlarmType::Shock, AlarmState::ActiveUnack)]
    );
    assert!(
        feed(&t.store, "org-z", AlarmFilter::All, 10)
            .await
            .is_empty()
    );

    // the shock clears: out of the active feed, once in the whole feed
    t.save_alarms(&shipped, 1, &[cleared(shock)]).await;
    let active = feed(&t.store, "org-a", AlarmFilter::Active, 2).await;
    assert_eq!(active.len(), 2);
    assert!(active.iter().all(|(id, ..)| id == "shp-2"));
    let every = feed(&t.store, "org-a", AlarmFilter::All, 3).await;
    assert_eq!(every.len(), 4);
    assert_eq!(
        every[3],
        (s("shp-1"), AlarmType::Shock, AlarmState::Cleared)
    );

    let garbage = t
        .store
        .org_alarms(
            "org-a",
            &AlarmsQuery {
                filter: AlarmFilter::Active,
                limit: 5,
                next: Some("not-a-token".into()),
            },
        )
        .await;
    assert_eq!(garbage.unwrap_err(), QueryError::InvalidPageToken);
    t.drop().await;
}

#[tokio::test]
async fn readings_page_oldest_first_inside_their_window() {
    let t = Tables::new().await;
    let history = DynamoReadingHistory::new(t.client.clone(), &t.names[3]);
    let owner = Owner::Shipment("shp-1".into());
    let readings: Vec<_> = (0..7).map(|m| reading("truck-1", m, 5.0, 0.2)).collect();
    let entries: Vec<_> = readings.iter().map(|r| (&owner, r)).collect();
    assert!(history.put(&entries).await.iter().all(Result::is_ok));

    let window = |next: Option<String>| ReadingsQuery {
        from: Some(T0 + Duration::minutes(1)),
        to: Some(T0 + Duration::minutes(5)),
        limit: 2,
        next,
    };
    let mut ids = Vec::new();
    let mut next = None;
    for _ in 0..10 {
        let page = t
            .store
            .readings("shp-1", &window(next.take()))
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|p| p.reading_id.clone()));
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    assert_eq!(
        ids,
        (1..=5).map(|m| format!("truck-1-{m}")).collect::<Vec<_>>()
    );
    let all = t
        .store
        .readings(
            "shp-1",
            &ReadingsQuery {
                from: None,
                to: None,
                limit: 2000,
                next: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 7);
    assert_eq!(all.items[6].temperature_c, 5.0);
    assert_eq!(all.next, None);
    assert!(
        t.store
            .readings("shp-2", &window(None))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // a token of another window, or none at all
    let first = t.store.readings("shp-1", &window(None)).await.unwrap();
    let mut later = window(first.next);
    later.from = Some(T0 + Duration::minutes(4));
    assert_eq!(
        t.store.readings("shp-1", &later).await.unwrap_err(),
        QueryError::InvalidPageToken
    );
    assert_eq!(
        t.store
            .readings("shp-1", &window(Some("%%%".into())))
            .await
            .unwrap_err(),
        QueryError::InvalidPageToken
    );
    t.drop().await;
}

#[tokio::test]
async fn an_acknowledgement_is_one_conditional_transaction_with_its_audit_record() {
    let t = Tables::new().await;
    let shipment = between("shp-1", "org-a", "org-b");
    let shock = alarm("shp-1", AlarmType::Shock, 1);
    let saved = t
        .save_alarms(&shipment, 0, std::slice::from_ref(&shock))
        .await;
    let at = T0 + Duration::minutes(9);
    let Acknowledgement::Acknowledged {
        tracking,
        before,
        after,
    } = saved
        .review(&shock.alarm_id, &review(), "usr-anna", at)
        .unwrap()
    else {
        panic!("acknowledged");
    };
    let audit = alarm_audit_record(&manager("org-b"), "shp-1", &before, &after, at);
    t.store
        .acknowledge(&tracking, saved.version, &after, &audit)
        .await
        .expect("saved");

    let stored = t.store.tracking("shp-1").await.unwrap().unwrap();
    assert_eq!(stored.version, saved.version + 1);
    assert_eq!(stored.monitor.alarms.active[0].state, AlarmState::ActiveAck);
    let item = t
        .store
        .alarm("shp-1", &shock.alarm_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item, after);
    let trail = t
        .client
        .query()
        .table_name(&t.names[4])
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("SHIPMENT#shp-1".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(trail.count(), 1);
    let record = &trail.items()[0];
    assert_eq!(
        record["action"],
        AttributeValue::S("alarm.acknowledged".into())
    );
    assert_eq!(
        record["actor_id"],
        AttributeValue::S("manager-of-org-b".into())
    );

    // the same version again (the detector wrote meanwhile): refused, nothing written
    let again = alarm_audit_record(&manager("org-a"), "shp-1", &before, &after, at);
    assert_eq!(
        t.store
            .acknowledge(&tracking, saved.version, &after, &again)
            .await,
        Err(SaveError::VersionConflict)
    );
    let trail = t
        .client
        .query()
        .table_name(&t.names[4])
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("SHIPMENT#shp-1".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(trail.count(), 1, "no second record");
    assert_eq!(t.store.alarm("shp-1", "shp-1#SHOCK#1").await.unwrap(), None);
    t.drop().await;
}

/// The audit records of `shp-1`.
async fn trail_of_shp_1(t: &Tables) -> i32 {
    t.client
        .query()
        .table_name(&t.names[4])
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("SHIPMENT#shp-1".into()))
        .send()
        .await
        .unwrap()
        .count()
}

#[tokio::test]
async fn a_cleared_alarm_is_reviewed_once_and_keeps_its_review_when_the_detector_writes_it_again() {
    let t = Tables::new().await;
    let shipment = between("shp-1", "org-a", "org-b");
    let excursion = cleared(alarm("shp-1", AlarmType::TemperatureExcursion, 1));
    let saved = t
        .save_alarms(&shipment, 0, std::slice::from_ref(&excursion))
        .await;
    assert_eq!(
        feed(&t.store, "org-b", AlarmFilter::Unreviewed, 10)
            .await
            .len(),
        1
    );
    assert!(
        feed(&t.store, "org-b", AlarmFilter::Reviewed, 10)
            .await
            .is_empty()
    );

    let at = T0 + Duration::hours(3);
    let mut reviewed = excursion.clone();
    assert!(reviewed.review(&review(), "usr-qa", at));
    let audit = alarm_audit_record(&manager("org-b"), "shp-1", &excursion, &reviewed, at);
    t.store
        .review_cleared(&shipment, &reviewed, &audit)
        .await
        .expect("saved");
    assert_eq!(
        t.store.alarm("shp-1", &excursion.alarm_id).await.unwrap(),
        Some(reviewed.clone())
    );
    for org in ["org-a", "org-b"] {
        assert!(
            feed(&t.store, org, AlarmFilter::Unreviewed, 10)
                .await
                .is_empty()
        );
        assert_eq!(
            feed(&t.store, org, AlarmFilter::Reviewed, 10).await,
            [(
                "shp-1".to_owned(),
                AlarmType::TemperatureExcursion,
                AlarmState::Cleared
            )]
        );
        assert_eq!(feed(&t.store, org, AlarmFilter::All, 10).await.len(), 1);
    }
    assert_eq!(trail_of_shp_1(&t).await, 1);

    // reviewed again (another tab, a retry): refused, nothing written
    let again = alarm_audit_record(&manager("org-a"), "shp-1", &excursion, &reviewed, at);
    assert_eq!(
        t.store.review_cleared(&shipment, &reviewed, &again).await,
        Err(SaveError::VersionConflict)
    );
    assert_eq!(trail_of_shp_1(&t).await, 1);

    // a replayed batch writes the cleared alarm again, without the review
    t.save_alarms(&shipment, saved.version, std::slice::from_ref(&excursion))
        .await;
    assert_eq!(
        t.store.alarm("shp-1", &excursion.alarm_id).await.unwrap(),
        Some(reviewed),
        "the review survives"
    );
    assert_eq!(
        feed(&t.store, "org-b", AlarmFilter::Reviewed, 10)
            .await
            .len(),
        1
    );
    t.drop().await;
}

#[tokio::test]
async fn shipments_and_trackings_are_looked_up_by_organisation_and_in_batches() {
    let t = Tables::new().await;
    let shipments = DynamoShipmentStore::new(t.client.clone(), &t.names[0], &t.names[4]);
    let mut created = Vec::new();
    for (n, state) in [
        ShipmentState::InTransit,
        ShipmentState::InTransit,
        ShipmentState::Dispatched,
        ShipmentState::Delivered,
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = between(&format!("shp-{n}"), "org-a", "org-b");
        s.state = state;
        s.created_at = T0 + Duration::hours(n as i64);
        let record = audit_record(&manager("org-a"), None, &s, T0);
        shipments.create(&s, &record).await.unwrap();
        created.push(s);
    }
    let in_transit = t
        .store
        .shipments_in("org-b", ShipmentState::InTransit, None)
        .await
        .unwrap();
    assert_eq!(in_transit.len(), 2);
    assert!(
        in_transit
            .iter()
            .all(|s| s.state == ShipmentState::InTransit)
    );
    let recent = t
        .store
        .shipments_in(
            "org-a",
            ShipmentState::Delivered,
            Some(T0 + Duration::hours(3)),
        )
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
    let older = t
        .store
        .shipments_in(
            "org-a",
            ShipmentState::Delivered,
            Some(T0 + Duration::hours(4)),
        )
        .await
        .unwrap();
    assert!(older.is_empty(), "created before the bound");
    assert!(
        t.store
            .shipments_in("org-c", ShipmentState::InTransit, None)
            .await
            .unwrap()
            .is_empty()
    );

    let mut ids: Vec<String> = created.iter().map(|s| s.id.clone()).collect();
    ids.push("shp-none".into());
    let mut found = t.store.shipments(&ids).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, created);
    assert_eq!(
        t.store.shipment("shp-2").await.unwrap().as_ref(),
        Some(&created[2])
    );

    t.save_alarms(&created[0], 0, &[]).await;
    t.save_alarms(&created[2], 0, &[]).await;
    let mut trackings: Vec<String> = t
        .store
        .trackings(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|tracking| tracking.shipment_id)
        .collect();
    trackings.sort();
    assert_eq!(trackings, ["shp-0", "shp-2"]);
    t.drop().await;
}

//! The anomaly detector's state on DynamoDB: the [`TrackingStore`] (one
//! tracking item per shipment, and its alarms).
//!
//! # Tables
//!
//! The tracking table (env `TRACKING_TABLE`) has string keys `pk`/`sk` and
//! the sparse index [`WATCHED_INDEX`] on `watch` (hash) / `last_reading_at`
//! (range), keys only:
//!
//! | `pk` | `sk` | other attributes |
//! |---|---|---|
//! | `SHIP#<id>` | `TRACKING` | `entity` = `TRACKING`, `shipment_id`, `device_id`, `state`, `shipper_org_id`, `recipient_org_id`, `version` (N), `updated_at`, `monitor` (the JSON of the [`ShipmentMonitor`](pharmaguard_domain::coldchain::ShipmentMonitor)), `latest` (a map: the latest reading), `last_reading_at` (fixed-width UTC), `watch` = `WATCHED` only while the shipment is DISPATCHED or IN_TRANSIT |
//!
//! The offline check asks the index for the watched shipments whose last
//! reading is older than the offline delay (one `Query`, however many
//! shipments are on the road). A watched shipment without any reading is
//! indexed at its start (`last_reading_at` = the monitor's `started_at`), so
//! the same query finds the loggers that never sent anything (NO_DATA).
//!
//! The alarms table (env `ALARMS_TABLE`), string keys `pk`/`sk`:
//!
//! | `pk` | `sk` | other attributes |
//! |---|---|---|
//! | `SHIP#<shipment id>` | `ALARM#<alarm id>` | `entity` = `ALARM`, every field of the [`Alarm`] (absent options omitted), `active` (bool), `shipper_org_id`, `recipient_org_id`, `updated_at`, and the feed keys `shipper_feed`, `recipient_feed`, `feed_sk` |
//!
//! # The alarm feed of an organisation
//!
//! Two global secondary indexes (projection ALL) list the alarms of the
//! shipments an organisation ships ([`SHIPPER_FEED_INDEX`]: hash
//! `shipper_feed`, range `feed_sk`) or receives ([`RECIPIENT_FEED_INDEX`]:
//! hash `recipient_feed`, range `feed_sk`):
//!
//! | attribute | value |
//! |---|---|
//! | `shipper_feed`, `recipient_feed` | `ORG#<org id>#ACTIVE` while the alarm is active, `ORG#<org id>#CLEARED` once cleared, `ORG#<org id>#REVIEWED` once cleared and reviewed ([`feed_partition`]) |
//! | `feed_sk` | `<raised_at, fixed-width UTC>#<alarm id>` ([`feed_sort_key`]): unique, sorts by the time the alarm was raised |
//!
//! An organisation's active alarms, newest first, are one `Query` per index
//! on its `ACTIVE` partition (two in all); the cleared ones waiting for a
//! review, its `CLEARED` partitions; the reviewed ones, its `REVIEWED`
//! partitions; every alarm, six queries. Each query reads only the alarms the
//! page can show, however many alarms the organisation has had; the results
//! are merged by `feed_sk` (see `crate::dashboard_store`). A clearing moves
//! the alarm to the other partition (DynamoDB maintains the indexes with the
//! item), `feed_sk` stays.
//!
//! # Writes
//!
//! [`TrackingStore::save`] writes the tracking item on the condition
//! `version = <expected>` (`attribute_not_exists(pk)` for the first write,
//! [`VersionedWrite`]): a save that changes no alarm (most of them) is that
//! one conditional `PutItem`; otherwise it is one `TransactWriteItems` of
//! the tracking item and one put per active alarm (an update per cleared one, see
//! [`cleared_alarm_update`]), so the state and its alarms change
//! together or not at all. A transaction holds at most [`MAX_TRANSACTION_ITEMS`]
//! items; alarms beyond that are written first with `BatchWriteItem` (they
//! are derived from the state deterministically, so a retry rewrites them
//! identically).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use pharmaguard_domain::coldchain::Alarm;
use pharmaguard_domain::coldchain::dashboard::FeedStatus;
use pharmaguard_domain::coldchain::tracking::{PortError, SaveError, Tracking, TrackingStore};
use pharmaguard_domain::shipment::ShipmentState;
use pharmaguard_domain::telemetry::Reading;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;

use crate::dynamo::{
    BatchGet, Item, TRANSACTION_ATTEMPTS, TransactFailure, describe, n, query_all, s, text, time_s,
    transact_write,
};
use crate::readings_store::{WRITE_RETRY, batch_put};
use crate::shipment_store::keys::{shipment_pk, sortable_time};

/// Environment variable naming the tracking table.
pub const TRACKING_TABLE_VAR: &str = "TRACKING_TABLE";
/// Environment variable naming the alarms table.
pub const ALARMS_TABLE_VAR: &str = "ALARMS_TABLE";
/// The sparse index of watched shipments by last reading time.
pub const WATCHED_INDEX: &str = "watched";
/// `watch` of a watched tracking item.
pub const WATCHED: &str = "WATCHED";
/// The sort key of a tracking item.
pub const TRACKING_SK: &str = "TRACKING";
/// `entity` of a tracking item.
pub const TRACKING_ENTITY: &str = "TRACKING";
/// `entity` of an alarm item.
pub const ALARM_ENTITY: &str = "ALARM";
/// Most items in one `TransactWriteItems` (DynamoDB limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// The index of alarms by shipper organisation and state (see the module docs).
pub const SHIPPER_FEED_INDEX: &str = "by-shipper";
/// The index of alarms by recipient organisation and state.
pub const RECIPIENT_FEED_INDEX: &str = "by-recipient";

/// Marks a reviewed cleared alarm item with its shipper's `REVIEWED`
/// partition (see [`cleared_alarm_update`]).
pub const REVIEWED_SHIPPER_FEED: &str = "reviewed_shipper_feed";
/// Marks a reviewed cleared alarm item with its recipient's `REVIEWED`
/// partition.
pub const REVIEWED_RECIPIENT_FEED: &str = "reviewed_recipient_feed";
/// What a review writes on an alarm item, and what the detector leaves
/// alone on a cleared alarm its own copy has no review of.
const REVIEW_ATTRIBUTES: [&str; 3] = ["review", "acknowledged_by", "acknowledged_at"];

/// The feed partition of an organisation's alarms: `ORG#<org id>#ACTIVE`,
/// `ORG#<org id>#CLEARED` (cleared, not reviewed yet) or
/// `ORG#<org id>#REVIEWED` (cleared and reviewed).
pub fn feed_partition(org_id: &str, status: FeedStatus) -> String {
    let name = match status {
        FeedStatus::Active => "ACTIVE",
        FeedStatus::Unreviewed => "CLEARED",
        FeedStatus::Reviewed => "REVIEWED",
    };
    format!("ORG#{org_id}#{name}")
}

/// The feed sort key of an alarm: `<raised_at, fixed-width UTC>#<alarm id>`.
pub fn feed_sort_key(alarm: &Alarm) -> String {
    format!("{}#{}", sortable_time(alarm.raised_at), alarm.alarm_id)
}

/// `sk` of an alarm item: `ALARM#<alarm id>`.
pub fn alarm_sk(alarm_id: &str) -> String {
    format!("ALARM#{alarm_id}")
}

/// The tracking and alarms tables on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoTrackingStore {
    /// The DynamoDB client, built once per cold start.
    pub client: Client,
    /// The tracking table.
    pub tracking_table: String,
    /// The alarms table.
    pub alarms_table: String,
}

/// The tracking item's attributes besides the keys and the monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    shipment_id: String,
    #[serde(default)]
    device_id: Option<String>,
    state: ShipmentState,
    shipper_org_id: String,
    recipient_org_id: String,
    #[serde(default)]
    latest: Option<Reading>,
    version: u64,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> PortError {
    PortError::Corrupt(format!("{what}: {error}"))
}

/// The tracking item of `tracking`.
pub fn tracking_item(tracking: &Tracking) -> Result<Item, PortError> {
    let row = Row {
        shipment_id: tracking.shipment_id.clone(),
        device_id: tracking.device_id.clone(),
        state: tracking.state,
        shipper_org_id: tracking.shipper_org_id.clone(),
        recipient_org_id: tracking.recipient_org_id.clone(),
        latest: tracking.latest.clone(),
        version: tracking.version,
        updated_at: tracking.updated_at,
    };
    let mut item: Item =
        serde_dynamo::to_item(&row).map_err(|e| corrupt("tracking not encodable", e))?;
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    let monitor = serde_json::to_string(&tracking.monitor)
        .map_err(|e| corrupt("monitor not encodable", e))?;
    item.insert("monitor".into(), s(monitor));
    item.insert("pk".into(), s(shipment_pk(&tracking.shipment_id)));
    item.insert("sk".into(), s(TRACKING_SK));
    item.insert("entity".into(), s(TRACKING_ENTITY));
    if let Some(at) = tracking.quiet_since() {
        item.insert("last_reading_at".into(), s(sortable_time(at)));
        if tracking.is_watched() {
            item.insert("watch".into(), s(WATCHED));
        }
    }
    Ok(item)
}

/// The tracking a tracking item holds.
pub fn tracking_from_item(mut item: Item) -> Result<Tracking, PortError> {
    let monitor = match item.remove("monitor") {
        Some(AttributeValue::S(json)) => {
            serde_json::from_str(&json).map_err(|e| corrupt("tracking monitor", e))?
        }
        _ => return Err(corrupt("tracking item", "no monitor")),
    };
    for key in ["pk", "sk", "entity", "watch", "last_reading_at"] {
        item.remove(key);
    }
    let row: Row = serde_dynamo::from_item(item).map_err(|e| corrupt("tracking item", e))?;
    Ok(Tracking {
        shipment_id: row.shipment_id,
        device_id: row.device_id,
        state: row.state,
        shipper_org_id: row.shipper_org_id,
        recipient_org_id: row.recipient_org_id,
        monitor,
        latest: row.latest,
        version: row.version,
        updated_at: row.updated_at,
    })
}

/// The alarm item of `alarm` for the shipment `tracking` describes.
pub fn alarm_item(alarm: &Alarm, tracking: &Tracking) -> Result<Item, PortError> {
    alarm_item_of(
        alarm,
        &tracking.shipper_org_id,
        &tracking.recipient_org_id,
        tracking.updated_at,
    )
}

/// The alarm item of `alarm` of a shipment from `shipper_org_id` to
/// `recipient_org_id`, written at `updated_at`.
pub fn alarm_item_of(
    alarm: &Alarm,
    shipper_org_id: &str,
    recipient_org_id: &str,
    updated_at: OffsetDateTime,
) -> Result<Item, PortError> {
    let mut item: Item =
        serde_dynamo::to_item(alarm).map_err(|e| corrupt("alarm not encodable", e))?;
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    item.insert("pk".into(), s(shipment_pk(&alarm.shipment_id)));
    item.insert("sk".into(), s(alarm_sk(&alarm.alarm_id)));
    item.insert("entity".into(), s(ALARM_ENTITY));
    item.insert(
        "active".into(),
        AttributeValue::Bool(alarm.state.is_active()),
    );
    item.insert("shipper_org_id".into(), s(shipper_org_id));
    item.insert("recipient_org_id".into(), s(recipient_org_id));
    item.insert("updated_at".into(), time_s(updated_at));
    let status = FeedStatus::of(alarm);
    let shipper_feed = feed_partition(shipper_org_id, status);
    let recipient_feed = feed_partition(recipient_org_id, status);
    if status == FeedStatus::Reviewed {
        item.insert(REVIEWED_SHIPPER_FEED.into(), s(&shipper_feed));
        item.insert(REVIEWED_RECIPIENT_FEED.into(), s(&recipient_feed));
    }
    item.insert("shipper_feed".into(), s(shipper_feed));
    item.insert("recipient_feed".into(), s(recipient_feed));
    item.insert("feed_sk".into(), s(feed_sort_key(alarm)));
    Ok(item)
}

/// The detector's write of a cleared alarm: an update, not a put, so that a
/// review given to the stored alarm after it cleared survives a replay or a
/// rebuild that writes the alarm again. Every attribute of the detector's
/// copy is set, except, when that copy has no review, the review's own
/// ([`REVIEW_ATTRIBUTES`]) and the feed partitions, which stay `REVIEWED`
/// if the item was reviewed (`if_not_exists` on the marker a review sets).
pub fn cleared_alarm_update(
    alarms_table: &str,
    alarm: &Alarm,
    tracking: &Tracking,
) -> Result<Update, PortError> {
    let mut item = alarm_item(alarm, tracking)?;
    let mut key = Item::new();
    for name in ["pk", "sk"] {
        if let Some(value) = item.remove(name) {
            key.insert(name.to_owned(), value);
        }
    }
    let reviewed = alarm.is_reviewed();
    let mut item: Vec<(String, AttributeValue)> = item.into_iter().collect();
    item.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sets = Vec::new();
    let mut names = std::collections::HashMap::new();
    let mut values = std::collections::HashMap::new();
    for (i, (name, value)) in item.into_iter().enumerate() {
        if !reviewed && REVIEW_ATTRIBUTES.contains(&name.as_str()) {
            continue;
        }
        let (path, placeholder) = (format!("#a{i}"), format!(":v{i}"));
        let marker = match name.as_str() {
            "shipper_feed" if !reviewed => Some(REVIEWED_SHIPPER_FEED),
            "recipient_feed" if !reviewed => Some(REVIEWED_RECIPIENT_FEED),
            _ => None,
        };
        match marker {
            Some(marker) => {
                let marker_path = format!("#m{i}");
                sets.push(format!(
                    "{path} = if_not_exists({marker_path}, {placeholder})"
                ));
                names.insert(marker_path, marker.to_owned());
            }
            None => sets.push(format!("{path} = {placeholder}")),
        }
        names.insert(path, name);
        values.insert(placeholder, value);
    }
    Update::builder()
        .table_name(alarms_table)
        .set_key(Some(key))
        .update_expression(format!("SET {}", sets.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| corrupt("cleared alarm update", e))
}

/// The alarm an alarm item holds.
pub fn alarm_from_item(item: &Item) -> Result<Alarm, PortError> {
    let mut fields = item.clone();
    for key in [
        "pk",
        "sk",
        "entity",
        "active",
        "shipper_org_id",
        "recipient_org_id",
        "updated_at",
        "shipper_feed",
        "recipient_feed",
        "feed_sk",
        REVIEWED_SHIPPER_FEED,
        REVIEWED_RECIPIENT_FEED,
    ] {
        fields.remove(key);
    }
    serde_dynamo::from_item(fields).map_err(|e| corrupt("alarm item", e))
}

/// The tracking item and the condition it is written on: no item stored
/// yet (`expected_version` 0), else the stored one at `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedWrite {
    /// The tracking item.
    pub item: Item,
    /// The condition expression.
    pub condition: &'static str,
    /// The condition's values.
    pub values: Option<Item>,
}

impl VersionedWrite {
    /// The write of `tracking` over the version `expected_version`.
    pub fn of(tracking: &Tracking, expected_version: u64) -> Result<Self, PortError> {
        let item = tracking_item(tracking)?;
        Ok(if expected_version == 0 {
            Self {
                item,
                condition: "attribute_not_exists(pk)",
                values: None,
            }
        } else {
            Self {
                item,
                condition: "version = :expected",
                values: Some(Item::from([(":expected".to_owned(), n(expected_version))])),
            }
        })
    }
}

/// The transaction that saves `tracking` at `expected_version` with `alarms`
/// (at most [`MAX_TRANSACTION_ITEMS`] − 1 of them).
pub fn save_transaction(
    tracking_table: &str,
    alarms_table: &str,
    tracking: &Tracking,
    expected_version: u64,
    alarms: &[Alarm],
) -> Result<Vec<TransactWriteItem>, PortError> {
    let write = VersionedWrite::of(tracking, expected_version)?;
    let put = Put::builder()
        .table_name(tracking_table)
        .set_item(Some(write.item))
        .condition_expression(write.condition)
        .set_expression_attribute_values(write.values);
    let mut items = vec![
        TransactWriteItem::builder()
            .put(put.build().map_err(|e| corrupt("tracking put", e))?)
            .build(),
    ];
    for alarm in alarms {
        if !alarm.state.is_active() {
            let update = cleared_alarm_update(alarms_table, alarm, tracking)?;
            items.push(TransactWriteItem::builder().update(update).build());
            continue;
        }
        let put = Put::builder()
            .table_name(alarms_table)
            .set_item(Some(alarm_item(alarm, tracking)?))
            .build()
            .map_err(|e| corrupt("alarm put", e))?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    Ok(items)
}

impl DynamoTrackingStore {
    /// A store on `tracking_table` and `alarms_table` through `client`.
    pub fn new(
        client: Client,
        tracking_table: impl Into<String>,
        alarms_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            tracking_table: tracking_table.into(),
            alarms_table: alarms_table.into(),
        }
    }

    /// Every alarm of a shipment, active or cleared, oldest first.
    pub async fn alarms_of(&self, shipment_id: &str) -> Result<Vec<Alarm>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.alarms_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :alarm)")
            .expression_attribute_values(":pk", s(shipment_pk(shipment_id)))
            .expression_attribute_values(":alarm", s("ALARM#"))
            .consistent_read(true);
        let items = query_all(query)
            .await
            .map_err(|error| PortError::Unavailable(describe(&error)))?;
        let mut alarms = items
            .iter()
            .map(alarm_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        alarms.sort_by(|a, b| (a.raised_at, &a.alarm_id).cmp(&(b.raised_at, &b.alarm_id)));
        Ok(alarms)
    }
}

impl DynamoTrackingStore {
    /// A save without alarms: one conditional `PutItem` (half the write
    /// units of a transaction, and one request), tried again after a pause
    /// while a transaction in flight on the item (an acknowledgement)
    /// refuses it, as [`transact_write`] does.
    async fn put_tracking(
        &self,
        tracking: &Tracking,
        expected_version: u64,
    ) -> Result<(), SaveError> {
        let write = VersionedWrite::of(tracking, expected_version)
            .map_err(|e| SaveError::Unavailable(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .put_item()
                .table_name(&self.tracking_table)
                .set_item(Some(write.item.clone()))
                .condition_expression(write.condition)
                .set_expression_attribute_values(write.values.clone())
                .send()
                .await;
            let Err(error) = result else {
                return Ok(());
            };
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_conditional_check_failed_exception()) {
                return Err(SaveError::VersionConflict);
            }
            if attempt < TRANSACTION_ATTEMPTS
                && service.is_some_and(|e| e.is_transaction_conflict_exception())
            {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                continue;
            }
            let message = describe(&error);
            warn!(shipment_id = %tracking.shipment_id, error = %message, "tracking write failed");
            return Err(SaveError::Unavailable(message));
        }
    }
}

/// The key of a shipment's tracking item.
pub fn tracking_key(shipment_id: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(shipment_pk(shipment_id))),
        ("sk".to_owned(), s(TRACKING_SK)),
    ])
}

impl TrackingStore for DynamoTrackingStore {
    async fn load(&self, shipment_id: &str) -> Result<Option<Tracking>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tracking_table)
            .set_key(Some(tracking_key(shipment_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| PortError::Unavailable(describe(&error)))?;
        output.item.map(tracking_from_item).transpose()
    }

    /// `BatchGetItem`, strongly consistent, 100 keys a request.
    async fn load_many(&self, shipment_ids: &[&str]) -> Vec<Result<Option<Tracking>, PortError>> {
        let read = BatchGet {
            table: &self.tracking_table,
            projection: None,
            consistent: true,
        };
        read.by_id(
            &self.client,
            shipment_ids,
            tracking_key,
            |item| text(item, "shipment_id").ok(),
            |_, item| tracking_from_item(item),
            PortError::Unavailable,
        )
        .await
    }

    async fn save(
        &self,
        tracking: &Tracking,
        expected_version: u64,
        alarms: &[Alarm],
    ) -> Result<(), SaveError> {
        if alarms.is_empty() {
            return self.put_tracking(tracking, expected_version).await;
        }
        let room = MAX_TRANSACTION_ITEMS - 1;
        let (early, inside) = alarms.split_at(alarms.len().saturating_sub(room));
        let (early_cleared, early): (Vec<&Alarm>, Vec<&Alarm>) =
            early.iter().partition(|alarm| !alarm.state.is_active());
        for alarm in early_cleared {
            let update = cleared_alarm_update(&self.alarms_table, alarm, tracking)
                .map_err(|e| SaveError::Unavailable(e.to_string()))?;
            self.client
                .update_item()
                .table_name(&self.alarms_table)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await
                .map_err(|error| SaveError::Unavailable(describe(&error)))?;
        }
        if !early.is_empty() {
            let items = early
                .iter()
                .map(|alarm| alarm_item(alarm, tracking))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SaveError::Unavailable(e.to_string()))?;
            let written = batch_put(&self.client, &self.alarms_table, items, &WRITE_RETRY).await;
            if let Some(Err(error)) = written.into_iter().find(Result::is_err) {
                return Err(SaveError::Unavailable(error.to_string()));
            }
        }
        let items = save_transaction(
            &self.tracking_table,
            &self.alarms_table,
            tracking,
            expected_version,
            inside,
        )
        .map_err(|e| SaveError::Unavailable(e.to_string()))?;
        let try_again = |failure| {
            matches!(
                failure,
                TransactFailure::Conflict | TransactFailure::Throttled
            )
        };
        match transact_write(&self.client, items, try_again).await {
            Ok(()) => Ok(()),
            Err(failed) if failed.failure == TransactFailure::FirstConditionFailed => {
                Err(SaveError::VersionConflict)
            }
            Err(failed) => {
                let message = describe(&failed.error);
                warn!(shipment_id = %tracking.shipment_id, error = %message, "tracking transaction failed");
                Err(SaveError::Unavailable(message))
            }
        }
    }

    async fn silent_since(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.tracking_table)
            .index_name(WATCHED_INDEX)
            .key_condition_expression("watch = :watched AND last_reading_at <= :cutoff")
            .expression_attribute_values(":watched", s(WATCHED))
            .expression_attribute_values(":cutoff", s(sortable_time(cutoff)));
        let items = query_all(query)
            .await
            .map_err(|error| PortError::Unavailable(describe(&error)))?;
        items
            .iter()
            .map(|item| match item.get("pk") {
                Some(AttributeValue::S(pk)) => match pk.strip_prefix("SHIP#") {
                    Some(id) => Ok(id.to_owned()),
                    None => Err(corrupt("watched index", format!("pk {pk}"))),
                },
                _ => Err(corrupt("watched index", "no pk")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::coldchain::{AlarmState, AlarmType, MonitorSettings, Severity};
    use pharmaguard_domain::fixtures::{self, T0, reading};
    use pharmaguard_domain::shipment::{Shipment, TemperatureProfile};

    fn shipment() -> Shipment {
        fixtures::shipment("shp-1", "truck-1", ShipmentState::Dispatched)
    }

    /// A tracking that has seen two readings, the second a crash.
    fn tracked() -> (Tracking, Vec<Alarm>) {
        let shipment = shipment();
        let fresh = Tracking::new(&shipment, T0);
        let mut monitor = fresh.monitor.clone();
        let settings = MonitorSettings::default();
        let profile = TemperatureProfile::Refrigerated;
        monitor.observe(&reading("truck-1", 0, 5.5, 0.2), &profile, &settings);
        let crash = monitor.observe(&reading("truck-1", 1, 5.5, 6.5), &profile, &settings);
        let alarms = crash
            .transitions
            .iter()
            .map(|t| t.alarm().clone())
            .collect();
        let tracking = fresh.next(
            &shipment,
            monitor,
            Some(reading("truck-1", 1, 5.5, 6.5)),
            T0,
        );
        (tracking, alarms)
    }

    #[test]
    fn a_tracking_item_round_trips_and_is_watched_while_on_the_way() {
        let (tracking, _) = tracked();
        let item = tracking_item(&tracking).unwrap();
        assert_eq!(item["pk"], s("SHIP#shp-1"));
        assert_eq!(item["sk"], s("TRACKING"));
        assert_eq!(item["watch"], s("WATCHED"));
        assert_eq!(item["last_reading_at"], s("2026-11-21T08:01:00.000000000Z"));
        assert_eq!(item["version"], AttributeValue::N("1".into()));
        assert_eq!(item["state"], s("DISPATCHED"));
        assert!(matches!(item["latest"], AttributeValue::M(_)));
        assert_eq!(tracking_from_item(item).unwrap(), tracking);

        let mut delivered = tracking.clone();
        delivered.state = ShipmentState::Delivered;
        let item = tracking_item(&delivered).unwrap();
        assert!(!item.contains_key("watch"), "left the index");
        assert!(item.contains_key("last_reading_at"));

        let fresh = Tracking::new(&shipment(), T0);
        let item = tracking_item(&fresh).unwrap();
        assert!(!item.contains_key("latest"));
        let started = fresh.monitor.started_at.expect("dispatched");
        assert_eq!(
            (&item["watch"], &item["last_reading_at"]),
            (&s("WATCHED"), &s(sortable_time(started))),
            "no reading yet: silent since its start (NO_DATA)"
        );
        assert_eq!(tracking_from_item(item).unwrap(), fresh);
        let mut pending = fresh.clone();
        pending.state = ShipmentState::Pending;
        pending.monitor.started_at = None;
        let item = tracking_item(&pending).unwrap();
        assert!(!item.contains_key("watch") && !item.contains_key("last_reading_at"));
    }

    #[test]
    fn an_alarm_item_round_trips() {
        let (tracking, alarms) = tracked();
        let shock = &alarms[0];
        assert_eq!(shock.alarm_type, AlarmType::Shock);
        assert_eq!(shock.severity, Severity::Critical);
        let item = alarm_item(shock, &tracking).unwrap();
        assert_eq!(item["pk"], s("SHIP#shp-1"));
        assert_eq!(item["sk"], s(format!("ALARM#{}", shock.alarm_id)));
        assert_eq!(item["active"], AttributeValue::Bool(true));
        assert_eq!(item["state"], s("ACTIVE_UNACK"));
        assert_eq!(item["shipper_org_id"], s("org-ship"));
        assert_eq!(item["shipper_feed"], s("ORG#org-ship#ACTIVE"));
        assert_eq!(item["recipient_feed"], s("ORG#org-recv#ACTIVE"));
        assert_eq!(
            item["feed_sk"],
            s(format!("2026-11-21T08:01:00.000000000Z#{}", shock.alarm_id))
        );
        assert!(!item.contains_key("cleared_at"));
        assert_eq!(&alarm_from_item(&item).unwrap(), shock);

        let mut cleared = shock.clone();
        cleared.state = AlarmState::Cleared;
        cleared.cleared_at = Some(T0);
        let item = alarm_item(&cleared, &tracking).unwrap();
        assert_eq!(item["active"], AttributeValue::Bool(false));
        assert_eq!(item["shipper_feed"], s("ORG#org-ship#CLEARED"));
        assert_eq!(item["recipient_feed"], s("ORG#org-recv#CLEARED"));
        assert_eq!(alarm_from_item(&item).unwrap(), cleared);
    }

    #[test]
    fn the_save_is_conditional_on_the_version() {
        let (tracking, alarms) = tracked();
        let items = save_transaction("tracking", "alarms", &tracking, 0, &alarms).unwrap();
        assert_eq!(items.len(), 1 + alarms.len());
        let first = items[0].put().unwrap();
        assert_eq!(first.table_name(), "tracking");
        assert_eq!(
            first.condition_expression(),
            Some("attribute_not_exists(pk)")
        );
        let alarm = items[1].put().unwrap();
        assert_eq!(alarm.table_name(), "alarms");
        assert_eq!(alarm.condition_expression(), None);

        let items = save_transaction("tracking", "alarms", &tracking, 7, &[]).unwrap();
        let put = items[0].put().unwrap();
        assert_eq!(put.condition_expression(), Some("version = :expected"));
        assert_eq!(
            put.expression_attribute_values().unwrap()[":expected"],
            AttributeValue::N("7".into())
        );
    }
}

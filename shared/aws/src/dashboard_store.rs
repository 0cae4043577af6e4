//! What the dashboard's REST API reads and writes on DynamoDB:
//! [`DynamoDashboard`], the [`ShipmentLookup`], [`TrackingRecords`] and
//! [`ReadingPages`] of `tracking-api`, over the tables the orders function
//! and the anomaly detector write (layouts in [`crate::shipment_store`],
//! [`crate::tracking_store`], [`crate::readings_store`] and [`crate::audit`]).
//!
//! # Reads
//!
//! - a shipment: `GetItem` of the shipment item; several: `BatchGetItem`
//!   (100 keys a request, unprocessed keys sent again with backoff);
//! - an organisation's shipments in a state: one `Query` of the shipments
//!   table's `gsi1` (`ORG#<org>#STATE#<state>`), every page, optionally only
//!   those created since a time (a range condition on `gsi1sk`);
//! - trackings: `GetItem` (strongly consistent) or `BatchGetItem`;
//! - a shipment's alarms: one `Query` of its partition of the alarms table;
//! - an organisation's alarm feed: one `Query` per feed partition (see
//!   [`crate::tracking_store`]: the `ACTIVE` partitions of both feed indexes,
//!   and their `CLEARED` partitions for every alarm), each `feed_sk < cursor`,
//!   newest first, at most a page each; merged by `feed_sk`. The `next` token
//!   is the `feed_sk` of the page's last alarm (base64url): the following page
//!   is everything older, whichever partition it is in. The token is only a
//!   bound within the caller's own partitions, so it can never reveal another
//!   organisation's alarms;
//! - a shipment's readings: one `Query` of its history partition,
//!   `sk BETWEEN <from> AND <to>`, oldest first; the `next` token is the last
//!   reading's `sk` (base64url), accepted only inside the window asked for.
//!
//! # The review
//!
//! Of an active alarm (its acknowledgement): one `TransactWriteItems`: the
//! tracking item on `version = <expected>` (the detector's own condition, so
//! of the detector and an acknowledgement writing from the same version
//! exactly one wins), the alarm item, and the audit record
//! (`attribute_not_exists(pk)`).
//!
//! Of a cleared alarm (no longer in the tracking's book): one
//! `TransactWriteItems`: the alarm item put on `state = CLEARED AND
//! attribute_not_exists(review)` (moving it to the `REVIEWED` feed
//! partitions), and the audit record. The detector's later writes of that
//! cleared alarm keep the review (see
//! [`crate::tracking_store::cleared_alarm_update`]).

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pharmaguard_domain::audit::AuditRecord;
use pharmaguard_domain::coldchain::Alarm;
use pharmaguard_domain::coldchain::dashboard::{
    AlarmPage, AlarmsQuery, QueryError, ReadingPage, ReadingPages, ReadingsQuery, ShipmentLookup,
    TrackingRecords,
};
use pharmaguard_domain::coldchain::detector::Owner;
use pharmaguard_domain::coldchain::tracking::{SaveError, Tracking, TrackingStore};
use pharmaguard_domain::coldchain::{AlarmState, Position};
use pharmaguard_domain::shipment::ports::{ShipmentStore, StoreError};
use pharmaguard_domain::shipment::{Shipment, ShipmentState};
use time::OffsetDateTime;
use tracing::warn;

use crate::audit::audit_put;
use crate::dynamo::{BatchGet, Item, TransactFailure, describe, query_all, s, transact_write};
use crate::readings_store::{keys as reading_keys, reading_from_item};
use crate::shipment_store::keys::{gsi1sk, org_state_pk, shipment_key, shipment_pk, sortable_time};
use crate::shipment_store::{DynamoShipmentStore, GSI1, shipment_from_item, shipment_of_org_entry};
use crate::tracking_store::{
    DynamoTrackingStore, RECIPIENT_FEED_INDEX, SHIPPER_FEED_INDEX, alarm_from_item, alarm_item_of,
    alarm_sk, feed_partition, save_transaction, tracking_from_item, tracking_key,
};

/// Sorts after every character a reading id may hold (`[A-Za-z0-9_.:-]`).
const AFTER_ANY_ID: &str = "~";

/// The dashboard's view of the shipments, tracking, alarms, readings and
/// audit tables.
#[derive(Debug, Clone)]
pub struct DynamoDashboard {
    /// The shipments (and their audit table, unused here).
    pub shipments: DynamoShipmentStore,
    /// The trackings and the alarms.
    pub tracking: DynamoTrackingStore,
    /// The readings table.
    pub readings_table: String,
    /// The audit table.
    pub audit_table: String,
}

impl DynamoDashboard {
    /// The dashboard's store on these tables through `client`.
    pub fn new(
        client: Client,
        shipments_table: impl Into<String>,
        tracking_table: impl Into<String>,
        alarms_table: impl Into<String>,
        readings_table: impl Into<String>,
        audit_table: impl Into<String>,
    ) -> Self {
        let audit_table = audit_table.into();
        Self {
            shipments: DynamoShipmentStore::new(
                client.clone(),
                shipments_table,
                audit_table.clone(),
            ),
            tracking: DynamoTrackingStore::new(client, tracking_table, alarms_table),
            readings_table: readings_table.into(),
            audit_table,
        }
    }

    fn client(&self) -> &Client {
        &self.tracking.client
    }

    /// Every item of `table` with the keys `key` makes of `ids` that exists
    /// (eventually consistent; an id named twice is read once).
    async fn batch_get(
        &self,
        table: &str,
        ids: &[String],
        key: impl Fn(&str) -> Item,
    ) -> Result<Vec<Item>, QueryError> {
        let unique: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let read = BatchGet {
            table,
            projection: None,
            consistent: false,
        };
        read.items(self.client(), unique.into_iter().map(key).collect())
            .await
            .map_err(QueryError::Unavailable)
    }

    /// One feed partition's alarms older than `before`, newest first, at most
    /// `limit`; and whether the partition has more.
    async fn feed_query(
        &self,
        index: &str,
        partition: String,
        before: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<(String, Alarm)>, bool), QueryError> {
        let hash = if index == SHIPPER_FEED_INDEX {
            "shipper_feed"
        } else {
            "recipient_feed"
        };
        let mut request = self
            .client()
            .query()
            .table_name(&self.tracking.alarms_table)
            .index_name(index)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .expression_attribute_values(":p", s(partition));
        request = match before {
            Some(cursor) => request
                .key_condition_expression(format!("{hash} = :p AND feed_sk < :before"))
                .expression_attribute_values(":before", s(cursor)),
            None => request.key_condition_expression(format!("{hash} = :p")),
        };
        let output = request
            .send()
            .await
            .map_err(|error| QueryError::Unavailable(describe(&error)))?;
        let items = output
            .items()
            .iter()
            .map(|item| {
                let key = match item.get("feed_sk") {
                    Some(AttributeValue::S(key)) => key.clone(),
                    _ => return Err(QueryError::Corrupt("alarm without feed_sk".into())),
                };
                Ok((key, alarm_from_item(item)?))
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        Ok((items, output.last_evaluated_key().is_some()))
    }
}

fn store_error(error: StoreError) -> QueryError {
    match error {
        StoreError::Unavailable(message) => QueryError::Unavailable(message),
        StoreError::InvalidPageToken => QueryError::InvalidPageToken,
        other => QueryError::Corrupt(other.to_string()),
    }
}

impl ShipmentLookup for DynamoDashboard {
    async fn shipment(&self, id: &str) -> Result<Option<Shipment>, QueryError> {
        self.shipments.get(id).await.map_err(store_error)
    }

    async fn shipments(&self, ids: &[String]) -> Result<Vec<Shipment>, QueryError> {
        self.batch_get(&self.shipments.table, ids, shipment_key)
            .await?
            .into_iter()
            .map(|item| shipment_from_item(item).map_err(store_error))
            .collect()
    }

    async fn shipments_in(
        &self,
        org_id: &str,
        state: ShipmentState,
        created_since: Option<OffsetDateTime>,
    ) -> Result<Vec<Shipment>, QueryError> {
        let mut query = self
            .client()
            .query()
            .table_name(&self.shipments.table)
            .index_name(GSI1)
            .scan_index_forward(false)
            .expression_attribute_values(":pk", s(org_state_pk(org_id, state)));
        query = match created_since {
            Some(since) => query
                .key_condition_expression("gsi1pk = :pk AND gsi1sk >= :since")
                .expression_attribute_values(":since", s(gsi1sk(since, ""))),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        let items = query_all(query)
            .await
            .map_err(|error| QueryError::Unavailable(describe(&error)))?;
        items
            .iter()
            .map(|item| shipment_of_org_entry(item).map_err(store_error))
            .collect()
    }
}

/// The `next` token of a feed position or a reading key.
fn encode_token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The key a `next` token holds, if it is one of ours at all.
fn decode_token(token: &str) -> Result<String, QueryError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| key.contains('#') && !key.starts_with('#'))
        .ok_or(QueryError::InvalidPageToken)
}

/// Merges the newest-first results of the feed partitions into one page of
/// at most `limit` alarms (see the module docs): a partition that has more
/// than it returned bounds the page at its oldest returned alarm, so nothing
/// of it is skipped. The page and whether anything follows it.
pub fn merge_feed(
    partitions: Vec<(Vec<(String, Alarm)>, bool)>,
    limit: usize,
) -> (Vec<(String, Alarm)>, bool) {
    let horizon: Option<String> = partitions
        .iter()
        .filter(|(_, more)| *more)
        .filter_map(|(items, _)| items.last().map(|(key, _)| key.clone()))
        .max();
    let any_more = partitions.iter().any(|(_, more)| *more);
    let mut merged: Vec<(String, Alarm)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, alarm) in partitions.into_iter().flat_map(|(items, _)| items) {
        match seen.get(&alarm.alarm_id) {
            // read in two partitions while it was being cleared: keep the cleared one
            Some(&at) => {
                if alarm.state == AlarmState::Cleared {
                    merged[at] = (key, alarm);
                }
            }
            None => {
                seen.insert(alarm.alarm_id.clone(), merged.len());
                merged.push((key, alarm));
            }
        }
    }
    merged.sort_by(|a, b| b.0.cmp(&a.0));
    if let Some(horizon) = &horizon {
        merged.retain(|(key, _)| key >= horizon);
    }
    let more = any_more || merged.len() > limit;
    merged.truncate(limit);
    (merged, more)
}

impl TrackingRecords for DynamoDashboard {
    async fn tracking(&self, shipment_id: &str) -> Result<Option<Tracking>, QueryError> {
        Ok(self.tracking.load(shipment_id).await?)
    }

    async fn trackings(&self, shipment_ids: &[String]) -> Result<Vec<Tracking>, QueryError> {
        self.batch_get(&self.tracking.tracking_table, shipment_ids, tracking_key)
            .await?
            .into_iter()
            .map(|item| tracking_from_item(item).map_err(QueryError::from))
            .collect()
    }

    async fn alarms_of(&self, shipment_id: &str) -> Result<Vec<Alarm>, QueryError> {
        Ok(self.tracking.alarms_of(shipment_id).await?)
    }

    async fn alarm(&self, shipment_id: &str, alarm_id: &str) -> Result<Option<Alarm>, QueryError> {
        let output = self
            .client()
            .get_item()
            .table_name(&self.tracking.alarms_table)
            .key("pk", s(shipment_pk(shipment_id)))
            .key("sk", s(alarm_sk(alarm_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| QueryError::Unavailable(describe(&error)))?;
        Ok(output.item.as_ref().map(alarm_from_item).transpose()?)
    }

    async fn org_alarms(&self, org_id: &str, query: &AlarmsQuery) -> Result<AlarmPage, QueryError> {
        let before = query.next.as_deref().map(decode_token).transpose()?;
        let mut partitions = Vec::new();
        for index in [SHIPPER_FEED_INDEX, RECIPIENT_FEED_INDEX] {
            for status in query.filter.statuses() {
                partitions.push((index, feed_partition(org_id, *status)));
            }
        }
        let results =
            futures_util::future::join_all(partitions.into_iter().map(|(index, partition)| {
                self.feed_query(index, partition, before.as_deref(), query.limit)
            }))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let (page, more) = merge_feed(results, limit);
        let next = match page.last() {
            Some((key, _)) if more => Some(encode_token(key)),
            _ => None,
        };
        Ok(AlarmPage {
            items: page.into_iter().map(|(_, alarm)| alarm).collect(),
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
        let mut items = save_transaction(
            &self.tracking.tracking_table,
            &self.tracking.alarms_table,
            tracking,
            expected_version,
            std::slice::from_ref(alarm),
        )
        .map_err(|e| SaveError::Unavailable(e.to_string()))?;
        items.push(audit_put(&self.audit_table, audit));
        self.conditional_save(items, &alarm.alarm_id).await
    }

    async fn review_cleared(
        &self,
        shipment: &Shipment,
        alarm: &Alarm,
        audit: &AuditRecord,
    ) -> Result<(), SaveError> {
        let at = alarm.review.as_ref().map_or(audit.at, |review| review.at);
        let item = alarm_item_of(
            alarm,
            &shipment.shipper_org_id,
            &shipment.recipient_org_id,
            at,
        )
        .map_err(|e| SaveError::Unavailable(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.tracking.alarms_table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_exists(pk) AND #state = :cleared AND attribute_not_exists(review)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":cleared", s("CLEARED"))
            .build()
            .map_err(|e| SaveError::Unavailable(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            audit_put(&self.audit_table, audit),
        ];
        self.conditional_save(items, &alarm.alarm_id).await
    }
}

impl DynamoDashboard {
    /// Writes a review's transaction, whose first item carries the
    /// condition: [`SaveError::VersionConflict`] when that condition fails.
    async fn conditional_save(
        &self,
        items: Vec<TransactWriteItem>,
        alarm_id: &str,
    ) -> Result<(), SaveError> {
        let try_again = |failure| {
            matches!(
                failure,
                TransactFailure::Conflict | TransactFailure::Throttled
            )
        };
        match transact_write(self.client(), items, try_again).await {
            Ok(()) => Ok(()),
            Err(failed) if failed.failure == TransactFailure::FirstConditionFailed => {
                Err(SaveError::VersionConflict)
            }
            Err(failed) => {
                let message = describe(&failed.error);
                warn!(%alarm_id, error = %message, "review transaction failed");
                Err(SaveError::Unavailable(message))
            }
        }
    }
}

/// The `sk` bounds of a readings window: from the first reading at or after
/// `from` to the last at or before `to`.
fn window(query: &ReadingsQuery) -> (String, String) {
    let lower = query
        .from
        .map(sortable_time)
        .unwrap_or_else(|| "0".to_owned());
    let upper = query
        .to
        .map(|to| format!("{}#{AFTER_ANY_ID}", sortable_time(to)))
        .unwrap_or_else(|| AFTER_ANY_ID.to_owned());
    (lower, upper)
}

impl ReadingPages for DynamoDashboard {
    async fn readings(
        &self,
        shipment_id: &str,
        query: &ReadingsQuery,
    ) -> Result<ReadingPage, QueryError> {
        let pk = reading_keys::owner_pk(&Owner::Shipment(shipment_id.to_owned()));
        let (lower, upper) = window(query);
        let start = match query.next.as_deref() {
            Some(token) => {
                let sk = decode_token(token)?;
                if sk < lower || sk > upper {
                    return Err(QueryError::InvalidPageToken);
                }
                Some(HashMap::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s(sk)),
                ]))
            }
            None => None,
        };
        let output = self
            .client()
            .query()
            .table_name(&self.readings_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":from", s(lower))
            .expression_attribute_values(":to", s(upper))
            .scan_index_forward(true)
            .limit(i32::try_from(query.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|error| QueryError::Unavailable(describe(&error)))?;
        let items = output
            .items()
            .iter()
            .map(|item| reading_from_item(item).map(|reading| Position::from(&reading)))
            .collect::<Result<Vec<_>, _>>()?;
        let next = match output.last_evaluated_key().and_then(|key| key.get("sk")) {
            Some(AttributeValue::S(sk)) => Some(encode_token(sk)),
            _ => None,
        };
        Ok(ReadingPage { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::coldchain::{AlarmBook, AlarmType, Severity, Signal};
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 08:00 UTC);

    fn alarm(shipment: &str, minute: i64, cleared: bool) -> (String, Alarm) {
        let mut book = AlarmBook::new();
        let at = T0 + Duration::minutes(minute);
        let mut alarm = book.apply(
            shipment,
            Signal::Present {
                alarm_type: AlarmType::Shock,
                severity: Severity::Critical,
                value: 6.0,
                magnitude: 6.0,
                detail: "crash".into(),
                crossing: None,
                at,
            },
        )[0]
        .alarm()
        .clone();
        if cleared {
            alarm.state = AlarmState::Cleared;
            alarm.cleared_at = Some(at + Duration::minutes(10));
        }
        (crate::tracking_store::feed_sort_key(&alarm), alarm)
    }

    fn minutes(page: &[(String, Alarm)]) -> Vec<i64> {
        page.iter()
            .map(|(_, a)| (a.raised_at - T0).whole_minutes())
            .collect()
    }

    #[test]
    fn feed_partitions_merge_newest_first() {
        let shipper = vec![alarm("shp-a", 9, false), alarm("shp-a", 5, false)];
        let recipient = vec![alarm("shp-b", 7, false), alarm("shp-b", 1, false)];
        let (page, more) = merge_feed(
            vec![(shipper.clone(), false), (recipient.clone(), false)],
            10,
        );
        assert_eq!(minutes(&page), [9, 7, 5, 1]);
        assert!(!more);
        let (page, more) = merge_feed(vec![(shipper, false), (recipient, false)], 3);
        assert_eq!(minutes(&page), [9, 7, 5]);
        assert!(more, "one left over");
    }

    #[test]
    fn a_partition_with_more_bounds_the_page() {
        // the shipper partition returned its 2 newest of more; the recipient
        // partition is complete: its alarm at minute 1 must wait for the next
        // page, after the shipper's older ones
        let shipper = vec![alarm("shp-a", 9, false), alarm("shp-a", 5, false)];
        let recipient = vec![alarm("shp-b", 7, false), alarm("shp-b", 1, false)];
        let (page, more) = merge_feed(vec![(shipper, true), (recipient, false)], 2);
        assert_eq!(minutes(&page), [9, 7]);
        assert!(more);
        let shipper = vec![alarm("shp-a", 9, false), alarm("shp-a", 5, false)];
        let recipient = vec![alarm("shp-b", 7, false), alarm("shp-b", 1, false)];
        let (page, more) = merge_feed(vec![(shipper, true), (recipient, false)], 10);
        assert_eq!(minutes(&page), [9, 7, 5]);
        assert!(more);
    }

    #[test]
    fn an_alarm_seen_twice_while_clearing_is_listed_once_cleared() {
        let (key, active) = alarm("shp-a", 3, false);
        let (_, cleared) = alarm("shp-a", 3, true);
        let (page, _) = merge_feed(
            vec![
                (vec![(key.clone(), active)], false),
                (vec![(key, cleared)], false),
            ],
            10,
        );
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].1.state, AlarmState::Cleared);
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let key = "2026-11-21T08:00:00.000000000Z#shp-1#SHOCK#1795248000000";
        assert_eq!(decode_token(&encode_token(key)), Ok(key.to_owned()));
        for garbage in ["", "!!!", &encode_token("no-hash"), &encode_token("#x")] {
            assert_eq!(decode_token(garbage), Err(QueryError::InvalidPageToken));
        }
    }

    #[test]
    fn the_readings_window_covers_the_readings_at_its_ends() {
        let query = ReadingsQuery {
            from: Some(T0),
            to: Some(T0 + Duration::minutes(5)),
            limit: 10,
            next: None,
        };
        let (lower, upper) = window(&query);
        let at = |minute: i64, id: &str| {
            format!("{}#{id}", sortable_time(T0 + Duration::minutes(minute)))
        };
        for inside in [at(0, "truck-1-0"), at(5, "zzz"), at(5, "truck-1-5")] {
            assert!(lower <= inside && inside <= upper, "{inside}");
        }
        assert!(at(6, "a") > upper);
        let all = window(&ReadingsQuery {
            from: None,
            to: None,
            limit: 10,
            next: None,
        });
        assert!(all.0 <= at(-100_000, "a") && at(100_000, "z") <= all.1);
    }
}

//! Shipments on DynamoDB: the [`ShipmentStore`] of the platform.
//!
//! # Tables
//!
//! The shipments table (env `SHIPMENTS_TABLE`) has string keys `pk` (hash) and
//! `sk` (range), a global secondary index [`GSI1`] on `gsi1pk`/`gsi1sk`
//! (projection ALL), an index [`BY_DEVICE_INDEX`] on `device_id`, and a
//! stream with new and old images. It holds two kinds of items:
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | other attributes |
//! |---|---|---|---|---|
//! | the shipment | `SHIP#<id>` | `SHIP` | — | `entity` = `SHIPMENT`, every field of [`Shipment`] at top level (maps for `cargo_value`, `profile`, `origin`, `destination`; absent options omitted), `device_id` only when set — the only item carrying `device_id`, so [`BY_DEVICE_INDEX`] finds a device's shipments |
//! | an organisation's listing entry, one for the shipper and one for the recipient | `ORG#<org>` | `SHIP#<created>#<id>` | `ORG#<org>#STATE#<state>` / `<created>#<id>` | `entity` = `SHIPMENT_ORG_ENTRY`, `shipment_id`, `relation` (`SHIPPER`/`RECIPIENT`), `state`, `version`, `shipment` (a map: a copy of the shipment) |
//! | a device's claim | `DEVICE#<device>` | `CLAIM` | — | `entity` = `DEVICE_CLAIM`, `shipment_id` (the last shipment to take it), `held` (whether that shipment still holds it) |
//!
//! `<created>` is the creation time as fixed-width UTC
//! (`2026-11-21T08:00:00.000000000Z`), so keys sort by time. A listing is one
//! `Query`, newest first: without a state filter on the table
//! (`pk = ORG#<org>`, `sk` beginning with `SHIP#`), with one on [`GSI1`]
//! (`gsi1pk = ORG#<org>#STATE#<state>`). An organisation's partition holds only
//! the shipments it ships or receives, so nobody can list another's.
//!
//! The audit table (env `AUDIT_TABLE`) holds the audit trail in the layout of
//! [`crate::audit`]: a shipment's records under `pk` = `SHIPMENT#<id>`.
//!
//! # Writes
//!
//! Every create and transition is one `TransactWriteItems`: the shipment
//! (create: `attribute_not_exists(pk)`; update: `version = <expected>`), both
//! listing entries (rewritten whole, so their state and copy follow) and the
//! audit record (`attribute_not_exists(pk)`). Of concurrent updates from the
//! same version exactly one commits; the others get
//! [`StoreError::VersionConflict`] with the version now stored.
//!
//! A transition that takes or gives back the device's claim
//! ([`claim_change`]) adds the claim item to the same transaction, last:
//! taking is conditioned on nobody else holding it
//! (`attribute_not_exists(pk) OR held = :no OR shipment_id = :me`), giving back
//! on being its holder (or on there being no claim). A refused take is
//! [`StoreError::DeviceClaimed`], naming the holder.
//!
//! # Pagination
//!
//! The `next` token is the query's `LastEvaluatedKey` as base64url JSON. A
//! token is accepted only for the listing it came from: its keys must lie in
//! the caller's organisation partition (and the same state filter), so a
//! forged or borrowed token can never read another organisation's listing.
//! A page may be followed by an empty last page.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pharmaguard_domain::audit::{AuditRecord, EntityType, entity_key};
use pharmaguard_domain::shipment::binding::{ClaimChange, claim_change};
use pharmaguard_domain::shipment::ports::{ListQuery, ShipmentPage, ShipmentStore, StoreError};
use pharmaguard_domain::shipment::{Relation, Shipment, ShipmentState};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;

use crate::audit::{audit_from_item, audit_put};
use crate::dynamo::{FailedTransaction, TransactFailure, describe, s, transact_write};

/// Environment variable naming the shipments table.
pub const SHIPMENTS_TABLE_VAR: &str = "SHIPMENTS_TABLE";
pub use crate::audit::AUDIT_TABLE_VAR;
/// The index listing an organisation's shipments by state.
pub const GSI1: &str = "gsi1";
/// The index of shipments by device (`device_id`, only on shipment items).
pub const BY_DEVICE_INDEX: &str = "by-device";
/// `entity` of a shipment item.
pub const SHIPMENT_ENTITY: &str = "SHIPMENT";
/// `entity` of an organisation's listing entry.
pub const ORG_ENTRY_ENTITY: &str = "SHIPMENT_ORG_ENTRY";
/// `entity` of a device's claim.
pub const DEVICE_CLAIM_ENTITY: &str = "DEVICE_CLAIM";
/// The sort key of a device's claim.
pub const DEVICE_CLAIM_SK: &str = "CLAIM";
/// The sort key of a shipment item.
pub const SHIPMENT_SK: &str = "SHIP";
/// Most audit records read for one shipment.
pub const MAX_AUDIT_RECORDS: usize = 1000;

const SHIPMENT_PREFIX: &str = "SHIP#";
const ORG_PREFIX: &str = "ORG#";

/// Key formats of the shipments table.
pub mod keys {
    use super::*;

    /// `pk` of a shipment item: `SHIP#<id>`.
    pub fn shipment_pk(id: &str) -> String {
        format!("{SHIPMENT_PREFIX}{id}")
    }

    /// The key of a shipment item.
    pub fn shipment_key(id: &str) -> crate::dynamo::Item {
        crate::dynamo::Item::from([
            ("pk".to_owned(), s(shipment_pk(id))),
            ("sk".to_owned(), s(SHIPMENT_SK)),
        ])
    }

    /// `pk` of a device's claim: `DEVICE#<device>`.
    pub fn device_claim_pk(device_id: &str) -> String {
        format!("DEVICE#{device_id}")
    }

    /// `pk` of an organisation's listing: `ORG#<org>`.
    pub fn org_pk(org_id: &str) -> String {
        format!("{ORG_PREFIX}{org_id}")
    }

    /// `sk` of a listing entry: `SHIP#<created>#<id>`.
    pub fn org_entry_sk(created_at: OffsetDateTime, id: &str) -> String {
        format!("{SHIPMENT_PREFIX}{}", gsi1sk(created_at, id))
    }

    /// `gsi1pk` of a listing entry: `ORG#<org>#STATE#<state>`.
    pub fn org_state_pk(org_id: &str, state: ShipmentState) -> String {
        format!("{ORG_PREFIX}{org_id}#STATE#{}", state.as_str())
    }

    /// `gsi1sk` of a listing entry: `<created>#<id>`.
    pub fn gsi1sk(created_at: OffsetDateTime, id: &str) -> String {
        format!("{}#{id}", sortable_time(created_at))
    }

    /// Fixed-width UTC time, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: sorts as it reads.
    pub fn sortable_time(at: OffsetDateTime) -> String {
        let at = at.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.nanosecond()
        )
    }
}

/// The shipments and audit tables on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoShipmentStore {
    /// The DynamoDB client, built once per cold start.
    pub client: Client,
    /// The shipments table.
    pub table: String,
    /// The audit table.
    pub audit_table: String,
}

impl DynamoShipmentStore {
    /// A store on `table` and `audit_table` through `client`.
    pub fn new(client: Client, table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            audit_table: audit_table.into(),
        }
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        first_is_creation: bool,
        shipment_id: &str,
    ) -> Result<(), StoreError> {
        let try_again = |failure| failure == TransactFailure::Conflict;
        let Err(failed) = transact_write(&self.client, items, try_again).await else {
            return Ok(());
        };
        self.failure(failed, first_is_creation, shipment_id).await
    }

    /// The shipment that holds `device_id`'s claim, if it can be read.
    async fn claim_holder(&self, device_id: &str) -> Option<String> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::device_claim_pk(device_id)))
            .key("sk", s(DEVICE_CLAIM_SK))
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item?;
        match item.get("shipment_id") {
            Some(AttributeValue::S(id)) => Some(id.clone()),
            _ => None,
        }
    }

    async fn failure(
        &self,
        failed: FailedTransaction,
        first_is_creation: bool,
        shipment_id: &str,
    ) -> Result<(), StoreError> {
        match failed.failure {
            TransactFailure::FirstConditionFailed if first_is_creation => {
                Err(StoreError::AlreadyExists)
            }
            TransactFailure::FirstConditionFailed => {
                let current_version = self
                    .get(shipment_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|s| s.version);
                Err(StoreError::VersionConflict { current_version })
            }
            _ => {
                let message = describe(&failed.error);
                warn!(shipment_id, error = %message, "shipment transaction failed");
                Err(StoreError::Unavailable(message))
            }
        }
    }

    async fn query_page(
        &self,
        query: &ListQuery,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<ShipmentPage, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .limit(i32::try_from(query.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .expression_attribute_values(":pk", s(pk_of(query)));
        let request = match query.state {
            Some(_) => request
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk"),
            None => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(SHIPMENT_PREFIX)),
        };
        let output = request
            .send()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        let items = output
            .items()
            .iter()
            .map(shipment_of_org_entry)
            .collect::<Result<Vec<_>, _>>()?;
        let next = output.last_evaluated_key().map(encode_token).transpose()?;
        Ok(ShipmentPage { items, next })
    }
}

impl ShipmentStore for DynamoShipmentStore {
    async fn get(&self, id: &str) -> Result<Option<Shipment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::shipment_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        output.item.map(shipment_from_item).transpose()
    }

    async fn create(&self, shipment: &Shipment, audit: &AuditRecord) -> Result<(), StoreError> {
        let items = create_transaction(&self.table, &self.audit_table, shipment, audit)?;
        self.transact(items, true, &shipment.id).await
    }

    async fn update(
        &self,
        shipment: &Shipment,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let items = update_transaction(
            &self.table,
            &self.audit_table,
            shipment,
            expected_version,
            audit,
        )?;
        let claim = claim_change(shipment);
        let claim_index = items.len() - 1;
        let try_again = |failure| failure == TransactFailure::Conflict;
        let Err(failed) = transact_write(&self.client, items, try_again).await else {
            return Ok(());
        };
        match claim {
            Some((device_id, ClaimChange::Take)) if failed.condition_failed_at(claim_index) => {
                Err(StoreError::DeviceClaimed {
                    device_id: device_id.to_owned(),
                    shipment_id: self.claim_holder(device_id).await,
                })
            }
            _ => self.failure(failed, false, &shipment.id).await,
        }
    }

    async fn list(&self, query: &ListQuery) -> Result<ShipmentPage, StoreError> {
        let start = query
            .next
            .as_deref()
            .map(|token| decode_token(token, query))
            .transpose()?;
        self.query_page(query, start).await
    }

    async fn audit_trail(&self, shipment_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.audit_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    s(entity_key(EntityType::Shipment, shipment_id)),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| StoreError::Unavailable(describe(&error)))?;
            for item in output.items() {
                records.push(audit_from_item(item).map_err(|e| corrupt("audit item", e))?);
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() || records.len() >= MAX_AUDIT_RECORDS {
                break;
            }
        }
        sort_trail(&mut records);
        Ok(records)
    }
}

/// Orders a trail by time, then by the version it produced (records of the
/// same microsecond would otherwise follow their random record ids).
fn sort_trail(records: &mut [AuditRecord]) {
    let version = |record: &AuditRecord| {
        record
            .after
            .as_ref()
            .and_then(|after| after.get("version"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    records.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| version(a).cmp(&version(b))));
}

fn pk_of(query: &ListQuery) -> String {
    match query.state {
        Some(state) => keys::org_state_pk(&query.org_id, state),
        None => keys::org_pk(&query.org_id),
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

/// The shipment item: keys, `entity` and every field of the shipment.
pub fn shipment_item(shipment: &Shipment) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(shipment).map_err(|e| corrupt("shipment not encodable", e))?;
    // absent options are omitted: `device_id` is an index key and may not be NULL
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    item.insert("pk".into(), s(keys::shipment_pk(&shipment.id)));
    item.insert("sk".into(), s(SHIPMENT_SK));
    item.insert("entity".into(), s(SHIPMENT_ENTITY));
    Ok(item)
}

/// The listing entry of the organisation that is `relation` to the shipment.
pub fn org_entry_item(
    shipment: &Shipment,
    relation: Relation,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let org_id = match relation {
        Relation::Shipper => &shipment.shipper_org_id,
        Relation::Recipient => &shipment.recipient_org_id,
    };
    let copy: AttributeValue = serde_dynamo::to_attribute_value(shipment)
        .map_err(|e| corrupt("shipment not encodable", e))?;
    Ok(HashMap::from([
        ("pk".to_owned(), s(keys::org_pk(org_id))),
        (
            "sk".to_owned(),
            s(keys::org_entry_sk(shipment.created_at, &shipment.id)),
        ),
        (
            "gsi1pk".to_owned(),
            s(keys::org_state_pk(org_id, shipment.state)),
        ),
        (
            "gsi1sk".to_owned(),
            s(keys::gsi1sk(shipment.created_at, &shipment.id)),
        ),
        ("entity".to_owned(), s(ORG_ENTRY_ENTITY)),
        ("shipment_id".to_owned(), s(&shipment.id)),
        ("relation".to_owned(), s(relation.as_str())),
        ("state".to_owned(), s(shipment.state.as_str())),
        (
            "version".to_owned(),
            AttributeValue::N(shipment.version.to_string()),
        ),
        ("shipment".to_owned(), copy),
    ]))
}

/// The shipment of a shipment item.
pub fn shipment_from_item(item: HashMap<String, AttributeValue>) -> Result<Shipment, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt("shipment item", e))
}

/// The shipment copy an organisation's listing entry holds.
pub fn shipment_of_org_entry(
    item: &HashMap<String, AttributeValue>,
) -> Result<Shipment, StoreError> {
    let copy = item
        .get("shipment")
        .cloned()
        .ok_or_else(|| corrupt("listing entry", "no shipment"))?;
    serde_dynamo::from_attribute_value(copy).map_err(|e| corrupt("listing entry", e))
}

/// The shipment of an image from the table's stream: `Ok(None)` for an
/// empty image or an item that is not a shipment (listing entries).
pub fn shipment_from_stream_image(
    image: &serde_dynamo::Item,
) -> Result<Option<Shipment>, serde_dynamo::Error> {
    if !is_shipment_key(image) {
        return Ok(None);
    }
    serde_dynamo::from_item(image.clone()).map(Some)
}

/// Whether the keys (or image) are those of a shipment item: `pk` =
/// `SHIP#…`, `sk` = `SHIP`.
pub fn is_shipment_key(keys: &serde_dynamo::Item) -> bool {
    let text = |name: &str| match keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    text("pk").is_some_and(|pk| pk.starts_with(SHIPMENT_PREFIX)) && text("sk") == Some(SHIPMENT_SK)
}

fn put(
    table: &str,
    item: HashMap<String, AttributeValue>,
    condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut builder = Put::builder().table_name(table).set_item(Some(item));
    if let Some((expression, values)) = condition {
        builder = builder.condition_expression(expression);
        for (name, value) in values {
            builder = builder.expression_attribute_values(name, value);
        }
    }
    let put = builder
        .build()
        .map_err(|e| corrupt("transaction not buildable", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The items of a creation: the shipment (new), both listing entries (new)
/// and the audit record (new).
pub fn create_transaction(
    table: &str,
    audit_table: &str,
    shipment: &Shipment,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let new = || Some(("attribute_not_exists(pk)", Vec::new()));
    Ok(vec![
        put(table, shipment_item(shipment)?, new())?,
        put(table, org_entry_item(shipment, Relation::Shipper)?, new())?,
        put(table, org_entry_item(shipment, Relation::Recipient)?, new())?,
        audit_put(audit_table, audit),
    ])
}

/// The items of a change: the shipment (only if still at
/// `expected_version`), both listing entries (rewritten), the audit record
/// (new) and, last, the device's claim when the change takes or gives it
/// back ([`claim_change`]).
pub fn update_transaction(
    table: &str,
    audit_table: &str,
    shipment: &Shipment,
    expected_version: u64,
    audit: &AuditRecord,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let version_holds = Some((
        "version = :expected",
        vec![(":expected", AttributeValue::N(expected_version.to_string()))],
    ));
    let mut items = vec![
        put(table, shipment_item(shipment)?, version_holds)?,
        put(table, org_entry_item(shipment, Relation::Shipper)?, None)?,
        put(table, org_entry_item(shipment, Relation::Recipient)?, None)?,
        audit_put(audit_table, audit),
    ];
    if let Some((device_id, change)) = claim_change(shipment) {
        items.push(claim_put(table, device_id, &shipment.id, change)?);
    }
    Ok(items)
}

/// The put of `device_id`'s claim that makes `change` for `shipment_id`.
fn claim_put(
    table: &str,
    device_id: &str,
    shipment_id: &str,
    change: ClaimChange,
) -> Result<TransactWriteItem, StoreError> {
    let held = change == ClaimChange::Take;
    let item = HashMap::from([
        ("pk".to_owned(), s(keys::device_claim_pk(device_id))),
        ("sk".to_owned(), s(DEVICE_CLAIM_SK)),
        ("entity".to_owned(), s(DEVICE_CLAIM_ENTITY)),
        ("shipment_id".to_owned(), s(shipment_id)),
        ("held".to_owned(), AttributeValue::Bool(held)),
    ]);
    let me = (":me", s(shipment_id));
    let condition = match change {
        ClaimChange::Take => (
            "attribute_not_exists(pk) OR held = :no OR shipment_id = :me",
            vec![me, (":no", AttributeValue::Bool(false))],
        ),
        ClaimChange::Release => ("attribute_not_exists(pk) OR shipment_id = :me", vec![me]),
    };
    put(table, item, Some(condition))
}

/// The content of a pagination token: the `LastEvaluatedKey` of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageToken {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

/// The `next` token of a `LastEvaluatedKey`.
pub fn encode_token(key: &HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let text = |name: &str| match key.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    };
    let token = PageToken {
        pk: text("pk").ok_or_else(|| corrupt("last evaluated key", "no pk"))?,
        sk: text("sk").ok_or_else(|| corrupt("last evaluated key", "no sk"))?,
        gsi1pk: text("gsi1pk"),
        gsi1sk: text("gsi1sk"),
    };
    let json = serde_json::to_vec(&token).map_err(|e| corrupt("page token", e))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The `ExclusiveStartKey` of a `next` token, if the token belongs to this
/// listing (the caller's organisation and the same state filter).
pub fn decode_token(
    token: &str,
    query: &ListQuery,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let token: PageToken =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidPageToken)?;
    let own_partition = token.pk == keys::org_pk(&query.org_id)
        && token.sk.starts_with(SHIPMENT_PREFIX)
        && token.sk.len() > SHIPMENT_PREFIX.len();
    let same_filter = match (query.state, &token.gsi1pk, &token.gsi1sk) {
        (Some(state), Some(gsi1pk), Some(gsi1sk)) => {
            *gsi1pk == keys::org_state_pk(&query.org_id, state)
                && token.sk == format!("{SHIPMENT_PREFIX}{gsi1sk}")
        }
        (None, None, None) => true,
        _ => false,
    };
    if !(own_partition && same_filter) {
        return Err(StoreError::InvalidPageToken);
    }
    let mut key = HashMap::from([
        ("pk".to_owned(), s(token.pk)),
        ("sk".to_owned(), s(token.sk)),
    ]);
    if let (Some(gsi1pk), Some(gsi1sk)) = (token.gsi1pk, token.gsi1sk) {
        key.insert("gsi1pk".to_owned(), s(gsi1pk));
        key.insert("gsi1sk".to_owned(), s(gsi1sk));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::identity::{Principal, Role};
    use pharmaguard_domain::shipment::{
        Location, Money, ShipmentDraft, TemperatureProfile, Transition, audit_record,
    };
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 08:00:00.5 UTC);

    fn manager() -> Principal {
        Principal::User {
            user_id: "u-1".into(),
            org_id: "org-ship".into(),
            role: Role::Manager,
        }
    }

    fn shipment(device: Option<&str>, profile: TemperatureProfile) -> Shipment {
        let draft = ShipmentDraft {
            product: "Insulin".into(),
            quantity: 12,
            cargo_value: Money {
                amount: "4800.50".into(),
                currency: "EUR".into(),
            },
            profile,
            shipper_org_id: "org-ship".into(),
            recipient_org_id: "org-recv".into(),
            origin: Location {
                name: "Rotterdam".into(),
                lat: 51.9244,
                lon: 4.4777,
            },
            destination: Location {
                name: "Berlin".into(),
                lat: 52.0,
                lon: -13.3766,
            },
            device_id: device.map(str::to_owned),
            truck_id: None,
            expected_silences: Vec::new(),
        };
        Shipment::create("shp-1", draft, &manager(), T0)
    }

    fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Some(value),
            _ => None,
        }
    }

    #[test]
    fn sortable_times_are_fixed_width_and_sort_in_time_order() {
        let a = keys::sortable_time(datetime!(2026-11-21 08:00:00 UTC));
        let b = keys::sortable_time(datetime!(2026-11-21 08:00:00.1 UTC));
        let c = keys::sortable_time(datetime!(2026-11-21 08:00:00.12 UTC));
        let d = keys::sortable_time(datetime!(2026-11-21 10:00:00 +02:00));
        assert_eq!(a, "2026-11-21T08:00:00.000000000Z");
        assert!(a < b && b < c);
        assert_eq!(d, a, "normalised to UTC");
    }

    #[test]
    fn the_shipment_item_has_its_keys_and_every_field() {
        let shipment = shipment(Some("truck-7"), TemperatureProfile::Refrigerated);
        let item = shipment_item(&shipment).unwrap();
        assert_eq!(text(&item, "pk"), Some("SHIP#shp-1"));
        assert_eq!(text(&item, "sk"), Some("SHIP"));
        assert_eq!(text(&item, "entity"), Some("SHIPMENT"));
        assert_eq!(text(&item, "device_id"), Some("truck-7"));
        assert_eq!(text(&item, "state"), Some("PENDING"));
        assert_eq!(item.get("version"), Some(&AttributeValue::N("1".into())));
        assert!(!item.contains_key("truck_id"), "absent options are omitted");
        assert!(!item.contains_key("dispatched_at"));
        assert!(!item.contains_key("gsi1pk"));
        assert_eq!(shipment_from_item(item).unwrap(), shipment);
    }

    #[test]
    fn without_a_device_the_item_has_no_device_id() {
        let item = shipment_item(&shipment(None, TemperatureProfile::Frozen)).unwrap();
        assert!(!item.contains_key("device_id"));
        assert!(item.values().all(|v| !matches!(v, AttributeValue::Null(_))));
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        let custom = TemperatureProfile::custom(-20.0, -10.5, 10, 30).unwrap();
        let mut shipment = shipment(Some("truck-7"), custom)
            .transition(Transition::Cancel, 1, T0, Some("withdrawn".into()))
            .unwrap();
        shipment.truck_id = Some("NL-1".into());
        let back = shipment_from_item(shipment_item(&shipment).unwrap()).unwrap();
        assert_eq!(back, shipment);
        let entry = org_entry_item(&shipment, Relation::Recipient).unwrap();
        assert_eq!(shipment_of_org_entry(&entry).unwrap(), shipment);
    }

    #[test]
    fn listing_entries_live_in_each_organisations_partition() {
        let shipment = shipment(Some("truck-7"), TemperatureProfile::Refrigerated);
        let shipper = org_entry_item(&shipment, Relation::Shipper).unwrap();
        let recipient = org_entry_item(&shipment, Relation::Recipient).unwrap();
        assert_eq!(text(&shipper, "pk"), Some("ORG#org-ship"));
        assert_eq!(text(&recipient, "pk"), Some("ORG#org-recv"));
        assert_eq!(
            text(&shipper, "sk"),
            Some("SHIP#2026-11-21T08:00:00.500000000Z#shp-1")
        );
        assert_eq!(text(&shipper, "gsi1pk"), Some("ORG#org-ship#STATE#PENDING"));
        assert_eq!(
            text(&recipient, "gsi1sk"),
            Some("2026-11-21T08:00:00.500000000Z#shp-1")
        );
        assert_eq!(text(&recipient, "relation"), Some("RECIPIENT"));
        assert_eq!(text(&shipper, "entity"), Some("SHIPMENT_ORG_ENTRY"));
        assert!(
            !shipper.contains_key("device_id"),
            "only the shipment item is in the by-device index"
        );
    }

    #[test]
    fn trails_sort_by_time_then_version() {
        let s1 = shipment(None, TemperatureProfile::Refrigerated);
        let s2 = s1.transition(Transition::Dispatch, 1, T0, None).unwrap();
        let s3 = s2.transition(Transition::Start, 2, T0, None).unwrap();
        let mut trail = vec![
            audit_record(&manager(), Some(&s2), &s3, T0),
            audit_record(&manager(), None, &s1, T0),
            audit_record(&manager(), Some(&s1), &s2, T0),
        ];
        sort_trail(&mut trail);
        let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "shipment.created",
                "shipment.dispatched",
                "shipment.in_transit"
            ]
        );
    }

    #[test]
    fn transactions_condition_the_shipment_and_the_audit_record() {
        let shipment = shipment(None, TemperatureProfile::Refrigerated);
        let record = audit_record(&manager(), None, &shipment, T0);
        let items = create_transaction("ships", "audit", &shipment, &record).unwrap();
        let puts: Vec<&Put> = items.iter().filter_map(|i| i.put()).collect();
        assert_eq!(puts.len(), 4);
        assert_eq!(
            puts.iter().map(|p| p.table_name()).collect::<Vec<_>>(),
            ["ships", "ships", "ships", "audit"]
        );
        assert!(
            puts.iter()
                .all(|p| p.condition_expression() == Some("attribute_not_exists(pk)"))
        );

        let next = shipment
            .transition(Transition::Dispatch, 1, T0, None)
            .unwrap();
        let record = audit_record(&manager(), Some(&shipment), &next, T0);
        let items = update_transaction("ships", "audit", &next, 1, &record).unwrap();
        let puts: Vec<&Put> = items.iter().filter_map(|i| i.put()).collect();
        assert_eq!(puts[0].condition_expression(), Some("version = :expected"));
        assert_eq!(
            puts[0]
                .expression_attribute_values()
                .and_then(|v| v.get(":expected")),
            Some(&AttributeValue::N("1".into()))
        );
        assert_eq!(puts[1].condition_expression(), None);
        assert_eq!(puts[2].condition_expression(), None);
        assert_eq!(
            puts[3].condition_expression(),
            Some("attribute_not_exists(pk)")
        );
        assert_eq!(
            text(puts[1].item(), "gsi1pk"),
            Some("ORG#org-ship#STATE#DISPATCHED")
        );
    }

    #[test]
    fn dispatch_and_the_end_of_a_trip_write_the_device_claim_last() {
        let pending = shipment(Some("truck-7"), TemperatureProfile::Refrigerated);
        let dispatched = pending
            .transition(Transition::Dispatch, 1, T0, None)
            .unwrap();
        let record = audit_record(&manager(), Some(&pending), &dispatched, T0);
        let items = update_transaction("ships", "audit", &dispatched, 1, &record).unwrap();
        assert_eq!(items.len(), 5);
        let take = items[4].put().unwrap();
        assert_eq!(take.table_name(), "ships");
        assert_eq!(text(take.item(), "pk"), Some("DEVICE#truck-7"));
        assert_eq!(
            text(take.item(), "shipment_id"),
            Some(dispatched.id.as_str())
        );
        assert_eq!(take.item().get("held"), Some(&AttributeValue::Bool(true)));
        assert!(
            take.item().get("device_id").is_none(),
            "not in the by-device index"
        );
        assert_eq!(
            take.condition_expression(),
            Some("attribute_not_exists(pk) OR held = :no OR shipment_id = :me")
        );

        let cancelled = dispatched
            .transition(Transition::Cancel, 2, T0, Some("damaged".into()))
            .unwrap();
        let record = audit_record(&manager(), Some(&dispatched), &cancelled, T0);
        let items = update_transaction("ships", "audit", &cancelled, 2, &record).unwrap();
        let release = items[4].put().unwrap();
        assert_eq!(
            release.item().get("held"),
            Some(&AttributeValue::Bool(false))
        );
        assert_eq!(
            release.condition_expression(),
            Some("attribute_not_exists(pk) OR shipment_id = :me")
        );

        let never_dispatched = pending
            .transition(Transition::Cancel, 1, T0, Some("not needed".into()))
            .unwrap();
        let record = audit_record(&manager(), Some(&pending), &never_dispatched, T0);
        let items = update_transaction("ships", "audit", &never_dispatched, 1, &record).unwrap();
        assert_eq!(
            items.len(),
            4,
            "a claim it never took is not its to give back"
        );
    }

    fn query(org: &str, state: Option<ShipmentState>) -> ListQuery {
        ListQuery {
            org_id: org.into(),
            state,
            limit: 10,
            next: None,
        }
    }

    #[test]
    fn tokens_round_trip_for_their_own_listing() {
        let key = HashMap::from([
            ("pk".to_owned(), s("ORG#org-a")),
            (
                "sk".to_owned(),
                s("SHIP#2026-11-21T08:00:00.000000000Z#shp-1"),
            ),
        ]);
        let token = encode_token(&key).unwrap();
        assert_eq!(decode_token(&token, &query("org-a", None)).unwrap(), key);

        let mut indexed = key.clone();
        indexed.insert("gsi1pk".into(), s("ORG#org-a#STATE#PENDING"));
        indexed.insert("gsi1sk".into(), s("2026-11-21T08:00:00.000000000Z#shp-1"));
        let token = encode_token(&indexed).unwrap();
        assert_eq!(
            decode_token(&token, &query("org-a", Some(ShipmentState::Pending))).unwrap(),
            indexed
        );
    }

    #[test]
    fn a_token_never_opens_another_listing() {
        let key = HashMap::from([
            ("pk".to_owned(), s("ORG#org-a")),
            (
                "sk".to_owned(),
                s("SHIP#2026-11-21T08:00:00.000000000Z#shp-1"),
            ),
        ]);
        let token = encode_token(&key).unwrap();
        for other in [
            query("org-b", None),
            query("org-a", Some(ShipmentState::Pending)),
        ] {
            assert_eq!(
                decode_token(&token, &other),
                Err(StoreError::InvalidPageToken)
            );
        }
        let mut indexed = key.clone();
        indexed.insert("gsi1pk".into(), s("ORG#org-a#STATE#PENDING"));
        indexed.insert("gsi1sk".into(), s("2026-11-21T08:00:00.000000000Z#shp-1"));
        let token = encode_token(&indexed).unwrap();
        for other in [
            query("org-a", None),
            query("org-a", Some(ShipmentState::Delivered)),
            query("org-b", Some(ShipmentState::Pending)),
        ] {
            assert_eq!(
                decode_token(&token, &other),
                Err(StoreError::InvalidPageToken)
            );
        }
        // forged tokens pointing at another partition or kind of item
        for forged in [
            r#"{"pk":"ORG#org-b","sk":"SHIP#x"}"#,
            r#"{"pk":"SHIP#shp-1","sk":"SHIP"}"#,
            r#"{"pk":"ORG#org-a","sk":"USER#x"}"#,
            r#"{"pk":"ORG#org-a","sk":"SHIP#"}"#,
            r#"{"pk":"ORG#org-a","sk":"SHIP#x","extra":1}"#,
            r#"{"pk":"ORG#org-a","sk":"SHIP#x","gsi1pk":"ORG#org-a#STATE#PENDING"}"#,
            r#"{"pk":"ORG#org-a","sk":"SHIP#x","gsi1pk":"ORG#org-b#STATE#PENDING","gsi1sk":"x"}"#,
        ] {
            let token = URL_SAFE_NO_PAD.encode(forged);
            assert!(
                decode_token(&token, &query("org-a", None)).is_err()
                    && decode_token(&token, &query("org-a", Some(ShipmentState::Pending))).is_err(),
                "{forged}"
            );
        }
        for garbage in ["", "!!!", "bm90IGpzb24", "e30"] {
            assert_eq!(
                decode_token(garbage, &query("org-a", None)),
                Err(StoreError::InvalidPageToken)
            );
        }
    }

    #[test]
    fn stream_images_of_other_items_are_not_shipments() {
        let shipment = shipment(Some("truck-7"), TemperatureProfile::Refrigerated);
        let image: serde_dynamo::Item = serde_dynamo::Item::from(shipment_item(&shipment).unwrap());
        assert!(is_shipment_key(&image));
        assert_eq!(
            shipment_from_stream_image(&image).unwrap(),
            Some(shipment.clone())
        );

        let entry: serde_dynamo::Item =
            serde_dynamo::Item::from(org_entry_item(&shipment, Relation::Shipper).unwrap());
        assert!(!is_shipment_key(&entry));
        assert_eq!(shipment_from_stream_image(&entry).unwrap(), None);
        assert_eq!(
            shipment_from_stream_image(&serde_dynamo::Item::from(HashMap::<
                String,
                serde_dynamo::AttributeValue,
            >::new()))
            .unwrap(),
            None
        );
    }
}

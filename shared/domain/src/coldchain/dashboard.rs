//! What the dashboard reads and does over REST: the views of a shipment's
//! tracking, the alarm feed of an organisation, the reading history, the
//! acknowledgement of an alarm, the requests' validation and the ports the
//! `tracking-api` function needs.
//!
//! - [`TrackingView`]: a shipment on the live map (the shipment, and the
//!   [`ColdChainStatus`] of its tracking); [`on_the_map`] says which
//!   shipments are shown;
//! - [`TrackingDetail`]: one shipment's view with every alarm (newest first)
//!   and the current risk estimate ([`current_risk`]);
//! - [`AlarmListing`]: an alarm of the feed, with its shipment's product and
//!   organisations;
//! - [`parse_readings_params`], [`parse_alarms_params`],
//!   [`parse_tracking_params`] (and [`super::review::parse_review_request`]): untrusted input into
//!   queries, with per-field errors;
//! - [`alarm_audit_record`]: the audit record of a review;
//! - [`ShipmentLookup`], [`TrackingRecords`], [`ReadingPages`]: the ports.
//!
//! Who may see and do what is [`crate::shipment::policy`]: reading is
//! [`Action::Read`](crate::shipment::Action::Read) /
//! [`Action::List`](crate::shipment::Action::List), acknowledging
//! [`Action::AcknowledgeAlarm`](crate::shipment::Action::AcknowledgeAlarm).

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::alarm::Alarm;
use super::position::{ColdChainStatus, Position};
use super::risk::{RiskEstimate, RiskInput, estimate_risk};
use super::shock::DEFAULT_CRASH_THRESHOLD_G;
use super::tracking::{SaveError, Tracking};
use crate::FieldError;
use crate::audit::{Actor, AuditRecord, EntityType};
use crate::identity::Principal;
use crate::shipment::{Location, Shipment, ShipmentState};

/// How long a delivered shipment stays on the map.
pub const DELIVERED_ON_MAP: Duration = Duration::hours(24);
/// Longest trip the map looks for among delivered shipments: a shipment
/// created longer ago than this is not looked at when it is DELIVERED.
pub const LONGEST_TRIP: Duration = Duration::days(30);
/// Default page size of the reading history.
pub const DEFAULT_READINGS_LIMIT: u32 = 500;
/// Largest page of the reading history.
pub const MAX_READINGS_LIMIT: u32 = 2000;
/// Default page size of the alarm feed.
pub const DEFAULT_ALARMS_LIMIT: u32 = 50;
/// Largest page of the alarm feed.
pub const MAX_ALARMS_LIMIT: u32 = 100;
/// Longest `next` token accepted.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// The audit action of a review (an acknowledgement of an active alarm, or
/// the review of a cleared one).
pub const ALARM_ACKNOWLEDGED_ACTION: &str = "alarm.acknowledged";

// ------------------------------------------------------------------ views

/// Whether the live map shows `shipment` at `now`: DISPATCHED or IN_TRANSIT,
/// or DELIVERED less than [`DELIVERED_ON_MAP`] ago.
pub fn on_the_map(shipment: &Shipment, now: OffsetDateTime) -> bool {
    match shipment.state {
        ShipmentState::Dispatched | ShipmentState::InTransit => true,
        ShipmentState::Delivered => shipment
            .delivered_at
            .is_some_and(|at| now - at < DELIVERED_ON_MAP),
        ShipmentState::Pending | ShipmentState::Cancelled => false,
    }
}

/// A shipment as the live map and the shipment list show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingView {
    /// The shipment.
    pub shipment_id: String,
    /// Its current state.
    pub state: ShipmentState,
    /// What is shipped.
    pub product: String,
    /// The reporting device.
    pub device_id: Option<String>,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// Where the goods were loaded.
    pub origin: Location,
    /// Where they are delivered.
    pub destination: Location,
    /// Latest reading, MKT, excursion budget, band, active alarms.
    #[serde(flatten)]
    pub status: ColdChainStatus,
}

impl TrackingView {
    /// The view of `shipment` with its `tracking` (`None`: no reading yet).
    pub fn of(shipment: &Shipment, tracking: Option<&Tracking>) -> Self {
        Self {
            shipment_id: shipment.id.clone(),
            state: shipment.state,
            product: shipment.product.clone(),
            device_id: shipment.device_id.clone(),
            shipper_org_id: shipment.shipper_org_id.clone(),
            recipient_org_id: shipment.recipient_org_id.clone(),
            origin: shipment.origin.clone(),
            destination: shipment.destination.clone(),
            status: ColdChainStatus::of(tracking, &shipment.profile),
        }
    }
}

/// One shipment's tracking for its detail page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingDetail {
    /// What the map shows.
    #[serde(flatten)]
    pub view: TrackingView,
    /// Every alarm of the shipment, active or cleared, newest first.
    pub alarms: Vec<Alarm>,
    /// The estimated loss now ([`current_risk`]).
    pub risk: Option<RiskEstimate>,
}

impl TrackingDetail {
    /// The detail of `shipment` with its `tracking` and its `alarms` (in any
    /// order).
    pub fn of(shipment: &Shipment, tracking: Option<&Tracking>, mut alarms: Vec<Alarm>) -> Self {
        alarms.sort_by(|a, b| {
            b.raised_at
                .cmp(&a.raised_at)
                .then_with(|| b.alarm_id.cmp(&a.alarm_id))
        });
        Self {
            view: TrackingView::of(shipment, tracking),
            alarms,
            risk: current_risk(shipment, tracking),
        }
    }
}

/// The estimated loss of `shipment` from what its `tracking` has seen so far
/// (the vibration peak, the minutes out of range, the MKT), as the risk
/// calculator computes it for alarm events; `None` before the first reading.
pub fn current_risk(shipment: &Shipment, tracking: Option<&Tracking>) -> Option<RiskEstimate> {
    let monitor = &tracking?.monitor;
    let status = monitor.excursion_status(&shipment.profile);
    let minutes = |d: time::Duration| d.as_seconds_f64() / 60.0;
    let input = RiskInput {
        cargo_value: shipment.cargo_value.clone(),
        profile: shipment.profile,
        peak_vibration_g: monitor.peak_vibration_g,
        crash_threshold_g: DEFAULT_CRASH_THRESHOLD_G,
        excursion_minutes: minutes(status.above),
        minutes_below_range: Some(minutes(status.below)),
        cold_zone_minutes: Some(minutes(status.cold_zone)),
        mkt_c: monitor.mkt_c().filter(|mkt| mkt.is_finite()),
    };
    estimate_risk(&input).ok()
}

/// An alarm of an organisation's feed, with what the feed shows of its
/// shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmListing {
    /// The alarm (it names its shipment).
    #[serde(flatten)]
    pub alarm: Alarm,
    /// What the shipment carries (`None` if the shipment could not be found).
    pub product: Option<String>,
    /// The sending organisation.
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
}

impl AlarmListing {
    /// `alarm` of `shipment` in the feed.
    pub fn of(alarm: Alarm, shipment: &Shipment) -> Self {
        Self {
            alarm,
            product: Some(shipment.product.clone()),
            shipper_org_id: shipment.shipper_org_id.clone(),
            recipient_org_id: shipment.recipient_org_id.clone(),
        }
    }
}

/// The audit record of `actor` acknowledging an alarm of `shipment_id` at
/// `at`: on the shipment's trail (where whoever may see the shipment reads
/// it), action [`ALARM_ACKNOWLEDGED_ACTION`], the alarm before and after (the
/// note, if any, with the after).
pub fn alarm_audit_record(
    actor: &Principal,
    shipment_id: &str,
    before: &Alarm,
    after: &Alarm,
    at: OffsetDateTime,
) -> AuditRecord {
    let after_json = serde_json::to_value(after).unwrap_or(Value::Null);
    AuditRecord::new(
        EntityType::Shipment,
        shipment_id,
        Actor::from(actor),
        ALARM_ACKNOWLEDGED_ACTION,
        at,
        serde_json::to_value(before).ok(),
        Some(after_json),
    )
}

// ------------------------------------------------------------------ requests

/// `GET /v1/shipments/{id}/readings`: the window and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingsQuery {
    /// Readings taken at or after this time (none: from the first).
    pub from: Option<OffsetDateTime>,
    /// Readings taken at or before this time (none: up to the latest).
    pub to: Option<OffsetDateTime>,
    /// Most readings on the page, 1..=[`MAX_READINGS_LIMIT`].
    pub limit: u32,
    /// The `next` token of the previous page.
    pub next: Option<String>,
}

/// Which alarms of the feed (`status` of `GET /v1/alarms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmFilter {
    /// The active ones, acknowledged or not (the default; `active=true`).
    Active,
    /// The cleared ones nobody has reviewed yet.
    Unreviewed,
    /// The cleared ones that have a review.
    Reviewed,
    /// Every alarm (`active=false`).
    All,
}

impl AlarmFilter {
    /// The feed states the filter reads.
    pub fn statuses(self) -> &'static [FeedStatus] {
        match self {
            AlarmFilter::Active => &[FeedStatus::Active],
            AlarmFilter::Unreviewed => &[FeedStatus::Unreviewed],
            AlarmFilter::Reviewed => &[FeedStatus::Reviewed],
            AlarmFilter::All => &[
                FeedStatus::Active,
                FeedStatus::Unreviewed,
                FeedStatus::Reviewed,
            ],
        }
    }
}

/// Where an alarm is in the feed: active, cleared and waiting for a review,
/// or cleared and reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedStatus {
    /// Active (acknowledged or not).
    Active,
    /// Cleared, no review yet.
    Unreviewed,
    /// Cleared and reviewed.
    Reviewed,
}

impl FeedStatus {
    /// The status of `alarm`.
    pub fn of(alarm: &Alarm) -> Self {
        if alarm.state.is_active() {
            FeedStatus::Active
        } else if alarm.is_reviewed() {
            FeedStatus::Reviewed
        } else {
            FeedStatus::Unreviewed
        }
    }
}

/// `GET /v1/alarms`: which alarms and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmsQuery {
    /// Which alarms.
    pub filter: AlarmFilter,
    /// Most alarms on the page, 1..=[`MAX_ALARMS_LIMIT`].
    pub limit: u32,
    /// The `next` token of the previous page.
    pub next: Option<String>,
}

/// Collects field errors, and checks that no parameter comes twice or
/// unknown.
#[derive(Default)]
struct Params<'a> {
    errors: Vec<FieldError>,
    seen: Vec<&'a str>,
}

impl<'a> Params<'a> {
    /// Whether `name` is new and one of `known` (else its error is recorded).
    fn accept(&mut self, name: &'a str, known: &[&str]) -> bool {
        if !known.contains(&name) {
            self.errors
                .push(FieldError::new(name, "unknown query parameter"));
            return false;
        }
        if self.seen.contains(&name) {
            self.errors
                .push(FieldError::new(name, "must be given at most once"));
            return false;
        }
        self.seen.push(name);
        true
    }

    fn limit(&mut self, value: &str, max: u32) -> Option<u32> {
        match value.parse::<u32>() {
            Ok(limit) if (1..=max).contains(&limit) => Some(limit),
            _ => {
                self.errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number between 1 and {max}"),
                ));
                None
            }
        }
    }

    fn next(&mut self, value: &str) -> Option<String> {
        if value.is_empty() || value.chars().count() > MAX_TOKEN_CHARS {
            self.errors.push(FieldError::new(
                "next",
                "must be the `next` token of the previous page",
            ));
            return None;
        }
        Some(value.to_owned())
    }

    fn time(&mut self, name: &str, value: &str) -> Option<OffsetDateTime> {
        // a `+` of an offset arrives as a space when the client did not encode it
        let text = value.trim().replace(' ', "+");
        match crate::instant::parse_rfc3339(&text) {
            Some(at) => Some(at),
            None => {
                self.errors.push(FieldError::new(
                    name,
                    "must be an RFC 3339 date-time between 1970 and 9000 such as 2026-11-21T08:00:00Z",
                ));
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Validates the query of `GET /v1/shipments/{id}/readings`: `from`, `to`
/// (RFC 3339, `to` not before `from`), `limit` (1..=[`MAX_READINGS_LIMIT`],
/// default [`DEFAULT_READINGS_LIMIT`]) and `next`. Other parameters, or one
/// given twice, are errors.
pub fn parse_readings_params<'a>(
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ReadingsQuery, Vec<FieldError>> {
    let mut params = Params::default();
    let mut parsed = ReadingsQuery {
        from: None,
        to: None,
        limit: DEFAULT_READINGS_LIMIT,
        next: None,
    };
    for (name, value) in query {
        if !params.accept(name, &["from", "to", "limit", "next"]) {
            continue;
        }
        match name {
            "from" => parsed.from = params.time("from", value),
            "to" => parsed.to = params.time("to", value),
            "limit" => {
                if let Some(limit) = params.limit(value, MAX_READINGS_LIMIT) {
                    parsed.limit = limit;
                }
            }
            _ => parsed.next = params.next(value),
        }
    }
    if let (Some(from), Some(to)) = (parsed.from, parsed.to) {
        if to < from {
            params
                .errors
                .push(FieldError::new("to", "must not be before `from`"));
        }
    }
    params.finish(parsed)
}

/// Validates the query of `GET /v1/alarms`: `active` (`true`, the default,
/// or `false`), `limit` (1..=[`MAX_ALARMS_LIMIT`], default
/// [`DEFAULT_ALARMS_LIMIT`]) and `next`.
pub fn parse_alarms_params<'a>(
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<AlarmsQuery, Vec<FieldError>> {
    let mut params = Params::default();
    let mut parsed = AlarmsQuery {
        filter: AlarmFilter::Active,
        limit: DEFAULT_ALARMS_LIMIT,
        next: None,
    };
    for (name, value) in query {
        if !params.accept(name, &["active", "status", "limit", "next"]) {
            continue;
        }
        match name {
            "active" if params.seen.contains(&"status") => params.errors.push(FieldError::new(
                "active",
                "give either active or status, not both",
            )),
            "active" => match value {
                "true" => parsed.filter = AlarmFilter::Active,
                "false" => parsed.filter = AlarmFilter::All,
                _ => params.errors.push(FieldError::new(
                    "active",
                    "must be true (active alarms only) or false (every alarm)",
                )),
            },
            "status" if params.seen.contains(&"active") => params.errors.push(FieldError::new(
                "status",
                "give either active or status, not both",
            )),
            "status" => match value {
                "active" => parsed.filter = AlarmFilter::Active,
                "unreviewed" => parsed.filter = AlarmFilter::Unreviewed,
                "reviewed" => parsed.filter = AlarmFilter::Reviewed,
                "all" => parsed.filter = AlarmFilter::All,
                _ => params.errors.push(FieldError::new(
                    "status",
                    "must be active, unreviewed (cleared, not reviewed), reviewed (cleared and reviewed) or all",
                )),
            },
            "limit" => {
                if let Some(limit) = params.limit(value, MAX_ALARMS_LIMIT) {
                    parsed.limit = limit;
                }
            }
            _ => parsed.next = params.next(value),
        }
    }
    params.finish(parsed)
}

/// Validates the query of `GET /v1/tracking` and `GET
/// /v1/shipments/{id}/tracking`: there are no parameters.
pub fn parse_tracking_params<'a>(
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), Vec<FieldError>> {
    let mut params = Params::default();
    for (name, _) in query {
        params.accept(name, &[]);
    }
    params.finish(())
}

// ------------------------------------------------------------------ ports

/// Why a read of the dashboard's ports failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The `next` token is malformed or belongs to another listing.
    #[error("invalid pagination token")]
    InvalidPageToken,
    /// Unavailable or throttled; trying again later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<super::tracking::PortError> for QueryError {
    fn from(error: super::tracking::PortError) -> Self {
        match error {
            super::tracking::PortError::Unavailable(message) => QueryError::Unavailable(message),
            super::tracking::PortError::Corrupt(message) => QueryError::Corrupt(message),
        }
    }
}

/// A page of a shipment's readings, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingPage {
    /// The readings.
    pub items: Vec<Position>,
    /// The token of the following page; `None` on the last page.
    pub next: Option<String>,
}

/// A page of an organisation's alarm feed, newest first (by the time each
/// alarm was raised).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmPage {
    /// The alarms.
    pub items: Vec<Alarm>,
    /// The token of the following page; `None` on the last page.
    pub next: Option<String>,
}

/// The shipments, as the dashboard reads them.
pub trait ShipmentLookup: Send + Sync {
    /// The shipment with this id, if any.
    fn shipment(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Shipment>, QueryError>> + Send;

    /// The shipments with these ids that exist, in any order.
    fn shipments(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Shipment>, QueryError>> + Send;

    /// Every shipment `org_id` ships or receives that is in `state`, created
    /// at or after `created_since` when given.
    fn shipments_in(
        &self,
        org_id: &str,
        state: ShipmentState,
        created_since: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<Vec<Shipment>, QueryError>> + Send;
}

/// The detector's trackings and alarms, as the dashboard reads and
/// acknowledges them.
pub trait TrackingRecords: Send + Sync {
    /// The tracking of a shipment (strongly consistent).
    fn tracking(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Option<Tracking>, QueryError>> + Send;

    /// The trackings of these shipments that exist, in any order.
    fn trackings(
        &self,
        shipment_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Tracking>, QueryError>> + Send;

    /// Every alarm of a shipment, active or cleared, in any order.
    fn alarms_of(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Vec<Alarm>, QueryError>> + Send;

    /// One stored alarm of a shipment.
    fn alarm(
        &self,
        shipment_id: &str,
        alarm_id: &str,
    ) -> impl Future<Output = Result<Option<Alarm>, QueryError>> + Send;

    /// A page of the alarms of the shipments `org_id` ships or receives,
    /// newest first; those of `query.filter`.
    fn org_alarms(
        &self,
        org_id: &str,
        query: &AlarmsQuery,
    ) -> impl Future<Output = Result<AlarmPage, QueryError>> + Send;

    /// Saves the review of an active alarm: `tracking` if the stored one is still at
    /// `expected_version` ([`SaveError::VersionConflict`] otherwise: the
    /// detector wrote meanwhile), the acknowledged `alarm` and the `audit`
    /// record, all or nothing.
    fn acknowledge(
        &self,
        tracking: &Tracking,
        expected_version: u64,
        alarm: &Alarm,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), SaveError>> + Send;

    /// Saves the review of a cleared alarm: the reviewed `alarm` of
    /// `shipment`, if its item is still stored cleared and without a review
    /// ([`SaveError::VersionConflict`] otherwise: read it again), and the
    /// `audit` record, all or nothing.
    fn review_cleared(
        &self,
        shipment: &Shipment,
        alarm: &Alarm,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), SaveError>> + Send;
}

/// The reading history, page by page.
pub trait ReadingPages: Send + Sync {
    /// A page of the readings of `shipment_id` in the query's window,
    /// oldest first.
    fn readings(
        &self,
        shipment_id: &str,
        query: &ReadingsQuery,
    ) -> impl Future<Output = Result<ReadingPage, QueryError>> + Send;
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::coldchain::{AlarmState, AlarmType, MonitorSettings, RiskComponent};
    use crate::fixtures::{T0, manager, reading, shipment};
    use crate::shipment::Transition;

    fn tracked(shipment: &Shipment, readings: &[crate::telemetry::Reading]) -> Tracking {
        let fresh = Tracking::new(shipment, T0);
        let mut monitor = fresh.monitor.clone();
        for r in readings {
            monitor.observe(r, &shipment.profile, &MonitorSettings::default());
        }
        fresh.next(shipment, monitor, readings.last().cloned(), T0)
    }

    #[test]
    fn the_map_shows_shipments_on_their_way_and_those_delivered_today() {
        let now = T0 + Duration::hours(1);
        for (state, shown) in [
            (ShipmentState::Pending, false),
            (ShipmentState::Dispatched, true),
            (ShipmentState::InTransit, true),
            (ShipmentState::Cancelled, false),
        ] {
            assert_eq!(
                on_the_map(&shipment("shp-1", "t", state), now),
                shown,
                "{state}"
            );
        }
        let on_road = shipment("shp-1", "t", ShipmentState::InTransit);
        let delivered = on_road
            .transition(Transition::Deliver, on_road.version, T0, None)
            .unwrap();
        assert!(on_the_map(&delivered, T0 + Duration::hours(23)));
        assert!(!on_the_map(&delivered, T0 + Duration::hours(24)));
    }

    #[test]
    fn a_view_is_the_shipment_and_its_status() {
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let tracking = tracked(&shipment, &[reading("truck-7", 0, 5.0, 0.2)]);
        let json = serde_json::to_value(TrackingView::of(&shipment, Some(&tracking))).unwrap();
        assert_eq!(json["shipment_id"], "shp-1");
        assert_eq!(json["state"], "IN_TRANSIT");
        assert_eq!(json["product"], "Insulin glargine 100 U/ml");
        assert_eq!(json["device_id"], "truck-7");
        assert_eq!(json["origin"]["name"], "Pharma Hub Rotterdam");
        assert_eq!(json["destination"]["lat"], 52.5263);
        assert_eq!(json["latest"]["reading_id"], "truck-7-0");
        assert_eq!(json["profile"]["max_c"], 8.0);
        assert_eq!(json["budget_minutes"], 75.0, "60 above and 15 below");
        assert_eq!(json["minutes_above"], 0.0);
        assert_eq!(json["minutes_below"], 0.0);
        assert_eq!(json["coverage"], 1.0);
        assert_eq!(json["min_temperature_c"], 5.0);
        assert_eq!(json["active_alarms"], json!([]));
        assert_eq!(json.as_object().unwrap().len(), 21);

        let json = serde_json::to_value(TrackingView::of(&shipment, None)).unwrap();
        assert_eq!(json["latest"], Value::Null);
        assert_eq!(json["mkt_c"], Value::Null);
    }

    #[test]
    fn the_detail_lists_every_alarm_newest_first_with_the_risk() {
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let readings = [
            reading("truck-7", 0, 5.0, 0.2),
            reading("truck-7", 1, 5.0, 6.0),
            reading("truck-7", 20, 5.0, 0.2),
            reading("truck-7", 21, 5.0, 7.0),
        ];
        let tracking = tracked(&shipment, &readings);
        // the first shock cleared after the quiet period, the second is active
        let mut monitor = crate::coldchain::ShipmentMonitor::new("shp-1");
        let mut transitions = Vec::new();
        for r in &readings {
            let seen = monitor.observe(r, &shipment.profile, &MonitorSettings::default());
            transitions.extend(seen.transitions);
        }
        let stored = crate::coldchain::detector::alarm_states(&transitions);
        assert_eq!(stored.len(), 2);
        let detail = TrackingDetail::of(&shipment, Some(&tracking), stored);
        let states: Vec<(AlarmType, AlarmState)> = detail
            .alarms
            .iter()
            .map(|a| (a.alarm_type, a.state))
            .collect();
        assert_eq!(
            states,
            [
                (AlarmType::Shock, AlarmState::ActiveUnack),
                (AlarmType::Shock, AlarmState::Cleared)
            ]
        );
        let risk = detail.risk.as_ref().expect("a risk estimate");
        assert_eq!(risk.cargo_value, "48000.00");
        let crash = risk.part(RiskComponent::Crash).unwrap();
        assert!(crash.fraction > 0.0, "the 7 g peak: {crash:?}");
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["shipment_id"], "shp-1");
        assert_eq!(json["alarms"].as_array().unwrap().len(), 2);
        assert_eq!(json["active_alarms"].as_array().unwrap().len(), 1);
        assert!(json["risk"]["total"].is_string());

        let none = TrackingDetail::of(&shipment, None, Vec::new());
        assert_eq!(none.risk, None, "nothing seen, nothing estimated");
    }

    #[test]
    fn an_alarm_listing_carries_its_shipment() {
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let mut monitor = crate::coldchain::ShipmentMonitor::new("shp-1");
        let seen = monitor.observe(
            &reading("truck-7", 0, 5.0, 7.0),
            &shipment.profile,
            &MonitorSettings::default(),
        );
        let alarm = seen.transitions[0].alarm().clone();
        let json = serde_json::to_value(AlarmListing::of(alarm.clone(), &shipment)).unwrap();
        assert_eq!(json["alarm_id"], json!(alarm.alarm_id));
        assert_eq!(json["shipment_id"], "shp-1");
        assert_eq!(json["alarm_type"], "SHOCK");
        assert_eq!(json["product"], "Insulin glargine 100 U/ml");
        assert_eq!(json["shipper_org_id"], "org-ship");
        assert_eq!(json["recipient_org_id"], "org-recv");
        let back: AlarmListing = serde_json::from_value(json).unwrap();
        assert_eq!(back.alarm, alarm);
    }

    #[test]
    fn an_acknowledgement_is_audited_on_the_shipments_trail() {
        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let tracking = tracked(&shipment, &[reading("truck-7", 0, 5.0, 7.0)]);
        let alarm_id = tracking.monitor.alarms.active[0].alarm_id.clone();
        let at = T0 + Duration::minutes(3);
        let super::super::tracking::Acknowledgement::Acknowledged { before, after, .. } = tracking
            .review(
                &alarm_id,
                &crate::fixtures::review(),
                "manager-of-org-recv",
                at,
            )
            .unwrap()
        else {
            panic!("acknowledged")
        };
        let record = alarm_audit_record(&manager("org-recv"), "shp-1", &before, &after, at);
        assert_eq!(record.entity_key(), "SHIPMENT#shp-1");
        assert_eq!(record.action, "alarm.acknowledged");
        assert_eq!(record.at, at);
        assert_eq!(record.actor.id, "manager-of-org-recv");
        assert_eq!(record.actor.role, "MANAGER");
        let before = record.before.unwrap();
        let after = record.after.unwrap();
        assert_eq!(before["state"], "ACTIVE_UNACK");
        assert_eq!(after["state"], "ACTIVE_ACK");
        assert_eq!(after["alarm_id"], json!(alarm_id));
        assert_eq!(
            after["review"]["reason"],
            "Door closed by the driver; load within limits"
        );
        assert_eq!(after["review"]["disposition"], "NO_PRODUCT_IMPACT");
        assert_eq!(after["acknowledged_by"], "manager-of-org-recv");
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn readings_params_are_checked_field_by_field() {
        let query = parse_readings_params([
            ("from", "2026-11-21T08:00:00Z"),
            ("to", "2026-11-21T10:00:00+01:00"),
            ("limit", "2000"),
            ("next", "abc"),
        ])
        .unwrap();
        assert_eq!(query.from, Some(datetime!(2026-11-21 08:00 UTC)));
        assert_eq!(query.to, Some(datetime!(2026-11-21 09:00 UTC)));
        assert_eq!(query.limit, 2000);
        assert_eq!(query.next.as_deref(), Some("abc"));
        let defaults = parse_readings_params([]).unwrap();
        assert_eq!(
            defaults,
            ReadingsQuery {
                from: None,
                to: None,
                limit: DEFAULT_READINGS_LIMIT,
                next: None
            }
        );
        // an unencoded `+` arrives as a space
        let spaced = parse_readings_params([("from", "2026-11-21T09:00:00 01:00")]).unwrap();
        assert_eq!(spaced.from, Some(datetime!(2026-11-21 08:00 UTC)));

        let errors = parse_readings_params([
            ("from", "yesterday"),
            ("limit", "0"),
            ("next", ""),
            ("colour", "red"),
        ])
        .unwrap_err();
        assert_eq!(fields(errors), ["from", "limit", "next", "colour"]);
        let errors = parse_readings_params([("limit", "2001"), ("limit", "5")]).unwrap_err();
        assert_eq!(fields(errors), ["limit", "limit"]);
        let errors = parse_readings_params([
            ("from", "2026-11-21T10:00:00Z"),
            ("to", "2026-11-21T09:00:00Z"),
        ])
        .unwrap_err();
        assert_eq!(fields(errors), ["to"]);
    }

    #[test]
    fn alarms_params_default_to_the_active_ones() {
        let query = parse_alarms_params([]).unwrap();
        assert_eq!(query.filter, AlarmFilter::Active);
        assert_eq!(query.limit, DEFAULT_ALARMS_LIMIT);
        let query = parse_alarms_params([("active", "false"), ("limit", "100")]).unwrap();
        assert_eq!(query.filter, AlarmFilter::All);
        assert_eq!(query.limit, 100);
        for (value, filter) in [
            ("active", AlarmFilter::Active),
            ("unreviewed", AlarmFilter::Unreviewed),
            ("reviewed", AlarmFilter::Reviewed),
            ("all", AlarmFilter::All),
        ] {
            assert_eq!(
                parse_alarms_params([("status", value)]).unwrap().filter,
                filter
            );
        }
        let errors = parse_alarms_params([("active", "yes"), ("limit", "101")]).unwrap_err();
        assert_eq!(fields(errors), ["active", "limit"]);
        let errors = parse_alarms_params([("status", "open")]).unwrap_err();
        assert_eq!(fields(errors), ["status"]);
        let errors = parse_alarms_params([("active", "true"), ("status", "reviewed")]).unwrap_err();
        assert_eq!(fields(errors), ["status"]);
        assert!(parse_tracking_params([]).is_ok());
        assert_eq!(
            fields(parse_tracking_params([("state", "x")]).unwrap_err()),
            ["state"]
        );
    }

    #[test]
    fn a_time_at_the_end_of_the_range_is_a_field_error_not_a_panic() {
        for text in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+01:00"] {
            let errors = parse_readings_params([("to", text)]).unwrap_err();
            assert_eq!(errors[0].field, "to", "{text}");
        }
    }

    mod never_panics {
        use super::*;
        use crate::arbitrary::rfc3339_edges;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_query_is_parsed_or_field_errors(
                from in prop_oneof![rfc3339_edges(), ".{0,30}"],
                to in prop_oneof![rfc3339_edges(), ".{0,30}"],
                limit in ".{0,8}",
                next in ".{0,20}",
            ) {
                let _ = parse_readings_params([("from", from.as_str()), ("to", to.as_str()), ("limit", limit.as_str()), ("next", next.as_str())]);
            }
        }
    }
}

//! The alarm lifecycle.
//!
//! ```text
//! (none) ──raise──▶ ACTIVE_UNACK ──acknowledge──▶ ACTIVE_ACK
//!                        │                            │
//!                        └────────clear───────────────┴──▶ CLEARED
//! ```
//!
//! - At most **one active alarm per (shipment, type)**: a repeat of the
//!   condition updates the active alarm (`count`, `last_seen`, latest and peak
//!   value) instead of raising a new one.
//! - **Severity** only goes up while the alarm is active
//!   (WARNING < MAJOR < CRITICAL); a repeat with a higher severity is an
//!   escalation, one with a lower severity keeps the current one.
//! - When the condition is gone the alarm is **cleared** (with the time) and
//!   leaves the book; a later occurrence raises a *new* alarm (new id).
//! - **Reviewing** ([`super::review`]) records who, when, why and what it
//!   means for the goods; it acknowledges an active alarm and works on a
//!   cleared one too. It is idempotent per severity; an **escalation resets**
//!   it (the alarm is unacknowledged again).
//!
//! The book is pure: [`AlarmBook::apply`] takes a [`Signal`] and returns the
//! [`AlarmTransition`]s it caused, for the caller to store and publish.
//! A `Present` signal no newer than the alarm's `last_seen`, or an `Absent`
//! one older than it, changes nothing, so replayed or stale signals are
//! harmless.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::review::{Review, ReviewRequest};
use super::zone::Crossing;

/// What an alarm is about.
///
/// Temperature excursions are one type whichever side of the range they are
/// on (an excursion that jumps from too warm to too cold is still one
/// excursion); [`Alarm::detail`] says which side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmType {
    /// Out of range continuously for at least the profile's alarm delay.
    TemperatureExcursion,
    /// The cumulative time out of range reached the excursion budget.
    BudgetExhausted,
    /// A vibration peak above the crash threshold.
    Shock,
    /// No reading for too long while in transit.
    DeviceOffline,
    /// Not a single reading since the shipment started (a logger that was
    /// never started).
    NoData,
    /// The temperature trend will leave the range soon.
    PreExcursion,
}

impl AlarmType {
    /// Every type.
    pub const ALL: [AlarmType; 6] = [
        AlarmType::TemperatureExcursion,
        AlarmType::BudgetExhausted,
        AlarmType::Shock,
        AlarmType::DeviceOffline,
        AlarmType::NoData,
        AlarmType::PreExcursion,
    ];

    /// The wire name, e.g. `TEMPERATURE_EXCURSION`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmType::TemperatureExcursion => "TEMPERATURE_EXCURSION",
            AlarmType::BudgetExhausted => "BUDGET_EXHAUSTED",
            AlarmType::Shock => "SHOCK",
            AlarmType::DeviceOffline => "DEVICE_OFFLINE",
            AlarmType::NoData => "NO_DATA",
            AlarmType::PreExcursion => "PRE_EXCURSION",
        }
    }
}

impl fmt::Display for AlarmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an alarm is; ordered WARNING < MAJOR < CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Something to watch.
    Warning,
    /// Needs action.
    Major,
    /// Product or cargo likely damaged.
    Critical,
}

impl Severity {
    /// The wire name, e.g. `MAJOR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "WARNING",
            Severity::Major => "MAJOR",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alarm is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Active, nobody has acknowledged it yet.
    ActiveUnack,
    /// Active, acknowledged by a person.
    ActiveAck,
    /// The condition is gone (final).
    Cleared,
}

impl AlarmState {
    /// Whether the alarm is still active (acknowledged or not).
    pub fn is_active(self) -> bool {
        self != AlarmState::Cleared
    }
}

/// One alarm of one shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Deterministic id: `{shipment_id}#{TYPE}#{raised_at unix ms}`, so that a
    /// replay raises an alarm with the same id.
    pub alarm_id: String,
    /// The shipment concerned.
    pub shipment_id: String,
    /// What the alarm is about.
    pub alarm_type: AlarmType,
    /// Current severity (never lowered while active).
    pub severity: Severity,
    /// Lifecycle state.
    pub state: AlarmState,
    /// When the condition was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    /// When the condition was last seen.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// How many signals fed this alarm (1 when raised).
    pub count: u32,
    /// The latest value (temperature °C, vibration g, silent minutes, budget
    /// fraction… depending on the type).
    pub value: f64,
    /// The value of the worst signal so far.
    pub peak_value: f64,
    /// How bad the worst signal was (the larger the worse; e.g. °C outside the
    /// range for a temperature excursion).
    pub peak_magnitude: f64,
    /// A short human-readable explanation of the latest signal.
    pub detail: String,
    /// For a temperature alarm: the worst limit or zone crossed so far, and
    /// by how much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossing: Option<Crossing>,
    /// Who acknowledged the alarm.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// When the alarm was acknowledged.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    /// When the alarm was cleared.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cleared_at: Option<OffsetDateTime>,
    /// The review at the current severity (see [`super::review`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// Reviews given before an escalation reset them, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_reviews: Vec<Review>,
}

/// Why a review of an alarm in the book was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckRefused {
    /// No active alarm has this id.
    #[error("no active alarm {alarm_id}; it may be cleared or unknown")]
    NotActive {
        /// The id asked for.
        alarm_id: String,
    },
}

/// The id of an alarm raised at `raised_at`.
pub fn alarm_id(shipment_id: &str, alarm_type: AlarmType, raised_at: OffsetDateTime) -> String {
    let millis = raised_at.unix_timestamp_nanos() / 1_000_000;
    format!("{shipment_id}#{alarm_type}#{millis}")
}

/// A change to an alarm. Each carries the alarm as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transition", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmTransition {
    /// A new alarm (publish).
    Raised {
        /// The alarm.
        alarm: Alarm,
    },
    /// The severity went up (publish).
    Escalated {
        /// The alarm.
        alarm: Alarm,
        /// The severity before.
        from: Severity,
    },
    /// A repeat of the condition at the same severity (store only).
    Updated {
        /// The alarm.
        alarm: Alarm,
    },
    /// The condition is gone (publish).
    Cleared {
        /// The alarm.
        alarm: Alarm,
    },
    /// A person acknowledged the alarm.
    Acknowledged {
        /// The alarm.
        alarm: Alarm,
    },
}

impl AlarmTransition {
    /// The alarm after the transition.
    pub fn alarm(&self) -> &Alarm {
        match self {
            AlarmTransition::Raised { alarm }
            | AlarmTransition::Escalated { alarm, .. }
            | AlarmTransition::Updated { alarm }
            | AlarmTransition::Cleared { alarm }
            | AlarmTransition::Acknowledged { alarm } => alarm,
        }
    }

    /// The wire name, e.g. `RAISED`.
    pub fn kind(&self) -> &'static str {
        match self {
            AlarmTransition::Raised { .. } => "RAISED",
            AlarmTransition::Escalated { .. } => "ESCALATED",
            AlarmTransition::Updated { .. } => "UPDATED",
            AlarmTransition::Cleared { .. } => "CLEARED",
            AlarmTransition::Acknowledged { .. } => "ACKNOWLEDGED",
        }
    }

    /// Whether the transition is worth an event (raised, escalated, cleared).
    pub fn is_published(&self) -> bool {
        matches!(
            self,
            AlarmTransition::Raised { .. }
                | AlarmTransition::Escalated { .. }
                | AlarmTransition::Cleared { .. }
        )
    }
}

/// What a rule says about one alarm type at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The condition holds.
    Present {
        /// The alarm type.
        alarm_type: AlarmType,
        /// The severity the condition deserves now.
        severity: Severity,
        /// The value to record (see [`Alarm::value`]).
        value: f64,
        /// How bad it is, larger is worse (see [`Alarm::peak_magnitude`]).
        magnitude: f64,
        /// A short explanation.
        detail: String,
        /// The limit or zone crossed (temperature alarms).
        crossing: Option<Crossing>,
        /// When it was observed.
        at: OffsetDateTime,
    },
    /// The condition is gone.
    Absent {
        /// The alarm type.
        alarm_type: AlarmType,
        /// When it was observed.
        at: OffsetDateTime,
    },
}

/// The active alarms of one shipment (cleared ones leave the book). Stored per
/// shipment (serializable).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlarmBook {
    /// The active alarms, at most one per type.
    pub active: Vec<Alarm>,
}

impl AlarmBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The active alarm of `alarm_type`, if any.
    pub fn get(&self, alarm_type: AlarmType) -> Option<&Alarm> {
        self.active.iter().find(|a| a.alarm_type == alarm_type)
    }

    /// Applies a signal for `shipment_id` and returns what changed:
    ///
    /// - `Present` with no active alarm → `Raised`;
    /// - `Present` with an active alarm → `Escalated` when the severity goes
    ///   up, else `Updated`; nothing when `at` is not after `last_seen`;
    /// - `Absent` with an active alarm → `Cleared` (it leaves the book);
    /// - `Absent` with none → nothing.
    pub fn apply(&mut self, shipment_id: &str, signal: Signal) -> Vec<AlarmTransition> {
        match signal {
            Signal::Present {
                alarm_type,
                severity,
                value,
                magnitude,
                detail,
                crossing,
                at,
            } => {
                let Some(alarm) = self.active.iter_mut().find(|a| a.alarm_type == alarm_type)
                else {
                    let alarm = Alarm {
                        alarm_id: alarm_id(shipment_id, alarm_type, at),
                        shipment_id: shipment_id.to_owned(),
                        alarm_type,
                        severity,
                        state: AlarmState::ActiveUnack,
                        raised_at: at,
                        last_seen: at,
                        count: 1,
                        value,
                        peak_value: value,
                        peak_magnitude: magnitude,
                        detail,
                        crossing,
                        acknowledged_by: None,
                        acknowledged_at: None,
                        cleared_at: None,
                        review: None,
                        earlier_reviews: Vec::new(),
                    };
                    self.active.push(alarm.clone());
                    return vec![AlarmTransition::Raised { alarm }];
                };
                if at <= alarm.last_seen {
                    return Vec::new();
                }
                alarm.count = alarm.count.saturating_add(1);
                alarm.last_seen = at;
                alarm.value = value;
                alarm.detail = detail;
                if let Some(crossing) = crossing {
                    if alarm
                        .crossing
                        .is_none_or(|worst| crossing.rank() > worst.rank())
                    {
                        alarm.crossing = Some(crossing);
                    }
                }
                if magnitude > alarm.peak_magnitude {
                    alarm.peak_magnitude = magnitude;
                    alarm.peak_value = value;
                }
                if severity > alarm.severity {
                    let from = alarm.severity;
                    alarm.severity = severity;
                    alarm.reset_review();
                    vec![AlarmTransition::Escalated {
                        alarm: alarm.clone(),
                        from,
                    }]
                } else {
                    vec![AlarmTransition::Updated {
                        alarm: alarm.clone(),
                    }]
                }
            }
            Signal::Absent { alarm_type, at } => {
                let Some(index) = self
                    .active
                    .iter()
                    .position(|a| a.alarm_type == alarm_type && at >= a.last_seen)
                else {
                    return Vec::new();
                };
                let mut alarm = self.active.remove(index);
                alarm.state = AlarmState::Cleared;
                alarm.cleared_at = Some(at);
                vec![AlarmTransition::Cleared { alarm }]
            }
        }
    }

    /// Reviews the active alarm `alarm_id` (and so acknowledges it).
    /// `Ok(None)` when it has a review already (idempotent); refused when no
    /// active alarm has that id (cleared alarms leave the book: a stored
    /// cleared alarm is reviewed with [`Alarm::review`]).
    pub fn review(
        &mut self,
        alarm_id: &str,
        request: &ReviewRequest,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AlarmTransition>, AckRefused> {
        let alarm = self
            .active
            .iter_mut()
            .find(|a| a.alarm_id == alarm_id)
            .ok_or_else(|| AckRefused::NotActive {
                alarm_id: alarm_id.to_owned(),
            })?;
        Ok(alarm
            .review(request, by, at)
            .then(|| AlarmTransition::Acknowledged {
                alarm: alarm.clone(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const SHP: &str = "shp-1";

    fn present(kind: AlarmType, severity: Severity, value: f64, minute: i64) -> Signal {
        Signal::Present {
            alarm_type: kind,
            severity,
            value,
            magnitude: value.abs(),
            detail: format!("{value}"),
            crossing: None,
            at: T0 + Duration::minutes(minute),
        }
    }

    fn absent(kind: AlarmType, minute: i64) -> Signal {
        Signal::Absent {
            alarm_type: kind,
            at: T0 + Duration::minutes(minute),
        }
    }

    #[test]
    fn raise_update_escalate_clear() {
        use AlarmType::TemperatureExcursion as Temp;
        let mut book = AlarmBook::new();
        let t = book.apply(SHP, present(Temp, Severity::Major, 9.0, 0));
        assert!(matches!(&t[..], [AlarmTransition::Raised { .. }]));
        let raised = t[0].alarm().clone();
        assert_eq!(raised.state, AlarmState::ActiveUnack);
        assert_eq!(raised.count, 1);
        assert_eq!(raised.alarm_id, "shp-1#TEMPERATURE_EXCURSION#1767225600000");

        let t = book.apply(SHP, present(Temp, Severity::Major, 11.0, 1));
        assert!(matches!(&t[..], [AlarmTransition::Updated { .. }]));
        assert_eq!(t[0].alarm().count, 2);
        assert_eq!(t[0].alarm().peak_value, 11.0);
        assert_eq!(t[0].alarm().alarm_id, raised.alarm_id);

        let t = book.apply(SHP, present(Temp, Severity::Critical, 10.0, 2));
        match &t[..] {
            [AlarmTransition::Escalated { alarm, from }] => {
                assert_eq!(*from, Severity::Major);
                assert_eq!(alarm.severity, Severity::Critical);
                assert_eq!(alarm.peak_value, 11.0, "peak kept");
                assert_eq!(alarm.value, 10.0);
            }
            other => panic!("{other:?}"),
        }
        // no de-escalation
        let t = book.apply(SHP, present(Temp, Severity::Major, 9.0, 3));
        assert_eq!(t[0].alarm().severity, Severity::Critical);
        assert_eq!(book.active.len(), 1);

        let t = book.apply(SHP, absent(Temp, 4));
        match &t[..] {
            [AlarmTransition::Cleared { alarm }] => {
                assert_eq!(alarm.state, AlarmState::Cleared);
                assert_eq!(alarm.cleared_at, Some(T0 + Duration::minutes(4)));
            }
            other => panic!("{other:?}"),
        }
        assert!(book.active.is_empty());
        assert!(book.apply(SHP, absent(Temp, 5)).is_empty());

        // a new excursion raises a new alarm
        let t = book.apply(SHP, present(Temp, Severity::Major, 9.0, 6));
        assert!(matches!(&t[..], [AlarmTransition::Raised { .. }]));
        assert_ne!(t[0].alarm().alarm_id, raised.alarm_id);
    }

    #[test]
    fn stale_signals_change_nothing() {
        let mut book = AlarmBook::new();
        book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 5.0, 3));
        let before = book.clone();
        assert!(
            book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 9.0, 3))
                .is_empty()
        );
        assert!(
            book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 9.0, 1))
                .is_empty()
        );
        assert_eq!(book, before);
    }

    #[test]
    fn types_are_independent() {
        let mut book = AlarmBook::new();
        book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 5.0, 0));
        book.apply(
            SHP,
            present(AlarmType::PreExcursion, Severity::Warning, 1.0, 0),
        );
        assert_eq!(book.active.len(), 2);
        assert!(
            book.apply(SHP, absent(AlarmType::Shock, -1)).is_empty(),
            "stale"
        );
        book.apply(SHP, absent(AlarmType::Shock, 1));
        assert!(book.get(AlarmType::Shock).is_none());
        assert!(book.get(AlarmType::PreExcursion).is_some());
    }

    fn request() -> ReviewRequest {
        ReviewRequest {
            reason: "driver closed the door".into(),
            disposition: super::super::review::Disposition::NoProductImpact,
        }
    }

    #[test]
    fn a_review_acknowledges_once_and_a_cleared_alarm_leaves_the_book() {
        let mut book = AlarmBook::new();
        let t = book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 5.0, 0));
        let id = t[0].alarm().alarm_id.clone();
        let at = T0 + Duration::minutes(1);
        let ack = book
            .review(&id, &request(), "usr-anna", at)
            .unwrap()
            .unwrap();
        assert_eq!(ack.kind(), "ACKNOWLEDGED");
        assert!(!ack.is_published());
        assert_eq!(ack.alarm().state, AlarmState::ActiveAck);
        assert_eq!(ack.alarm().acknowledged_by.as_deref(), Some("usr-anna"));
        assert_eq!(ack.alarm().acknowledged_at, Some(at));
        // second time: nothing, first review kept
        assert_eq!(
            book.review(&id, &request(), "usr-bob", at + Duration::minutes(1)),
            Ok(None)
        );
        assert_eq!(
            book.get(AlarmType::Shock)
                .unwrap()
                .acknowledged_by
                .as_deref(),
            Some("usr-anna")
        );
        // acknowledged alarms still update
        let t = book.apply(SHP, present(AlarmType::Shock, Severity::Critical, 6.0, 2));
        assert_eq!(t[0].alarm().state, AlarmState::ActiveAck);

        let t = book.apply(SHP, absent(AlarmType::Shock, 3));
        let cleared = t[0].alarm().clone();
        assert!(cleared.is_reviewed(), "the review goes with the clearing");
        assert!(matches!(
            book.review(&id, &request(), "usr-anna", at),
            Err(AckRefused::NotActive { .. })
        ));
    }

    #[test]
    fn wire_format() {
        let mut book = AlarmBook::new();
        let t = book.apply(
            SHP,
            present(AlarmType::TemperatureExcursion, Severity::Major, 9.0, 0),
        );
        let json = serde_json::to_value(&t[0]).unwrap();
        assert_eq!(json["transition"], "RAISED");
        assert_eq!(json["alarm"]["alarm_type"], "TEMPERATURE_EXCURSION");
        assert_eq!(json["alarm"]["severity"], "MAJOR");
        assert_eq!(json["alarm"]["state"], "ACTIVE_UNACK");
        assert_eq!(json["alarm"]["raised_at"], "2026-01-01T00:00:00Z");
        let back: AlarmTransition = serde_json::from_value(json).unwrap();
        assert_eq!(back, t[0]);
        let book_back: AlarmBook =
            serde_json::from_str(&serde_json::to_string(&book).unwrap()).unwrap();
        assert_eq!(book_back, book);
        assert!(Severity::Warning < Severity::Major && Severity::Major < Severity::Critical);
        for kind in AlarmType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}

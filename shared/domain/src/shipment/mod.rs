//! Shipment orders: what is shipped, between whom, under which temperature
//! rules, and where it is in its life.
//!
//! - [`profile`]: [`TemperatureProfile`], the range, alarm delay and excursion
//!   budget of a product;
//! - [`state`]: the state machine ([`ShipmentState`], [`Transition`]);
//! - [`policy`]: who may do what ([`authorize`], the table [`PERMISSIONS`]);
//! - [`validation`]: untrusted requests into [`ShipmentDraft`],
//!   [`TransitionRequest`] and [`ListParams`], with per-field errors;
//! - [`events`]: the domain events ([`ShipmentEvent`]) derived from a change;
//! - [`ports`]: the store and clock the orders function needs.
//!
//! Money is never a float: [`Money::amount`] is a decimal string such as
//! `"12500.00"` (see [`Money`]).

pub mod binding;
pub mod currency;
pub mod events;
pub mod policy;
pub mod ports;
pub mod profile;
pub mod silence;
pub mod state;
pub mod validation;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{Actor, AuditRecord, EntityType};
use crate::identity::Principal;

pub use events::{ShipmentEvent, ShipmentEventType, derive_event, event_id};
pub use policy::{Action, Denied, PERMISSIONS, Parties, Permission, Relation, authorize, may_ever};
pub use profile::{
    ColdZone, CustomProfile, HotZone, LimitRule, ProfileLimits, TemperatureProfile, Zone,
};
pub use state::{InvalidTransition, ShipmentState, Transition, UnknownState};
pub use validation::{
    ListParams, ShipmentDraft, TransitionRequest, parse_create_request, parse_list_params,
    parse_transition_request,
};

/// The prefix of every shipment id (`shp-` and a UUID).
pub const SHIPMENT_ID_PREFIX: &str = "shp-";

/// A fresh shipment id, e.g. `shp-0b5f4a6e-…`: 40 characters that obey the
/// telemetry id rules, so devices can name the shipment in their readings.
pub fn new_shipment_id() -> String {
    format!("{SHIPMENT_ID_PREFIX}{}", uuid::Uuid::new_v4())
}

/// An amount of money in a currency.
///
/// `amount` is a non-negative decimal string with at most
/// [`validation::MAX_AMOUNT_INTEGER_DIGITS`] digits before the point and at
/// most [`validation::MAX_AMOUNT_FRACTION_DIGITS`] after it, without sign,
/// exponent or leading zeros (`"0"`, `"12500"`, `"12500.50"`). A string keeps
/// the value exact across JSON, DynamoDB and every language; use
/// [`Money::scaled`] to compute with it. `currency` is an ISO 4217 code
/// (three uppercase letters; the format is checked, not the list).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Decimal amount, e.g. `"12500.00"`.
    pub amount: String,
    /// ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
}

impl Money {
    /// The amount as an exact integer and a decimal scale:
    /// `"12500.50"` → `(1250050, 2)`, i.e. 1250050 × 10⁻². `None` when the
    /// amount is not a valid decimal (never for a validated one).
    pub fn scaled(&self) -> Option<(u64, u32)> {
        validation::parse_decimal(&self.amount).ok()
    }
}

/// A named place with its coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Name or address, e.g. `Pharma Hub Rotterdam`.
    pub name: String,
    /// Latitude in degrees, −90..=90.
    pub lat: f64,
    /// Longitude in degrees, −180..=180.
    pub lon: f64,
}

/// A shipment order.
///
/// `version` starts at 1 and grows by one with every change; every write is
/// conditional on it (optimistic concurrency). The `*_at` times record when
/// the shipment entered each state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    /// `shp-<uuid>`.
    pub id: String,
    /// What is shipped, e.g. `COVID-19 vaccine (Comirnaty), 6-dose vials`.
    pub product: String,
    /// How many units, at least 1.
    pub quantity: u32,
    /// The value of the cargo.
    pub cargo_value: Money,
    /// The temperature rules of the product.
    pub profile: TemperatureProfile,
    /// The organisation sending the goods.
    pub shipper_org_id: String,
    /// The organisation receiving them.
    pub recipient_org_id: String,
    /// Where the goods are loaded.
    pub origin: Location,
    /// Where they are delivered.
    pub destination: Location,
    /// The sensor reporting the cargo's temperature (the truck's device).
    #[serde(default)]
    pub device_id: Option<String>,
    /// The truck carrying the goods.
    #[serde(default)]
    pub truck_id: Option<String>,
    /// Stretches of the trip where the logger cannot report (see
    /// [`silence`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_silences: Vec<silence::Silence>,
    /// Who started the trip (the driver, in the usual case): set by
    /// [`Shipment::transition_by`] at `start`; the alarm mails of a policy that
    /// asks for the shipment's driver go to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Where the shipment is in its life.
    pub state: ShipmentState,
    /// Optimistic concurrency version: 1 at creation, +1 per change.
    pub version: u64,
    /// When the order was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The user who created it.
    pub created_by: String,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it was dispatched.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub dispatched_at: Option<OffsetDateTime>,
    /// When it went on the road.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub in_transit_at: Option<OffsetDateTime>,
    /// When it was delivered.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// When it was cancelled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    /// Why it was cancelled, when the canceller said.
    #[serde(default)]
    pub cancel_reason: Option<String>,
}

impl Parties for Shipment {
    fn shipper_org_id(&self) -> &str {
        &self.shipper_org_id
    }
    fn recipient_org_id(&self) -> &str {
        &self.recipient_org_id
    }
}

/// Why expected silences are not changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilencesRefused {
    /// The caller's copy is stale.
    #[error("the shipment is at version {current}; reload it and try again")]
    VersionConflict {
        /// The shipment's version.
        current: u64,
    },
    /// The trip is over.
    #[error("the shipment is {0}: its silences can no longer change")]
    Final(ShipmentState),
}

/// Why a requested transition is not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The caller's copy is stale: someone changed the shipment since.
    #[error("the shipment is at version {current}, not {expected}; reload it and try again")]
    VersionConflict {
        /// The version the caller sent.
        expected: u64,
        /// The shipment's version.
        current: u64,
    },
    /// The state machine refuses the move.
    #[error(transparent)]
    Invalid(#[from] InvalidTransition),
}

impl Shipment {
    /// A new order from a validated draft: `PENDING`, version 1, created by
    /// `creator` at `at`.
    pub fn create(
        id: impl Into<String>,
        draft: ShipmentDraft,
        creator: &Principal,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id: id.into(),
            product: draft.product,
            quantity: draft.quantity,
            cargo_value: draft.cargo_value,
            profile: draft.profile,
            shipper_org_id: draft.shipper_org_id,
            recipient_org_id: draft.recipient_org_id,
            origin: draft.origin,
            destination: draft.destination,
            device_id: draft.device_id,
            truck_id: draft.truck_id,
            expected_silences: draft.expected_silences,
            state: ShipmentState::Pending,
            version: 1,
            created_at: at,
            created_by: creator.id().to_owned(),
            updated_at: at,
            dispatched_at: None,
            in_transit_at: None,
            delivered_at: None,
            cancelled_at: None,
            cancel_reason: None,
            started_by: None,
        }
    }

    /// The shipment after `transition` at `at`, if the caller's `expected_version`
    /// is current and the state machine allows it: the next state, the
    /// version + 1, `updated_at` and the state's time set (and the reason of
    /// a cancellation). The shipment itself is left unchanged.
    pub fn transition(
        &self,
        transition: Transition,
        expected_version: u64,
        at: OffsetDateTime,
        reason: Option<String>,
    ) -> Result<Shipment, TransitionError> {
        if expected_version != self.version {
            return Err(TransitionError::VersionConflict {
                expected: expected_version,
                current: self.version,
            });
        }
        let state = self.state.next(transition)?;
        let mut next = self.clone();
        next.state = state;
        next.version = self.version + 1;
        next.updated_at = at;
        match state {
            ShipmentState::Dispatched => next.dispatched_at = Some(at),
            ShipmentState::InTransit => next.in_transit_at = Some(at),
            ShipmentState::Delivered => next.delivered_at = Some(at),
            ShipmentState::Cancelled => {
                next.cancelled_at = Some(at);
                next.cancel_reason = reason;
            }
            ShipmentState::Pending => {}
        }
        Ok(next)
    }

    /// The shipment with `silences` as its expected silences, if the caller's
    /// `expected_version` is current and the shipment is not delivered or
    /// cancelled: the version + 1 and `updated_at` set; the state stays.
    pub fn with_silences(
        &self,
        silences: Vec<silence::Silence>,
        expected_version: u64,
        at: OffsetDateTime,
    ) -> Result<Shipment, SilencesRefused> {
        if expected_version != self.version {
            return Err(SilencesRefused::VersionConflict {
                current: self.version,
            });
        }
        if self.state.is_final() {
            return Err(SilencesRefused::Final(self.state));
        }
        let mut next = self.clone();
        next.expected_silences = silences;
        next.version = self.version + 1;
        next.updated_at = at;
        Ok(next)
    }

    /// [`Shipment::transition`] by the user `actor`: a `start` records them
    /// as the one who started the trip ([`Shipment::started_by`]).
    pub fn transition_by(
        &self,
        transition: Transition,
        expected_version: u64,
        at: OffsetDateTime,
        reason: Option<String>,
        actor: &str,
    ) -> Result<Shipment, TransitionError> {
        let mut next = self.transition(transition, expected_version, at, reason)?;
        if transition == Transition::Start {
            next.started_by = Some(actor.to_owned());
        }
        Ok(next)
    }

    /// When the shipment started: its dispatch (or, without one, its
    /// departure). The start-up period of the cold-chain rules counts from here.
    pub fn started_at(&self) -> Option<OffsetDateTime> {
        self.dispatched_at.or(self.in_transit_at)
    }

    /// When the shipment entered `state` (`None` if it never did).
    pub fn entered_at(&self, state: ShipmentState) -> Option<OffsetDateTime> {
        match state {
            ShipmentState::Pending => Some(self.created_at),
            ShipmentState::Dispatched => self.dispatched_at,
            ShipmentState::InTransit => self.in_transit_at,
            ShipmentState::Delivered => self.delivered_at,
            ShipmentState::Cancelled => self.cancelled_at,
        }
    }

    /// The shipment as JSON (for audit records and events).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The audit record of a change to a shipment by `actor` at `at`: the action
/// is the event type (`shipment.created`, `shipment.dispatched`, …), with the
/// shipment before (none on creation) and after.
pub fn audit_record(
    actor: &Principal,
    before: Option<&Shipment>,
    after: &Shipment,
    at: OffsetDateTime,
) -> AuditRecord {
    let action = match before {
        None => ShipmentEventType::Created,
        Some(_) => ShipmentEventType::for_state(after.state),
    };
    AuditRecord::new(
        EntityType::Shipment,
        after.id.clone(),
        Actor::from(actor),
        action.as_str(),
        at,
        before.map(Shipment::to_json),
        Some(after.to_json()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use proptest::prelude::*;
    use time::Duration;

    #[test]
    fn a_new_shipment_is_pending_at_version_1() {
        let shipment = pending();
        assert_eq!(shipment.state, ShipmentState::Pending);
        assert_eq!(shipment.version, 1);
        assert_eq!(shipment.created_at, T0);
        assert_eq!(shipment.updated_at, T0);
        assert_eq!(shipment.created_by, "manager-of-org-ship");
        assert_eq!(shipment.entered_at(ShipmentState::Pending), Some(T0));
        assert_eq!(shipment.dispatched_at, None);
    }

    #[test]
    fn the_happy_path_sets_each_time_and_bumps_the_version() {
        let t = |minutes| T0 + Duration::minutes(minutes);
        let dispatched = pending()
            .transition(Transition::Dispatch, 1, t(10), None)
            .unwrap();
        let on_road = dispatched
            .transition(Transition::Start, 2, t(20), None)
            .unwrap();
        let delivered = on_road
            .transition(Transition::Deliver, 3, t(300), None)
            .unwrap();
        assert_eq!(delivered.state, ShipmentState::Delivered);
        assert_eq!(delivered.version, 4);
        assert_eq!(delivered.dispatched_at, Some(t(10)));
        assert_eq!(delivered.in_transit_at, Some(t(20)));
        assert_eq!(delivered.delivered_at, Some(t(300)));
        assert_eq!(delivered.updated_at, t(300));
        assert_eq!(delivered.cancelled_at, None);
        assert_eq!(delivered.created_at, T0);
    }

    #[test]
    fn a_cancellation_keeps_its_reason() {
        let cancelled = pending()
            .transition(Transition::Cancel, 1, T0, Some("order withdrawn".into()))
            .unwrap();
        assert_eq!(cancelled.state, ShipmentState::Cancelled);
        assert_eq!(cancelled.cancel_reason.as_deref(), Some("order withdrawn"));
        assert_eq!(cancelled.cancelled_at, Some(T0));
    }

    #[test]
    fn a_stale_version_is_a_conflict_whatever_the_transition() {
        let shipment = pending();
        for transition in Transition::ALL {
            assert_eq!(
                shipment.transition(transition, 2, T0, None),
                Err(TransitionError::VersionConflict {
                    expected: 2,
                    current: 1
                })
            );
        }
    }

    #[test]
    fn an_invalid_transition_names_the_states() {
        let error = pending()
            .transition(Transition::Deliver, 1, T0, None)
            .unwrap_err();
        assert_eq!(
            error,
            TransitionError::Invalid(InvalidTransition {
                transition: Transition::Deliver,
                from: ShipmentState::Pending,
                to: ShipmentState::Delivered
            })
        );
        assert!(error.to_string().contains("PENDING → DELIVERED"));
    }

    #[test]
    fn shipments_round_trip_through_json() {
        let shipment = pending()
            .transition(Transition::Cancel, 1, T0 + Duration::seconds(1), None)
            .unwrap();
        let json = shipment.to_json();
        assert_eq!(json["state"], "CANCELLED");
        assert_eq!(json["profile"], serde_json::json!({"kind": "REFRIGERATED"}));
        assert_eq!(
            json["cargo_value"],
            serde_json::json!({"amount": "48000.00", "currency": "EUR"})
        );
        assert_eq!(json["created_at"], "2026-11-21T08:00:00Z");
        assert_eq!(json["dispatched_at"], serde_json::Value::Null);
        let back: Shipment = serde_json::from_value(json).unwrap();
        assert_eq!(back, shipment);
    }

    #[test]
    fn audit_records_carry_before_and_after() {
        let before = pending();
        let after = before
            .transition(Transition::Dispatch, 1, T0, None)
            .unwrap();
        let created = audit_record(&manager("org-ship"), None, &before, T0);
        assert_eq!(created.action, "shipment.created");
        assert_eq!(created.entity_key(), "SHIPMENT#shp-1");
        assert_eq!(created.before, None);
        let dispatched = audit_record(&manager("org-ship"), Some(&before), &after, T0);
        assert_eq!(dispatched.action, "shipment.dispatched");
        assert_eq!(dispatched.before.as_ref().unwrap()["state"], "PENDING");
        assert_eq!(dispatched.after.as_ref().unwrap()["state"], "DISPATCHED");
        assert_eq!(dispatched.actor.role, "MANAGER");
    }

    #[test]
    fn money_scales_exactly() {
        let money = |amount: &str| Money {
            amount: amount.into(),
            currency: "EUR".into(),
        };
        assert_eq!(money("12500.50").scaled(), Some((1_250_050, 2)));
        assert_eq!(money("0").scaled(), Some((0, 0)));
        assert_eq!(
            money("999999999999999.9999").scaled(),
            Some((9_999_999_999_999_999_999, 4))
        );
        assert_eq!(money("1e3").scaled(), None);
    }

    #[test]
    fn new_ids_are_valid_telemetry_shipment_ids() {
        let id = new_shipment_id();
        assert!(id.starts_with(SHIPMENT_ID_PREFIX));
        assert_eq!(id.len(), 40);
        assert!(validation::is_identifier(&id, 64));
        assert_ne!(id, new_shipment_id());
    }

    fn transition_strategy() -> impl Strategy<Value = Transition> {
        prop::sample::select(Transition::ALL.to_vec())
    }

    proptest! {
        /// Any sequence of requested transitions, each sent with either the
        /// current or a wrong version: every accepted step is a move of the
        /// lifecycle, bumps the version by exactly one and stamps the new
        /// state's time; every refused step changes nothing.
        #[test]
        fn the_state_machine_holds_for_any_sequence(
            steps in prop::collection::vec((transition_strategy(), any::<bool>(), 0i64..10_000), 0..20)
        ) {
            let mut shipment = pending();
            let mut visited = vec![shipment.state];
            for (transition, stale, seconds) in steps {
                let at = shipment.updated_at + Duration::seconds(seconds);
                let expected = if stale { shipment.version + 1 } else { shipment.version };
                match shipment.transition(transition, expected, at, None) {
                    Ok(next) => {
                        prop_assert!(!stale);
                        prop_assert!(transition.allowed_from().contains(&shipment.state));
                        prop_assert_eq!(next.state, transition.target());
                        prop_assert_eq!(next.version, shipment.version + 1);
                        prop_assert_eq!(next.updated_at, at);
                        prop_assert_eq!(next.entered_at(next.state), Some(at));
                        prop_assert_eq!(&next.id, &shipment.id);
                        prop_assert_eq!(next.created_at, shipment.created_at);
                        visited.push(next.state);
                        shipment = next;
                    }
                    Err(TransitionError::VersionConflict { expected: e, current }) => {
                        prop_assert!(stale);
                        prop_assert_eq!(e, expected);
                        prop_assert_eq!(current, shipment.version);
                    }
                    Err(TransitionError::Invalid(invalid)) => {
                        prop_assert!(!stale);
                        prop_assert!(!transition.allowed_from().contains(&shipment.state));
                        prop_assert_eq!(invalid.from, shipment.state);
                        prop_assert_eq!(invalid.to, transition.target());
                    }
                }
            }
            // the version counts the accepted steps
            prop_assert_eq!(shipment.version, visited.len() as u64);
            // the path is a prefix of the lifecycle, or ends in a cancellation
            // from PENDING or DISPATCHED
            use ShipmentState::*;
            let lifecycle = [Pending, Dispatched, InTransit, Delivered];
            match visited.iter().position(|s| *s == Cancelled) {
                Some(at) => {
                    prop_assert_eq!(at, visited.len() - 1);
                    prop_assert!(at == 1 || at == 2);
                    prop_assert_eq!(&visited[..at], &lifecycle[..at]);
                }
                None => prop_assert_eq!(&visited[..], &lifecycle[..visited.len()]),
            }
            // times are set exactly for the states visited
            for state in ShipmentState::ALL {
                prop_assert_eq!(shipment.entered_at(state).is_some(), visited.contains(&state));
            }
        }

        /// Final states absorb every transition.
        #[test]
        fn final_states_refuse_everything(transition in transition_strategy(), cancel in any::<bool>()) {
            let shipment = if cancel {
                pending().transition(Transition::Cancel, 1, T0, None).unwrap()
            } else {
                let mut s = pending();
                for (i, t) in [Transition::Dispatch, Transition::Start, Transition::Deliver].into_iter().enumerate() {
                    s = s.transition(t, i as u64 + 1, T0, None).unwrap();
                }
                s
            };
            let refused = shipment.transition(transition, shipment.version, T0, None);
            let is_invalid = matches!(refused, Err(TransitionError::Invalid(_)));
            prop_assert!(is_invalid);
        }
    }
}

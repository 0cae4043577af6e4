//! The shipment state machine.
//!
//! ```text
//! PENDING ──dispatch──▶ DISPATCHED ──start──▶ IN_TRANSIT ──deliver──▶ DELIVERED
//!    │                      │
//!    └──────cancel──────────┴──────────▶ CANCELLED
//! ```
//!
//! `DELIVERED` and `CANCELLED` are final. Every other move is refused with an
//! [`InvalidTransition`] naming the current and the requested state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a shipment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentState {
    /// Ordered, not yet handed to the carrier.
    Pending,
    /// Handed to the carrier (loaded).
    Dispatched,
    /// On the road.
    InTransit,
    /// Received by the recipient (final).
    Delivered,
    /// Called off before it got on the road (final).
    Cancelled,
}

impl ShipmentState {
    /// Every state, in lifecycle order.
    pub const ALL: [ShipmentState; 5] = [
        ShipmentState::Pending,
        ShipmentState::Dispatched,
        ShipmentState::InTransit,
        ShipmentState::Delivered,
        ShipmentState::Cancelled,
    ];

    /// The wire name, e.g. `IN_TRANSIT`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Pending => "PENDING",
            ShipmentState::Dispatched => "DISPATCHED",
            ShipmentState::InTransit => "IN_TRANSIT",
            ShipmentState::Delivered => "DELIVERED",
            ShipmentState::Cancelled => "CANCELLED",
        }
    }

    /// Whether no transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(self, ShipmentState::Delivered | ShipmentState::Cancelled)
    }

    /// The state `transition` leads to from here, or why it is not allowed.
    pub fn next(self, transition: Transition) -> Result<ShipmentState, InvalidTransition> {
        if transition.allowed_from().contains(&self) {
            Ok(transition.target())
        } else {
            Err(InvalidTransition {
                transition,
                from: self,
                to: transition.target(),
            })
        }
    }
}

impl fmt::Display for ShipmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`ShipmentState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown shipment state {0:?}; expected PENDING, DISPATCHED, IN_TRANSIT, DELIVERED or CANCELLED"
)]
pub struct UnknownState(pub String);

impl FromStr for ShipmentState {
    type Err = UnknownState;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ShipmentState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownState(name.to_owned()))
    }
}

/// A change of state a person can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// PENDING → DISPATCHED.
    Dispatch,
    /// DISPATCHED → IN_TRANSIT.
    Start,
    /// IN_TRANSIT → DELIVERED.
    Deliver,
    /// PENDING or DISPATCHED → CANCELLED.
    Cancel,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 4] = [
        Transition::Dispatch,
        Transition::Start,
        Transition::Deliver,
        Transition::Cancel,
    ];

    /// The name, as in the route `POST /v1/shipments/{id}/<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Dispatch => "dispatch",
            Transition::Start => "start",
            Transition::Deliver => "deliver",
            Transition::Cancel => "cancel",
        }
    }

    /// The state the transition leads to.
    pub fn target(self) -> ShipmentState {
        match self {
            Transition::Dispatch => ShipmentState::Dispatched,
            Transition::Start => ShipmentState::InTransit,
            Transition::Deliver => ShipmentState::Delivered,
            Transition::Cancel => ShipmentState::Cancelled,
        }
    }

    /// The states the transition may start from.
    pub fn allowed_from(self) -> &'static [ShipmentState] {
        match self {
            Transition::Dispatch => &[ShipmentState::Pending],
            Transition::Start => &[ShipmentState::Dispatched],
            Transition::Deliver => &[ShipmentState::InTransit],
            Transition::Cancel => &[ShipmentState::Pending, ShipmentState::Dispatched],
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transition {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Transition::ALL
            .into_iter()
            .find(|transition| transition.as_str() == name)
            .ok_or_else(|| format!("unknown transition {name:?}"))
    }
}

/// A transition the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot {transition} a shipment that is {from}: {from} → {to} is not allowed{}",
    allowed_hint(.transition, .from)
)]
pub struct InvalidTransition {
    /// What was asked.
    pub transition: Transition,
    /// The shipment's current state.
    pub from: ShipmentState,
    /// The state the transition leads to.
    pub to: ShipmentState,
}

fn allowed_hint(transition: &Transition, from: &ShipmentState) -> String {
    if from.is_final() {
        return format!(" ({from} is final)");
    }
    let allowed: Vec<&str> = transition
        .allowed_from()
        .iter()
        .map(|state| state.as_str())
        .collect();
    format!(" (only from {})", allowed.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_moves_are_exactly_the_lifecycle() {
        use ShipmentState::*;
        use Transition::*;
        let allowed = [
            (Pending, Dispatch, Dispatched),
            (Dispatched, Start, InTransit),
            (InTransit, Deliver, Delivered),
            (Pending, Cancel, Cancelled),
            (Dispatched, Cancel, Cancelled),
        ];
        for from in ShipmentState::ALL {
            for transition in Transition::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == transition)
                    .map(|(_, _, to)| *to);
                match (from.next(transition), expected) {
                    (Ok(to), Some(expected)) => assert_eq!(to, expected),
                    (Err(error), None) => {
                        assert_eq!(error.from, from);
                        assert_eq!(error.to, transition.target());
                        let message = error.to_string();
                        assert!(message.contains(from.as_str()), "{message}");
                        assert!(message.contains(transition.target().as_str()), "{message}");
                    }
                    (got, expected) => {
                        panic!("{from} {transition}: got {got:?}, expected {expected:?}")
                    }
                }
            }
        }
    }

    #[test]
    fn final_states_are_final() {
        for state in [ShipmentState::Delivered, ShipmentState::Cancelled] {
            assert!(state.is_final());
            assert!(Transition::ALL.iter().all(|t| state.next(*t).is_err()));
        }
        assert!(!ShipmentState::Pending.is_final());
    }

    #[test]
    fn refusals_say_why() {
        let error = ShipmentState::Delivered
            .next(Transition::Cancel)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot cancel a shipment that is DELIVERED: DELIVERED → CANCELLED is not allowed (DELIVERED is final)"
        );
        let error = ShipmentState::InTransit
            .next(Transition::Cancel)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot cancel a shipment that is IN_TRANSIT: IN_TRANSIT → CANCELLED is not allowed (only from PENDING or DISPATCHED)"
        );
    }

    #[test]
    fn names_round_trip() {
        for state in ShipmentState::ALL {
            assert_eq!(state.as_str().parse::<ShipmentState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!("in_transit".parse::<ShipmentState>().is_err());
        for transition in Transition::ALL {
            assert_eq!(transition.as_str().parse::<Transition>(), Ok(transition));
        }
        assert!("teleport".parse::<Transition>().is_err());
    }
}

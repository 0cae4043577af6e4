//! Open WebSocket connections and who may see which event.
//!
//! `$connect` verifies the caller's access token and registers a
//! [`Connection`]: the user, their role and organisation, and when it ends
//! ([`CONNECTION_TTL`] after connecting, API Gateway's longest connection;
//! the registry forgets it then even when `$disconnect` never arrives).
//! Devices do not get live events.
//!
//! The rule ([`may_receive`]): a connection receives an event only if its
//! organisation is the event's shipper or recipient, and, while it is
//! subscribed to a shipment, only that shipment's events. The same rule
//! decides who may subscribe to a shipment ([`may_subscribe`]). Roles do
//! not matter: whoever may read a shipment sees its live events.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use super::event::LiveEvent;
use crate::identity::{Principal, Role};
use crate::shipment::Parties;

/// How long a connection lives: API Gateway closes a WebSocket connection
/// after 2 hours, and the registry's entry expires with it.
pub const CONNECTION_TTL: Duration = Duration::hours(2);

/// Why a caller may not open a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// Devices send telemetry; they get no live events.
    #[error("devices get no live events")]
    Device,
    /// The request names no connection.
    #[error("no connection id")]
    MissingConnectionId,
}

/// An open connection, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// API Gateway's id of the connection.
    pub connection_id: String,
    /// The signed-in user.
    pub user_id: String,
    /// The user's organisation: the connection sees its shipments' events.
    pub org_id: String,
    /// The user's role.
    pub role: Role,
    /// When the connection was opened.
    pub connected_at: OffsetDateTime,
    /// When it ends at the latest ([`CONNECTION_TTL`] after opening).
    pub expires_at: OffsetDateTime,
    /// The one shipment it follows, if it subscribed to one.
    pub subscription: Option<String>,
}

impl Connection {
    /// The connection `connection_id` of `principal`, opened at
    /// `connected_at`; devices are refused.
    pub fn open(
        connection_id: &str,
        principal: &Principal,
        connected_at: OffsetDateTime,
    ) -> Result<Self, ConnectionRefused> {
        if connection_id.trim().is_empty() {
            return Err(ConnectionRefused::MissingConnectionId);
        }
        match principal {
            Principal::Device { .. } => Err(ConnectionRefused::Device),
            Principal::User {
                user_id,
                org_id,
                role,
            } => Ok(Self {
                connection_id: connection_id.to_owned(),
                user_id: user_id.clone(),
                org_id: org_id.clone(),
                role: *role,
                connected_at,
                expires_at: connected_at + CONNECTION_TTL,
                subscription: None,
            }),
        }
    }

    /// Whether the connection can still be open at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// Whether `org_id` may follow `shipment` (it ships or receives it).
pub fn may_subscribe(org_id: &str, shipment: &impl Parties) -> bool {
    shipment.relation_of(org_id).is_some()
}

/// Whether `connection` receives `event` at `now`: it is live, its
/// organisation ships or receives the event's shipment, and it follows
/// either every shipment or this one.
pub fn may_receive(connection: &Connection, event: &LiveEvent, now: OffsetDateTime) -> bool {
    connection.is_live(now)
        && may_subscribe(&connection.org_id, event)
        && connection
            .subscription
            .as_deref()
            .is_none_or(|shipment_id| shipment_id == event.shipment_id)
}

/// The connections among `candidates` that receive `event` at `now`, each
/// once.
pub fn audience<'a>(
    event: &LiveEvent,
    candidates: impl IntoIterator<Item = &'a Connection>,
    now: OffsetDateTime,
) -> Vec<&'a Connection> {
    let mut seen = BTreeSet::new();
    candidates
        .into_iter()
        .filter(|connection| may_receive(connection, event, now))
        .filter(|connection| seen.insert(connection.connection_id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 08:00 UTC);

    fn user(org: &str, role: Role) -> Principal {
        Principal::User {
            user_id: format!("usr-{org}"),
            org_id: org.to_owned(),
            role,
        }
    }

    fn connection(id: &str, org: &str) -> Connection {
        Connection::open(id, &user(org, Role::Pharmacist), T0).unwrap()
    }

    fn event(shipment: &str, shipper: &str, recipient: &str) -> LiveEvent {
        let body = json!({
            "event_id": format!("{shipment}:v1"), "event_type": "shipment.created",
            "shipment_id": shipment, "shipper_org_id": shipper, "recipient_org_id": recipient,
        });
        LiveEvent::from_notification(&body.to_string(), &BTreeMap::new()).unwrap()
    }

    #[test]
    fn a_user_connection_lives_two_hours() {
        let opened = Connection::open("abc=", &user("org-a", Role::Manager), T0).unwrap();
        assert_eq!(opened.user_id, "usr-org-a");
        assert_eq!(opened.org_id, "org-a");
        assert_eq!(opened.role, Role::Manager);
        assert_eq!(opened.expires_at, datetime!(2026-11-21 10:00 UTC));
        assert_eq!(opened.subscription, None);
        assert!(opened.is_live(T0 + Duration::minutes(119)));
        assert!(!opened.is_live(T0 + Duration::hours(2)));
    }

    #[test]
    fn devices_and_nameless_connections_are_refused() {
        let device = Principal::Device {
            device_id: "truck-7".into(),
            org_id: "org-a".into(),
        };
        assert_eq!(
            Connection::open("abc=", &device, T0),
            Err(ConnectionRefused::Device)
        );
        assert_eq!(
            Connection::open(" ", &user("org-a", Role::Admin), T0),
            Err(ConnectionRefused::MissingConnectionId)
        );
    }

    #[test]
    fn only_the_shipper_and_the_recipient_receive_an_event() {
        let event = event("shp-1", "org-a", "org-b");
        assert!(may_receive(&connection("c1", "org-a"), &event, T0));
        assert!(may_receive(&connection("c2", "org-b"), &event, T0));
        assert!(!may_receive(&connection("c3", "org-c"), &event, T0));
        // admins of other organisations too: their power is over accounts
        let admin = Connection::open("c4", &user("org-ops", Role::Admin), T0).unwrap();
        assert!(!may_receive(&admin, &event, T0));
    }

    #[test]
    fn a_subscription_narrows_to_one_shipment() {
        let mut following = connection("c1", "org-a");
        following.subscription = Some("shp-1".into());
        assert!(may_receive(
            &following,
            &event("shp-1", "org-a", "org-b"),
            T0
        ));
        assert!(!may_receive(
            &following,
            &event("shp-2", "org-a", "org-b"),
            T0
        ));
        // a subscription never widens: another organisation's shipment of the same id stays hidden
        let mut other = connection("c2", "org-c");
        other.subscription = Some("shp-1".into());
        assert!(!may_receive(&other, &event("shp-1", "org-a", "org-b"), T0));
    }

    #[test]
    fn an_expired_connection_receives_nothing() {
        let event = event("shp-1", "org-a", "org-b");
        let old = connection("c1", "org-a");
        assert!(!may_receive(&old, &event, T0 + CONNECTION_TTL));
    }

    #[test]
    fn the_audience_is_every_allowed_connection_once() {
        let event = event("shp-1", "org-a", "org-b");
        let mut narrowed = connection("c4", "org-b");
        narrowed.subscription = Some("shp-2".into());
        let candidates = vec![
            connection("c1", "org-a"),
            connection("c2", "org-b"),
            connection("c3", "org-c"),
            narrowed,
            connection("c1", "org-a"),
        ];
        let ids: Vec<&str> = audience(&event, &candidates, T0)
            .iter()
            .map(|c| c.connection_id.as_str())
            .collect();
        assert_eq!(ids, ["c1", "c2"]);
    }

    #[test]
    fn subscribing_needs_a_party_to_the_shipment() {
        let shipment = crate::fixtures::pending();
        assert!(may_subscribe(&shipment.shipper_org_id, &shipment));
        assert!(may_subscribe(&shipment.recipient_org_id, &shipment));
        assert!(!may_subscribe("org-elsewhere", &shipment));
    }
}

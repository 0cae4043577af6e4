//! Who may do what with a shipment.
//!
//! A shipment concerns two organisations, the shipper and the recipient; a
//! user's [`Relation`] to a shipment is which of the two their organisation
//! is. Nobody else ever sees the shipment — not even an ADMIN (admins have no
//! cross-organisation power over shipments), and devices may do nothing here.
//!
//! The rules are the rows of [`PERMISSIONS`] (action, role, relation); a user
//! may do an action when a row matches their role and relation:
//!
//! | action | allowed |
//! |---|---|
//! | create | MANAGER, PHARMACIST or ADMIN of the shipper or the recipient (shipper ≠ recipient) |
//! | read / list / audit | any role of the shipper or the recipient |
//! | dispatch | MANAGER or ADMIN of the shipper |
//! | start | DRIVER, MANAGER or ADMIN of the shipper |
//! | deliver | DRIVER, MANAGER or ADMIN of the shipper; PHARMACIST, MANAGER or ADMIN of the recipient |
//! | cancel | MANAGER or ADMIN of the shipper or of the recipient |
//! | acknowledge an alarm | MANAGER, PHARMACIST or ADMIN of the shipper or of the recipient |
//!
//! The tracking, readings and alarms of a shipment are part of reading it
//! ([`Action::Read`], [`Action::List`]).

use std::fmt;

use serde::Serialize;

use super::Transition;
use crate::identity::{Principal, Role};

/// Something a user can do with shipments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a shipment order.
    Create,
    /// Read one shipment.
    Read,
    /// See the shipment in a listing.
    List,
    /// Read the shipment's audit trail.
    Audit,
    /// PENDING → DISPATCHED.
    Dispatch,
    /// DISPATCHED → IN_TRANSIT.
    Start,
    /// IN_TRANSIT → DELIVERED.
    Deliver,
    /// PENDING or DISPATCHED → CANCELLED.
    Cancel,
    /// Acknowledge an active alarm of the shipment.
    AcknowledgeAlarm,
    /// Declare the trip's expected silences (a flight, a ferry) while the
    /// shipment is not delivered or cancelled.
    DeclareSilences,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 10] = [
        Action::Create,
        Action::Read,
        Action::List,
        Action::Audit,
        Action::Dispatch,
        Action::Start,
        Action::Deliver,
        Action::Cancel,
        Action::AcknowledgeAlarm,
        Action::DeclareSilences,
    ];

    /// The name, e.g. `dispatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::List => "list",
            Action::Audit => "audit",
            Action::Dispatch => "dispatch",
            Action::Start => "start",
            Action::Deliver => "deliver",
            Action::Cancel => "cancel",
            Action::AcknowledgeAlarm => "acknowledge_alarm",
            Action::DeclareSilences => "declare_silences",
        }
    }

    /// What the action does, in words: `dispatch a shipment`,
    /// `acknowledge an alarm of a shipment`.
    pub fn phrase(self) -> &'static str {
        match self {
            Action::Create => "create a shipment",
            Action::Read => "read a shipment",
            Action::List => "list a shipment",
            Action::Audit => "audit a shipment",
            Action::Dispatch => "dispatch a shipment",
            Action::Start => "start a shipment",
            Action::Deliver => "deliver a shipment",
            Action::Cancel => "cancel a shipment",
            Action::AcknowledgeAlarm => "acknowledge an alarm of a shipment",
            Action::DeclareSilences => "declare the expected silences of a shipment",
        }
    }

    /// Whether this action only reads.
    pub fn is_read(self) -> bool {
        matches!(self, Action::Read | Action::List | Action::Audit)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Transition> for Action {
    fn from(transition: Transition) -> Self {
        match transition {
            Transition::Dispatch => Action::Dispatch,
            Transition::Start => Action::Start,
            Transition::Deliver => Action::Deliver,
            Transition::Cancel => Action::Cancel,
        }
    }
}

/// What the caller's organisation is to a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Relation {
    /// The organisation sending the goods.
    Shipper,
    /// The organisation receiving them.
    Recipient,
}

impl Relation {
    /// Both relations.
    pub const ALL: [Relation; 2] = [Relation::Shipper, Relation::Recipient];

    /// The wire name, e.g. `SHIPPER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Shipper => "SHIPPER",
            Relation::Recipient => "RECIPIENT",
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the permission table: users with `role` in the organisation
/// that is `relation` to a shipment may do `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Permission {
    /// What may be done.
    pub action: Action,
    /// By which role.
    pub role: Role,
    /// Of which organisation.
    pub relation: Relation,
}

const fn allow(action: Action, role: Role, relation: Relation) -> Permission {
    Permission {
        action,
        role,
        relation,
    }
}

use Action as A;
use Relation::{Recipient as RECIPIENT, Shipper as SHIPPER};
use Role::{Admin as ADMIN, Driver as DRIVER, Manager as MANAGER, Pharmacist as PHARMACIST};

/// The permission table: every allowed (action, role, relation); anything
/// not listed is denied.
pub const PERMISSIONS: &[Permission] = &[
    // create: MANAGER, PHARMACIST or ADMIN of the shipper or the recipient
    allow(A::Create, MANAGER, SHIPPER),
    allow(A::Create, PHARMACIST, SHIPPER),
    allow(A::Create, ADMIN, SHIPPER),
    allow(A::Create, MANAGER, RECIPIENT),
    allow(A::Create, PHARMACIST, RECIPIENT),
    allow(A::Create, ADMIN, RECIPIENT),
    // read / list / audit: any role of either organisation
    allow(A::Read, ADMIN, SHIPPER),
    allow(A::Read, MANAGER, SHIPPER),
    allow(A::Read, PHARMACIST, SHIPPER),
    allow(A::Read, DRIVER, SHIPPER),
    allow(A::Read, ADMIN, RECIPIENT),
    allow(A::Read, MANAGER, RECIPIENT),
    allow(A::Read, PHARMACIST, RECIPIENT),
    allow(A::Read, DRIVER, RECIPIENT),
    allow(A::List, ADMIN, SHIPPER),
    allow(A::List, MANAGER, SHIPPER),
    allow(A::List, PHARMACIST, SHIPPER),
    allow(A::List, DRIVER, SHIPPER),
    allow(A::List, ADMIN, RECIPIENT),
    allow(A::List, MANAGER, RECIPIENT),
    allow(A::List, PHARMACIST, RECIPIENT),
    allow(A::List, DRIVER, RECIPIENT),
    allow(A::Audit, ADMIN, SHIPPER),
    allow(A::Audit, MANAGER, SHIPPER),
    allow(A::Audit, PHARMACIST, SHIPPER),
    allow(A::Audit, DRIVER, SHIPPER),
    allow(A::Audit, ADMIN, RECIPIENT),
    allow(A::Audit, MANAGER, RECIPIENT),
    allow(A::Audit, PHARMACIST, RECIPIENT),
    allow(A::Audit, DRIVER, RECIPIENT),
    // dispatch: MANAGER or ADMIN of the shipper
    allow(A::Dispatch, MANAGER, SHIPPER),
    allow(A::Dispatch, ADMIN, SHIPPER),
    // start: DRIVER, MANAGER or ADMIN of the shipper
    allow(A::Start, DRIVER, SHIPPER),
    allow(A::Start, MANAGER, SHIPPER),
    allow(A::Start, ADMIN, SHIPPER),
    // deliver: DRIVER, MANAGER or ADMIN of the shipper; PHARMACIST, MANAGER or ADMIN of the recipient
    allow(A::Deliver, DRIVER, SHIPPER),
    allow(A::Deliver, MANAGER, SHIPPER),
    allow(A::Deliver, ADMIN, SHIPPER),
    allow(A::Deliver, PHARMACIST, RECIPIENT),
    allow(A::Deliver, MANAGER, RECIPIENT),
    allow(A::Deliver, ADMIN, RECIPIENT),
    // cancel: MANAGER or ADMIN of the shipper or of the recipient
    allow(A::Cancel, MANAGER, SHIPPER),
    allow(A::Cancel, ADMIN, SHIPPER),
    allow(A::Cancel, MANAGER, RECIPIENT),
    allow(A::Cancel, ADMIN, RECIPIENT),
    // acknowledge an alarm: MANAGER, PHARMACIST or ADMIN of the shipper or of the recipient
    allow(A::AcknowledgeAlarm, MANAGER, SHIPPER),
    allow(A::AcknowledgeAlarm, PHARMACIST, SHIPPER),
    allow(A::AcknowledgeAlarm, ADMIN, SHIPPER),
    allow(A::AcknowledgeAlarm, MANAGER, RECIPIENT),
    allow(A::AcknowledgeAlarm, PHARMACIST, RECIPIENT),
    allow(A::AcknowledgeAlarm, ADMIN, RECIPIENT),
    // declare expected silences: DRIVER, MANAGER or ADMIN of the shipper (who run the trip)
    allow(A::DeclareSilences, DRIVER, SHIPPER),
    allow(A::DeclareSilences, MANAGER, SHIPPER),
    allow(A::DeclareSilences, ADMIN, SHIPPER),
];

/// Whether the table has the row (action, role, relation).
pub fn is_permitted(action: Action, role: Role, relation: Relation) -> bool {
    PERMISSIONS
        .iter()
        .any(|row| row.action == action && row.role == role && row.relation == relation)
}

/// The two organisations of a shipment or of a shipment order being created.
pub trait Parties {
    /// The organisation sending the goods.
    fn shipper_org_id(&self) -> &str;
    /// The organisation receiving them.
    fn recipient_org_id(&self) -> &str;

    /// What `org_id` is to the shipment (`None`: not involved).
    fn relation_of(&self, org_id: &str) -> Option<Relation> {
        if org_id == self.shipper_org_id() {
            Some(Relation::Shipper)
        } else if org_id == self.recipient_org_id() {
            Some(Relation::Recipient)
        } else {
            None
        }
    }
}

/// Why an action on a shipment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Devices may do nothing with shipment orders.
    #[error("devices may not use shipment orders")]
    Device,
    /// The caller's organisation is neither the shipper nor the recipient.
    /// For an existing shipment this must be answered as "not found", so as
    /// not to reveal that it exists.
    #[error("your organisation is neither the shipper nor the recipient")]
    NotInvolved,
    /// The shipper and the recipient are the same organisation.
    #[error("the shipper and the recipient must be different organisations")]
    SameOrganisation,
    /// The caller's role may not do this in their relation to the shipment.
    #[error("a {role} of the {} may not {}", relation.as_str().to_lowercase(), action.phrase())]
    Role {
        /// The caller's role.
        role: Role,
        /// Their organisation's relation to the shipment.
        relation: Relation,
        /// What they tried.
        action: Action,
    },
}

/// May `principal` do `action` on `subject` (a shipment, or the order being
/// created)? Exactly the rows of [`PERMISSIONS`]; devices never, and never a
/// user whose organisation is neither the shipper nor the recipient.
pub fn authorize(
    principal: &Principal,
    action: Action,
    subject: &impl Parties,
) -> Result<(), Denied> {
    let Some(role) = principal.role() else {
        return Err(Denied::Device);
    };
    if subject.shipper_org_id() == subject.recipient_org_id() {
        return Err(Denied::SameOrganisation);
    }
    let relation = subject
        .relation_of(principal.org_id())
        .ok_or(Denied::NotInvolved)?;
    if is_permitted(action, role, relation) {
        Ok(())
    } else {
        Err(Denied::Role {
            role,
            relation,
            action,
        })
    }
}

/// Whether `principal` could do `action` on some shipment at all (in some
/// relation): a cheap check before looking at a request or a shipment, e.g.
/// a DRIVER can never create and a device can do nothing.
pub fn may_ever(principal: &Principal, action: Action) -> Result<(), Denied> {
    let Some(role) = principal.role() else {
        return Err(Denied::Device);
    };
    if Relation::ALL
        .into_iter()
        .any(|relation| is_permitted(action, role, relation))
    {
        Ok(())
    } else {
        Err(Denied::Role {
            role,
            relation: Relation::Shipper,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Order {
        shipper: &'static str,
        recipient: &'static str,
    }

    impl Parties for Order {
        fn shipper_org_id(&self) -> &str {
            self.shipper
        }
        fn recipient_org_id(&self) -> &str {
            self.recipient
        }
    }

    const ORDER: Order = Order {
        shipper: "org-ship",
        recipient: "org-recv",
    };

    fn user(org: &str, role: Role) -> Principal {
        Principal::User {
            user_id: "u1".into(),
            org_id: org.into(),
            role,
        }
    }

    /// The table of the issue, written out independently of [`PERMISSIONS`]:
    /// the roles allowed per (action, relation).
    fn expected(action: Action, relation: Relation) -> &'static [Role] {
        use Action::*;
        use Relation::*;
        match (action, relation) {
            (Create, _) => &[Role::Manager, Role::Pharmacist, Role::Admin],
            (Read | List | Audit, _) => &Role::ALL,
            (Dispatch, Shipper) => &[Role::Manager, Role::Admin],
            (Dispatch, Recipient) => &[],
            (Start, Shipper) => &[Role::Driver, Role::Manager, Role::Admin],
            (Start, Recipient) => &[],
            (Deliver, Shipper) => &[Role::Driver, Role::Manager, Role::Admin],
            (Deliver, Recipient) => &[Role::Pharmacist, Role::Manager, Role::Admin],
            (Cancel, _) => &[Role::Manager, Role::Admin],
            (AcknowledgeAlarm, _) => &[Role::Manager, Role::Pharmacist, Role::Admin],
            (DeclareSilences, Shipper) => &[Role::Driver, Role::Manager, Role::Admin],
            (DeclareSilences, Recipient) => &[],
        }
    }

    #[test]
    fn authorize_implements_exactly_the_table_of_the_issue() {
        for action in Action::ALL {
            for role in Role::ALL {
                for relation in Relation::ALL {
                    let org = match relation {
                        Relation::Shipper => ORDER.shipper,
                        Relation::Recipient => ORDER.recipient,
                    };
                    let allowed = expected(action, relation).contains(&role);
                    let result = authorize(&user(org, role), action, &ORDER);
                    assert_eq!(result.is_ok(), allowed, "{action} {role} {relation}");
                    assert_eq!(is_permitted(action, role, relation), allowed);
                    if !allowed {
                        assert_eq!(
                            result,
                            Err(Denied::Role {
                                role,
                                relation,
                                action
                            })
                        );
                    }
                }
                // an organisation that is neither: never, whatever the role
                assert_eq!(
                    authorize(&user("org-other", role), action, &ORDER),
                    Err(Denied::NotInvolved),
                    "{action} {role} of another organisation"
                );
            }
        }
    }

    #[test]
    fn the_table_has_no_duplicate_rows() {
        let unique: HashSet<&Permission> = PERMISSIONS.iter().collect();
        assert_eq!(unique.len(), PERMISSIONS.len());
        let expected_rows: usize = Action::ALL
            .iter()
            .flat_map(|action| {
                Relation::ALL
                    .iter()
                    .map(move |r| expected(*action, *r).len())
            })
            .sum();
        assert_eq!(PERMISSIONS.len(), expected_rows);
    }

    #[test]
    fn devices_may_do_nothing() {
        let device = Principal::Device {
            device_id: "truck-7".into(),
            org_id: ORDER.shipper.into(),
        };
        for action in Action::ALL {
            assert_eq!(authorize(&device, action, &ORDER), Err(Denied::Device));
            assert_eq!(may_ever(&device, action), Err(Denied::Device));
        }
    }

    #[test]
    fn admins_have_no_power_over_other_organisations_shipments() {
        for action in Action::ALL {
            assert_eq!(
                authorize(&user("platform-operator", Role::Admin), action, &ORDER),
                Err(Denied::NotInvolved)
            );
        }
    }

    #[test]
    fn shipper_and_recipient_must_differ() {
        let same = Order {
            shipper: "org-a",
            recipient: "org-a",
        };
        assert_eq!(
            authorize(&user("org-a", Role::Manager), Action::Create, &same),
            Err(Denied::SameOrganisation)
        );
    }

    #[test]
    fn may_ever_is_the_union_over_relations() {
        for action in Action::ALL {
            for role in Role::ALL {
                let any = Relation::ALL
                    .iter()
                    .any(|relation| expected(action, *relation).contains(&role));
                assert_eq!(
                    may_ever(&user("x", role), action).is_ok(),
                    any,
                    "{action} {role}"
                );
            }
        }
        assert!(may_ever(&user("x", Role::Driver), Action::Create).is_err());
    }

    #[test]
    fn refusals_read_well() {
        let denied = authorize(
            &user(ORDER.recipient, Role::Driver),
            Action::Deliver,
            &ORDER,
        )
        .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "a DRIVER of the recipient may not deliver a shipment"
        );
        let denied = authorize(
            &user(ORDER.shipper, Role::Driver),
            Action::AcknowledgeAlarm,
            &ORDER,
        )
        .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "a DRIVER of the shipper may not acknowledge an alarm of a shipment"
        );
    }

    #[test]
    fn transitions_map_to_their_actions() {
        for transition in Transition::ALL {
            assert_eq!(Action::from(transition).as_str(), transition.as_str());
        }
    }
}

//! Identity: organisations (the tenants), roles, the principal behind a
//! request, and the rules of who may administer whom.
//!
//! Organisations are the tenants: the logistics operator, hospitals and
//! pharmacies share the platform and never see each other's data. A user has
//! exactly one organisation and one [`Role`]; a device (a truck's sensor) has
//! an organisation and may only send telemetry.
//!
//! The authorizer turns a verified access token into a [`Principal`] and hands
//! it to the routes as the API Gateway authorizer context
//! ([`Principal::to_context`] / [`Principal::from_context`]); the routes never
//! read tokens themselves.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Lifetime of an access token: short. (A revoked user is out sooner: the
/// authorizer reads the account's status, see [`crate::accounts::session`].)
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Absolute lifetime of a refresh-token family, from the login that started
/// it: a working day. Each refresh rotates the token (and a reuse revokes the
/// family), but no rotation extends the family: after this, sign in again.
pub const REFRESH_FAMILY_LIFETIME: Duration = Duration::from_secs(10 * 60 * 60);
/// Issuer (`iss`) of every PharmaGuard token.
pub const TOKEN_ISSUER: &str = "pharmaguard";
/// Audience (`aud`) of access tokens for the REST and WebSocket APIs.
pub const TOKEN_AUDIENCE: &str = "pharmaguard-api";

/// The role of a user within their organisation, from the most to the least
/// powerful. Nobody can grant a role above their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Runs the platform: creates organisations and users of any organisation.
    Admin,
    /// Manages the users and devices of their own organisation and its shipments.
    Manager,
    /// Orders and receives shipments for their organisation.
    Pharmacist,
    /// Drives the truck: starts and delivers shipments, sends telemetry.
    Driver,
}

impl Role {
    /// Every role, from the most to the least powerful.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Pharmacist, Role::Driver];

    /// Power of the role: a higher rank may grant every role of lower or equal rank.
    pub fn rank(self) -> u8 {
        match self {
            Role::Admin => 4,
            Role::Manager => 3,
            Role::Pharmacist => 2,
            Role::Driver => 1,
        }
    }

    /// The wire name, e.g. `MANAGER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Pharmacist => "PHARMACIST",
            Role::Driver => "DRIVER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected ADMIN, MANAGER, PHARMACIST or DRIVER")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// What kind of organisation a tenant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrganisationKind {
    /// Operates the trucks and the platform.
    LogisticsOperator,
    /// Receives (and sometimes ships) medicines.
    Hospital,
    /// Receives (and sometimes ships) medicines.
    Pharmacy,
    /// Manufacturer or wholesaler shipping medicines.
    Supplier,
}

impl OrganisationKind {
    /// Every kind.
    pub const ALL: [OrganisationKind; 4] = [
        OrganisationKind::LogisticsOperator,
        OrganisationKind::Hospital,
        OrganisationKind::Pharmacy,
        OrganisationKind::Supplier,
    ];

    /// The wire name, e.g. `LOGISTICS_OPERATOR`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::LogisticsOperator => "LOGISTICS_OPERATOR",
            OrganisationKind::Hospital => "HOSPITAL",
            OrganisationKind::Pharmacy => "PHARMACY",
            OrganisationKind::Supplier => "SUPPLIER",
        }
    }
}

impl fmt::Display for OrganisationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An organisation kind name that is not one of [`OrganisationKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown organisation kind {0:?}; expected LOGISTICS_OPERATOR, HOSPITAL, PHARMACY or SUPPLIER"
)]
pub struct UnknownOrganisationKind(pub String);

impl FromStr for OrganisationKind {
    type Err = UnknownOrganisationKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        OrganisationKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownOrganisationKind(name.to_owned()))
    }
}

/// Who is calling: a user with a role, or a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A person, signed in with email and password.
    User {
        /// The user's id.
        user_id: String,
        /// The user's organisation.
        org_id: String,
        /// The user's role in it.
        role: Role,
    },
    /// A truck's sensor, signed in with its device credentials.
    Device {
        /// The device's id (the `device_id` of its readings).
        device_id: String,
        /// The organisation that registered it.
        org_id: String,
    },
}

/// Keys of the authorizer context, the contract between the authorizer and the
/// routes (API Gateway passes `principalId` beside them).
pub mod context_keys {
    /// `user` or `device`.
    pub const KIND: &str = "kind";
    /// The principal's organisation id.
    pub const ORG: &str = "org";
    /// The user's role (absent for devices).
    pub const ROLE: &str = "role";
}

/// The authorizer context does not describe a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no valid principal in the authorizer context: {0}")]
pub struct InvalidContext(pub String);

impl Principal {
    /// The id of the user or device.
    pub fn id(&self) -> &str {
        match self {
            Principal::User { user_id, .. } => user_id,
            Principal::Device { device_id, .. } => device_id,
        }
    }

    /// The organisation the principal belongs to.
    pub fn org_id(&self) -> &str {
        match self {
            Principal::User { org_id, .. } | Principal::Device { org_id, .. } => org_id,
        }
    }

    /// The user's role; `None` for a device.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::User { role, .. } => Some(*role),
            Principal::Device { .. } => None,
        }
    }

    /// Whether the principal has this role (devices have none).
    pub fn is(&self, role: Role) -> bool {
        self.role() == Some(role)
    }

    /// Devices, drivers and admins may send telemetry.
    pub fn may_send_telemetry(&self) -> bool {
        matches!(self, Principal::Device { .. }) || self.is(Role::Driver) || self.is(Role::Admin)
    }

    /// The `principalId` and the context the authorizer returns to API Gateway.
    pub fn to_context(&self) -> (String, BTreeMap<String, String>) {
        let mut context = BTreeMap::new();
        context.insert(context_keys::ORG.to_owned(), self.org_id().to_owned());
        match self {
            Principal::User { role, .. } => {
                context.insert(context_keys::KIND.to_owned(), "user".to_owned());
                context.insert(context_keys::ROLE.to_owned(), role.as_str().to_owned());
            }
            Principal::Device { .. } => {
                context.insert(context_keys::KIND.to_owned(), "device".to_owned());
            }
        }
        (self.id().to_owned(), context)
    }

    /// Reads the principal back from `principalId` and the authorizer context
    /// (values as API Gateway passes them: strings, or JSON values).
    pub fn from_context<'a>(
        principal_id: Option<&str>,
        lookup: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, InvalidContext> {
        let id = principal_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| InvalidContext("principalId is missing".to_owned()))?
            .to_owned();
        let org_id = lookup(context_keys::ORG)
            .filter(|org| !org.is_empty())
            .ok_or_else(|| InvalidContext("org is missing".to_owned()))?
            .to_owned();
        match lookup(context_keys::KIND) {
            Some("user") => {
                let role = lookup(context_keys::ROLE)
                    .ok_or_else(|| InvalidContext("role is missing".to_owned()))?
                    .parse()
                    .map_err(|error: UnknownRole| InvalidContext(error.to_string()))?;
                Ok(Principal::User {
                    user_id: id,
                    org_id,
                    role,
                })
            }
            Some("device") => Ok(Principal::Device {
                device_id: id,
                org_id,
            }),
            other => Err(InvalidContext(format!("unknown kind {other:?}"))),
        }
    }
}

/// Why an administrative action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The actor's role does not allow the action at all.
    #[error("a {0} may not do this")]
    Role(String),
    /// The target belongs to another organisation.
    #[error("the target belongs to another organisation")]
    OtherOrganisation,
    /// The role to grant is above the actor's own.
    #[error("nobody can grant a role above their own ({granted} is above {own})")]
    AboveOwnRole {
        /// The actor's role.
        own: Role,
        /// The role they tried to grant.
        granted: Role,
    },
    /// Users cannot change their own role.
    #[error("nobody can change their own role")]
    OwnRole,
    /// Users cannot disable or enable their own account.
    #[error("nobody can disable or enable their own account")]
    OwnAccount,
    /// The target user outranks the actor.
    #[error("a {own} cannot change a {target}")]
    Outranked {
        /// The actor's role.
        own: Role,
        /// The target's current role.
        target: Role,
    },
}

fn user_role(actor: &Principal) -> Result<Role, Denied> {
    actor
        .role()
        .ok_or_else(|| Denied::Role("device".to_owned()))
}

/// Only an ADMIN creates organisations.
pub fn may_create_organisation(actor: &Principal) -> Result<(), Denied> {
    match user_role(actor)? {
        Role::Admin => Ok(()),
        other => Err(Denied::Role(other.to_string())),
    }
}

/// An ADMIN administers the users and devices of every organisation, a
/// MANAGER those of their own; nobody else administers anyone.
pub fn may_administer(actor: &Principal, org_id: &str) -> Result<(), Denied> {
    match user_role(actor)? {
        Role::Admin => Ok(()),
        Role::Manager if actor.org_id() == org_id => Ok(()),
        Role::Manager => Err(Denied::OtherOrganisation),
        other => Err(Denied::Role(other.to_string())),
    }
}

/// May `actor` read the settings of `org_id` (its notification policy)? Its
/// own users, whatever their role, and an ADMIN anywhere; never a device.
pub fn may_read_settings(actor: &Principal, org_id: &str) -> Result<(), Denied> {
    match user_role(actor)? {
        Role::Admin => Ok(()),
        _ if actor.org_id() == org_id => Ok(()),
        _ => Err(Denied::OtherOrganisation),
    }
}

/// May `actor` create a user with `role` in `org_id`? An ADMIN anywhere, a
/// MANAGER in their own organisation; never a role above the actor's own.
pub fn may_create_user(actor: &Principal, org_id: &str, role: Role) -> Result<(), Denied> {
    may_administer(actor, org_id)?;
    let own = user_role(actor)?;
    if role.rank() > own.rank() {
        return Err(Denied::AboveOwnRole { own, granted: role });
    }
    Ok(())
}

/// Whether a non-admin `own` role may act on a user who now has `target`:
/// only on users strictly below them (a MANAGER never on another MANAGER).
/// An ADMIN acts on everyone.
fn outranks(own: Role, target: Role) -> Result<(), Denied> {
    if own != Role::Admin && target.rank() >= own.rank() {
        return Err(Denied::Outranked { own, target });
    }
    Ok(())
}

/// May `actor` change the role of user `target_id` (of `target_org`, now
/// `current`) to `new_role`? Never their own role; a MANAGER only for users
/// below MANAGER in their organisation (only an ADMIN changes a MANAGER's or
/// an ADMIN's role); never to a role above the actor's own.
pub fn may_change_role(
    actor: &Principal,
    target_id: &str,
    target_org: &str,
    current: Role,
    new_role: Role,
) -> Result<(), Denied> {
    if actor.id() == target_id {
        return Err(Denied::OwnRole);
    }
    may_administer(actor, target_org)?;
    let own = user_role(actor)?;
    outranks(own, current)?;
    if new_role.rank() > own.rank() {
        return Err(Denied::AboveOwnRole {
            own,
            granted: new_role,
        });
    }
    Ok(())
}

/// May `actor` disable or re-enable user `target_id` (of `target_org`, with
/// `target_role`)? An ADMIN anyone, a MANAGER the users below MANAGER of
/// their organisation; nobody themselves.
pub fn may_set_user_disabled(
    actor: &Principal,
    target_id: &str,
    target_org: &str,
    target_role: Role,
) -> Result<(), Denied> {
    if actor.id() == target_id && actor.role().is_some() {
        return Err(Denied::OwnAccount);
    }
    may_administer(actor, target_org)?;
    outranks(user_role(actor)?, target_role)
}

/// May `actor` disable or re-enable a device of `device_org`? Whoever
/// administers that organisation (ADMIN anywhere, MANAGER their own).
pub fn may_set_device_disabled(actor: &Principal, device_org: &str) -> Result<(), Denied> {
    may_administer(actor, device_org)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, org: &str, role: Role) -> Principal {
        Principal::User {
            user_id: id.to_owned(),
            org_id: org.to_owned(),
            role,
        }
    }

    fn device(id: &str, org: &str) -> Principal {
        Principal::Device {
            device_id: id.to_owned(),
            org_id: org.to_owned(),
        }
    }

    #[test]
    fn roles_parse_and_print_their_wire_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("ROOT".parse::<Role>().is_err());
    }

    #[test]
    fn organisation_kinds_parse_and_print_their_wire_names() {
        for kind in OrganisationKind::ALL {
            assert_eq!(kind.as_str().parse::<OrganisationKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!("hospital".parse::<OrganisationKind>().is_err());
        assert!("CASTLE".parse::<OrganisationKind>().is_err());
    }

    #[test]
    fn ranks_are_strictly_ordered() {
        let ranks: Vec<u8> = Role::ALL.iter().map(|role| role.rank()).collect();
        assert!(ranks.windows(2).all(|pair| pair[0] > pair[1]));
    }

    #[test]
    fn principals_round_trip_through_the_authorizer_context() {
        for principal in [
            user("u1", "org-a", Role::Manager),
            user("u2", "org-b", Role::Driver),
            device("truck-7", "org-a"),
        ] {
            let (id, context) = principal.to_context();
            let back =
                Principal::from_context(Some(&id), |key| context.get(key).map(String::as_str));
            assert_eq!(back, Ok(principal));
        }
    }

    #[test]
    fn an_incomplete_context_is_no_principal() {
        let context: BTreeMap<&str, &str> = [("kind", "user"), ("org", "a")].into();
        assert!(Principal::from_context(Some("u1"), |k| context.get(k).copied()).is_err());
        let context: BTreeMap<&str, &str> = [("kind", "user"), ("role", "ADMIN")].into();
        assert!(Principal::from_context(Some("u1"), |k| context.get(k).copied()).is_err());
        let context: BTreeMap<&str, &str> = [("kind", "robot"), ("org", "a")].into();
        assert!(Principal::from_context(Some("u1"), |k| context.get(k).copied()).is_err());
        let context: BTreeMap<&str, &str> = [("kind", "device"), ("org", "a")].into();
        assert!(Principal::from_context(None, |k| context.get(k).copied()).is_err());
    }

    #[test]
    fn telemetry_is_for_devices_drivers_and_admins() {
        assert!(device("d", "a").may_send_telemetry());
        assert!(user("u", "a", Role::Driver).may_send_telemetry());
        assert!(user("u", "a", Role::Admin).may_send_telemetry());
        assert!(!user("u", "a", Role::Manager).may_send_telemetry());
        assert!(!user("u", "a", Role::Pharmacist).may_send_telemetry());
    }

    #[test]
    fn only_admins_create_organisations() {
        assert_eq!(
            may_create_organisation(&user("u", "a", Role::Admin)),
            Ok(())
        );
        for role in [Role::Manager, Role::Pharmacist, Role::Driver] {
            assert!(may_create_organisation(&user("u", "a", role)).is_err());
        }
        assert!(may_create_organisation(&device("d", "a")).is_err());
    }

    #[test]
    fn who_may_create_which_user_where() {
        let admin = user("admin", "op", Role::Admin);
        let manager = user("m", "a", Role::Manager);
        for role in Role::ALL {
            assert_eq!(may_create_user(&admin, "anywhere", role), Ok(()));
        }
        assert_eq!(may_create_user(&manager, "a", Role::Manager), Ok(()));
        assert_eq!(may_create_user(&manager, "a", Role::Driver), Ok(()));
        assert_eq!(
            may_create_user(&manager, "a", Role::Admin),
            Err(Denied::AboveOwnRole {
                own: Role::Manager,
                granted: Role::Admin
            })
        );
        assert_eq!(
            may_create_user(&manager, "b", Role::Driver),
            Err(Denied::OtherOrganisation)
        );
        for role in [Role::Pharmacist, Role::Driver] {
            assert!(may_create_user(&user("x", "a", role), "a", Role::Driver).is_err());
        }
        assert!(may_create_user(&device("d", "a"), "a", Role::Driver).is_err());
    }

    #[test]
    fn nobody_changes_their_own_role() {
        for role in Role::ALL {
            let actor = user("me", "a", role);
            assert_eq!(
                may_change_role(&actor, "me", "a", role, Role::Admin),
                Err(Denied::OwnRole)
            );
            assert_eq!(
                may_change_role(&actor, "me", "a", role, Role::Driver),
                Err(Denied::OwnRole)
            );
        }
    }

    #[test]
    fn only_an_admin_changes_a_managers_role() {
        let manager = user("m", "a", Role::Manager);
        for new_role in [Role::Driver, Role::Pharmacist, Role::Manager] {
            assert_eq!(
                may_change_role(&manager, "m2", "a", Role::Manager, new_role),
                Err(Denied::Outranked {
                    own: Role::Manager,
                    target: Role::Manager
                })
            );
        }
        let admin = user("admin", "op", Role::Admin);
        for current in Role::ALL {
            for new_role in Role::ALL {
                assert_eq!(may_change_role(&admin, "u", "a", current, new_role), Ok(()));
            }
        }
        // a manager may still promote a user below them up to their own rank
        assert_eq!(
            may_change_role(&manager, "u", "a", Role::Driver, Role::Manager),
            Ok(())
        );
    }

    #[test]
    fn who_may_disable_whom() {
        let admin = user("admin", "op", Role::Admin);
        let manager = user("m", "a", Role::Manager);
        for role in Role::ALL {
            assert_eq!(may_set_user_disabled(&admin, "u", "b", role), Ok(()));
        }
        assert_eq!(
            may_set_user_disabled(&admin, "admin", "op", Role::Admin),
            Err(Denied::OwnAccount)
        );
        assert_eq!(
            may_set_user_disabled(&manager, "m", "a", Role::Manager),
            Err(Denied::OwnAccount)
        );
        for role in [Role::Pharmacist, Role::Driver] {
            assert_eq!(may_set_user_disabled(&manager, "u", "a", role), Ok(()));
        }
        for role in [Role::Admin, Role::Manager] {
            assert_eq!(
                may_set_user_disabled(&manager, "u", "a", role),
                Err(Denied::Outranked {
                    own: Role::Manager,
                    target: role
                })
            );
        }
        assert_eq!(
            may_set_user_disabled(&manager, "u", "b", Role::Driver),
            Err(Denied::OtherOrganisation)
        );
        for role in [Role::Pharmacist, Role::Driver] {
            assert!(may_set_user_disabled(&user("x", "a", role), "u", "a", Role::Driver).is_err());
        }
        assert!(may_set_user_disabled(&device("d", "a"), "u", "a", Role::Driver).is_err());

        assert_eq!(may_set_device_disabled(&admin, "b"), Ok(()));
        assert_eq!(may_set_device_disabled(&manager, "a"), Ok(()));
        assert_eq!(
            may_set_device_disabled(&manager, "b"),
            Err(Denied::OtherOrganisation)
        );
        assert!(may_set_device_disabled(&user("p", "a", Role::Pharmacist), "a").is_err());
        assert!(may_set_device_disabled(&device("d", "a"), "a").is_err());
    }

    #[test]
    fn managers_change_roles_only_below_their_own_in_their_organisation() {
        let manager = user("m", "a", Role::Manager);
        assert_eq!(
            may_change_role(&manager, "u", "a", Role::Driver, Role::Pharmacist),
            Ok(())
        );
        assert_eq!(
            may_change_role(&manager, "u", "a", Role::Driver, Role::Admin),
            Err(Denied::AboveOwnRole {
                own: Role::Manager,
                granted: Role::Admin
            })
        );
        assert_eq!(
            may_change_role(&manager, "u", "a", Role::Admin, Role::Driver),
            Err(Denied::Outranked {
                own: Role::Manager,
                target: Role::Admin
            })
        );
        assert_eq!(
            may_change_role(&manager, "u", "b", Role::Driver, Role::Pharmacist),
            Err(Denied::OtherOrganisation)
        );
        assert!(
            may_change_role(
                &user("p", "a", Role::Pharmacist),
                "u",
                "a",
                Role::Driver,
                Role::Driver
            )
            .is_err()
        );
    }
}

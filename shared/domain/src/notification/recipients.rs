//! Who of an organisation gets a step's mail: its users that an
//! [`Audience`] names, and the audience's extra addresses.

use std::collections::BTreeSet;

use crate::accounts::User;
use crate::identity::Role;

use super::policy::Audience;

/// The prefix of the id under which an extra address is recorded as mailed
/// (`email:<address, lowercase>`), apart from every user id.
pub const EXTRA_ADDRESS_PREFIX: &str = "email:";

/// Someone who gets the email.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Recipient {
    /// The user's id, or `email:<address>` for an extra address: what the
    /// emailer records as mailed.
    pub user_id: String,
    /// The address.
    pub email: String,
    /// The person's name (the address, for an extra one).
    pub name: String,
    /// The organisation whose policy mails them.
    pub org_id: String,
}

/// A user as the emailer knows them: who they are and where to write,
/// never their credentials (its directory reads an index that projects only
/// these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The user's id.
    pub user_id: String,
    /// The sign-in email, where the mail goes.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// The user's organisation.
    pub org_id: String,
    /// The user's role in it.
    pub role: Role,
    /// A disabled account gets no mail.
    pub disabled: bool,
}

impl From<&User> for Contact {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            org_id: user.org_id.clone(),
            role: user.role,
            disabled: user.disabled_at.is_some(),
        }
    }
}

/// The people of `org_id` that `audiences` name, among `contacts`:
///
/// - every enabled user of the organisation with a role an audience names;
/// - the user who started the shipment (`started_by`), when an audience
///   asks for the shipment's driver and that user belongs to the
///   organisation;
/// - the audiences' extra addresses;
/// - and when no user of the organisation matches, its ADMINs, so that an
///   organisation without (say) a manager still hears of its alarm.
///
/// Once each (by user and by address, whatever the case), disabled users and
/// users without an address left out, ordered by address.
pub fn recipients_for(
    audiences: &[&Audience],
    contacts: &[Contact],
    org_id: &str,
    started_by: Option<&str>,
) -> Vec<Recipient> {
    let members: Vec<&Contact> = contacts
        .iter()
        .filter(|c| c.org_id == org_id && !c.disabled && !c.email.trim().is_empty())
        .collect();
    let named = |c: &Contact| {
        audiences.iter().any(|audience| {
            audience.has_role(c.role)
                || (audience.shipment_driver && started_by == Some(c.user_id.as_str()))
        })
    };
    let mut users: Vec<&Contact> = members.iter().copied().filter(|c| named(c)).collect();
    if users.is_empty() {
        users = members
            .iter()
            .copied()
            .filter(|c| c.role == Role::Admin)
            .collect();
    }

    let mut seen_users = BTreeSet::new();
    let mut seen_addresses = BTreeSet::new();
    let mut recipients = Vec::new();
    for user in users {
        if seen_users.insert(user.user_id.clone())
            && seen_addresses.insert(user.email.trim().to_lowercase())
        {
            recipients.push(Recipient {
                user_id: user.user_id.clone(),
                email: user.email.trim().to_owned(),
                name: user.name.clone(),
                org_id: org_id.to_owned(),
            });
        }
    }
    for email in audiences.iter().flat_map(|audience| &audience.emails) {
        let address = email.trim().to_lowercase();
        if !address.is_empty() && seen_addresses.insert(address.clone()) {
            recipients.push(Recipient {
                user_id: format!("{EXTRA_ADDRESS_PREFIX}{address}"),
                email: email.trim().to_owned(),
                name: email.trim().to_owned(),
                org_id: org_id.to_owned(),
            });
        }
    }
    recipients.sort_by_key(|r| r.email.to_lowercase());
    recipients
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::policy::{NotificationPolicy, RoleName};

    fn contact(id: &str, org: &str, role: Role) -> Contact {
        Contact {
            user_id: id.into(),
            email: format!("{id}@{org}.example"),
            name: id.to_uppercase(),
            org_id: org.into(),
            role,
            disabled: false,
        }
    }

    fn ids(recipients: &[Recipient]) -> Vec<&str> {
        recipients.iter().map(|r| r.user_id.as_str()).collect()
    }

    fn people() -> Vec<Contact> {
        vec![
            contact("admin-a", "org-a", Role::Admin),
            contact("manager-a", "org-a", Role::Manager),
            contact("driver-a", "org-a", Role::Driver),
            contact("driver-a2", "org-a", Role::Driver),
            contact("pharmacist-b", "org-b", Role::Pharmacist),
            contact("manager-b", "org-b", Role::Manager),
            contact("admin-b", "org-b", Role::Admin),
        ]
    }

    #[test]
    fn the_default_reaches_the_recipients_pharmacists_and_each_organisations_managers() {
        let policy = NotificationPolicy::default();
        let major = [&policy.major];
        assert_eq!(
            ids(&recipients_for(&major, &people(), "org-b", None)),
            vec!["manager-b", "pharmacist-b"]
        );
        assert_eq!(
            ids(&recipients_for(
                &major,
                &people(),
                "org-a",
                Some("driver-a")
            )),
            vec!["manager-a"],
            "a MAJOR does not go to the driver by default"
        );
        let critical = [&policy.critical];
        assert_eq!(
            ids(&recipients_for(
                &critical,
                &people(),
                "org-a",
                Some("driver-a")
            )),
            vec!["driver-a", "manager-a"],
            "the driver who started the shipment, not every driver"
        );
    }

    #[test]
    fn the_driver_of_another_organisation_is_not_mailed_by_this_one() {
        let policy = NotificationPolicy::default();
        let recipients = recipients_for(&[&policy.critical], &people(), "org-b", Some("driver-a"));
        assert_eq!(ids(&recipients), vec!["manager-b", "pharmacist-b"]);
    }

    #[test]
    fn an_organisation_nobody_matches_falls_back_to_its_admins() {
        let only_managers = Audience::of_roles(&[RoleName::Manager]);
        let contacts = vec![
            contact("admin-c", "org-c", Role::Admin),
            contact("pharmacist-c", "org-c", Role::Pharmacist),
        ];
        assert_eq!(
            ids(&recipients_for(&[&only_managers], &contacts, "org-c", None)),
            vec!["admin-c"]
        );
        assert!(recipients_for(&[&only_managers], &[], "org-c", None).is_empty());
    }

    #[test]
    fn disabled_users_and_users_without_an_address_are_left_out() {
        let mut contacts = people();
        contacts[1].disabled = true; // manager-a
        contacts[0].email = "  ".into(); // admin-a
        let audience = Audience::of_roles(&[RoleName::Manager, RoleName::Admin]);
        assert!(recipients_for(&[&audience], &contacts, "org-a", None).is_empty());
    }

    #[test]
    fn extra_addresses_are_added_once_apart_from_users() {
        let audience = Audience {
            emails: vec![
                "QA@Hospital.example".into(),
                "qa@hospital.example".into(),
                "manager-b@org-b.example".into(),
            ],
            ..Audience::of_roles(&[RoleName::Manager])
        };
        let recipients = recipients_for(&[&audience, &audience], &people(), "org-b", None);
        assert_eq!(
            ids(&recipients),
            vec!["manager-b", "email:qa@hospital.example"]
        );
        assert_eq!(recipients[1].email, "QA@Hospital.example");
        assert!(recipients.iter().all(|r| r.org_id == "org-b"));
    }

    #[test]
    fn a_user_listed_twice_is_mailed_once() {
        let mut contacts = people();
        contacts.push(contact("manager-b", "org-b", Role::Manager));
        let audience = Audience::of_roles(&[RoleName::Manager]);
        assert_eq!(
            ids(&recipients_for(&[&audience], &contacts, "org-b", None)),
            vec!["manager-b"]
        );
    }
}

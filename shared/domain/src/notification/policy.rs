//! Who an organisation mails about an alarm, and how it escalates one that
//! nobody acknowledges: the [`NotificationPolicy`] stored on the organisation.
//!
//! # The default
//!
//! | severity | first mail | reminder (same people) | then |
//! |---|---|---|---|
//! | MAJOR | MANAGERs and PHARMACISTs | after 30 min | the ADMINs (and everyone before) 30 min later |
//! | CRITICAL | MANAGERs, PHARMACISTs and the shipment's driver | after 15 min | the ADMINs (and everyone before) 15 min later |
//!
//! Each organisation of a shipment mails its own people by its own policy:
//! the shipper's managers hear of the truck, the recipient's pharmacists of
//! the goods they must decide about. An audience that matches nobody in the
//! organisation falls back to its ADMINs, so that no organisation goes
//! without a mail because it has no manager.
//!
//! # The escalation chain
//!
//! Step 0 is the mail of the raise (or of an escalation to a higher
//! severity). Every `after_minutes` without an acknowledgement the next step
//! goes out: first `reminders` times to the same people, then once per tier,
//! each tier adding its people to everyone before. The chain ends after the
//! last tier; it stops at once when the alarm is acknowledged or clears, and
//! starts again from step 0 when the alarm escalates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::FieldError;
use crate::coldchain::alarm::Severity;
use crate::identity::Role;

/// Most extra addresses of one audience.
pub const MAX_EXTRA_EMAILS: usize = 10;
/// Most reminders to the same people before the tiers.
pub const MAX_REMINDERS: u32 = 5;
/// Most tiers of a chain.
pub const MAX_TIERS: usize = 5;
/// Most minutes between two steps (a day).
pub const MAX_STEP_MINUTES: u32 = 1440;
/// The time zone of an organisation that set none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// The people of one organisation a step mails.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Every enabled user of the organisation with one of these roles.
    #[serde(default)]
    pub roles: BTreeSet<RoleName>,
    /// The user who started the shipment, when they belong to the
    /// organisation (the driver, in the usual case).
    #[serde(default)]
    pub shipment_driver: bool,
    /// Addresses outside the platform (a QA shared mailbox, a control room).
    #[serde(default)]
    pub emails: Vec<String>,
}

/// A [`Role`] that orders, so that an audience's roles are a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleName {
    /// [`Role::Admin`].
    Admin,
    /// [`Role::Manager`].
    Manager,
    /// [`Role::Pharmacist`].
    Pharmacist,
    /// [`Role::Driver`].
    Driver,
}

impl RoleName {
    /// The role it names.
    pub fn role(self) -> Role {
        match self {
            RoleName::Admin => Role::Admin,
            RoleName::Manager => Role::Manager,
            RoleName::Pharmacist => Role::Pharmacist,
            RoleName::Driver => Role::Driver,
        }
    }
}

impl Audience {
    /// The users with `roles`.
    pub fn of_roles(roles: &[RoleName]) -> Self {
        Self {
            roles: roles.iter().copied().collect(),
            ..Self::default()
        }
    }

    /// Whether the audience names anyone at all.
    pub fn names_anyone(&self) -> bool {
        !self.roles.is_empty() || self.shipment_driver || !self.emails.is_empty()
    }

    /// Whether a user with `role` is in it by role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|name| name.role() == role)
    }
}

/// When an unacknowledged alarm is escalated, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Minutes between the steps of a MAJOR alarm.
    pub major_after_minutes: u32,
    /// Minutes between the steps of a CRITICAL alarm.
    pub critical_after_minutes: u32,
    /// Reminders to the same people before the first tier.
    pub reminders: u32,
    /// The next tiers, in order.
    pub tiers: Vec<Audience>,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            major_after_minutes: 30,
            critical_after_minutes: 15,
            reminders: 1,
            tiers: vec![Audience::of_roles(&[RoleName::Admin])],
        }
    }
}

/// An organisation's notification policy (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationPolicy {
    /// The IANA time zone its mails show times in, next to UTC
    /// (e.g. `Europe/Berlin`).
    pub time_zone: String,
    /// Who gets the first mail of a MAJOR alarm.
    pub major: Audience,
    /// Who gets the first mail of a CRITICAL alarm.
    pub critical: Audience,
    /// The escalation of unacknowledged MAJOR and CRITICAL alarms.
    pub escalation: Escalation,
}

impl Default for NotificationPolicy {
    fn default() -> Self {
        Self {
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            major: Audience::of_roles(&[RoleName::Manager, RoleName::Pharmacist]),
            critical: Audience {
                shipment_driver: true,
                ..Audience::of_roles(&[RoleName::Manager, RoleName::Pharmacist])
            },
            escalation: Escalation::default(),
        }
    }
}

/// One step of a chain: who it mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    /// 0 for the first mail, 1 for the first reminder, …
    pub number: u32,
    /// Everyone the step mails (the first audience, then the tiers so far).
    pub audiences: Vec<&'a Audience>,
    /// Whether the step is a reminder or an escalation (not the first mail).
    pub is_reminder: bool,
}

impl NotificationPolicy {
    /// Who gets the first mail at `severity` (`None` below MAJOR: warnings
    /// are not mailed).
    pub fn first_audience(&self, severity: Severity) -> Option<&Audience> {
        match severity {
            Severity::Critical => Some(&self.critical),
            Severity::Major => Some(&self.major),
            _ => None,
        }
    }

    /// The time between two steps at `severity`.
    pub fn step_interval(&self, severity: Severity) -> Option<Duration> {
        let minutes = match severity {
            Severity::Critical => self.escalation.critical_after_minutes,
            Severity::Major => self.escalation.major_after_minutes,
            _ => return None,
        };
        Some(Duration::minutes(i64::from(minutes)))
    }

    /// The last step of the chain (0 when it has neither reminders nor tiers).
    pub fn last_step(&self) -> u32 {
        self.escalation.reminders + self.escalation.tiers.len() as u32
    }

    /// Step `number` of the chain at `severity`, `None` past its end.
    pub fn step(&self, severity: Severity, number: u32) -> Option<Step<'_>> {
        let first = self.first_audience(severity)?;
        if number > self.last_step() {
            return None;
        }
        let tiers = number.saturating_sub(self.escalation.reminders) as usize;
        let mut audiences = vec![first];
        audiences.extend(self.escalation.tiers.iter().take(tiers));
        Some(Step {
            number,
            audiences,
            is_reminder: number > 0,
        })
    }

    /// When step `number` (≥ 1) is due, for a chain that started at
    /// `started_at`: `number` intervals later. `None` past the chain's end.
    pub fn due_at(
        &self,
        severity: Severity,
        started_at: OffsetDateTime,
        number: u32,
    ) -> Option<OffsetDateTime> {
        if number == 0 || number > self.last_step() {
            return None;
        }
        let interval = self.step_interval(severity)?;
        started_at.checked_add(interval * i32::try_from(number).ok()?)
    }

    /// Every problem of the policy, each naming its field (`policy.` paths).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_known_time_zone(&self.time_zone) {
            errors.push(FieldError::new(
                "time_zone",
                format!(
                    "`{}` is not an IANA time zone (e.g. Europe/Berlin, UTC)",
                    self.time_zone
                ),
            ));
        }
        validate_audience(&self.major, "major", &mut errors);
        validate_audience(&self.critical, "critical", &mut errors);
        let escalation = &self.escalation;
        for (field, minutes) in [
            (
                "escalation.major_after_minutes",
                escalation.major_after_minutes,
            ),
            (
                "escalation.critical_after_minutes",
                escalation.critical_after_minutes,
            ),
        ] {
            if !(1..=MAX_STEP_MINUTES).contains(&minutes) {
                errors.push(FieldError::new(
                    field,
                    format!("must be from 1 to {MAX_STEP_MINUTES} minutes"),
                ));
            }
        }
        if escalation.reminders > MAX_REMINDERS {
            errors.push(FieldError::new(
                "escalation.reminders",
                format!("at most {MAX_REMINDERS}"),
            ));
        }
        if escalation.tiers.len() > MAX_TIERS {
            errors.push(FieldError::new(
                "escalation.tiers",
                format!("at most {MAX_TIERS} tiers"),
            ));
        }
        for (index, tier) in escalation.tiers.iter().enumerate() {
            validate_audience(tier, &format!("escalation.tiers[{index}]"), &mut errors);
        }
        errors
    }
}

fn validate_audience(audience: &Audience, field: &str, errors: &mut Vec<FieldError>) {
    if !audience.names_anyone() {
        errors.push(FieldError::new(
            field,
            "names nobody: give roles, shipment_driver or emails",
        ));
    }
    if audience.emails.len() > MAX_EXTRA_EMAILS {
        errors.push(FieldError::new(
            format!("{field}.emails"),
            format!("at most {MAX_EXTRA_EMAILS} addresses"),
        ));
    }
    for (index, email) in audience.emails.iter().enumerate() {
        if !is_plausible_email(email) {
            errors.push(FieldError::new(
                format!("{field}.emails[{index}]"),
                "not an email address",
            ));
        }
    }
}

/// An address SES can take: one `@` with text on both sides, a dot in the
/// domain, no spaces or control characters, at most 254 characters.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `name` is a time zone of the bundled IANA database.
pub fn is_known_time_zone(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && jiff::tz::TimeZone::get(name).is_ok()
}

/// The policy of a `PUT` body: every field required, every problem named.
pub fn parse_policy(body: &[u8]) -> Result<NotificationPolicy, Vec<FieldError>> {
    let policy: NotificationPolicy = serde_json::from_slice(body).map_err(|error| {
        vec![FieldError::new(
            "body",
            format!("not a notification policy: {error}"),
        )]
    })?;
    let errors = policy.validate();
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_default_mails_managers_and_pharmacists_and_the_driver_when_critical() {
        let policy = NotificationPolicy::default();
        assert!(policy.validate().is_empty());
        let major = policy.first_audience(Severity::Major).unwrap();
        assert!(major.has_role(Role::Manager) && major.has_role(Role::Pharmacist));
        assert!(!major.has_role(Role::Driver) && !major.shipment_driver);
        assert!(
            policy
                .first_audience(Severity::Critical)
                .unwrap()
                .shipment_driver
        );
        assert_eq!(policy.first_audience(Severity::Warning), None);
    }

    #[test]
    fn the_chain_reminds_the_same_people_then_adds_the_tiers() {
        let policy = NotificationPolicy {
            escalation: Escalation {
                reminders: 2,
                tiers: vec![
                    Audience::of_roles(&[RoleName::Admin]),
                    Audience {
                        emails: vec!["qa@example.org".into()],
                        ..Audience::default()
                    },
                ],
                ..Escalation::default()
            },
            ..NotificationPolicy::default()
        };
        assert_eq!(policy.last_step(), 4);
        let first = policy.step(Severity::Critical, 0).unwrap();
        assert!(!first.is_reminder);
        assert_eq!(first.audiences, vec![&policy.critical]);
        for number in [1, 2] {
            let reminder = policy.step(Severity::Critical, number).unwrap();
            assert!(reminder.is_reminder);
            assert_eq!(reminder.audiences, vec![&policy.critical], "step {number}");
        }
        let third = policy.step(Severity::Critical, 3).unwrap();
        assert_eq!(
            third.audiences,
            vec![&policy.critical, &policy.escalation.tiers[0]]
        );
        assert_eq!(
            policy.step(Severity::Critical, 4).unwrap().audiences.len(),
            3
        );
        assert_eq!(policy.step(Severity::Critical, 5), None);
        assert_eq!(policy.step(Severity::Warning, 0), None);
    }

    #[test]
    fn steps_are_due_one_interval_apart_per_severity() {
        let policy = NotificationPolicy::default();
        let t0 = datetime!(2026-12-03 10:00 UTC);
        assert_eq!(
            policy.due_at(Severity::Critical, t0, 1),
            Some(datetime!(2026-12-03 10:15 UTC))
        );
        assert_eq!(
            policy.due_at(Severity::Critical, t0, 2),
            Some(datetime!(2026-12-03 10:30 UTC))
        );
        assert_eq!(
            policy.due_at(Severity::Major, t0, 1),
            Some(datetime!(2026-12-03 10:30 UTC))
        );
        assert_eq!(policy.due_at(Severity::Major, t0, 0), None);
        assert_eq!(policy.due_at(Severity::Major, t0, 3), None, "past the end");
    }

    #[test]
    fn a_policy_is_validated_field_by_field() {
        let body = serde_json::json!({
            "time_zone": "Mars/Olympus",
            "major": {"roles": []},
            "critical": {"roles": ["MANAGER"], "emails": ["not-an-address", "qa@example.org"]},
            "escalation": {
                "major_after_minutes": 0,
                "critical_after_minutes": 2000,
                "reminders": 9,
                "tiers": [{"roles": ["ADMIN"]}, {}]
            }
        });
        let errors = parse_policy(body.to_string().as_bytes()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "time_zone",
                "major",
                "critical.emails[0]",
                "escalation.major_after_minutes",
                "escalation.critical_after_minutes",
                "escalation.reminders",
                "escalation.tiers[1]",
            ]
        );
    }

    #[test]
    fn unknown_roles_and_fields_are_refused() {
        let mut body = serde_json::to_value(NotificationPolicy::default()).unwrap();
        body["major"]["roles"] = serde_json::json!(["OWNER"]);
        let errors = parse_policy(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(errors[0].field, "body");
        let mut body = serde_json::to_value(NotificationPolicy::default()).unwrap();
        body["sms"] = serde_json::json!(true);
        assert!(parse_policy(body.to_string().as_bytes()).is_err());
    }

    #[test]
    fn the_default_round_trips_through_its_json() {
        let policy = NotificationPolicy {
            time_zone: "Europe/Berlin".into(),
            ..NotificationPolicy::default()
        };
        let json = serde_json::to_vec(&policy).unwrap();
        assert_eq!(parse_policy(&json).unwrap(), policy);
    }

    #[test]
    fn time_zones_come_from_the_bundled_database() {
        assert!(is_known_time_zone("Europe/Berlin"));
        assert!(is_known_time_zone("America/New_York"));
        assert!(is_known_time_zone("UTC"));
        assert!(!is_known_time_zone(""));
        assert!(!is_known_time_zone("Europe/Atlantis"));
        assert!(!is_known_time_zone("../../etc/passwd"));
    }
}

//! The handler against an in-memory identity store, a fake mail service,
//! and an in-memory idempotency table, reminders table and alarms table with
//! the DynamoDB adapters' rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use pharmaguard_aws::org_notices::OrgNotice;
use pharmaguard_domain::accounts::User;
use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
use pharmaguard_domain::coldchain::{
    Alarm, AlarmEventType, AlarmState, ShipmentSummary, estimate_risk,
};
use pharmaguard_domain::fixtures::{self, shipment};
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::notification::{Audience, EmailContent, NotificationPolicy, RoleName};
use pharmaguard_domain::ports::IdentityStore;
use pharmaguard_domain::shipment::ShipmentState;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-21 10:33 UTC);
const DASHBOARD: &str = "https://dashboard.example.org";

/// A mail service that keeps what it sends and refuses the addresses in
/// `refusing`.
#[derive(Default)]
struct FakeMail {
    sent: Mutex<Vec<(String, EmailContent)>>,
    refusing: Mutex<HashSet<String>>,
}

impl FakeMail {
    fn refuse(&self, to: &str) {
        self.refusing.lock().unwrap().insert(to.to_owned());
    }

    fn accept_all(&self) {
        self.refusing.lock().unwrap().clear();
    }

    fn recipients(&self) -> Vec<String> {
        let mut to: Vec<String> = self
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|(to, _)| to.clone())
            .collect();
        to.sort();
        to
    }
}

impl EmailSender for FakeMail {
    async fn send(&self, to: &str, content: &EmailContent) -> Result<String, SendError> {
        if self.refusing.lock().unwrap().contains(to) {
            return Err(SendError {
                retryable: true,
                message: "Throttling: maximum sending rate exceeded".into(),
            });
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((to.to_owned(), content.clone()));
        Ok(format!("ses-{}", sent.len()))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    complete: bool,
    lock_until: OffsetDateTime,
    done: BTreeSet<String>,
}

/// The idempotency table in memory, with the conditions of the DynamoDB
/// adapter; `broken` makes every call fail.
#[derive(Default)]
struct MemoryClaims {
    entries: Mutex<BTreeMap<String, Entry>>,
    broken: bool,
}

impl MemoryClaims {
    fn entry(&self, key: &str) -> Option<Entry> {
        self.entries.lock().unwrap().get(key).cloned()
    }

    fn check(&self) -> Result<(), IdempotencyError> {
        if self.broken {
            return Err(IdempotencyError {
                retryable: true,
                message: "ProvisionedThroughputExceededException: slow down".into(),
            });
        }
        Ok(())
    }
}

impl IdempotencyStore for MemoryClaims {
    async fn claim(
        &self,
        key: &str,
        now: OffsetDateTime,
        lock_for: Duration,
    ) -> Result<Claim, IdempotencyError> {
        self.check()?;
        let mut entries = self.entries.lock().unwrap();
        match entries.get_mut(key) {
            Some(entry) if entry.complete => Ok(Claim::Completed),
            Some(entry) if entry.lock_until >= now => Ok(Claim::Busy {
                until: Some(entry.lock_until),
            }),
            Some(entry) => {
                entry.lock_until = now + lock_for;
                Ok(Claim::Acquired {
                    done: entry.done.clone(),
                })
            }
            None => {
                entries.insert(
                    key.to_owned(),
                    Entry {
                        complete: false,
                        lock_until: now + lock_for,
                        done: BTreeSet::new(),
                    },
                );
                Ok(Claim::Acquired {
                    done: BTreeSet::new(),
                })
            }
        }
    }

    async fn record_done(&self, key: &str, step: &str) -> Result<(), IdempotencyError> {
        self.check()?;
        if let Some(entry) = self.entries.lock().unwrap().get_mut(key) {
            entry.done.insert(step.to_owned());
        }
        Ok(())
    }

    async fn complete(&self, key: &str, _now: OffsetDateTime) -> Result<(), IdempotencyError> {
        self.check()?;
        if let Some(entry) = self.entries.lock().unwrap().get_mut(key) {
            entry.complete = true;
        }
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        self.check()?;
        if let Some(entry) = self.entries.lock().unwrap().get_mut(key) {
            if !entry.complete {
                entry.lock_until = OffsetDateTime::UNIX_EPOCH;
            }
        }
        Ok(())
    }
}

fn user(id: &str, org: &str, role: Role) -> User {
    let at = datetime!(2026-11-01 00:00 UTC);
    User {
        id: id.into(),
        email: format!("{id}@{org}.example"),
        name: format!("User {id}"),
        org_id: org.into(),
        role,
        password_hash: "$argon2id$not-a-real-hash".into(),
        version: 1,
        created_at: at,
        updated_at: at,
        disabled_at: None,
        tokens_valid_after: None,
    }
}

/// The directory in memory: the users' contacts, as the index has them.
impl UserDirectory for MemoryIdentityStore {
    async fn users_of(&self, org_id: &str) -> Result<Vec<Contact>, String> {
        let users = self
            .list_users(org_id)
            .await
            .map_err(|error| error.to_string())?;
        Ok(users.iter().map(Contact::from).collect())
    }
}

/// The supplier (two managers, a driver, an admin), the hospital (a manager,
/// a pharmacist) and an unrelated pharmacy (a manager).
fn directory() -> MemoryIdentityStore {
    let store = MemoryIdentityStore::new();
    for user in [
        user("sup-manager-1", "org-supplier", Role::Manager),
        user("sup-manager-2", "org-supplier", Role::Manager),
        user("sup-driver", "org-supplier", Role::Driver),
        user("sup-admin", "org-supplier", Role::Admin),
        user("hos-manager", "org-hospital", Role::Manager),
        user("hos-pharmacist", "org-hospital", Role::Pharmacist),
        user("pha-manager", "org-pharmacy", Role::Manager),
    ] {
        store.seed_user(user);
    }
    store
}

/// The fixture's alarm event on shipment `shp-1` (device `truck-7`), from the
/// supplier to the hospital, at a position of its own.
fn alarm_event(event_type: AlarmEventType, severity: Severity) -> AlarmEvent {
    let mut event = fixtures::alarm_event(event_type, severity);
    event.shipment = ShipmentSummary {
        shipper_org_id: "org-supplier".into(),
        recipient_org_id: "org-hospital".into(),
        ..ShipmentSummary::from(&shipment("shp-1", "truck-7", ShipmentState::InTransit))
    };
    event.context.lat = Some(52.1);
    event.context.lon = Some(9.7);
    event.risk = estimate_risk(&event.risk_input()).ok();
    event
}

fn body(event: &AlarmEvent) -> String {
    event.to_message().body
}

/// Names and policies in memory; an organisation without one has its id as
/// its name and the default policy, as the adapter answers.
#[derive(Default)]
struct MemoryOrganisations {
    notices: Mutex<BTreeMap<String, OrgNotice>>,
    reads: Mutex<usize>,
}

impl MemoryOrganisations {
    fn set(&self, org_id: &str, name: &str, policy: NotificationPolicy) {
        self.notices.lock().unwrap().insert(
            org_id.to_owned(),
            OrgNotice {
                name: name.to_owned(),
                policy,
            },
        );
    }
}

impl Organisations for MemoryOrganisations {
    async fn notice_of(&self, org_id: &str) -> Result<OrgNotice, String> {
        *self.reads.lock().unwrap() += 1;
        Ok(self
            .notices
            .lock()
            .unwrap()
            .get(org_id)
            .cloned()
            .unwrap_or_else(|| OrgNotice {
                name: org_id.to_owned(),
                policy: NotificationPolicy::default(),
            }))
    }
}

/// The reminders table in memory, with the adapter's conditions;
/// `failing_advances` makes that many advances fail first.
#[derive(Default)]
struct MemoryReminders {
    chains: Mutex<BTreeMap<(String, String), Reminder>>,
    failing_advances: Mutex<usize>,
}

impl MemoryReminders {
    fn chains(&self) -> Vec<Reminder> {
        self.chains.lock().unwrap().values().cloned().collect()
    }
}

impl Reminders for MemoryReminders {
    async fn start(&self, reminder: &Reminder) -> Result<bool, String> {
        let mut chains = self.chains.lock().unwrap();
        let key = (reminder.alarm_id.clone(), reminder.org_id.clone());
        match chains.get(&key) {
            Some(stored) if !reminder.supersedes(stored.severity) => Ok(false),
            _ => {
                chains.insert(key, reminder.clone());
                Ok(true)
            }
        }
    }

    async fn due(&self, now: OffsetDateTime, limit: i32) -> Result<Vec<Reminder>, String> {
        let mut due: Vec<Reminder> = self
            .chains()
            .into_iter()
            .filter(|reminder| reminder.due_at <= now)
            .collect();
        due.sort_by_key(|reminder| reminder.due_at);
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn advance(&self, current: &Reminder, next: Option<&Reminder>) -> Result<bool, String> {
        {
            let mut failing = self.failing_advances.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err("ProvisionedThroughputExceededException".into());
            }
        }
        let mut chains = self.chains.lock().unwrap();
        let key = (current.alarm_id.clone(), current.org_id.clone());
        match chains.get(&key) {
            Some(stored) if stored.step == current.step && stored.severity == current.severity => {
                match next {
                    Some(next) => chains.insert(key, next.clone()),
                    None => chains.remove(&key),
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end(&self, alarm_id: &str, org_id: &str, up_to: Severity) -> Result<bool, String> {
        let mut chains = self.chains.lock().unwrap();
        let key = (alarm_id.to_owned(), org_id.to_owned());
        match chains.get(&key) {
            Some(stored) if stored.severity <= up_to => {
                chains.remove(&key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The alarms table in memory.
#[derive(Default)]
struct MemoryAlarms {
    alarms: Mutex<BTreeMap<String, Alarm>>,
}

impl MemoryAlarms {
    fn store(&self, alarm: &Alarm) {
        self.alarms
            .lock()
            .unwrap()
            .insert(alarm.alarm_id.clone(), alarm.clone());
    }
}

impl AlarmStates for MemoryAlarms {
    async fn alarm(&self, _shipment_id: &str, alarm_id: &str) -> Result<Option<Alarm>, String> {
        Ok(self.alarms.lock().unwrap().get(alarm_id).cloned())
    }
}

struct Fixture {
    directory: MemoryIdentityStore,
    organisations: MemoryOrganisations,
    mail: FakeMail,
    claims: MemoryClaims,
    reminders: MemoryReminders,
    alarms: MemoryAlarms,
}

type TestEmailer<'a> = Emailer<
    'a,
    MemoryIdentityStore,
    MemoryOrganisations,
    FakeMail,
    MemoryClaims,
    MemoryReminders,
    MemoryAlarms,
>;

impl Fixture {
    fn new() -> Self {
        let organisations = MemoryOrganisations::default();
        organisations.set(
            "org-supplier",
            "Rhine Pharma Supply",
            NotificationPolicy::default(),
        );
        organisations.set(
            "org-hospital",
            "St. Mary's Hospital",
            NotificationPolicy::default(),
        );
        Self {
            directory: directory(),
            organisations,
            mail: FakeMail::default(),
            claims: MemoryClaims::default(),
            reminders: MemoryReminders::default(),
            alarms: MemoryAlarms::default(),
        }
    }

    fn emailer(&self) -> TestEmailer<'_> {
        Emailer {
            ports: Ports {
                directory: &self.directory,
                organisations: &self.organisations,
                sender: &self.mail,
                claims: &self.claims,
                reminders: &self.reminders,
                alarms: &self.alarms,
            },
            dashboard_url: DASHBOARD,
            lock_for: CLAIM_LOCK,
        }
    }

    /// Mails `event` and stores its alarm as the detector would.
    async fn raise(&self, event: &AlarmEvent) -> Outcome {
        self.alarms.store(&event.alarm);
        self.emailer()
            .process(&body(event), event.occurred_at)
            .await
            .unwrap()
    }

    fn sent(&self) -> Vec<(String, EmailContent)> {
        self.mail.sent.lock().unwrap().clone()
    }

    fn clear_mail(&self) {
        self.mail.sent.lock().unwrap().clear();
    }
}

/// Whom the default policy mails about a MAJOR alarm: the managers of both
/// organisations and the recipient's pharmacist.
const DEFAULT_MAJOR: [&str; 4] = [
    "hos-manager@org-hospital.example",
    "hos-pharmacist@org-hospital.example",
    "sup-manager-1@org-supplier.example",
    "sup-manager-2@org-supplier.example",
];

#[tokio::test]
async fn the_default_policy_mails_the_managers_and_the_recipients_pharmacists() {
    let fixture = Fixture::new();
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    let outcome = fixture.emailer().process(&body(&event), NOW).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Mailed {
            event_id: event.event_id.clone(),
            sent: 4,
            already: 0
        }
    );
    // not the driver, the admin, nor the manager of an organisation that is
    // no party to the shipment
    assert_eq!(fixture.mail.recipients(), DEFAULT_MAJOR);
    let sent = fixture.sent();
    let (_, content) = &sent[0];
    assert!(
        content
            .subject
            .starts_with("[MAJOR] Temperature excursion raised: shipment shp-1")
    );
    for expected in [
        "https://dashboard.example.org/#/shipments/shp-1",
        "mlat=52.10000&mlon=9.70000",
        "Shipper: Rhine Pharma Supply (org-supplier)",
        "Recipient: St. Mary's Hospital (org-hospital)",
        "Device: truck-7",
        "Raised at: 2026-11-21 10:00:00 UTC",
    ] {
        assert!(
            content.text.contains(expected),
            "{expected}: {}",
            content.text
        );
    }
    let entry = fixture
        .claims
        .entry(&format!("emailer#{}", event.event_id))
        .unwrap();
    assert!(entry.complete);
    assert_eq!(entry.done.len(), 4);
    assert_eq!(
        *fixture.organisations.reads.lock().unwrap(),
        2,
        "each organisation read once"
    );
}

#[tokio::test]
async fn each_organisation_mails_by_its_own_policy_and_time_zone() {
    let fixture = Fixture::new();
    fixture.organisations.set(
        "org-supplier",
        "Rhine Pharma Supply",
        NotificationPolicy {
            time_zone: "Europe/Berlin".into(),
            critical: Audience {
                shipment_driver: true,
                emails: vec!["control-room@rhine.example".into()],
                ..Audience::of_roles(&[RoleName::Manager])
            },
            ..NotificationPolicy::default()
        },
    );
    fixture.organisations.set(
        "org-hospital",
        "St. Mary's Hospital",
        NotificationPolicy {
            time_zone: "America/New_York".into(),
            critical: Audience::of_roles(&[RoleName::Pharmacist]),
            ..NotificationPolicy::default()
        },
    );
    let mut event = alarm_event(AlarmEventType::Raised, Severity::Critical);
    event.shipment.started_by = Some("sup-driver".into());
    fixture.raise(&event).await;
    assert_eq!(
        fixture.mail.recipients(),
        [
            "control-room@rhine.example",
            "hos-pharmacist@org-hospital.example",
            "sup-driver@org-supplier.example",
            "sup-manager-1@org-supplier.example",
            "sup-manager-2@org-supplier.example",
        ]
    );
    let sent = fixture.sent();
    let text_to = |to: &str| {
        sent.iter()
            .find(|(address, _)| address == to)
            .map(|(_, content)| content.text.clone())
            .unwrap()
    };
    let supplier = text_to("sup-driver@org-supplier.example");
    assert!(
        supplier.contains("Raised at: 2026-11-21 11:00:00 CET (2026-11-21 10:00:00 UTC)"),
        "{supplier}"
    );
    assert!(supplier.contains("under the notification policy of Rhine Pharma Supply"));
    let hospital = text_to("hos-pharmacist@org-hospital.example");
    assert!(
        hospital.contains("Raised at: 2026-11-21 05:00:00 EST (2026-11-21 10:00:00 UTC)"),
        "{hospital}"
    );
    assert!(hospital.contains("under the notification policy of St. Mary's Hospital"));
}

#[tokio::test]
async fn an_organisation_whose_policy_matches_nobody_mails_its_admins() {
    let fixture = Fixture::new();
    fixture.organisations.set(
        "org-supplier",
        "Rhine Pharma Supply",
        NotificationPolicy {
            major: Audience::of_roles(&[RoleName::Pharmacist]),
            ..NotificationPolicy::default()
        },
    );
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    fixture.raise(&event).await;
    let recipients = fixture.mail.recipients();
    assert!(recipients.contains(&"sup-admin@org-supplier.example".to_owned()));
    assert!(!recipients.iter().any(|r| r.starts_with("sup-manager")));
}

#[tokio::test]
async fn a_duplicate_or_replayed_event_sends_nothing() {
    let fixture = Fixture::new();
    let event = alarm_event(AlarmEventType::Escalated, Severity::Critical);
    let emailer = fixture.emailer();
    emailer.process(&body(&event), NOW).await.unwrap();
    for later in [NOW, NOW + Duration::minutes(5), NOW + Duration::days(1)] {
        assert_eq!(
            emailer.process(&body(&event), later).await.unwrap(),
            Outcome::Duplicate {
                event_id: event.event_id.clone()
            }
        );
    }
    assert_eq!(fixture.sent().len(), 4);
}

#[tokio::test]
async fn a_failed_send_releases_the_claim_and_the_retry_mails_only_the_rest() {
    let fixture = Fixture::new();
    let event = alarm_event(AlarmEventType::Raised, Severity::Critical);
    let emailer = fixture.emailer();
    fixture.mail.refuse("hos-manager@org-hospital.example");

    let failure = emailer.process(&body(&event), NOW).await.unwrap_err();
    assert!(
        matches!(
            failure,
            Failure::Send {
                failed: 1,
                recipients: 4,
                ..
            }
        ),
        "{failure:?}"
    );
    let key = format!("emailer#{}", event.event_id);
    let entry = fixture.claims.entry(&key).unwrap();
    assert!(!entry.complete);
    assert!(entry.lock_until < NOW, "released");

    // the retry, straight away: only the manager not mailed yet
    fixture.mail.accept_all();
    let outcome = emailer
        .process(&body(&event), NOW + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Mailed {
            event_id: event.event_id.clone(),
            sent: 1,
            already: 3
        }
    );
    assert_eq!(fixture.mail.recipients(), DEFAULT_MAJOR);
    assert!(fixture.claims.entry(&key).unwrap().complete);
}

#[tokio::test]
async fn the_handler_fails_the_invocation_so_that_lambda_retries() {
    let fixture = Fixture::new();
    fixture.mail.refuse("sup-manager-1@org-supplier.example");
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    let sns: SnsEvent = serde_json::from_value(serde_json::json!({
        "Records": [{"Sns": {"MessageId": "m-1", "Message": body(&event)}}]
    }))
    .unwrap();
    let emailer = fixture.emailer();
    let invoke = || handle(&emailer, LambdaEvent::new(sns.clone(), Default::default()));
    let error = invoke().await.unwrap_err();
    assert!(
        error.to_string().contains("1 of 4 mails not sent"),
        "{error}"
    );
    fixture.mail.accept_all();
    invoke().await.unwrap();
    invoke().await.unwrap();
    assert_eq!(fixture.mail.recipients(), DEFAULT_MAJOR);
}

#[tokio::test]
async fn a_concurrent_delivery_is_retried_later_and_a_crashed_one_expires() {
    let fixture = Fixture::new();
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    let key = format!("emailer#{}", event.event_id);
    // another invocation claimed it and is (or was) sending
    fixture.claims.claim(&key, NOW, CLAIM_LOCK).await.unwrap();
    let emailer = fixture.emailer();
    let failure = emailer.process(&body(&event), NOW).await.unwrap_err();
    assert!(matches!(failure, Failure::Busy { .. }), "{failure:?}");
    assert!(fixture.sent().is_empty());
    // its lock expired (it crashed): the next delivery mails
    let later = NOW + CLAIM_LOCK + Duration::seconds(1);
    assert!(matches!(
        emailer.process(&body(&event), later).await.unwrap(),
        Outcome::Mailed { sent: 4, .. }
    ));
}

#[tokio::test]
async fn store_failures_are_retried_and_send_nothing() {
    let mut fixture = Fixture::new();
    fixture.claims.broken = true;
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    let failure = fixture
        .emailer()
        .process(&body(&event), NOW)
        .await
        .unwrap_err();
    assert!(matches!(failure, Failure::Claims { .. }), "{failure:?}");

    let mut fixture = Fixture::new();
    fixture.directory.unavailable = true;
    let failure = fixture
        .emailer()
        .process(&body(&event), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, Failure::Store { what, .. } if what == "users of org-supplier"),
        "{failure:?}"
    );
    assert!(fixture.sent().is_empty());
    assert!(
        fixture.reminders.chains().is_empty(),
        "no chain without its first mail"
    );
    let entry = fixture
        .claims
        .entry(&format!("emailer#{}", event.event_id))
        .unwrap();
    assert!(!entry.complete && entry.lock_until < NOW, "released");
}

#[tokio::test]
async fn warnings_and_acknowledgements_send_nothing_and_are_not_retried() {
    let fixture = Fixture::new();
    let emailer = fixture.emailer();
    for (event_type, severity) in [
        (AlarmEventType::Raised, Severity::Warning),
        (AlarmEventType::Cleared, Severity::Warning),
        (AlarmEventType::Acknowledged, Severity::Critical),
    ] {
        let event = alarm_event(event_type, severity);
        assert_eq!(
            emailer.process(&body(&event), NOW).await.unwrap(),
            Outcome::NotMailed {
                event_id: event.event_id
            }
        );
    }
    assert!(fixture.sent().is_empty());
    assert!(fixture.claims.entries.lock().unwrap().is_empty());
    assert!(fixture.reminders.chains().is_empty());
}

/// A message that is not an alarm event fails: Lambda retries it and then
/// sends it to the function's on-failure queue, where it can be read; it is
/// never dropped with a log line only.
#[tokio::test]
async fn a_message_that_is_not_an_alarm_event_fails_the_invocation() {
    let fixture = Fixture::new();
    let emailer = fixture.emailer();
    let mut truncated = body(&alarm_event(AlarmEventType::Raised, Severity::Critical));
    truncated.truncate(truncated.len() / 2);
    for garbage in ["", "not json", "{}", r#"{"event_id": 5}"#, &truncated] {
        let failure = emailer.process(garbage, NOW).await.unwrap_err();
        assert!(matches!(failure, Failure::Malformed { .. }), "{failure:?}");

        let mut sns: SnsEvent = serde_json::from_value(sample_events().remove(0).1).unwrap();
        sns.records[0].sns.message = garbage.to_owned();
        let error = handle(&emailer, LambdaEvent::new(sns, Default::default()))
            .await
            .expect_err("the invocation fails");
        assert!(error.to_string().contains("not an alarm event"), "{error}");
    }
    assert!(fixture.sent().is_empty());
    assert!(fixture.claims.entries.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_disabled_manager_gets_no_mail() {
    let fixture = Fixture::new();
    let mut gone = user("sup-manager-2", "org-supplier", Role::Manager);
    gone.disabled_at = Some(datetime!(2026-11-20 17:00 UTC));
    fixture.directory.seed_user(gone);
    let event = alarm_event(AlarmEventType::Raised, Severity::Critical);
    fixture.emailer().process(&body(&event), NOW).await.unwrap();
    assert_eq!(
        fixture.mail.recipients(),
        [
            "hos-manager@org-hospital.example",
            "hos-pharmacist@org-hospital.example",
            "sup-manager-1@org-supplier.example"
        ]
    );
}

#[tokio::test]
async fn an_all_clear_of_a_major_alarm_is_mailed_and_ends_the_chains() {
    let fixture = Fixture::new();
    let raised = alarm_event(AlarmEventType::Raised, Severity::Major);
    fixture.raise(&raised).await;
    assert_eq!(fixture.reminders.chains().len(), 2, "one per organisation");
    fixture.clear_mail();

    let mut event = alarm_event(AlarmEventType::Cleared, Severity::Major);
    event.alarm.state = AlarmState::Cleared;
    event.alarm.cleared_at = Some(datetime!(2026-11-21 10:40 UTC));
    event.risk = None;
    fixture.emailer().process(&body(&event), NOW).await.unwrap();
    let sent = fixture.sent();
    assert_eq!(sent.len(), 4);
    assert!(sent[0].1.subject.starts_with("[CLEARED]"));
    assert!(fixture.reminders.chains().is_empty());
}

#[tokio::test]
async fn one_organisation_on_both_ends_or_nobody_to_mail() {
    let fixture = Fixture::new();
    let mut event = alarm_event(AlarmEventType::Raised, Severity::Major);
    event.shipment.recipient_org_id = "org-supplier".into();
    fixture.emailer().process(&body(&event), NOW).await.unwrap();
    assert_eq!(
        fixture.mail.recipients(),
        [
            "sup-manager-1@org-supplier.example",
            "sup-manager-2@org-supplier.example"
        ]
    );

    let fixture = Fixture::new();
    let mut event = alarm_event(AlarmEventType::Raised, Severity::Major);
    event.shipment.shipper_org_id = "org-nobody".into();
    event.shipment.recipient_org_id = "org-nobody-either".into();
    assert!(matches!(
        fixture.emailer().process(&body(&event), NOW).await.unwrap(),
        Outcome::NoRecipients { .. }
    ));
}

// ------------------------------------------------------------ escalation

fn minutes_after(event: &AlarmEvent, minutes: i64) -> OffsetDateTime {
    event.occurred_at + Duration::minutes(minutes)
}

/// A raise as the detector publishes it: at the alarm's raise.
fn raised(severity: Severity) -> AlarmEvent {
    let mut event = alarm_event(AlarmEventType::Raised, severity);
    event.occurred_at = event.alarm.raised_at;
    event
}

#[tokio::test]
async fn an_unacknowledged_critical_alarm_is_reminded_then_escalated_then_left() {
    let fixture = Fixture::new();
    let event = raised(Severity::Critical);
    fixture.raise(&event).await;
    fixture.clear_mail();
    let emailer = fixture.emailer();

    let early = emailer.sweep(minutes_after(&event, 14)).await;
    assert_eq!((early.due, early.sent), (0, 0));

    // 15 min: the same four people are reminded
    let first = emailer.sweep(minutes_after(&event, 15)).await;
    assert_eq!(
        (first.due, first.sent, first.failed),
        (2, 4, 0),
        "{first:?}"
    );
    assert_eq!(fixture.mail.recipients(), DEFAULT_MAJOR);
    let sent = fixture.sent();
    assert!(
        sent.iter().all(|(_, mail)| mail
            .subject
            .starts_with("[REMINDER 1] [CRITICAL] Temperature excursion raised")
            && mail.subject.ends_with("not acknowledged for 15 min")),
        "{:?}",
        sent.iter()
            .map(|(_, mail)| &mail.subject)
            .collect::<Vec<_>>()
    );
    // the same minute again: nothing new
    assert_eq!(emailer.sweep(minutes_after(&event, 15)).await.sent, 0);
    fixture.clear_mail();

    // 30 min: the next tier (the supplier's admin; the hospital has none) joins
    let second = emailer.sweep(minutes_after(&event, 30)).await;
    assert_eq!(second.sent, 5, "{second:?}");
    let recipients = fixture.mail.recipients();
    assert!(recipients.contains(&"sup-admin@org-supplier.example".to_owned()));
    assert!(
        fixture
            .sent()
            .iter()
            .all(|(_, mail)| mail.text.contains("it is escalated to you"))
    );
    // the default chain ends there
    assert!(fixture.reminders.chains().is_empty());
    assert_eq!(emailer.sweep(minutes_after(&event, 120)).await.due, 0);
}

#[tokio::test]
async fn an_acknowledgement_ends_the_chain_even_when_its_event_is_lost() {
    // the acknowledgement event arrives
    let fixture = Fixture::new();
    let event = raised(Severity::Critical);
    fixture.raise(&event).await;
    let mut ack = alarm_event(AlarmEventType::Acknowledged, Severity::Critical);
    ack.alarm.state = AlarmState::ActiveAck;
    fixture.emailer().process(&body(&ack), NOW).await.unwrap();
    assert!(fixture.reminders.chains().is_empty());

    // it does not: the stored alarm says it was acknowledged
    let fixture = Fixture::new();
    fixture.raise(&event).await;
    fixture.clear_mail();
    let mut reviewed = event.alarm.clone();
    assert!(reviewed.review(
        &pharmaguard_domain::fixtures::review(),
        "hos-pharmacist",
        minutes_after(&event, 3)
    ));
    fixture.alarms.store(&reviewed);
    let swept = fixture.emailer().sweep(minutes_after(&event, 15)).await;
    assert_eq!((swept.due, swept.sent, swept.ended), (2, 0, 2));
    assert!(fixture.sent().is_empty());
    assert!(fixture.reminders.chains().is_empty());
}

#[tokio::test]
async fn a_cleared_alarm_is_not_reminded() {
    let fixture = Fixture::new();
    let event = raised(Severity::Major);
    fixture.raise(&event).await;
    fixture.clear_mail();
    let mut cleared = event.alarm.clone();
    cleared.state = AlarmState::Cleared;
    fixture.alarms.store(&cleared);
    let swept = fixture.emailer().sweep(minutes_after(&event, 30)).await;
    assert_eq!((swept.sent, swept.ended), (0, 2));
}

#[tokio::test]
async fn an_escalation_restarts_the_chain_and_a_late_major_acknowledgement_does_not_stop_it() {
    let fixture = Fixture::new();
    let major = raised(Severity::Major);
    fixture.raise(&major).await;
    let mut critical = alarm_event(AlarmEventType::Escalated, Severity::Critical);
    critical.occurred_at = minutes_after(&major, 5);
    critical.from_severity = Some(Severity::Major);
    fixture.raise(&critical).await;
    // the MAJOR acknowledgement, delivered after the escalation reset it
    let ack = alarm_event(AlarmEventType::Acknowledged, Severity::Major);
    fixture.emailer().process(&body(&ack), NOW).await.unwrap();
    // a redelivered raise does not replace the CRITICAL chain either
    fixture.raise(&major).await;
    let chains = fixture.reminders.chains();
    assert_eq!(chains.len(), 2);
    assert!(
        chains
            .iter()
            .all(|chain| chain.severity == Severity::Critical
                && chain.due_at == minutes_after(&major, 20))
    );
    fixture.clear_mail();
    let swept = fixture.emailer().sweep(minutes_after(&major, 20)).await;
    assert_eq!(swept.sent, 4);
    assert!(
        fixture
            .sent()
            .iter()
            .all(|(_, mail)| mail.subject.starts_with("[REMINDER 1] [CRITICAL]"))
    );
}

#[tokio::test]
async fn a_step_is_mailed_once_per_person_whatever_fails() {
    let fixture = Fixture::new();
    let event = raised(Severity::Critical);
    fixture.raise(&event).await;
    fixture.clear_mail();
    let emailer = fixture.emailer();
    let at = minutes_after(&event, 15);

    // a refused address: the hospital's step stays due (its manager was
    // mailed), the supplier's goes out and moves on
    fixture.mail.refuse("hos-pharmacist@org-hospital.example");
    let swept = emailer.sweep(at).await;
    assert_eq!(
        (swept.due, swept.sent, swept.failed),
        (2, 2, 1),
        "{swept:?}"
    );
    assert_eq!(fixture.sent().len(), 3);
    fixture.mail.accept_all();
    // the next minute mails only the pharmacist, but the chain cannot move
    // on: the minute after moves it without mailing anyone again
    *fixture.reminders.failing_advances.lock().unwrap() = 1;
    let swept = emailer.sweep(at + Duration::minutes(1)).await;
    assert_eq!((swept.due, swept.failed), (1, 1), "{swept:?}");
    let swept = emailer.sweep(at + Duration::minutes(2)).await;
    assert_eq!(
        (swept.due, swept.sent, swept.failed),
        (1, 0, 0),
        "{swept:?}"
    );
    assert_eq!(
        fixture.mail.recipients(),
        DEFAULT_MAJOR,
        "one reminder each"
    );
    assert!(
        fixture
            .reminders
            .chains()
            .iter()
            .all(|chain| chain.step == 2)
    );
}

#[tokio::test]
async fn the_schedule_sweeps_and_anything_else_fails() {
    let fixture = Fixture::new();
    let emailer = fixture.emailer();
    let scheduled = serde_json::json!({
        "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-21T10:47:00Z", "detail": {}
    });
    handle_any(&emailer, LambdaEvent::new(scheduled, Default::default()))
        .await
        .unwrap();
    let error = handle_any(
        &emailer,
        LambdaEvent::new(serde_json::json!({"hello": 1}), Default::default()),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("neither SNS records nor the schedule")
    );
}

#[test]
fn settings_need_every_variable() {
    let all = BTreeMap::from([
        (IDENTITY_TABLE_VAR, "identity"),
        (IDEMPOTENCY_TABLE_VAR, "idempotency"),
        (REMINDERS_TABLE_VAR, "reminders"),
        (ALARMS_TABLE_VAR, "alarms"),
        (SENDER_VAR, "alerts@pharmaguard.example"),
        (DASHBOARD_URL_VAR, " https://dashboard.example.org "),
    ]);
    let settings = Settings::from_lookup(|name| all.get(name).map(|v| (*v).to_owned())).unwrap();
    assert_eq!(settings.dashboard_url, "https://dashboard.example.org");
    for missing in all.keys() {
        let lookup = |name: &str| {
            (name != *missing)
                .then(|| all.get(name).map(|v| (*v).to_owned()))
                .flatten()
        };
        assert_eq!(Settings::from_lookup(lookup), Err(MissingSetting(missing)));
    }
}

fn sample_events() -> Vec<(String, serde_json::Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/emailer");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_sample_events_replay() {
    let samples = sample_events();
    assert!(samples.len() >= 2, "{samples:?}");
    for (name, json) in samples {
        let fixture = Fixture::new();
        let sns: SnsEvent = serde_json::from_value(json).unwrap();
        assert_eq!(sns.records.len(), 1, "{name}");
        let message = &sns.records[0].sns.message;
        let event: AlarmEvent =
            serde_json::from_str(message).unwrap_or_else(|e| panic!("{name}: {e}"));
        let emailer = fixture.emailer();
        handle(&emailer, LambdaEvent::new(sns.clone(), Default::default()))
            .await
            .unwrap();
        let sent = fixture.sent().len();
        if name.starts_with("alarm-warning") {
            assert_eq!(sent, 0, "{name}");
        } else {
            assert!(is_mailed(&event), "{name}");
            assert_eq!(sent, 4, "{name}");
        }
    }
}

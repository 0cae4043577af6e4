//! The handler against an in-memory identity store, a fake mail service and
//! an in-memory idempotency table with the DynamoDB adapter's rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use pharmaguard_domain::accounts::User;
use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
use pharmaguard_domain::coldchain::{
    Alarm, AlarmContext, AlarmEventType, AlarmState, AlarmType, Severity, ShipmentSummary,
    estimate_risk,
};
use pharmaguard_domain::fixtures::shipment;
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::notification::EmailContent;
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

fn alarm_event(event_type: AlarmEventType, severity: Severity) -> AlarmEvent {
    let alarm = Alarm {
        alarm_id: "shp-1#TEMPERATURE_EXCURSION#1795255200000".into(),
        shipment_id: "shp-1".into(),
        alarm_type: AlarmType::TemperatureExcursion,
        severity,
        state: AlarmState::ActiveUnack,
        raised_at: datetime!(2026-11-21 10:00 UTC),
        last_seen: datetime!(2026-11-21 10:32 UTC),
        count: 33,
        value: 9.5,
        peak_value: 9.8,
        peak_magnitude: 1.8,
        detail: "9.5 °C, 1.5 °C above 8.0 °C".into(),
        crossing: None,
        acknowledged_by: None,
        acknowledged_at: None,
        cleared_at: None,
        review: None,
        earlier_reviews: Vec::new(),
    };
    let mut event = AlarmEvent {
        v: 1,
        event_id: format!("{}:{}", alarm.alarm_id, event_type.as_str()),
        event_type,
        occurred_at: alarm.last_seen,
        alarm,
        from_severity: None,
        shipment: ShipmentSummary {
            shipper_org_id: "org-supplier".into(),
            recipient_org_id: "org-hospital".into(),
            ..ShipmentSummary::from(&shipment("shp-1", "truck-7", ShipmentState::InTransit))
        },
        context: AlarmContext {
            lat: Some(52.1),
            lon: Some(9.7),
            temperature_c: Some(9.5),
            mkt_c: Some(6.4),
            excursion_minutes: 30.0,
            budget_minutes: 60,
            budget_used: 0.5,
            ..AlarmContext::default()
        },
        risk: None,
    };
    event.risk = estimate_risk(&event.risk_input()).ok();
    event
}

fn body(event: &AlarmEvent) -> String {
    event.to_message().body
}

struct Fixture {
    directory: MemoryIdentityStore,
    mail: FakeMail,
    claims: MemoryClaims,
}

impl Fixture {
    fn new() -> Self {
        Self {
            directory: directory(),
            mail: FakeMail::default(),
            claims: MemoryClaims::default(),
        }
    }

    fn emailer(&self) -> Emailer<'_, MemoryIdentityStore, FakeMail, MemoryClaims> {
        Emailer {
            directory: &self.directory,
            sender: &self.mail,
            claims: &self.claims,
            dashboard_url: DASHBOARD,
            lock_for: CLAIM_LOCK,
        }
    }
}

const MANAGERS: [&str; 3] = [
    "hos-manager@org-hospital.example",
    "sup-manager-1@org-supplier.example",
    "sup-manager-2@org-supplier.example",
];

#[tokio::test]
async fn the_managers_of_both_organisations_get_one_mail_each() {
    let fixture = Fixture::new();
    let event = alarm_event(AlarmEventType::Raised, Severity::Major);
    let outcome = fixture.emailer().process(&body(&event), NOW).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Mailed {
            event_id: event.event_id.clone(),
            sent: 3,
            already: 0
        }
    );
    // managers only: not the driver, the admin, the pharmacist, nor the
    // manager of an organisation that is no party to the shipment
    assert_eq!(fixture.mail.recipients(), MANAGERS);
    let sent = fixture.mail.sent.lock().unwrap();
    let (_, content) = &sent[0];
    assert!(
        content
            .subject
            .starts_with("[MAJOR] Temperature excursion raised: shipment shp-1")
    );
    assert!(
        content
            .text
            .contains("https://dashboard.example.org/#/shipments/shp-1")
    );
    assert!(content.text.contains("mlat=52.10000&mlon=9.70000"));
    let entry = fixture
        .claims
        .entry(&format!("emailer#{}", event.event_id))
        .unwrap();
    assert!(entry.complete);
    assert_eq!(entry.done.len(), 3);
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
    assert_eq!(fixture.mail.sent.lock().unwrap().len(), 3);
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
                recipients: 3,
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
            already: 2
        }
    );
    assert_eq!(fixture.mail.recipients(), MANAGERS);
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
        error.to_string().contains("1 of 3 mails not sent"),
        "{error}"
    );
    fixture.mail.accept_all();
    invoke().await.unwrap();
    invoke().await.unwrap();
    assert_eq!(fixture.mail.recipients(), MANAGERS);
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
    assert!(fixture.mail.sent.lock().unwrap().is_empty());
    // its lock expired (it crashed): the next delivery mails
    let later = NOW + CLAIM_LOCK + Duration::seconds(1);
    assert!(matches!(
        emailer.process(&body(&event), later).await.unwrap(),
        Outcome::Mailed { sent: 3, .. }
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
        matches!(&failure, Failure::Directory { org_id, .. } if org_id == "org-supplier"),
        "{failure:?}"
    );
    assert!(fixture.mail.sent.lock().unwrap().is_empty());
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
    assert!(fixture.mail.sent.lock().unwrap().is_empty());
    assert!(fixture.claims.entries.lock().unwrap().is_empty());
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
    assert!(fixture.mail.sent.lock().unwrap().is_empty());
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
            "sup-manager-1@org-supplier.example"
        ]
    );
}

#[tokio::test]
async fn an_all_clear_of_a_major_alarm_is_mailed() {
    let fixture = Fixture::new();
    let mut event = alarm_event(AlarmEventType::Cleared, Severity::Major);
    event.alarm.state = AlarmState::Cleared;
    event.alarm.cleared_at = Some(datetime!(2026-11-21 10:40 UTC));
    event.risk = None;
    fixture.emailer().process(&body(&event), NOW).await.unwrap();
    let sent = fixture.mail.sent.lock().unwrap();
    assert_eq!(sent.len(), 3);
    assert!(sent[0].1.subject.starts_with("[CLEARED]"));
}

#[tokio::test]
async fn one_organisation_on_both_ends_or_no_manager() {
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

#[test]
fn settings_need_every_variable() {
    let all = BTreeMap::from([
        (IDENTITY_TABLE_VAR, "identity"),
        (IDEMPOTENCY_TABLE_VAR, "idempotency"),
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
        let sent = fixture.mail.sent.lock().unwrap().len();
        if name.starts_with("alarm-warning") {
            assert_eq!(sent, 0, "{name}");
        } else {
            assert!(is_mailed(&event), "{name}");
            assert_eq!(sent, 3, "{name}");
        }
    }
}

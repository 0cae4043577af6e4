//! The deployed emailer on the local stack, its mails read back from
//! LocalStack's `GET /_aws/ses`:
//!
//! - alarm events published to the alarm topic become one mail per person
//!   the default policy names in each organisation (managers and
//!   pharmacists), once per event, naming both organisations; WARNINGs are
//!   filtered out;
//! - with policies of their own (set through the API), a real CRITICAL alarm
//!   (a crash reported by a device) is mailed to the people they name, in
//!   their time zones, reminded and escalated by the minute's schedule while
//!   nobody acknowledges it, and no longer once someone does.
//!
//! Needs `localstack/up` (or `infra/deploy`) first.

use std::time::Duration;

use pharmaguard_aws::sns::{MessagePublisher, SnsPublisher};
use pharmaguard_domain::coldchain::{
    AlarmBook, AlarmContext, AlarmEvent, AlarmType, Severity, ShipmentSummary, Signal,
    estimate_risk,
};
use pharmaguard_domain::notification::NotificationPolicy;
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_testkit::{Session, Stack, World, unique};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long the mails of one event may take (SNS → Lambda → SES).
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// One mail LocalStack's SES kept.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    source: String,
    subject: String,
    text: String,
    html: String,
}

async fn sent_mails(stack: &Stack) -> Vec<Mail> {
    let url = format!("{}/_aws/ses", stack.output("AwsEndpointUrl"));
    let body: Value = reqwest::get(&url)
        .await
        .expect("LocalStack answers")
        .json()
        .await
        .expect("JSON");
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|message| Mail {
            to: message["Destination"]["ToAddresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(text)
                .collect(),
            source: text(&message["Source"]),
            subject: text(&message["Subject"]),
            text: text(&message["Body"]["text_part"]),
            html: text(&message["Body"]["html_part"]),
        })
        .collect()
}

/// The mails about the alarm `alarm_id`.
async fn mails_about(stack: &Stack, alarm_id: &str) -> Vec<Mail> {
    let marker = format!("Alarm id: {alarm_id}\n");
    sent_mails(stack)
        .await
        .into_iter()
        .filter(|mail| mail.text.contains(&marker))
        .collect()
}

/// Waits until `count` mails about `alarm_id` are there; returns them.
async fn wait_for_mails(stack: &Stack, alarm_id: &str, count: usize) -> Vec<Mail> {
    wait_for(stack, alarm_id, "", count, MAIL_TIMEOUT).await
}

/// Waits up to `timeout` until `count` mails about `alarm_id` whose subject
/// starts with `prefix` are there; returns them.
async fn wait_for(
    stack: &Stack,
    alarm_id: &str,
    prefix: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Mail> {
    let started = std::time::Instant::now();
    loop {
        let mails: Vec<Mail> = mails_about(stack, alarm_id)
            .await
            .into_iter()
            .filter(|mail| mail.subject.starts_with(prefix))
            .collect();
        if mails.len() >= count {
            return mails;
        }
        assert!(
            started.elapsed() < timeout,
            "{} of {count} mails {prefix:?} about {alarm_id} after {timeout:?}; see localstack/.state/logs/lambda/",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn addressees(mails: &[Mail]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|mail| mail.to.clone()).collect();
    to.sort();
    to
}

/// An alarm event of `alarm_type` at `severity` for `shipment`, raised now,
/// with a position, the trip's figures and (MAJOR and above) the estimate.
fn alarm_event(
    shipment: &ShipmentSummary,
    alarm_type: AlarmType,
    severity: Severity,
) -> AlarmEvent {
    let now = OffsetDateTime::now_utc();
    let mut book = AlarmBook::new();
    let transitions = book.apply(
        &shipment.shipment_id,
        Signal::Present {
            alarm_type,
            severity,
            value: 9.7,
            magnitude: 1.7,
            detail: "9.7 °C, 1.7 °C above the 8.0 °C limit".into(),
            crossing: None,
            at: now,
        },
    );
    let context = AlarmContext {
        reading_ts: Some(now),
        reading_id: Some("truck-it-0042".into()),
        lat: Some(52.2297),
        lon: Some(10.5268),
        temperature_c: Some(9.7),
        vibration_g: Some(0.4),
        peak_vibration_g: Some(1.1),
        mkt_c: Some(8.6),
        excursion_minutes: 42.0,
        budget_minutes: 60,
        budget_used: 0.7,
        ..AlarmContext::default()
    };
    let mut event = AlarmEvent::from_transition(&transitions[0], shipment.clone(), context)
        .expect("a raise is published");
    if event.needs_risk() {
        event.risk = Some(estimate_risk(&event.risk_input()).expect("a valid input"));
    }
    event
}

#[tokio::test]
async fn alarm_events_are_mailed_once_to_the_managers_and_pharmacists_of_both_organisations() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let created: Shipment =
        serde_json::from_value(world.create_shipment().await).expect("a shipment");
    let shipment = ShipmentSummary::from(&created);
    let sns = aws_sdk_sns::Client::new(&stack.sdk_config().await);
    let topic = SnsPublisher::new(sns, stack.output("AlarmEventsTopicArn"));
    let mut default_audience: Vec<String> = [&world.shipper, &world.recipient]
        .iter()
        .flat_map(|org| ["MANAGER", "PHARMACIST"].map(|role| org.users[role].email.to_lowercase()))
        .collect();
    default_audience.sort();

    // a MAJOR excursion with its estimate: one mail to each manager and
    // pharmacist (the default policy of both organisations)
    let major = alarm_event(&shipment, AlarmType::TemperatureExcursion, Severity::Major);
    let risk = major.risk.clone().expect("an estimate");
    topic.publish(&major.to_message()).await.expect("published");
    let mails = wait_for_mails(&stack, &major.alarm.alarm_id, 4).await;
    assert_eq!(
        addressees(&mails),
        default_audience,
        "managers and pharmacists, one mail each; not the drivers, not the admins"
    );
    let id = &shipment.shipment_id;
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "one recipient per mail");
        assert_eq!(mail.source, stack.output("AlertSenderEmail"));
        assert!(
            mail.subject.starts_with(&format!(
                "[MAJOR] Temperature excursion raised: shipment {id}"
            )),
            "{}",
            mail.subject
        );
        for expected in [
            "Position: 52.22970, 10.52680".to_owned(),
            "Map: https://www.openstreetmap.org/?mlat=52.22970&mlon=10.52680#map=14/52.22970/10.52680".to_owned(),
            "Current temperature: 9.7 °C".to_owned(),
            "Mean kinetic temperature: 8.60 °C".to_owned(),
            "Excursion budget used: 42.0 of 60 min out of range (70 % used)".to_owned(),
            format!("Total: {} EUR of a cargo value of 48000.00 EUR", risk.total),
            format!("Shipment: {}/#/shipments/{id}", stack.output("DashboardUrl")),
            format!("({})", world.shipper.id),
            "Recipient: Hospital ".to_owned(),
            format!("({})", world.recipient.id),
            "Device: ".to_owned(),
        ] {
            assert!(mail.text.contains(&expected), "{expected:?} missing from:\n{}", mail.text);
        }
        assert!(
            mail.html.contains(
                "<a href=\"https://www.openstreetmap.org/?mlat=52.22970&amp;mlon=10.52680"
            )
        );
        assert!(mail.html.contains(&format!("/#/shipments/{id}\">")));
    }

    // the same event again (a redelivery or a replay), and a WARNING
    topic.publish(&major.to_message()).await.expect("published");
    let warning = alarm_event(&shipment, AlarmType::PreExcursion, Severity::Warning);
    topic
        .publish(&warning.to_message())
        .await
        .expect("published");
    // then a CRITICAL shock: once its mails are there, the two before had their turn
    let shock = alarm_event(&shipment, AlarmType::Shock, Severity::Critical);
    topic.publish(&shock.to_message()).await.expect("published");
    wait_for_mails(&stack, &shock.alarm.alarm_id, 4).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(
        mails_about(&stack, &major.alarm.alarm_id).await.len(),
        4,
        "still exactly one mail per person for the MAJOR event"
    );
    assert!(
        mails_about(&stack, &warning.alarm.alarm_id)
            .await
            .is_empty(),
        "a WARNING is not mailed (filter policy)"
    );
}

/// How long a step of a one-minute chain may take: its minute, the
/// schedule's minute, and LocalStack under load.
const STEP_TIMEOUT: Duration = Duration::from_secs(200);

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

fn policy_path(org_id: &str) -> String {
    format!("/v1/auth/organisations/{org_id}/notifications")
}

async fn put_policy(world: &World, session: &Session, org_id: &str, policy: &Value) -> u16 {
    world
        .api
        .call(
            "PUT",
            &policy_path(org_id),
            Some(&session.access_token),
            Some(policy),
        )
        .await
        .status
}

#[tokio::test]
async fn a_policy_chooses_who_is_mailed_and_an_unacknowledged_alarm_is_escalated_until_acknowledged()
 {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let api = &world.api;
    let control_room = format!("control-{}@example.org", unique());

    // the shipper: its managers, the driver of the shipment and its control
    // room, in Berlin time; reminded after a minute, then its admins
    let shipper_policy = json!({
        "time_zone": "Europe/Berlin",
        "major": { "roles": ["MANAGER"] },
        "critical": { "roles": ["MANAGER"], "shipment_driver": true, "emails": [control_room] },
        "escalation": {
            "major_after_minutes": 30, "critical_after_minutes": 1, "reminders": 1,
            "tiers": [{ "roles": ["ADMIN"] }]
        }
    });
    // the recipient: its pharmacists, in New York time, reminded every minute
    let recipient_policy = json!({
        "time_zone": "America/New_York",
        "major": { "roles": ["PHARMACIST"] },
        "critical": { "roles": ["PHARMACIST"] },
        "escalation": {
            "major_after_minutes": 30, "critical_after_minutes": 1, "reminders": 5, "tiers": []
        }
    });

    // who may read and set a policy
    let shipper_id = &world.shipper.id;
    let recipient_id = &world.recipient.id;
    let reply = api
        .get(
            world.recipient.as_role("DRIVER"),
            &policy_path(recipient_id),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body["default"], json!(true));
    assert_eq!(
        reply.body["policy"]["major"]["roles"],
        json!(["MANAGER", "PHARMACIST"])
    );
    let outsider = world.outsider.as_role("MANAGER");
    assert_eq!(
        api.get(outsider, &policy_path(shipper_id)).await.status,
        403
    );
    assert_eq!(
        put_policy(&world, outsider, shipper_id, &shipper_policy).await,
        403
    );
    let pharmacist = world.shipper.as_role("PHARMACIST");
    assert_eq!(
        put_policy(&world, pharmacist, shipper_id, &shipper_policy).await,
        403,
        "only a manager or an admin sets the policy"
    );
    let mut invalid = shipper_policy.clone();
    invalid["escalation"]["critical_after_minutes"] = json!(0);
    invalid["time_zone"] = json!("Europe/Atlantis");
    let reply = api
        .call(
            "PUT",
            &policy_path(shipper_id),
            Some(&world.shipper.as_role("MANAGER").access_token),
            Some(&invalid),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply}");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["time_zone", "escalation.critical_after_minutes"]);
    let manager = world.shipper.as_role("MANAGER");
    assert_eq!(
        put_policy(&world, manager, shipper_id, &shipper_policy).await,
        200
    );
    assert_eq!(
        put_policy(
            &world,
            world.recipient.as_role("ADMIN"),
            recipient_id,
            &recipient_policy
        )
        .await,
        200
    );
    let reply = api
        .get(world.shipper.as_role("DRIVER"), &policy_path(shipper_id))
        .await;
    assert_eq!(reply.body["default"], json!(false), "{reply}");
    let parsed = |value: &Value| -> NotificationPolicy {
        serde_json::from_value(value.clone()).expect("a policy")
    };
    assert_eq!(parsed(&reply.body["policy"]), parsed(&shipper_policy));

    // a shipment the shipper's driver starts, and a crash: a CRITICAL SHOCK
    let device = api.create_device(manager, shipper_id).await;
    let mut body = world.new_shipment();
    body["device_id"] = json!(device.id);
    let reply = api.post(manager, "/v1/shipments", body).await;
    assert_eq!(reply.status, 201, "{reply}");
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let driver = world.shipper.as_role("DRIVER");
    assert_eq!(
        world.transition(manager, &id, "dispatch", 1).await.status,
        200
    );
    assert_eq!(world.transition(driver, &id, "start", 2).await.status, 200);
    let crash = json!({ "readings": [{
        "device_id": device.id, "shipment_id": id, "reading_id": format!("{}-1", device.id),
        "ts": rfc3339(OffsetDateTime::now_utc()), "lat": 52.1, "lon": 9.7,
        "temperature_c": 5.0, "vibration_g": 9.5,
    }]});
    let reply = api.post(&device, "/v1/telemetry", crash).await;
    assert_eq!(reply.status, 200, "{reply}");

    // the first mails: the alarm's id from the tracking API
    let reader = world.recipient.as_role("PHARMACIST");
    let started = std::time::Instant::now();
    let alarm_id = loop {
        let reply = api
            .get(reader, &format!("/v1/shipments/{id}/tracking"))
            .await;
        let found = reply.body["alarms"].as_array().and_then(|alarms| {
            alarms
                .iter()
                .find(|alarm| alarm["alarm_type"] == "SHOCK")
                .map(|alarm| alarm["alarm_id"].as_str().unwrap().to_owned())
        });
        if let Some(alarm_id) = found {
            break alarm_id;
        }
        assert!(started.elapsed() < MAIL_TIMEOUT, "no SHOCK alarm: {reply}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let email = |org: &pharmaguard_testkit::Org, role: &str| org.users[role].email.to_lowercase();
    let mut first_audience = vec![
        control_room.clone(),
        email(&world.shipper, "MANAGER"),
        email(&world.shipper, "DRIVER"),
        email(&world.recipient, "PHARMACIST"),
    ];
    first_audience.sort();
    let first = wait_for(&stack, &alarm_id, "[CRITICAL]", 4, MAIL_TIMEOUT).await;
    assert_eq!(
        addressees(&first),
        first_audience,
        "the people each policy names"
    );
    for mail in &first {
        let shipper_side = !mail.to.contains(&email(&world.recipient, "PHARMACIST"));
        let zone = if shipper_side { "CET" } else { "EST" };
        assert!(
            mail.text.contains(&format!(" {zone} (")) && mail.text.contains(" UTC)"),
            "{zone} next to UTC in:\n{}",
            mail.text
        );
        assert!(
            mail.text.contains(&format!("Device: {}", device.id)),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("Shipper: Supplier ")
                && mail.text.contains(&format!("({shipper_id})"))
        );
        assert!(mail.text.contains(&format!("({recipient_id})")));
        assert!(
            mail.text.contains("under the notification policy of"),
            "{}",
            mail.text
        );
    }

    // a minute later nobody acknowledged: the same people are reminded
    let reminders = wait_for(&stack, &alarm_id, "[REMINDER 1]", 4, STEP_TIMEOUT).await;
    assert_eq!(addressees(&reminders), first_audience);
    // a minute after that the shipper's chain escalates to its admin; the
    // recipient's pharmacist is reminded again
    let mut second_audience = first_audience.clone();
    second_audience.push(email(&world.shipper, "ADMIN"));
    second_audience.sort();
    let second = wait_for(&stack, &alarm_id, "[REMINDER 2]", 5, STEP_TIMEOUT).await;
    assert_eq!(addressees(&second), second_audience);
    assert!(
        second
            .iter()
            .filter(|mail| mail.to.contains(&email(&world.shipper, "ADMIN")))
            .all(|mail| mail.text.contains("it is escalated to you"))
    );

    // the recipient's pharmacist acknowledges: no more reminders
    let reply = api
        .post(
            reader,
            &format!(
                "/v1/shipments/{id}/alarms/{}/acknowledge",
                alarm_id.replace('#', "%23")
            ),
            json!({ "reason": "Driver reports the load is secured; quarantined for inspection",
                    "disposition": "PRODUCT_QUARANTINED" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    // a sweep under way at the acknowledgement may still send its step
    tokio::time::sleep(Duration::from_secs(20)).await;
    let settled = mails_about(&stack, &alarm_id).await.len();
    // the recipient's chain has a step a minute: one would have come by now
    tokio::time::sleep(Duration::from_secs(80)).await;
    let after = mails_about(&stack, &alarm_id).await;
    assert_eq!(
        after.len(),
        settled,
        "no reminder after the acknowledgement: {:?}",
        after.iter().map(|mail| &mail.subject).collect::<Vec<_>>()
    );
    // one mail per person per step: no duplicates at all
    let mut seen = std::collections::BTreeSet::new();
    for mail in &after {
        let step = mail
            .subject
            .split(']')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            seen.insert((step, mail.to.clone())),
            "a duplicate: {} to {:?}",
            mail.subject,
            mail.to
        );
    }
}

//! The deployed emailer on the local stack: alarm events published to the
//! alarm topic become SES mails to the managers of both organisations
//! (read back from LocalStack's `GET /_aws/ses`), once per event, and
//! WARNINGs are filtered out. Needs `localstack/up` (or `infra/deploy`) first.

use std::time::Duration;

use pharmaguard_aws::sns::{MessagePublisher, SnsPublisher};
use pharmaguard_domain::coldchain::{
    AlarmBook, AlarmContext, AlarmEvent, AlarmType, Severity, ShipmentSummary, Signal,
    estimate_risk,
};
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_testkit::{Stack, World};
use serde_json::Value;
use time::OffsetDateTime;

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
    let started = std::time::Instant::now();
    loop {
        let mails = mails_about(stack, alarm_id).await;
        if mails.len() >= count {
            return mails;
        }
        assert!(
            started.elapsed() < MAIL_TIMEOUT,
            "{} of {count} mails about {alarm_id} after {MAIL_TIMEOUT:?}; see localstack/.state/logs/lambda/",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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
async fn alarm_events_are_mailed_once_to_the_managers_of_both_organisations() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let created: Shipment =
        serde_json::from_value(world.create_shipment().await).expect("a shipment");
    let shipment = ShipmentSummary::from(&created);
    let sns = aws_sdk_sns::Client::new(&stack.sdk_config().await);
    let topic = SnsPublisher::new(sns, stack.output("AlarmEventsTopicArn"));
    let managers = {
        let mut emails = vec![
            world.shipper.users["MANAGER"].email.clone(),
            world.recipient.users["MANAGER"].email.clone(),
        ];
        emails.sort();
        emails
    };

    // a MAJOR excursion with its estimate: one mail to each manager
    let major = alarm_event(&shipment, AlarmType::TemperatureExcursion, Severity::Major);
    let risk = major.risk.clone().expect("an estimate");
    topic.publish(&major.to_message()).await.expect("published");
    let mails = wait_for_mails(&stack, &major.alarm.alarm_id, 2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|mail| mail.to.clone()).collect();
    to.sort();
    assert_eq!(to, managers, "the managers only, one mail each");
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
    wait_for_mails(&stack, &shock.alarm.alarm_id, 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(
        mails_about(&stack, &major.alarm.alarm_id).await.len(),
        2,
        "still exactly one mail per manager for the MAJOR event"
    );
    assert!(
        mails_about(&stack, &warning.alarm.alarm_id)
            .await
            .is_empty(),
        "a WARNING is not mailed (filter policy)"
    );
}

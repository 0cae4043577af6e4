//! The escalation chains against the local stack's DynamoDB, on fresh tables
//! of the reminders and alarms tables' shapes (created and deleted by the
//! test): due steps found by time, a redelivered raise never replacing a
//! newer chain, an escalation replacing it, overlapping sweeps moving a chain
//! once, an acknowledgement ending only the chains up to its severity; and
//! the alarm read back as the detector stored it.

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::reminder_store::{DynamoAlarmStates, DynamoReminders};
use pharmaguard_aws::tracking_store::alarm_item_of;
use pharmaguard_domain::coldchain::{AlarmEventType, Severity};
use pharmaguard_domain::fixtures::alarm_event;
use pharmaguard_domain::notification::{NotificationPolicy, Reminder};
use pharmaguard_testkit::tables::{Layout, create_table};
use pharmaguard_testkit::{Stack, unique};
use time::Duration;

#[tokio::test]
async fn escalation_chains_on_dynamodb() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let table = format!("test-reminders-{}", unique());
    let alarms_table = format!("test-alarms-{}", unique());
    create_table(&client, &table, Layout::Reminders).await;
    create_table(&client, &alarms_table, Layout::Alarms).await;
    let store = DynamoReminders::new(client.clone(), &table);
    let policy = NotificationPolicy::default();

    let mut raised = alarm_event(AlarmEventType::Raised, Severity::Major);
    raised.alarm.alarm_id = format!("shp-{}#TEMPERATURE_EXCURSION#1", unique());
    raised.occurred_at = raised.alarm.raised_at;
    let major = Reminder::start(&raised, "org-a", &policy).unwrap();
    let other_org = Reminder::start(&raised, "org-b", &policy).unwrap();
    assert!(store.start(&major).await.unwrap());
    assert!(store.start(&other_org).await.unwrap());
    assert!(!store.start(&major).await.unwrap(), "a redelivered raise");

    // nothing due before the step's time; both chains at it
    let before = major.due_at - Duration::seconds(1);
    assert!(store.due(before, 100).await.unwrap().is_empty());
    let due = store.due(major.due_at, 100).await.unwrap();
    assert_eq!(due, vec![major.clone(), other_org.clone()]);

    // two sweeps move the chain on from the same step: one wins
    let next = major.after_step(&policy).unwrap();
    let (first, second) = tokio::join!(
        store.advance(&major, Some(&next)),
        store.advance(&major, Some(&next))
    );
    assert_eq!(
        [first.unwrap(), second.unwrap()]
            .iter()
            .filter(|moved| **moved)
            .count(),
        1
    );
    assert_eq!(
        store.due(next.due_at, 100).await.unwrap()[1..],
        *std::slice::from_ref(&next),
        "org-a at step 2, sorted after the overdue org-b"
    );

    // an escalation replaces the chain; a late MAJOR acknowledgement leaves it
    let mut escalated = raised.clone();
    escalated.event_type = AlarmEventType::Escalated;
    escalated.alarm.severity = Severity::Critical;
    escalated.occurred_at = raised.occurred_at + Duration::minutes(5);
    let critical = Reminder::start(&escalated, "org-a", &policy).unwrap();
    assert!(store.start(&critical).await.unwrap());
    assert!(!store.start(&next).await.unwrap(), "never back to MAJOR");
    assert!(
        !store
            .end(&critical.alarm_id, "org-a", Severity::Major)
            .await
            .unwrap()
    );
    assert!(
        store
            .end(&critical.alarm_id, "org-a", Severity::Critical)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end(&critical.alarm_id, "org-a", Severity::Critical)
            .await
            .unwrap(),
        "ended once"
    );
    // the last step ends a chain, only at its step
    assert!(!store.advance(&next, None).await.unwrap());
    assert!(store.advance(&other_org, None).await.unwrap());
    assert!(
        store
            .due(critical.due_at + Duration::days(1), 100)
            .await
            .unwrap()
            .is_empty()
    );

    // the alarm as the detector stored it
    let alarms = DynamoAlarmStates::new(client.clone(), &alarms_table);
    let shipment = &raised.shipment.shipment_id;
    assert_eq!(
        alarms
            .alarm(shipment, &raised.alarm.alarm_id)
            .await
            .unwrap(),
        None
    );
    let item = alarm_item_of(&raised.alarm, "org-a", "org-b", raised.occurred_at).unwrap();
    client
        .put_item()
        .table_name(&alarms_table)
        .set_item(Some(item))
        .send()
        .await
        .expect("stored");
    assert_eq!(
        alarms
            .alarm(shipment, &raised.alarm.alarm_id)
            .await
            .unwrap(),
        Some(raised.alarm.clone())
    );

    for name in [&table, &alarms_table] {
        let _ = client.delete_table().table_name(name).send().await;
    }
}

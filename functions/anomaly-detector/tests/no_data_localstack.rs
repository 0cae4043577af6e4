//! End to end against the deployed local stack: a shipment dispatched and on
//! its way whose logger never sends a reading. The dispatch's shipment event
//! (SNS) makes the detector watch it; once the watch is dated back by 20
//! minutes, the schedule's next offline check raises NO_DATA, published with
//! its risk estimate.
//!
//! Needs `localstack/up`.

mod harness;

use harness::*;

#[tokio::test]
async fn a_logger_that_never_reports_raises_no_data() {
    let h = Harness::new().await;
    let (_device, shipment_id) = h.shipment_on_the_road().await;
    let queue = h.alarm_queue(&shipment_id).await;

    // the shipment event of the dispatch reaches the detector: watched
    let watched = eventually(
        "the shipment watched for its first reading",
        PATIENCE,
        || {
            let (h, shipment_id) = (&h, &shipment_id);
            async move { h.tracking.load(shipment_id).await.unwrap() }
        },
    )
    .await;
    assert!(watched.is_watched());
    assert!(watched.latest.is_none());
    let started = watched.monitor.started_at.expect("the dispatch time");
    assert_eq!(watched.quiet_since(), Some(started));

    // twenty minutes pass (NO_DATA comes 15 minutes after the start): the
    // watched tracking is dated back, and the schedule's next tick finds it
    let mut earlier = watched.clone();
    earlier.monitor.started_at = Some(started - Duration::minutes(20));
    earlier.version += 1;
    h.tracking
        .save(&earlier, watched.version, &[])
        .await
        .expect("date the watch back");

    let bodies: std::cell::RefCell<Vec<Value>> = Default::default();
    let raised = eventually("NO_DATA raised", PATIENCE, || {
        let (h, queue, bodies) = (&h, &queue, &bodies);
        async move {
            let new = h.drain(queue, 1).await;
            bodies.borrow_mut().extend(new);
            events_of(&bodies.borrow()).into_iter().find(|e| {
                e.alarm.alarm_type == AlarmType::NoData && e.event_type == AlarmEventType::Raised
            })
        }
    })
    .await;
    assert_eq!(raised.alarm.severity, Severity::Major);
    assert_eq!(raised.shipment.shipment_id, shipment_id);
    assert!(
        raised.alarm.detail.contains("no reading at all"),
        "{}",
        raised.alarm.detail
    );
    assert!(raised.risk.is_some(), "a MAJOR raise carries its risk");
    let alarms = h.tracking.alarms_of(&shipment_id).await.unwrap();
    assert!(alarms.iter().any(|a| a.alarm_type == AlarmType::NoData));
}

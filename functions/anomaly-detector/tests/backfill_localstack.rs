//! End to end against the deployed local stack: a logger's readings from a
//! dead zone uploaded after the first reading that followed it. The detector
//! reads the shipment's history back from DynamoDB and rebuilds the trip, so
//! the freeze inside the dead zone raises its CRITICAL alarm with its real
//! start time, and the time in the cold zone counts.
//!
//! Needs `localstack/up`.

mod harness;

use harness::*;
use pharmaguard_domain::shipment::TemperatureProfile;

#[tokio::test]
async fn a_freeze_uploaded_after_a_dead_zone_raises_its_alarm_with_its_real_start() {
    let h = Harness::new().await;
    let (device, shipment_id) = h.shipment_on_the_road().await;
    let queue = h.alarm_queue(&shipment_id).await;
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::minutes(60);
    let id = |k: i64| format!("{}-m{k}", device.id);
    let at = |k: i64| t0 + Duration::minutes(k);
    let temperature = |k: i64| if (20..30).contains(&k) { -3.0 } else { 5.0 };
    let readings = |minutes: &mut dyn Iterator<Item = i64>| -> Vec<Value> {
        minutes
            .map(|k| posted(&device.id, &id(k), at(k), temperature(k), 0.2))
            .collect()
    };

    // live until minute 10, then silent; the first reading after the dead
    // zone (minute 51)
    h.post_readings(&device, &readings(&mut (0..=10).chain([51])))
        .await;
    let before = h.tracking_at(&shipment_id, &id(51)).await;
    assert_eq!(
        before
            .monitor
            .excursion_status(&TemperatureProfile::Refrigerated)
            .below,
        Duration::ZERO
    );

    // the upload of minutes 11 to 50, newest first as some loggers send it
    h.post_readings(&device, &readings(&mut (11..=50).rev()))
        .await;
    let rebuilt = eventually("the trip rebuilt with the upload", PATIENCE, || {
        let (h, shipment_id) = (&h, &shipment_id);
        async move {
            h.tracking
                .load(shipment_id)
                .await
                .unwrap()
                .filter(|t| t.monitor.excursion.attributed() >= Duration::minutes(51))
        }
    })
    .await;
    let status = rebuilt
        .monitor
        .excursion_status(&TemperatureProfile::Refrigerated);
    assert_eq!(status.cold_zone, Duration::minutes(10));
    assert_eq!(status.below, Duration::minutes(10));
    assert_eq!(rebuilt.monitor.coverage(), 1.0);
    assert_eq!(rebuilt.monitor.coverage.min_temperature_c, Some(-3.0));
    assert_eq!(
        rebuilt.latest.as_ref().map(|r| r.reading_id.clone()),
        Some(id(51)),
        "the latest reading is still the latest in time"
    );

    // the alarm, stored and published with its real start
    let alarms = h.tracking.alarms_of(&shipment_id).await.unwrap();
    let freeze = alarms
        .iter()
        .find(|a| a.alarm_type == AlarmType::TemperatureExcursion)
        .expect("the freeze alarm");
    assert_eq!(freeze.raised_at, at(20));
    assert_eq!(freeze.severity, Severity::Critical);
    assert_eq!(
        freeze.crossing.map(|c| c.limit),
        Some(pharmaguard_domain::coldchain::Limit::ColdZone)
    );
    let bodies: std::cell::RefCell<Vec<Value>> = Default::default();
    let events = eventually("the freeze's raise and clearing", PATIENCE, || {
        let (h, queue, bodies) = (&h, &queue, &bodies);
        async move {
            let new = h.drain(queue, 1).await;
            bodies.borrow_mut().extend(new);
            let events = events_of(&bodies.borrow());
            let kinds: Vec<AlarmEventType> = events
                .iter()
                .filter(|e| e.alarm.alarm_type == AlarmType::TemperatureExcursion)
                .map(|e| e.event_type)
                .collect();
            (kinds.contains(&AlarmEventType::Raised) && kinds.contains(&AlarmEventType::Cleared))
                .then_some(events)
        }
    })
    .await;
    let raised = events
        .iter()
        .find(|e| {
            e.alarm.alarm_type == AlarmType::TemperatureExcursion
                && e.event_type == AlarmEventType::Raised
        })
        .unwrap();
    assert_eq!(raised.alarm.raised_at, at(20));
    assert_eq!(raised.context.reading_id.as_deref(), Some(id(20).as_str()));
    assert!(raised.risk.is_some(), "a CRITICAL raise carries its risk");
    let cold = raised
        .risk
        .as_ref()
        .unwrap()
        .part(pharmaguard_domain::coldchain::RiskComponent::ColdSpoilage)
        .unwrap();
    assert_eq!(cold.fraction, 1.0, "a freeze of a refrigerated product");
}

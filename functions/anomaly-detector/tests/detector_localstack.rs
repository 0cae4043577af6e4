//! End to end against the deployed local stack: a shipment on its way with a
//! registered device, readings posted to `POST /v1/telemetry` as that device,
//! and what the anomaly detector makes of them through the real Kinesis event
//! source mapping — the history, the tracking item, the alarms, the alarm
//! events (read from an SQS queue subscribed to the alarm topic), the
//! position events (one per shipment per batch, read from a queue subscribed
//! to the tracking topic), replays that change nothing, poison records set
//! aside, and DEVICE_OFFLINE raised by the schedule.
//!
//! Needs `localstack/up` (the risk calculator deployed too: MAJOR and CRITICAL
//! events must carry their estimate). LocalStack's mapping polls about once
//! a second; every wait below polls with a deadline and asserts.

mod harness;

use harness::*;

#[tokio::test]
async fn telemetry_becomes_history_tracking_alarms_and_events_exactly_once() {
    let h = Harness::new().await;
    let started = OffsetDateTime::now_utc() - Duration::seconds(5);
    let (device, shipment_id) = h.shipment_on_the_road().await;
    let queue = h.alarm_queue(&shipment_id).await;
    let position_queue = h.position_queue().await;

    // one reading a minute, the last a minute ago: 2 in range, 18 min at 12 °C
    // (the refrigerated alarm delay is 15 min), back in range, a 6 g crash at
    // minute 25, then quiet and in range (the shock clears after 10 quiet minutes)
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::minutes(46);
    let id = |k: i64| format!("{}-m{k}", device.id);
    let plan: Vec<(f64, f64)> = (0..45)
        .map(|k| match k {
            3..=20 => (12.0, 0.2),
            25 => (5.0, 6.0),
            _ => (5.0, 0.2),
        })
        .collect();
    let readings: Vec<Value> = plan
        .iter()
        .enumerate()
        .map(|(k, (t, g))| {
            posted(
                &device.id,
                &id(k as i64),
                t0 + Duration::minutes(k as i64),
                *t,
                *g,
            )
        })
        .collect();
    h.post_readings(&device, &readings).await;

    // the tracking item: one write per batch, the latest reading
    let tracking = h.tracking_at(&shipment_id, &id(44)).await;
    let latest = tracking.latest.as_ref().unwrap();
    assert_eq!(latest.ts, t0 + Duration::minutes(44));
    assert_eq!(latest.temperature_c, 5.0);
    assert_eq!(tracking.device_id.as_deref(), Some(device.id.as_str()));
    assert!(tracking.is_watched());

    // the position events: one per batch that saved the tracking, the last
    // one showing the state saved with the latest reading
    let positions: RefCell<Vec<Value>> = RefCell::default();
    let last_position = eventually("the position event of the latest reading", PATIENCE, || {
        let (h, position_queue, positions, latest_id, shipment_id) =
            (&h, &position_queue, &positions, id(44), &shipment_id);
        async move {
            let new = h.drain(position_queue, 1).await;
            positions.borrow_mut().extend(new);
            positions_of(&positions.borrow(), shipment_id)
                .into_iter()
                .find(|p| {
                    p.status.latest.as_ref().map(|r| r.reading_id.as_str())
                        == Some(latest_id.as_str())
                })
        }
    })
    .await;
    assert_eq!(
        last_position.event_id,
        format!("{shipment_id}:v{}", tracking.version)
    );
    assert_eq!(last_position.event_type.as_str(), "tracking.updated");
    assert_eq!(last_position.shipper_org_id, h.world.shipper.id);
    assert_eq!(last_position.recipient_org_id, h.world.recipient.id);
    assert_eq!(last_position.device_id.as_deref(), Some(device.id.as_str()));
    assert_eq!(last_position.status.profile.kind, "REFRIGERATED");
    assert_eq!(
        (
            last_position.status.profile.min_c,
            last_position.status.profile.max_c
        ),
        (2.0, 8.0)
    );
    assert_eq!(last_position.status.budget_minutes, 75.0);
    assert_eq!(last_position.status.excursion_minutes, 18.0);
    let latest_position = last_position.status.latest.as_ref().unwrap();
    assert_eq!(latest_position.ts, t0 + Duration::minutes(44));
    assert_eq!(latest_position.temperature_c, 5.0);
    let ids: Vec<String> = positions_of(&positions.borrow(), &shipment_id)
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "one event per saved version: {ids:?}"
    );
    assert!(
        ids.len() as u64 <= tracking.version,
        "at most one per write of the tracking: {ids:?}"
    );

    // the history, by time range
    let owner = Owner::Shipment(shipment_id.clone());
    let all = h
        .history
        .between(&owner, t0, t0 + Duration::minutes(44))
        .await
        .unwrap();
    assert_eq!(all.len(), 45);
    let window = h
        .history
        .between(
            &owner,
            t0 + Duration::minutes(10),
            t0 + Duration::minutes(20),
        )
        .await
        .unwrap();
    let ids: Vec<String> = window.iter().map(|r| r.reading_id.clone()).collect();
    assert_eq!(ids, (10..=20).map(id).collect::<Vec<_>>());

    // the alarms, each in its current state
    let alarms = h.tracking.alarms_of(&shipment_id).await.unwrap();
    let excursion = alarms
        .iter()
        .find(|a| a.alarm_type == AlarmType::TemperatureExcursion)
        .expect("an excursion alarm");
    assert_eq!(excursion.raised_at, t0 + Duration::minutes(17));
    assert_eq!(excursion.severity, Severity::Major);
    let shock = alarms
        .iter()
        .find(|a| a.alarm_type == AlarmType::Shock)
        .expect("a shock alarm");
    assert_eq!(shock.severity, Severity::Critical);
    assert_eq!(shock.raised_at, t0 + Duration::minutes(25));

    // the events: raised with a risk estimate, cleared without
    let bodies: RefCell<Vec<Value>> = RefCell::default();
    let wanted = [
        (AlarmType::TemperatureExcursion, AlarmEventType::Raised),
        (AlarmType::TemperatureExcursion, AlarmEventType::Cleared),
        (AlarmType::Shock, AlarmEventType::Raised),
        (AlarmType::Shock, AlarmEventType::Cleared),
    ];
    let events = eventually("the alarm events", PATIENCE, || {
        let (h, queue, bodies) = (&h, &queue, &bodies);
        async move {
            let new = h.drain(queue, 1).await;
            bodies.borrow_mut().extend(new);
            let events = events_of(&bodies.borrow());
            wanted
                .iter()
                .all(|(t, e)| {
                    events
                        .iter()
                        .any(|ev| ev.alarm.alarm_type == *t && ev.event_type == *e)
                })
                .then_some(events)
        }
    })
    .await;
    let find = |t: AlarmType, e: AlarmEventType| {
        events
            .iter()
            .find(|ev| ev.alarm.alarm_type == t && ev.event_type == e)
            .unwrap()
    };
    let raised = find(AlarmType::TemperatureExcursion, AlarmEventType::Raised);
    assert_eq!(raised.alarm.severity, Severity::Major);
    assert_eq!(raised.shipment.shipment_id, shipment_id);
    assert_eq!(raised.shipment.recipient_org_id, h.world.recipient.id);
    assert_eq!(raised.context.reading_id.as_deref(), Some(id(17).as_str()));
    assert_eq!(raised.context.excursion_minutes, 15.0);
    let risk = raised
        .risk
        .as_ref()
        .expect("a MAJOR raise carries its risk");
    assert_eq!(risk.currency, "EUR");
    assert_eq!(risk.cargo_value, "48000.00");
    let crash = find(AlarmType::Shock, AlarmEventType::Raised);
    assert_eq!(crash.alarm.severity, Severity::Critical);
    assert_eq!(crash.alarm.value, 6.0);
    let crash_risk = crash
        .risk
        .as_ref()
        .expect("a CRITICAL raise carries its risk");
    assert!(crash_risk.parts[0].fraction > 0.0, "{crash_risk:?}");
    assert!(
        find(AlarmType::Shock, AlarmEventType::Cleared)
            .risk
            .is_none()
    );
    // whatever else the first batches published (e.g. PRE_EXCURSION) has arrived by now
    let stragglers = h.drain(&queue, 2).await;
    bodies.borrow_mut().extend(stragglers);
    let seen: BTreeSet<String> = events_of(&bodies.borrow())
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert!(seen.len() >= 4);

    // replay: the very same records again, straight into the stream; then two
    // markers of another device, the second put only once the first is
    // stored, so the replay has surely been processed when it is
    let replayed = h.records_of(&device.id, started).await;
    let replayed_ids: BTreeSet<String> = replayed
        .iter()
        .map(|r| {
            serde_json::from_slice::<Reading>(r.data().as_ref())
                .unwrap()
                .reading_id
        })
        .collect();
    assert_eq!(replayed_ids.len(), 45, "the records the ingest wrote");
    let before = h.tracking.load(&shipment_id).await.unwrap().unwrap();
    let alarms_before = h.tracking.alarms_of(&shipment_id).await.unwrap();
    let shipper = h.world.shipper.id.clone();
    let marker_device = h
        .world
        .api
        .create_device(h.world.shipper.as_role("MANAGER"), &shipper)
        .await
        .id;
    let marker = |n: i64| {
        record(
            &marker_device,
            &shipper,
            &format!("{marker_device}-{n}"),
            OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::seconds(10 - n),
            5.0,
        )
    };
    let (first, second) = (marker(1), marker(2));
    let mut batch: Vec<(String, Vec<u8>)> = replayed
        .iter()
        .map(|r| (device.id.clone(), r.data().as_ref().to_vec()))
        .collect();
    batch.push((marker_device.clone(), serde_json::to_vec(&first).unwrap()));
    h.put_records(batch).await;
    h.device_history_has(&marker_device, &first).await;
    h.put_records(vec![(
        marker_device.clone(),
        serde_json::to_vec(&second).unwrap(),
    )])
    .await;
    h.device_history_has(&marker_device, &second).await;
    let after = h.tracking.load(&shipment_id).await.unwrap().unwrap();
    assert_eq!(after, before, "the replay changed no state");
    assert_eq!(
        h.tracking.alarms_of(&shipment_id).await.unwrap(),
        alarms_before
    );
    let late = h.drain(&queue, 2).await;
    assert!(late.is_empty(), "the replay published {late:?}");
    let late = positions_of(&h.drain(&position_queue, 1).await, &shipment_id);
    assert!(late.is_empty(), "the replay published positions {late:?}");

    // a poison record between two good ones: the good ones are applied, the
    // garbage lands in the rejected queue with where it came from
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let good1 = record(
        &device.id,
        &shipper,
        &format!("{}-g1", device.id),
        now - Duration::seconds(2),
        5.0,
    );
    let good2 = record(
        &device.id,
        &shipper,
        &format!("{}-g2", device.id),
        now - Duration::seconds(1),
        5.1,
    );
    let garbage = format!("\u{1}garbage {}", unique()).into_bytes();
    let sequences = h
        .put_records(vec![
            (device.id.clone(), serde_json::to_vec(&good1).unwrap()),
            (device.id.clone(), garbage.clone()),
            (device.id.clone(), serde_json::to_vec(&good2).unwrap()),
        ])
        .await;
    let tracking = h.tracking_at(&shipment_id, &good2.reading_id).await;
    assert_eq!(
        tracking.version,
        before.version + 1,
        "one write for the batch"
    );
    // exactly one position event for that batch of two readings
    let batch_positions: RefCell<Vec<Value>> = RefCell::default();
    eventually("the position event of the batch", PATIENCE, || {
        let (h, position_queue, batch_positions, shipment_id) =
            (&h, &position_queue, &batch_positions, &shipment_id);
        async move {
            let new = h.drain(position_queue, 1).await;
            batch_positions.borrow_mut().extend(new);
            (!positions_of(&batch_positions.borrow(), shipment_id).is_empty()).then_some(())
        }
    })
    .await;
    let more = h.drain(&position_queue, 3).await;
    batch_positions.borrow_mut().extend(more);
    let batch_positions = positions_of(&batch_positions.borrow(), &shipment_id);
    assert_eq!(batch_positions.len(), 1, "{batch_positions:?}");
    assert_eq!(
        batch_positions[0].event_id,
        format!("{shipment_id}:v{}", tracking.version)
    );
    assert_eq!(
        batch_positions[0]
            .status
            .latest
            .as_ref()
            .map(|p| p.reading_id.as_str()),
        Some(good2.reading_id.as_str())
    );
    let stored = h.history.between(&owner, good1.ts, good2.ts).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|r| r.reading_id.as_str())
            .collect::<Vec<_>>(),
        [good1.reading_id.as_str(), good2.reading_id.as_str()]
    );
    let rejected_queue = h.stack.output("RejectedTelemetryQueueUrl").to_owned();
    let rejected = eventually("the poison record in the rejected queue", PATIENCE, || {
        let (h, rejected_queue, sequence) = (&h, &rejected_queue, &sequences[1]);
        async move {
            let output = h
                .sqs
                .receive_message()
                .queue_url(rejected_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(2)
                .send()
                .await
                .unwrap();
            for message in output.messages.unwrap_or_default() {
                let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                if body["sequence_number"] == json!(sequence) {
                    h.sqs
                        .delete_message()
                        .queue_url(rejected_queue)
                        .receipt_handle(message.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                    return Some(body);
                }
            }
            None
        }
    })
    .await;
    assert_eq!(rejected["reason"], "NOT_JSON");
    assert_eq!(rejected["partition_key"], json!(device.id));
    assert_eq!(
        STANDARD
            .decode(rejected["data_base64"].as_str().unwrap())
            .unwrap(),
        garbage
    );

    let _ = h.sqs.delete_queue().queue_url(&queue).send().await;
    let _ = h.sqs.delete_queue().queue_url(&position_queue).send().await;
}

#[tokio::test]
async fn a_silent_device_raises_device_offline_on_the_schedule() {
    let h = Harness::new().await;
    let (device, shipment_id) = h.shipment_on_the_road().await;
    let queue = h.alarm_queue(&shipment_id).await;

    // the device last reported 12 minutes ago (the offline delay is 10)
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let last = format!("{}-last", device.id);
    h.post_readings(
        &device,
        &[
            posted(
                &device.id,
                &format!("{}-first", device.id),
                now - Duration::minutes(13),
                5.0,
                0.2,
            ),
            posted(&device.id, &last, now - Duration::minutes(12), 5.0, 0.2),
        ],
    )
    .await;
    h.tracking_at(&shipment_id, &last).await;

    // the schedule ticks every minute
    let bodies: RefCell<Vec<Value>> = RefCell::default();
    let offline = eventually("DEVICE_OFFLINE raised by the schedule", PATIENCE, || {
        let (h, queue, bodies) = (&h, &queue, &bodies);
        async move {
            let new = h.drain(queue, 1).await;
            bodies.borrow_mut().extend(new);
            events_of(&bodies.borrow()).into_iter().find(|e| {
                e.alarm.alarm_type == AlarmType::DeviceOffline
                    && e.event_type == AlarmEventType::Raised
            })
        }
    })
    .await;
    assert_eq!(offline.alarm.severity, Severity::Major);
    assert_eq!(offline.context.reading_id.as_deref(), Some(last.as_str()));
    assert!(offline.risk.is_some(), "a MAJOR raise carries its risk");
    let alarms = h.tracking.alarms_of(&shipment_id).await.unwrap();
    assert!(
        alarms
            .iter()
            .any(|a| a.alarm_type == AlarmType::DeviceOffline && a.state.is_active())
    );

    // the device is back: its reading clears the alarm
    let back = format!("{}-back", device.id);
    h.post_readings(
        &device,
        &[posted(
            &device.id,
            &back,
            OffsetDateTime::now_utc(),
            5.0,
            0.2,
        )],
    )
    .await;
    eventually("DEVICE_OFFLINE cleared", PATIENCE, || {
        let (h, queue, bodies) = (&h, &queue, &bodies);
        async move {
            let new = h.drain(queue, 1).await;
            bodies.borrow_mut().extend(new);
            events_of(&bodies.borrow())
                .into_iter()
                .find(|e| {
                    e.alarm.alarm_type == AlarmType::DeviceOffline
                        && e.event_type == AlarmEventType::Cleared
                })
                .map(|_| ())
        }
    })
    .await;
    let _ = h.sqs.delete_queue().queue_url(&queue).send().await;
}

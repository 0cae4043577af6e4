//! Shipment orders against the deployed stack: tenant isolation, the state
//! machine, optimistic concurrency, the audit trail and the domain events.

use std::collections::BTreeSet;
use std::time::Duration;

use pharmaguard_testkit::{Stack, World};
use serde_json::{Value, json};

fn version(shipment: &Value) -> u64 {
    shipment["version"].as_u64().expect("a version")
}

fn id(shipment: &Value) -> String {
    shipment["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn another_organisation_cannot_read_list_change_or_audit_a_shipment() {
    let world = World::build(&Stack::load()).await;
    let shipment = world.create_shipment().await;
    let path = format!("/v1/shipments/{}", id(&shipment));

    for role in ["ADMIN", "MANAGER", "PHARMACIST", "DRIVER"] {
        let outsider = world.outsider.as_role(role);
        let read = world.api.get(outsider, &path).await;
        assert_eq!(read.status, 404, "{role} of another org reads: {read}");
        let audit = world.api.get(outsider, &format!("{path}/audit")).await;
        assert_eq!(
            audit.status, 404,
            "{role} of another org reads the audit: {audit}"
        );
        for action in ["dispatch", "cancel", "start", "deliver"] {
            let change = world.transition(outsider, &id(&shipment), action, 1).await;
            assert!(
                change.status == 404 || change.status == 403,
                "{role} of another org may not {action}: {change}"
            );
        }
        let list = world.api.get(outsider, "/v1/shipments?limit=100").await;
        assert_eq!(list.status, 200, "{list}");
        assert!(
            !list.body.to_string().contains(&id(&shipment)),
            "{role} of another org lists it: {list}"
        );
    }

    // the recipient sees it, and nothing changed
    let read = world
        .api
        .get(world.recipient.as_role("PHARMACIST"), &path)
        .await;
    assert_eq!(read.status, 200, "{read}");
    assert_eq!(read.body["state"], "PENDING");
    assert_eq!(version(&read.body), 1);

    // no organisation can create shipments between two others
    let mut foreign = world.new_shipment();
    foreign["shipper_org_id"] = json!(world.shipper.id);
    foreign["recipient_org_id"] = json!(world.recipient.id);
    let create = world
        .api
        .post(world.outsider.as_role("MANAGER"), "/v1/shipments", foreign)
        .await;
    assert_eq!(create.status, 403, "{create}");
}

#[tokio::test]
async fn the_list_is_paginated_filtered_by_state_and_limited_to_the_callers_shipments() {
    let world = World::build(&Stack::load()).await;
    let mut created = BTreeSet::new();
    for _ in 0..3 {
        created.insert(id(&world.create_shipment().await));
    }
    let first = world.create_shipment().await;
    let dispatched = world
        .transition(world.shipper.as_role("MANAGER"), &id(&first), "dispatch", 1)
        .await;
    assert_eq!(dispatched.status, 200, "{dispatched}");

    let reader = world.recipient.as_role("PHARMACIST");
    let mut seen = BTreeSet::new();
    let mut path = "/v1/shipments?state=PENDING&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = world.api.get(reader, &path).await;
        assert_eq!(page.status, 200, "{page}");
        let items = page.body["items"].as_array().expect("items");
        assert!(items.len() <= 2, "limit respected: {page}");
        for item in items {
            assert_eq!(item["state"], "PENDING", "{page}");
            seen.insert(id(item));
        }
        pages += 1;
        match page.body["next"].as_str() {
            Some(next) => {
                // a page token is no key to another organisation's list
                let stolen = world
                    .api
                    .get(
                        world.outsider.as_role("MANAGER"),
                        &format!("/v1/shipments?limit=2&next={next}"),
                    )
                    .await;
                assert!(
                    stolen.status == 400 || !stolen.body.to_string().contains(&world.shipper.id),
                    "{stolen}"
                );
                path = format!("/v1/shipments?state=PENDING&limit=2&next={next}");
            }
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(
        seen, created,
        "every pending shipment of the recipient, once"
    );
    assert!(pages >= 2);

    let bad = world.api.get(reader, "/v1/shipments?state=LOST").await;
    assert_eq!(bad.status, 400, "{bad}");
    assert!(
        bad.body.to_string().contains("state"),
        "names the field: {bad}"
    );
}

#[tokio::test]
async fn every_illegal_transition_is_refused_with_409_and_the_reason() {
    let world = World::build(&Stack::load()).await;
    let manager = world.shipper.as_role("MANAGER");
    let all = ["dispatch", "start", "deliver", "cancel"];

    // legal moves from each state, the rest must be refused
    let legal: [(&str, &[&str]); 5] = [
        ("PENDING", &["dispatch", "cancel"]),
        ("DISPATCHED", &["start", "cancel"]),
        ("IN_TRANSIT", &["deliver"]),
        ("DELIVERED", &[]),
        ("CANCELLED", &[]),
    ];
    let path_to: [(&str, &[&str]); 5] = [
        ("PENDING", &[]),
        ("DISPATCHED", &["dispatch"]),
        ("IN_TRANSIT", &["dispatch", "start"]),
        ("DELIVERED", &["dispatch", "start", "deliver"]),
        ("CANCELLED", &["cancel"]),
    ];
    for ((state, allowed), (_, steps)) in legal.iter().zip(path_to.iter()) {
        let shipment = world.create_shipment().await;
        let mut current = shipment.clone();
        for step in *steps {
            let reply = world
                .transition(manager, &id(&current), step, version(&current))
                .await;
            assert_eq!(reply.status, 200, "{step} on the way to {state}: {reply}");
            current = reply.body;
        }
        assert_eq!(current["state"], *state);
        for action in all.iter().filter(|a| !allowed.contains(a)) {
            let reply = world
                .transition(manager, &id(&current), action, version(&current))
                .await;
            assert_eq!(reply.status, 409, "{action} from {state}: {reply}");
            assert_eq!(reply.body["error"], "invalid_transition", "{reply}");
            assert!(
                reply.body.to_string().contains(state),
                "the reason names {state}: {reply}"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_updates_with_the_same_version_let_exactly_one_win() {
    let world = World::build(&Stack::load()).await;
    let shipment = world.create_shipment().await;
    let manager = world.shipper.as_role("MANAGER");
    let recipient_manager = world.recipient.as_role("MANAGER");

    let shipment_id = id(&shipment);
    let (dispatch, cancel) = tokio::join!(
        world.transition(manager, &shipment_id, "dispatch", 1),
        world.transition(recipient_manager, &shipment_id, "cancel", 1),
    );
    let statuses = [dispatch.status, cancel.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one wins: {dispatch} / {cancel}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        1,
        "{dispatch} / {cancel}"
    );

    let after = world
        .api
        .get(manager, &format!("/v1/shipments/{}", id(&shipment)))
        .await;
    assert_eq!(version(&after.body), 2, "one change only: {after}");

    let stale = world.transition(manager, &id(&shipment), "cancel", 1).await;
    assert_eq!(stale.status, 409, "{stale}");
}

#[tokio::test]
async fn the_audit_trail_records_who_did_what_before_and_after() {
    let world = World::build(&Stack::load()).await;
    let shipment = world.create_shipment().await;
    let manager = world.shipper.as_role("MANAGER");
    let dispatched = world
        .transition(manager, &id(&shipment), "dispatch", 1)
        .await;
    assert_eq!(dispatched.status, 200, "{dispatched}");

    let trail = world
        .api
        .get(
            world.recipient.as_role("DRIVER"),
            &format!("/v1/shipments/{}/audit", id(&shipment)),
        )
        .await;
    assert_eq!(trail.status, 200, "{trail}");
    let items = trail.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{trail}");
    assert!(
        items[0]["before"].is_null(),
        "creation has no before: {trail}"
    );
    assert_eq!(items[0]["after"]["state"], "PENDING");
    assert_eq!(items[1]["before"]["state"], "PENDING");
    assert_eq!(items[1]["after"]["state"], "DISPATCHED");
    for item in items {
        assert_eq!(item["actor"]["id"], manager.id.as_str(), "{item}");
        assert_eq!(item["actor"]["org_id"], world.shipper.id.as_str(), "{item}");
        assert!(item["at"].is_string(), "{item}");
    }
}

#[tokio::test]
async fn domain_events_reach_an_sqs_queue_subscribed_to_the_topic() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let config = stack.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = stack.output("ShipmentEventsTopicArn");

    // one queue for everything of this shipper, one that filters on dispatches only
    let mut queues = Vec::new();
    for (name, policy) in [
        ("all", json!({ "shipper_org_id": [world.shipper.id] })),
        (
            "dispatched",
            json!({ "shipper_org_id": [world.shipper.id], "event_type": ["shipment.dispatched"] }),
        ),
    ] {
        let url = pharmaguard_testkit::queues::subscribed_queue(
            &sqs,
            &sns,
            topic,
            &format!("events-test-{name}"),
            Some(policy),
        )
        .await;
        queues.push(url);
    }

    let shipment = world.create_shipment().await;
    let dispatched = world
        .transition(
            world.shipper.as_role("MANAGER"),
            &id(&shipment),
            "dispatch",
            1,
        )
        .await;
    assert_eq!(dispatched.status, 200, "{dispatched}");

    let all = receive(&sqs, &queues[0], 2).await;
    let types: Vec<&str> = all
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["shipment.created", "shipment.dispatched"],
        "{all:?}"
    );
    assert_eq!(all[0]["event_id"], format!("{}:v1", id(&shipment)));
    assert_eq!(all[1]["version"], 2);
    assert_eq!(all[1]["shipment_id"], id(&shipment).as_str());

    let filtered = receive(&sqs, &queues[1], 1).await;
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert_eq!(filtered[0]["event_type"], "shipment.dispatched");
}

/// Receives until `expected` events came (or 30 s passed), sorted by version.
async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str, expected: usize) -> Vec<Value> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in received.messages() {
            events.push(
                serde_json::from_str::<Value>(message.body().unwrap_or("null"))
                    .expect("JSON event"),
            );
        }
        if events.len() >= expected {
            // a little longer, to catch anything that should not be there
            tokio::time::sleep(Duration::from_secs(2)).await;
            let late = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            for message in late.messages() {
                events.push(
                    serde_json::from_str::<Value>(message.body().unwrap_or("null"))
                        .expect("JSON event"),
                );
            }
            break;
        }
    }
    // delivery is at least once: consumers drop what they saw by event id, and so does this
    events.sort_by_key(|e| e["version"].as_u64());
    events.dedup_by_key(|e| e["event_id"].clone());
    events
}

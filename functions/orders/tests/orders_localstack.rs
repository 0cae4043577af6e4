//! End to end against the deployed local stack: the shipment routes through
//! the REST API and its authorizer, with real users of three organisations.
//!
//! Needs `localstack/up` (the test command in README.md runs everything).

use pharmaguard_testkit::{Stack, World};
use serde_json::{Value, json};

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_shipment_lives_its_life_seen_only_by_its_parties() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let api = &world.api;
    let created = world.create_shipment().await;
    let id = created["id"].as_str().expect("an id").to_owned();
    let path = format!("/v1/shipments/{id}");
    assert_eq!(created["state"], "PENDING");
    assert_eq!(created["version"], 1);

    // both parties see it, with every role; nobody else does — not even an admin
    for role in pharmaguard_testkit::ROLES {
        for org in [&world.shipper, &world.recipient] {
            let reply = api.get(org.as_role(role), &path).await;
            assert_eq!(reply.status, 200, "{role} of {}: {reply}", org.id);
        }
        let reply = api.get(world.outsider.as_role(role), &path).await;
        assert_eq!(reply.status, 404, "{role} of the outsider: {reply}");
    }
    assert_eq!(api.get(&world.admin, &path).await.status, 404);
    let listing = api
        .get(
            world.recipient.as_role("PHARMACIST"),
            "/v1/shipments?state=PENDING",
        )
        .await;
    assert_eq!(listing.status, 200, "{listing}");
    assert!(ids(&listing.body).contains(&id));
    let listing = api
        .get(world.outsider.as_role("ADMIN"), "/v1/shipments")
        .await;
    assert!(!ids(&listing.body).contains(&id));

    // no token: the authorizer stops it
    assert_eq!(api.call("GET", &path, None, None).await.status, 401);

    // dispatch: MANAGER of the shipper, not its DRIVER
    let reply = world
        .transition(world.shipper.as_role("DRIVER"), &id, "dispatch", 1)
        .await;
    assert_eq!(reply.status, 403, "{reply}");
    let reply = world
        .transition(world.shipper.as_role("MANAGER"), &id, "dispatch", 1)
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body["state"], "DISPATCHED");

    // the same version again is stale
    let reply = world
        .transition(world.recipient.as_role("MANAGER"), &id, "cancel", 1)
        .await;
    assert_eq!(reply.status, 409, "{reply}");
    assert_eq!(reply.body["error"], "version_conflict");
    assert_eq!(reply.body["current_version"], 2);

    // on the road with the shipper's driver, who is recorded as having started it
    let driver = world.shipper.as_role("DRIVER");
    let reply = world.transition(driver, &id, "start", 2).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply.body["started_by"],
        json!(world.shipper.users["DRIVER"].id)
    );

    // a ferry the driver declares on the way: the shipper may, the recipient may not
    let silences = json!({ "version": 3, "expected_silences": [{
        "from": "2030-01-01T10:00:00Z", "to": "2030-01-01T13:30:00Z", "reason": "ferry Rostock-Trelleborg"
    }]});
    let silences_path = format!("{path}/silences");
    let put = |session: &pharmaguard_testkit::Session| {
        let token = session.access_token.clone();
        let (path, body) = (silences_path.clone(), silences.clone());
        async move { api.call("PUT", &path, Some(&token), Some(&body)).await }
    };
    assert_eq!(put(world.recipient.as_role("MANAGER")).await.status, 403);
    assert_eq!(put(world.outsider.as_role("MANAGER")).await.status, 404);
    let reply = put(driver).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body["state"], "IN_TRANSIT");
    assert_eq!(
        reply.body["expected_silences"][0]["reason"],
        "ferry Rostock-Trelleborg"
    );
    assert_eq!(put(driver).await.status, 409, "the version moved on");

    // delivered to the recipient's pharmacist
    let reply = world
        .transition(world.recipient.as_role("PHARMACIST"), &id, "deliver", 4)
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body["state"], "DELIVERED");
    assert_eq!(reply.body["version"], 5);

    // a delivered shipment cannot be cancelled
    let reply = world
        .transition(world.shipper.as_role("MANAGER"), &id, "cancel", 5)
        .await;
    assert_eq!(reply.status, 409, "{reply}");
    assert_eq!(reply.body["error"], "invalid_transition");
    assert_eq!(reply.body["from"], "DELIVERED");

    // the audit trail, in order, for the parties only
    let trail = api
        .get(world.recipient.as_role("DRIVER"), &format!("{path}/audit"))
        .await;
    assert_eq!(trail.status, 200, "{trail}");
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|r| r["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "shipment.created",
            "shipment.dispatched",
            "shipment.in_transit",
            "shipment.silences_changed",
            "shipment.delivered"
        ]
    );
    let reply = api
        .get(world.outsider.as_role("MANAGER"), &format!("{path}/audit"))
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn invalid_orders_are_refused_field_by_field() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let mut body = world.new_shipment();
    body["quantity"] = json!(0);
    body["cargo_value"]["currency"] = json!("euro");
    body["extra"] = json!(true);
    let reply = world
        .api
        .post(world.shipper.as_role("MANAGER"), "/v1/shipments", body)
        .await;
    assert_eq!(reply.status, 400, "{reply}");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["extra", "quantity", "cargo_value.currency"]);

    // drivers do not order, and nobody orders for two other organisations
    let reply = world
        .api
        .post(
            world.shipper.as_role("DRIVER"),
            "/v1/shipments",
            world.new_shipment(),
        )
        .await;
    assert_eq!(reply.status, 403, "{reply}");
    let reply = world
        .api
        .post(
            world.outsider.as_role("MANAGER"),
            "/v1/shipments",
            world.new_shipment(),
        )
        .await;
    assert_eq!(reply.status, 403, "{reply}");
}

//! Every route of the REST API called as every role (of the shipper's organisation),
//! as a device and anonymously: who is let through and who is refused.
//!
//! The expected table is the one in README.md ("Who may do what"). A call is
//! "allowed" when it answers 2xx; "refused" when it answers 401 (anonymous),
//! 403 or 404 (an organisation's shipment that is not the caller's business).
//! Each call that changes something gets its own fresh target, so a refusal is
//! about permission, never about the target's state.

use pharmaguard_testkit::{Reply, Session, Stack, World, unique};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Device,
    Admin,
    Manager,
    Pharmacist,
    Driver,
}

use Caller::*;

const CALLERS: [Caller; 6] = [Anonymous, Device, Admin, Manager, Pharmacist, Driver];
const USERS: &[Caller] = &[Admin, Manager, Pharmacist, Driver];

/// (method, route, who is allowed)
const MATRIX: &[(&str, &str, &[Caller])] = &[
    ("POST", "/v1/telemetry", &[Device, Admin, Driver]),
    ("GET", "/v1/auth/me", USERS),
    ("POST", "/v1/auth/organisations", &[Admin]),
    ("GET", "/v1/auth/organisations", USERS),
    ("POST", "/v1/auth/users", &[Admin, Manager]),
    ("GET", "/v1/auth/users", &[Admin, Manager]),
    ("PATCH", "/v1/auth/users/{id}", &[Admin, Manager]),
    ("POST", "/v1/auth/users/{id}/disable", &[Admin, Manager]),
    ("POST", "/v1/auth/users/{id}/enable", &[Admin, Manager]),
    ("POST", "/v1/auth/devices", &[Admin, Manager]),
    ("POST", "/v1/auth/devices/{id}/disable", &[Admin, Manager]),
    ("POST", "/v1/auth/devices/{id}/enable", &[Admin, Manager]),
    ("POST", "/v1/shipments", &[Admin, Manager, Pharmacist]),
    ("GET", "/v1/shipments", USERS),
    ("GET", "/v1/shipments/{id}", USERS),
    ("POST", "/v1/shipments/{id}/dispatch", &[Admin, Manager]),
    (
        "POST",
        "/v1/shipments/{id}/start",
        &[Admin, Manager, Driver],
    ),
    (
        "POST",
        "/v1/shipments/{id}/deliver",
        &[Admin, Manager, Driver],
    ),
    ("POST", "/v1/shipments/{id}/cancel", &[Admin, Manager]),
    ("GET", "/v1/shipments/{id}/audit", USERS),
    ("POST", "/v1/risk/estimate", &[Admin, Manager]),
    ("GET", "/v1/tracking", USERS),
    ("GET", "/v1/alarms", USERS),
    ("GET", "/v1/shipments/{id}/tracking", USERS),
    ("GET", "/v1/shipments/{id}/readings", USERS),
    (
        "POST",
        "/v1/shipments/{id}/alarms/{alarm_id}/acknowledge",
        &[Admin, Manager, Pharmacist],
    ),
];

/// Public routes: anyone may call them, with valid input.
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/devices/token"),
];

struct Matrix {
    world: World,
    device: Session,
}

impl Matrix {
    fn session(&self, caller: Caller) -> Option<&Session> {
        let role = match caller {
            Anonymous => return None,
            Device => return Some(&self.device),
            Admin => "ADMIN",
            Manager => "MANAGER",
            Pharmacist => "PHARMACIST",
            Driver => "DRIVER",
        };
        Some(self.world.shipper.as_role(role))
    }

    /// A shipment of the shipper in `state`, made by the shipper's manager.
    async fn shipment_in(&self, state: &str) -> Value {
        let world = &self.world;
        let manager = world.shipper.as_role("MANAGER");
        let mut shipment = world.create_shipment().await;
        let steps: &[&str] = match state {
            "PENDING" => &[],
            "DISPATCHED" => &["dispatch"],
            "IN_TRANSIT" => &["dispatch", "start"],
            other => panic!("no way to {other}"),
        };
        for step in steps {
            let id = shipment["id"].as_str().unwrap().to_owned();
            let version = shipment["version"].as_u64().unwrap();
            let reply = world.transition(manager, &id, step, version).await;
            assert_eq!(reply.status, 200, "{reply}");
            shipment = reply.body;
        }
        shipment
    }

    /// A shipment of the shipper on the road with a registered device that
    /// crashed: its active SHOCK alarm, once the anomaly detector raised it.
    /// Returns the shipment id and the alarm id.
    async fn shipment_with_an_alarm(&self) -> (String, String) {
        let world = &self.world;
        let manager = world.shipper.as_role("MANAGER");
        let device = world.api.create_device(manager, &world.shipper.id).await;
        let mut body = world.new_shipment();
        body["device_id"] = json!(device.id);
        let reply = world.api.post(manager, "/v1/shipments", body).await;
        assert_eq!(reply.status, 201, "{reply}");
        let id = reply.body["id"].as_str().unwrap().to_owned();
        for (step, version) in [("dispatch", 1), ("start", 2)] {
            let reply = world.transition(manager, &id, step, version).await;
            assert_eq!(reply.status, 200, "{reply}");
        }
        let ts = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
        let crash = json!({"device_id": device.id, "ts": ts, "lat": 52.5, "lon": 13.4,
            "temperature_c": 5.0, "vibration_g": 7.5});
        let reply = world
            .api
            .post(&device, "/v1/telemetry", json!({ "readings": [crash] }))
            .await;
        assert_eq!(reply.status, 200, "{reply}");
        let path = format!("/v1/shipments/{id}/tracking");
        for _ in 0..240 {
            let reply = world.api.get(manager, &path).await;
            if let Some(alarm_id) = reply.body["active_alarms"][0]["alarm_id"].as_str() {
                return (id, alarm_id.to_owned());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("no SHOCK alarm for {id} after 2 minutes");
    }

    /// Calls `method route` as `caller` with a fresh, valid target and body.
    async fn call(&self, caller: Caller, method: &str, route: &str) -> Reply {
        let world = &self.world;
        let org = &world.shipper.id;
        let (path, body): (String, Option<Value>) = match route {
            "/v1/telemetry" => {
                // the shipper's own device: drivers and admins relay only their organisation's
                let device_id = self.device.id.clone();
                let ts = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
                let reading = json!({"device_id": device_id, "ts": ts, "lat": 52.5, "lon": 13.4,
                    "temperature_c": 5.0, "vibration_g": 0.1});
                (route.into(), Some(json!({ "readings": [reading] })))
            }
            "/v1/auth/organisations" if method == "POST" => (
                route.into(),
                Some(json!({"name": format!("Matrix org {}", unique()), "kind": "PHARMACY"})),
            ),
            "/v1/auth/users" if method == "POST" => (
                route.into(),
                Some(
                    json!({"email": format!("matrix-{}@test.pharmaguard.local", unique()),
                    "password": format!("pw-{}-{}", unique(), unique()), "name": "Matrix",
                    "role": "DRIVER", "org_id": org}),
                ),
            ),
            "/v1/auth/users/{id}" => {
                let admin = &world.admin;
                let target = world.api.create_user(admin, org, "DRIVER").await;
                (
                    format!("/v1/auth/users/{}", target.id),
                    Some(json!({"role": "PHARMACIST", "version": 1})),
                )
            }
            "/v1/auth/users/{id}/disable" | "/v1/auth/users/{id}/enable" => {
                // a fresh driver of the shipper: below MANAGER, so managers may
                let target = world.api.create_user(&world.admin, org, "DRIVER").await;
                (
                    route.replace("{id}", &target.id),
                    Some(json!({"version": 1})),
                )
            }
            "/v1/auth/devices/{id}/disable" | "/v1/auth/devices/{id}/enable" => {
                let device = world.api.create_device(&world.admin, org).await;
                (route.replace("{id}", &device.id), None)
            }
            "/v1/auth/devices" => (
                route.into(),
                Some(
                    json!({"device_id": format!("truck-{}", unique()), "name": "Matrix truck", "org_id": org}),
                ),
            ),
            "/v1/shipments" if method == "POST" => (route.into(), Some(world.new_shipment())),
            "/v1/risk/estimate" => (
                route.into(),
                Some(
                    json!({"cargo_value": {"amount": "48000.00", "currency": "EUR"},
                    "profile": {"kind": "REFRIGERATED"}, "peak_vibration_g": 6.0}),
                ),
            ),
            "/v1/shipments/{id}/alarms/{alarm_id}/acknowledge" => {
                let (id, alarm_id) = self.shipment_with_an_alarm().await;
                let path = route
                    .replace("{id}", &id)
                    .replace("{alarm_id}", &alarm_id.replace('#', "%23"));
                (
                    path,
                    Some(json!({"reason": "matrix", "disposition": "NO_PRODUCT_IMPACT"})),
                )
            }
            "/v1/shipments/{id}"
            | "/v1/shipments/{id}/audit"
            | "/v1/shipments/{id}/tracking"
            | "/v1/shipments/{id}/readings" => {
                let shipment = self.shipment_in("PENDING").await;
                (
                    route.replace("{id}", shipment["id"].as_str().unwrap()),
                    None,
                )
            }
            _ if route.starts_with("/v1/shipments/{id}/") => {
                let action = route.rsplit('/').next().unwrap();
                let from = match action {
                    "dispatch" | "cancel" => "PENDING",
                    "start" => "DISPATCHED",
                    "deliver" => "IN_TRANSIT",
                    other => panic!("unknown action {other}"),
                };
                let shipment = self.shipment_in(from).await;
                let path = route.replace("{id}", shipment["id"].as_str().unwrap());
                (path, Some(json!({"version": shipment["version"]})))
            }
            _ => (route.into(), None),
        };
        let token = self.session(caller).map(|s| s.access_token.as_str());
        world.api.call(method, &path, token, body.as_ref()).await
    }
}

#[tokio::test]
async fn every_route_as_every_role() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let device = world
        .api
        .create_device(world.shipper.as_role("MANAGER"), &world.shipper.id)
        .await;
    let matrix = Matrix { world, device };

    let mut wrong = Vec::new();
    for (method, route, allowed) in MATRIX {
        for caller in CALLERS {
            let reply = matrix.call(caller, method, route).await;
            let expected_allowed = allowed.contains(&caller);
            let ok = if expected_allowed {
                (200..300).contains(&reply.status)
            } else if caller == Anonymous {
                reply.status == 401
            } else {
                reply.status == 403 || reply.status == 404
            };
            println!("{method:6} {route:32} {caller:10?} -> {}", reply.status);
            if !ok {
                wrong.push(format!(
                    "{method} {route} as {caller:?}: expected {}, got {reply}",
                    if expected_allowed {
                        "allowed"
                    } else {
                        "refused"
                    }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} calls answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn public_routes_need_no_token() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let user = &world.shipper.users["PHARMACIST"];
    let api = &world.api;
    for (method, route) in PUBLIC {
        let body =
            match *route {
                "/v1/auth/login" => json!({"email": user.email, "password": user.password}),
                "/v1/auth/refresh" | "/v1/auth/logout" => {
                    let session = api.login_as(user).await;
                    json!({"refresh_token": session.refresh_token})
                }
                "/v1/auth/devices/token" => {
                    let device_id = format!("truck-{}", unique());
                    let registered = api
                    .post(world.shipper.as_role("MANAGER"), "/v1/auth/devices",
                        json!({"device_id": device_id, "name": "t", "org_id": world.shipper.id}))
                    .await;
                    json!({"device_id": device_id, "secret": registered.body["secret"]})
                }
                other => panic!("unknown public route {other}"),
            };
        let reply = api.call(method, route, None, Some(&body)).await;
        assert!(
            (200..300).contains(&reply.status),
            "{method} {route} anonymously: {reply}"
        );
    }
}

#[tokio::test]
async fn a_manager_changes_and_disables_only_users_below_manager() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let api = &world.api;
    let org = &world.shipper.id;
    let manager = world.shipper.as_role("MANAGER");
    let other_manager = api.create_user(&world.admin, org, "MANAGER").await;
    let role_change = api
        .call(
            "PATCH",
            &format!("/v1/auth/users/{}", other_manager.id),
            Some(&manager.access_token),
            Some(&json!({"role": "DRIVER", "version": 1})),
        )
        .await;
    assert_eq!(
        role_change.status, 403,
        "a manager changes no manager's role: {role_change}"
    );
    let disable = api
        .post(
            manager,
            &format!("/v1/auth/users/{}/disable", other_manager.id),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(disable.status, 403, "nor disables one: {disable}");
    let own = api
        .post(
            manager,
            &format!("/v1/auth/users/{}/disable", manager.id),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(own.status, 403, "nobody disables themselves: {own}");
    let by_admin = api
        .call(
            "PATCH",
            &format!("/v1/auth/users/{}", other_manager.id),
            Some(&world.admin.access_token),
            Some(&json!({"role": "DRIVER", "version": 1})),
        )
        .await;
    assert_eq!(by_admin.status, 200, "an admin does: {by_admin}");
}

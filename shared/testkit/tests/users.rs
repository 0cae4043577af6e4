//! User administration against the deployed stack: nobody grants a role above
//! their own, nobody changes their own role, managers stay in their organisation.

use pharmaguard_testkit::{Stack, World, unique};
use serde_json::json;

fn new_user(org: &str, role: &str) -> serde_json::Value {
    json!({
        "email": format!("new-{}@test.pharmaguard.local", unique()),
        "password": format!("pw-{}-{}", unique(), unique()),
        "name": "New user", "role": role, "org_id": org,
    })
}

#[tokio::test]
async fn managers_create_users_up_to_their_own_role_in_their_own_organisation() {
    let world = World::build(&Stack::load()).await;
    let manager = world.shipper.as_role("MANAGER");
    let api = &world.api;

    for role in ["MANAGER", "PHARMACIST", "DRIVER"] {
        let reply = api
            .post(manager, "/v1/auth/users", new_user(&world.shipper.id, role))
            .await;
        assert_eq!(reply.status, 201, "manager creates a {role}: {reply}");
        assert!(
            reply.body.get("password_hash").is_none() && !reply.body.to_string().contains("argon2")
        );
    }
    let admin = api
        .post(
            manager,
            "/v1/auth/users",
            new_user(&world.shipper.id, "ADMIN"),
        )
        .await;
    assert_eq!(
        admin.status, 403,
        "a manager cannot create an ADMIN: {admin}"
    );
    let elsewhere = api
        .post(
            manager,
            "/v1/auth/users",
            new_user(&world.outsider.id, "DRIVER"),
        )
        .await;
    assert_eq!(
        elsewhere.status, 403,
        "nor users of another organisation: {elsewhere}"
    );
    for role in ["PHARMACIST", "DRIVER"] {
        let reply = api
            .post(
                world.shipper.as_role(role),
                "/v1/auth/users",
                new_user(&world.shipper.id, "DRIVER"),
            )
            .await;
        assert_eq!(reply.status, 403, "a {role} creates nobody: {reply}");
    }

    let listed = api
        .get(
            manager,
            &format!("/v1/auth/users?org_id={}", world.outsider.id),
        )
        .await;
    assert_eq!(
        listed.status, 403,
        "a manager cannot list another organisation's users: {listed}"
    );
    let own = api.get(manager, "/v1/auth/users").await;
    assert_eq!(own.status, 200, "{own}");
    assert!(!own.body.to_string().contains(&world.outsider.id), "{own}");

    let duplicate = new_user(&world.shipper.id, "DRIVER");
    assert_eq!(
        api.post(manager, "/v1/auth/users", duplicate.clone())
            .await
            .status,
        201
    );
    let again = api.post(manager, "/v1/auth/users", duplicate).await;
    assert_eq!(again.status, 409, "one account per email: {again}");

    let bad = api
        .post(manager, "/v1/auth/users", json!({"email": "nope", "password": "short", "role": "KING", "org_id": world.shipper.id}))
        .await;
    assert_eq!(bad.status, 400, "{bad}");
    let text = bad.body.to_string();
    for field in ["email", "password", "role", "name"] {
        assert!(text.contains(field), "the answer names {field}: {bad}");
    }
}

#[tokio::test]
async fn nobody_raises_their_own_role_or_anyone_above_their_own() {
    let world = World::build(&Stack::load()).await;
    let api = &world.api;
    let manager = world.shipper.as_role("MANAGER");
    let driver = &world.shipper.users["DRIVER"];

    for role in ["MANAGER", "PHARMACIST", "DRIVER", "ADMIN"] {
        let me = &world.shipper.users[role];
        let session = world.shipper.as_role(role);
        let current = api.get(session, "/v1/auth/me").await;
        let version = current.body["version"].as_u64().unwrap_or(1);
        for wanted in ["ADMIN", "MANAGER"] {
            let reply = api
                .call(
                    "PATCH",
                    &format!("/v1/auth/users/{}", me.id),
                    Some(&session.access_token),
                    Some(&json!({"role": wanted, "version": version})),
                )
                .await;
            assert_eq!(
                reply.status, 403,
                "a {role} sets their own role to {wanted}: {reply}"
            );
        }
    }

    let promote = |role: &str, version: u64| {
        let api = api.clone();
        let token = manager.access_token.clone();
        let path = format!("/v1/auth/users/{}", driver.id);
        let body = json!({"role": role, "version": version});
        async move { api.call("PATCH", &path, Some(&token), Some(&body)).await }
    };
    let to_admin = promote("ADMIN", 1).await;
    assert_eq!(
        to_admin.status, 403,
        "a manager grants no ADMIN: {to_admin}"
    );
    let to_pharmacist = promote("PHARMACIST", 1).await;
    assert_eq!(to_pharmacist.status, 200, "{to_pharmacist}");
    assert_eq!(to_pharmacist.body["role"], "PHARMACIST");
    let stale = promote("DRIVER", 1).await;
    assert_eq!(stale.status, 409, "a stale version: {stale}");

    let outsider_manager = world.outsider.as_role("MANAGER");
    let reply = api
        .call(
            "PATCH",
            &format!("/v1/auth/users/{}", driver.id),
            Some(&outsider_manager.access_token),
            Some(&json!({"role": "DRIVER", "version": 2})),
        )
        .await;
    assert!(
        reply.status == 403 || reply.status == 404,
        "another org's manager: {reply}"
    );

    let target_admin = &world.shipper.users["ADMIN"];
    let reply = api
        .call(
            "PATCH",
            &format!("/v1/auth/users/{}", target_admin.id),
            Some(&manager.access_token),
            Some(&json!({"role": "DRIVER", "version": 1})),
        )
        .await;
    assert_eq!(
        reply.status, 403,
        "a manager cannot demote an ADMIN: {reply}"
    );
}

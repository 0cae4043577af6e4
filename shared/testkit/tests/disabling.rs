//! Offboarding and login abuse against the deployed stack: a disabled user's
//! access token, refresh and login are refused at once (the authorizer reads
//! the account's status on every call it does not answer from cache, and
//! LocalStack does not cache); a disabled device gets no token; failed
//! logins end in 429, for unknown emails as for accounts.

use std::time::{Duration, Instant};

use pharmaguard_testkit::{Stack, World, unique};
use serde_json::json;

/// The authorizer's cache on AWS (`ReauthorizeEvery`); locally there is none.
const AUTHORIZER_CACHE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_disabled_user_is_refused_everywhere_and_comes_back_when_enabled() {
    let world = World::build(&Stack::load()).await;
    let api = &world.api;
    let manager = world.shipper.as_role("MANAGER");
    let driver = api
        .create_user(&world.admin, &world.shipper.id, "DRIVER")
        .await;
    let session = api.login_as(&driver).await;
    assert_eq!(api.get(&session, "/v1/auth/me").await.status, 200);

    let disabled = api
        .post(
            manager,
            &format!("/v1/auth/users/{}/disable", driver.id),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{disabled}");
    assert!(disabled.body["disabled_at"].is_string(), "{disabled}");

    // the access token: refused within the documented time (at once locally)
    let since = Instant::now();
    loop {
        let me = api.get(&session, "/v1/auth/me").await;
        if me.status == 401 {
            break;
        }
        assert_eq!(me.status, 200, "{me}");
        assert!(
            since.elapsed() < AUTHORIZER_CACHE + Duration::from_secs(5),
            "a disabled user's token still works after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let refresh = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": session.refresh_token})),
        )
        .await;
    assert_eq!(refresh.status, 401, "no refresh: {refresh}");
    let login = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": driver.email, "password": driver.password})),
        )
        .await;
    assert_eq!(login.status, 403, "no login: {login}");

    let enabled = api
        .post(
            manager,
            &format!("/v1/auth/users/{}/enable", driver.id),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(enabled.status, 200, "{enabled}");
    let refresh = api
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": session.refresh_token})),
        )
        .await;
    assert_eq!(refresh.status, 401, "the old family stays void: {refresh}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fresh = api.login_as(&driver).await;
    assert_eq!(api.get(&fresh, "/v1/auth/me").await.status, 200);
}

#[tokio::test]
async fn a_disabled_device_gets_no_token_and_its_token_is_refused() {
    let world = World::build(&Stack::load()).await;
    let api = &world.api;
    let manager = world.shipper.as_role("MANAGER");
    let (device_id, secret) = api.register_device(manager, &world.shipper.id).await;
    let credentials = json!({"device_id": device_id, "secret": secret});
    let token = api
        .call("POST", "/v1/auth/devices/token", None, Some(&credentials))
        .await;
    assert_eq!(token.status, 200, "{token}");
    let access = token.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let disabled = api
        .post(
            manager,
            &format!("/v1/auth/devices/{device_id}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{disabled}");
    let again = api
        .call("POST", "/v1/auth/devices/token", None, Some(&credentials))
        .await;
    assert_eq!(again.status, 401, "no token (nor MQTT login): {again}");
    let reading = json!({"readings": [{"device_id": device_id, "ts": time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339).unwrap(),
        "lat": 52.5, "lon": 13.4, "temperature_c": 5.0, "vibration_g": 0.1}]});
    let sent = api
        .call("POST", "/v1/telemetry", Some(&access), Some(&reading))
        .await;
    assert_eq!(sent.status, 401, "its token is refused: {sent}");

    let enabled = api
        .post(
            manager,
            &format!("/v1/auth/devices/{device_id}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(enabled.status, 200, "{enabled}");
    let back = api
        .call("POST", "/v1/auth/devices/token", None, Some(&credentials))
        .await;
    assert_eq!(back.status, 200, "{back}");
}

#[tokio::test]
async fn repeated_failures_end_in_429_for_known_and_unknown_emails_alike() {
    let world = World::build(&Stack::load()).await;
    let api = &world.api;
    let victim = api
        .create_user(&world.admin, &world.shipper.id, "PHARMACIST")
        .await;
    let unknown = format!("nobody-{}@test.pharmaguard.local", unique());
    let mut answers = Vec::new();
    for email in [victim.email.as_str(), unknown.as_str()] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let reply = api
                .call(
                    "POST",
                    "/v1/auth/login",
                    None,
                    Some(&json!({"email": email, "password": "not the password"})),
                )
                .await;
            statuses.push(reply.status);
        }
        answers.push(statuses);
    }
    assert_eq!(answers[0], [401, 401, 401, 401, 401, 429]);
    assert_eq!(
        answers[0], answers[1],
        "an unknown email is answered the same"
    );
    // even the right password waits
    let right = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": victim.email, "password": victim.password})),
        )
        .await;
    assert_eq!(right.status, 429, "{right}");
}

//! Access and refresh tokens against the deployed stack: the authorizer refuses
//! every token that is not exactly right, and a reused refresh token revokes its family.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pharmaguard_testkit::{Api, Stack, session_of};
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The header and claims of a real access token.
fn parts(token: &str) -> (Value, Value) {
    let mut pieces = token.split('.');
    let decode = |piece: Option<&str>| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(piece.expect("a JWT part"))
                .expect("base64url"),
        )
        .expect("JSON")
    };
    (decode(pieces.next()), decode(pieces.next()))
}

fn sign(header_of: &Value, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = header_of["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// A fresh Ed25519 key nobody trusts.
fn stranger_key() -> EncodingKey {
    let output = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519"])
        .output()
        .expect("openssl");
    EncodingKey::from_ed_pem(&output.stdout).expect("an Ed25519 PEM")
}

/// The stack's real signing key, from the parameter store (what the auth function reads).
async fn real_key(stack: &Stack) -> EncodingKey {
    let ssm = aws_sdk_ssm::Client::new(&stack.sdk_config().await);
    let stage = stack
        .output("ApiBaseUrl")
        .rsplit('/')
        .nth(1)
        .expect("stage")
        .to_owned();
    let pem = ssm
        .get_parameter()
        .name(format!("/pharmaguard/{stage}/jwt-private-key"))
        .with_decryption(true)
        .send()
        .await
        .expect("signing key parameter")
        .parameter
        .and_then(|p| p.value)
        .expect("a value");
    EncodingKey::from_ed_pem(pem.as_bytes()).expect("an Ed25519 PEM")
}

async fn me_status(api: &Api, token: &str) -> u16 {
    api.call("GET", "/v1/auth/me", Some(token), None)
        .await
        .status
}

#[tokio::test]
async fn a_valid_token_passes_and_no_token_does_not() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = api.admin().await;

    let me = api.get(&admin, "/v1/auth/me").await;
    assert_eq!(me.status, 200, "{me}");
    assert_eq!(me.body["role"], "ADMIN", "{me}");

    assert_eq!(api.call("GET", "/v1/auth/me", None, None).await.status, 401);
    assert_eq!(me_status(&api, "not-a-jwt").await, 401);
}

#[tokio::test]
async fn forged_expired_misaddressed_and_unsigned_tokens_are_refused() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = api.admin().await;
    let (header, claims) = parts(&admin.access_token);
    let key = real_key(&stack).await;

    // control: the real key with the real claims passes, so each refusal below is
    // due to the one thing changed
    assert_eq!(me_status(&api, &sign(&header, &claims, &key)).await, 200);

    let forged = sign(&header, &claims, &stranger_key());
    assert_eq!(me_status(&api, &forged).await, 401, "signed by another key");

    let mut tampered_claims = claims.clone();
    tampered_claims["org"] = json!("some-other-org");
    let pieces: Vec<&str> = admin.access_token.split('.').collect();
    let body = URL_SAFE_NO_PAD.encode(tampered_claims.to_string());
    let tampered = format!("{}.{body}.{}", pieces[0], pieces[2]);
    assert_eq!(
        me_status(&api, &tampered).await,
        401,
        "claims changed after signing"
    );

    let mut expired = claims.clone();
    expired["iat"] = json!(now() - 3600);
    expired["nbf"] = json!(now() - 3600);
    expired["exp"] = json!(now() - 1800);
    assert_eq!(
        me_status(&api, &sign(&header, &expired, &key)).await,
        401,
        "expired"
    );

    let mut wrong_audience = claims.clone();
    wrong_audience["aud"] = json!("someone-else");
    assert_eq!(
        me_status(&api, &sign(&header, &wrong_audience, &key)).await,
        401,
        "audience"
    );

    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = json!("evil");
    assert_eq!(
        me_status(&api, &sign(&header, &wrong_issuer, &key)).await,
        401,
        "issuer"
    );

    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let none_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_eq!(
        me_status(&api, &format!("{none_header}.{none_claims}.")).await,
        401,
        "alg none"
    );

    let hs_key = EncodingKey::from_secret(b"public keys are not secrets");
    let hs256 = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &hs_key).unwrap();
    assert_eq!(me_status(&api, &hs256).await, 401, "HS256");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = api.admin().await;
    let org = api
        .create_organisation(&admin, "Token test hospital", "HOSPITAL")
        .await;
    let user = api.create_user(&admin, &org, "PHARMACIST").await;
    let first = api.login_as(&user).await;

    let refresh = |token: String| {
        let api = api.clone();
        async move {
            api.call(
                "POST",
                "/v1/auth/refresh",
                None,
                Some(&json!({ "refresh_token": token })),
            )
            .await
        }
    };

    let rotated = refresh(first.refresh_token.clone().unwrap()).await;
    assert_eq!(rotated.status, 200, "{rotated}");
    let second = session_of(&rotated.body);
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "a new refresh token"
    );
    assert_eq!(me_status(&api, &second.access_token).await, 200);

    let reused = refresh(first.refresh_token.clone().unwrap()).await;
    assert_eq!(
        reused.status, 401,
        "a used refresh token works once: {reused}"
    );

    let after_reuse = refresh(second.refresh_token.clone().unwrap()).await;
    assert_eq!(
        after_reuse.status, 401,
        "the reuse revoked the whole family: {after_reuse}"
    );

    // a fresh login starts a new family that works
    let third = api.login_as(&user).await;
    let logout = api
        .call(
            "POST",
            "/v1/auth/logout",
            None,
            Some(&json!({ "refresh_token": third.refresh_token })),
        )
        .await;
    assert_eq!(logout.status, 204, "{logout}");
    assert_eq!(
        refresh(third.refresh_token.clone().unwrap()).await.status,
        401,
        "logged out"
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_401() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = api.admin().await;
    let org = api
        .create_organisation(&admin, "Login test pharmacy", "PHARMACY")
        .await;
    let user = api.create_user(&admin, &org, "DRIVER").await;

    let wrong = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": user.email, "password": "wrong password!"})),
        )
        .await;
    let unknown = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@example.org", "password": "wrong password!"})),
        )
        .await;
    assert_eq!(wrong.status, 401, "{wrong}");
    assert_eq!(unknown.status, 401, "{unknown}");
    assert_eq!(
        wrong.body, unknown.body,
        "no hint which of the two was wrong"
    );

    let missing = api
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(&json!({"email": user.email})),
        )
        .await;
    assert_eq!(missing.status, 400, "{missing}");
    assert!(
        missing.body.to_string().contains("password"),
        "names the field: {missing}"
    );
}

//! The DynamoDB identity store and audit log against the local stack's
//! DynamoDB, on fresh tables of the template's shape (created and deleted
//! by the test): conditions, transactions, the index and refresh-token
//! rotation behave as the in-memory fake promises.

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::audit::{DynamoAuditLog, audit_from_item};
use pharmaguard_aws::identity_store::{DynamoAccountStatuses, DynamoIdentityStore};
use pharmaguard_domain::accounts::lockout::{LOCKOUT, forget_before};
use pharmaguard_domain::accounts::session::{DeviceStatus, UserStatus};
use pharmaguard_domain::accounts::{CreateUserRequest, Device, Organisation, RefreshToken, User};
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::ports::{
    AccountStatuses, AuditError, AuditLog, IdentityStore, IdentityStoreError, Rotation,
};
use pharmaguard_testkit::tables::{Layout, create_table};
use pharmaguard_testkit::{Stack, unique};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    // whole microseconds, as the store keeps them
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .expect("valid")
}

fn record(entity_type: EntityType, id: &str, action: &str) -> AuditRecord {
    AuditRecord::new(entity_type, id, Actor::system(), action, now(), None, None)
}

fn new_user(email: &str, org_id: &str, role: Role) -> User {
    User::new(
        &CreateUserRequest {
            email: email.into(),
            name: "Test".into(),
            password: "unused in the store".into(),
            role,
            org_id: org_id.into(),
        },
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        now(),
    )
}

#[tokio::test]
async fn the_identity_store_keeps_its_promises_on_dynamodb() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let run = unique();
    let identity_table = format!("pharmaguard-test-identity-{run}");
    let audit_table = format!("pharmaguard-test-audit-{run}");
    create_table(&client, &identity_table, Layout::WithGsi1).await;
    create_table(&client, &audit_table, Layout::Keys).await;

    let result = tokio::spawn(exercise(
        client.clone(),
        identity_table.clone(),
        audit_table.clone(),
    ))
    .await;

    for table in [&identity_table, &audit_table] {
        let _ = client.delete_table().table_name(table).send().await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn exercise(client: Client, identity_table: String, audit_table: String) {
    let store = DynamoIdentityStore::new(client.clone(), &identity_table, &audit_table);

    // organisations
    let org = Organisation::new("Zeta Hospital", OrganisationKind::Hospital, now());
    store
        .create_organisation(
            &org,
            &record(EntityType::Organisation, &org.id, "organisation.created"),
        )
        .await
        .expect("create organisation");
    assert_eq!(store.get_organisation(&org.id).await, Ok(Some(org.clone())));
    assert_eq!(store.get_organisation("org-missing").await, Ok(None));

    // bootstrap: organisation and first user at once, then the email is taken
    let operator = Organisation::new("Alpha Operator", OrganisationKind::LogisticsOperator, now());
    let admin = new_user("admin@example.org", &operator.id, Role::Admin);
    let records = [
        record(
            EntityType::Organisation,
            &operator.id,
            "organisation.created",
        ),
        record(EntityType::User, &admin.id, "user.created"),
    ];
    store
        .create_organisation_with_user(&operator, &admin, &records)
        .await
        .expect("bootstrap");
    let again = Organisation::new("Alpha Operator", OrganisationKind::LogisticsOperator, now());
    let twin = new_user(
        "ADMIN@example.org".to_lowercase().as_str(),
        &again.id,
        Role::Admin,
    );
    assert_eq!(
        store
            .create_organisation_with_user(
                &again,
                &twin,
                &[record(EntityType::User, &twin.id, "x")]
            )
            .await,
        Err(IdentityStoreError::EmailTaken)
    );
    assert_eq!(
        store.get_organisation(&again.id).await,
        Ok(None),
        "nothing written"
    );
    let names: Vec<String> = store
        .list_organisations()
        .await
        .expect("list")
        .into_iter()
        .map(|org| org.name)
        .collect();
    assert_eq!(names, ["Alpha Operator", "Zeta Hospital"]);

    // users: unique emails, existing organisations
    let nurse = new_user("nurse@example.org", &org.id, Role::Pharmacist);
    store
        .create_user(&nurse, &record(EntityType::User, &nurse.id, "user.created"))
        .await
        .expect("create user");
    let copy = new_user("nurse@example.org", &org.id, Role::Driver);
    assert_eq!(
        store
            .create_user(&copy, &record(EntityType::User, &copy.id, "user.created"))
            .await,
        Err(IdentityStoreError::EmailTaken)
    );
    let orphan = new_user("orphan@example.org", "org-missing", Role::Driver);
    assert_eq!(
        store
            .create_user(
                &orphan,
                &record(EntityType::User, &orphan.id, "user.created")
            )
            .await,
        Err(IdentityStoreError::OrganisationNotFound)
    );
    assert_eq!(store.get_user(&nurse.id).await, Ok(Some(nurse.clone())));
    assert_eq!(
        store.find_user_by_email("nurse@example.org").await,
        Ok(Some(nurse.clone()))
    );
    assert_eq!(
        store.find_user_by_email("nobody@example.org").await,
        Ok(None)
    );
    let driver = new_user("driver@example.org", &org.id, Role::Driver);
    store
        .create_user(
            &driver,
            &record(EntityType::User, &driver.id, "user.created"),
        )
        .await
        .expect("create driver");
    let emails: Vec<String> = store
        .list_users(&org.id)
        .await
        .expect("list users")
        .into_iter()
        .map(|user| user.email)
        .collect();
    assert_eq!(emails, ["driver@example.org", "nurse@example.org"]);

    // role changes: optimistic concurrency
    let promoted = nurse.with_role(Role::Manager, now());
    store
        .update_user(
            &promoted,
            1,
            &record(EntityType::User, &nurse.id, "user.role_changed"),
        )
        .await
        .expect("role change");
    assert_eq!(store.get_user(&nurse.id).await, Ok(Some(promoted.clone())));
    let stale = nurse.with_role(Role::Driver, now());
    assert_eq!(
        store
            .update_user(
                &stale,
                1,
                &record(EntityType::User, &nurse.id, "user.role_changed")
            )
            .await,
        Err(IdentityStoreError::VersionConflict {
            current_version: Some(2)
        })
    );
    let ghost =
        new_user("ghost@example.org", &org.id, Role::Driver).with_role(Role::Manager, now());
    assert_eq!(
        store
            .update_user(
                &ghost,
                1,
                &record(EntityType::User, &ghost.id, "user.role_changed")
            )
            .await,
        Err(IdentityStoreError::NotFound)
    );

    // devices
    let device = Device {
        id: format!("truck-{}", unique()),
        org_id: org.id.clone(),
        name: "Truck".into(),
        secret_hash: "ab".repeat(32),
        created_at: now(),
        disabled_at: None,
    };
    store
        .create_device(
            &device,
            &record(EntityType::Device, &device.id, "device.registered"),
        )
        .await
        .expect("create device");
    assert!(matches!(
        store
            .create_device(
                &device,
                &record(EntityType::Device, &device.id, "device.registered")
            )
            .await,
        Err(IdentityStoreError::AlreadyExists(_))
    ));
    let lost = Device {
        id: format!("truck-{}", unique()),
        org_id: "org-missing".into(),
        ..device.clone()
    };
    assert_eq!(
        store
            .create_device(
                &lost,
                &record(EntityType::Device, &lost.id, "device.registered")
            )
            .await,
        Err(IdentityStoreError::OrganisationNotFound)
    );
    assert_eq!(store.get_device(&device.id).await, Ok(Some(device.clone())));

    // refresh tokens: rotation once, reuse, revocation
    let family = format!("fam-{}", unique());
    let first = RefreshToken::new(format!("h1-{family}"), &family, &nurse.id, now());
    store.start_refresh_family(&first).await.expect("family");
    assert_eq!(
        store.get_refresh_token(&first.token_hash).await,
        Ok(Some(first.clone()))
    );
    let second = RefreshToken::new(format!("h2-{family}"), &family, &nurse.id, now());
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &second, now())
            .await,
        Ok(Rotation::Rotated)
    );
    let used = store
        .get_refresh_token(&first.token_hash)
        .await
        .expect("read")
        .expect("token");
    assert!(used.used_at.is_some());
    let third = RefreshToken::new(format!("h3-{family}"), &family, &nurse.id, now());
    assert_eq!(
        store
            .rotate_refresh_token(&first.token_hash, &third, now())
            .await,
        Ok(Rotation::AlreadyUsed)
    );
    assert_eq!(
        store
            .rotate_refresh_token("never-issued", &third, now())
            .await,
        Ok(Rotation::Unknown)
    );

    // two concurrent rotations of one token: exactly one wins
    let a = RefreshToken::new(format!("ha-{family}"), &family, &nurse.id, now());
    let b = RefreshToken::new(format!("hb-{family}"), &family, &nurse.id, now());
    let (left, right) = tokio::join!(
        store.rotate_refresh_token(&second.token_hash, &a, now()),
        store.rotate_refresh_token(&second.token_hash, &b, now())
    );
    let outcomes = [left.clone(), right.clone()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Ok(Rotation::Rotated))
            .count(),
        1,
        "{outcomes:?}"
    );

    store
        .revoke_refresh_family(&family, now())
        .await
        .expect("revoke");
    store
        .revoke_refresh_family(&family, now())
        .await
        .expect("revoke again");
    store
        .revoke_refresh_family("fam-missing", now())
        .await
        .expect("revoke unknown");
    let winner = if left == Ok(Rotation::Rotated) {
        &a
    } else {
        &b
    };
    assert_eq!(
        store
            .rotate_refresh_token(&winner.token_hash, &third, now())
            .await,
        Ok(Rotation::FamilyRevoked)
    );

    // the audit trail: one record per change, readable, append-only
    let trail = client
        .query()
        .table_name(&audit_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", nurse.id)),
        )
        .send()
        .await
        .expect("query audit");
    let actions: Vec<String> = trail
        .items()
        .iter()
        .map(|item| audit_from_item(item).expect("record").action)
        .collect();
    assert_eq!(actions, ["user.created", "user.role_changed"]);

    let log = DynamoAuditLog::new(client.clone(), &audit_table);
    let alone = record(EntityType::User, &nurse.id, "auth.refresh_token_reused");
    log.append(&alone).await.expect("append");
    assert_eq!(log.append(&alone).await, Err(AuditError::AlreadyExists));

    // disabling: the user's status as the authorizer reads it, the device's
    let statuses = DynamoAccountStatuses::new(client.clone(), &identity_table);
    let current = store
        .get_user(&nurse.id)
        .await
        .expect("read")
        .expect("nurse");
    let disabled = current.disabled(now());
    store
        .update_user(
            &disabled,
            current.version,
            &record(EntityType::User, &nurse.id, "user.disabled"),
        )
        .await
        .expect("disable");
    assert_eq!(store.get_user(&nurse.id).await, Ok(Some(disabled.clone())));
    assert_eq!(
        statuses.user_status(&nurse.id).await,
        Ok(Some(UserStatus {
            org_id: disabled.org_id.clone(),
            role: disabled.role,
            disabled_at: disabled.disabled_at,
            tokens_valid_after: disabled.tokens_valid_after,
        }))
    );
    let enabled = disabled.enabled(now());
    store
        .update_user(
            &enabled,
            disabled.version,
            &record(EntityType::User, &nurse.id, "user.enabled"),
        )
        .await
        .expect("enable");
    let status = statuses
        .user_status(&nurse.id)
        .await
        .expect("read")
        .expect("status");
    assert_eq!(
        (status.disabled_at, status.tokens_valid_after),
        (None, disabled.tokens_valid_after)
    );
    assert_eq!(statuses.user_status("usr-ghost").await, Ok(None));

    let off = Device {
        disabled_at: Some(now()),
        ..device.clone()
    };
    store
        .update_device_status(
            &off,
            &record(EntityType::Device, &device.id, "device.disabled"),
        )
        .await
        .expect("device disabled");
    assert_eq!(store.get_device(&device.id).await, Ok(Some(off.clone())));
    assert_eq!(
        statuses.device_status(&device.id).await,
        Ok(Some(DeviceStatus {
            org_id: device.org_id.clone(),
            disabled_at: off.disabled_at,
        }))
    );
    store
        .update_device_status(
            &device,
            &record(EntityType::Device, &device.id, "device.enabled"),
        )
        .await
        .expect("device enabled");
    assert_eq!(store.get_device(&device.id).await, Ok(Some(device.clone())));
    assert_eq!(
        store
            .update_device_status(
                &Device {
                    id: "truck-none".into(),
                    ..device.clone()
                },
                &record(EntityType::Device, "truck-none", "device.disabled"),
            )
            .await,
        Err(IdentityStoreError::NotFound)
    );

    // failed logins: every concurrent failure counts, windows only grow, a
    // success resets, a forgotten counter restarts
    let key = format!("attacked-{}@example.org", unique());
    assert_eq!(store.login_attempts(&key).await, Ok(None));
    let at = now();
    let counted =
        futures_util::future::join_all((0..8).map(|_| store.count_login_failure(&key, at))).await;
    let mut counts: Vec<u32> = counted.into_iter().map(|c| c.expect("counted")).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<u32>>());
    store.block_login(&key, at + LOCKOUT).await.expect("block");
    store.block_login(&key, at).await.expect("a shorter window");
    let attempts = store
        .login_attempts(&key)
        .await
        .expect("read")
        .expect("counter");
    assert_eq!(attempts.failures, 8);
    assert_eq!(
        attempts.blocked_until.map(|t| t.unix_timestamp()),
        Some((at + LOCKOUT).unix_timestamp())
    );
    store.reset_login_failures(&key).await.expect("reset");
    let attempts = store
        .login_attempts(&key)
        .await
        .expect("read")
        .expect("counter");
    assert_eq!((attempts.failures, attempts.blocked_until), (0, None));
    assert_eq!(store.count_login_failure(&key, at).await, Ok(1));
    let a_day_later = at + (at - forget_before(at)) + time::Duration::seconds(1);
    assert_eq!(store.count_login_failure(&key, a_day_later).await, Ok(1));
    store
        .reset_login_failures("never-failed@example.org")
        .await
        .expect("idempotent");
}

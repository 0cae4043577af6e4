//! The DynamoDB identity store and audit log against the local stack's
//! DynamoDB, on fresh tables of the template's shape (created and deleted
//! by the test): conditions, transactions, the index and refresh-token
//! rotation behave as the in-memory fake promises.

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::audit::{DynamoAuditLog, audit_from_item};
use pharmaguard_aws::identity_store::DynamoIdentityStore;
use pharmaguard_domain::accounts::{CreateUserRequest, Device, Organisation, RefreshToken, User};
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::ports::{
    AuditError, AuditLog, IdentityStore, IdentityStoreError, Rotation,
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
        .update_user_role(
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
            .update_user_role(
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
            .update_user_role(
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

    let log = DynamoAuditLog::new(client, &audit_table);
    let alone = record(EntityType::User, &nurse.id, "auth.refresh_token_reused");
    log.append(&alone).await.expect("append");
    assert_eq!(log.append(&alone).await, Err(AuditError::AlreadyExists));
}

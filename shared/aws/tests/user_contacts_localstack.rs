//! The emailer's view of the identity table against the local stack's
//! DynamoDB, on a fresh table of the template's shape (created and deleted by
//! the test): the `contacts` index lists an organisation's users with what a
//! mail needs and never a password hash.

use aws_sdk_dynamodb::Client;
use pharmaguard_aws::identity_store::{org_users_gsi1pk, user_item};
use pharmaguard_aws::user_contacts::{CONTACTS_INDEX, DynamoUserContacts, PROJECTED};
use pharmaguard_domain::accounts::{CreateUserRequest, User};
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::notification::Contact;
use pharmaguard_testkit::tables::{CONTACTS_PROJECTION, Layout, create_table};
use pharmaguard_testkit::{Stack, unique};
use time::OffsetDateTime;

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
        OffsetDateTime::now_utc(),
    )
}

#[test]
fn the_test_table_projects_what_the_adapter_reads() {
    assert_eq!(PROJECTED, CONTACTS_PROJECTION);
}

#[tokio::test]
async fn contacts_come_without_credentials() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let table = format!("pharmaguard-test-identity-{}", unique());
    create_table(&client, &table, Layout::WithGsi1).await;
    let result = tokio::spawn(exercise(client.clone(), table.clone())).await;
    let _ = client.delete_table().table_name(&table).send().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn exercise(client: Client, table: String) {
    let manager = new_user("mia@a.example", "org-a", Role::Manager);
    let driver = new_user("dan@a.example", "org-a", Role::Driver);
    let other = new_user("oz@b.example", "org-b", Role::Manager);
    for user in [&manager, &driver, &other] {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(user_item(user)))
            .send()
            .await
            .expect("put user");
    }

    let contacts = DynamoUserContacts::new(client.clone(), &table);
    let mut listed = Vec::new();
    // the index is eventually consistent: DynamoDB Local answers at once, AWS within moments
    for _ in 0..50 {
        listed = contacts.contacts_of("org-a").await.expect("contacts");
        if listed.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        listed,
        [Contact::from(&driver), Contact::from(&manager)],
        "both users of org-a, in email order"
    );

    // what the index holds: keys and the projected attributes, never the hash
    let raw = client
        .query()
        .table_name(&table)
        .index_name(CONTACTS_INDEX)
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(org_users_gsi1pk("org-a")),
        )
        .send()
        .await
        .expect("query");
    assert_eq!(raw.items().len(), 2);
    for item in raw.items() {
        assert!(!item.contains_key("password_hash"), "{item:?}");
        for name in item.keys() {
            assert!(
                PROJECTED.contains(&name.as_str())
                    || ["pk", "sk", "gsi1pk", "gsi1sk"].contains(&name.as_str()),
                "{name} is in the index"
            );
        }
    }
}

//! The DynamoDB idempotency claims against the local stack's DynamoDB, on a
//! fresh table of the idempotency table's shape (created and deleted by the
//! test): one winner among concurrent claims, completed keys stay completed,
//! released and expired locks can be claimed again with the steps done.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use pharmaguard_aws::idempotency::{Claim, DynamoIdempotencyStore, IdempotencyStore};
use pharmaguard_testkit::{Stack, unique};
use time::{Duration, OffsetDateTime};

async fn create_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("table created");
}

#[tokio::test]
async fn claims_on_dynamodb() {
    let stack = Stack::load();
    let client = Client::new(&stack.sdk_config().await);
    let table = format!("test-idempotency-{}", unique());
    create_table(&client, &table).await;
    let store = DynamoIdempotencyStore::new(client.clone(), &table);
    let now = OffsetDateTime::now_utc();
    let lock = Duration::seconds(60);
    let key = format!("emailer#{}", unique());

    // of concurrent claims exactly one wins; the others see a live lock
    let claims = futures_join(&store, &key, now, lock).await;
    let acquired = claims
        .iter()
        .filter(|c| matches!(c, Claim::Acquired { .. }))
        .count();
    assert_eq!(acquired, 1, "{claims:?}");
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, Claim::Acquired { .. } | Claim::Busy { until: Some(_) })),
        "{claims:?}"
    );

    // a step done, then a failure: released, claimed again at once with the step
    store.record_done(&key, "usr-1").await.unwrap();
    store.release(&key).await.unwrap();
    match store.claim(&key, now, lock).await.unwrap() {
        Claim::Acquired { done } => assert_eq!(done.into_iter().collect::<Vec<_>>(), ["usr-1"]),
        other => panic!("{other:?}"),
    }
    // a crashed attempt: the lock expires by itself
    assert!(matches!(
        store.claim(&key, now, lock).await.unwrap(),
        Claim::Busy { .. }
    ));
    match store
        .claim(&key, now + lock + Duration::seconds(1), lock)
        .await
        .unwrap()
    {
        Claim::Acquired { done } => assert_eq!(done.len(), 1),
        other => panic!("{other:?}"),
    }

    // completed: every later claim, and a late release, leave it so
    store.complete(&key, now).await.unwrap();
    store.release(&key).await.unwrap();
    for later in [now, now + Duration::days(1)] {
        assert_eq!(
            store.claim(&key, later, lock).await.unwrap(),
            Claim::Completed
        );
    }
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.clone()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires_at: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(
        expires_at > (now + Duration::days(6)).unix_timestamp(),
        "TTL set"
    );
    assert!(!item.contains_key("lock_expires_at"));

    // releasing a key nobody claimed does nothing
    store
        .release(&format!("emailer#{}", unique()))
        .await
        .unwrap();

    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

async fn futures_join(
    store: &DynamoIdempotencyStore,
    key: &str,
    now: OffsetDateTime,
    lock: Duration,
) -> Vec<Claim> {
    let (a, b, c, d) = tokio::join!(
        store.claim(key, now, lock),
        store.claim(key, now, lock),
        store.claim(key, now, lock),
        store.claim(key, now, lock),
    );
    [a, b, c, d]
        .into_iter()
        .map(|claim| claim.unwrap())
        .collect()
}

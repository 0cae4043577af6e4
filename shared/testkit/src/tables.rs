//! Throw-away DynamoDB tables with the layouts of `infra/template.yaml`, for
//! tests of the stores against LocalStack that must not touch the deployed ones.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};

/// Which table of the template to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// String keys `pk`/`sk` only (the audit table).
    Keys,
    /// Keys plus the `gsi1` index on `gsi1pk`/`gsi1sk` and the `contacts`
    /// index on the same keys, projecting only [`CONTACTS_PROJECTION`] (the
    /// identity table).
    WithGsi1,
    /// Keys, `gsi1`, the `by-device` index on `device_id` and a
    /// NEW_AND_OLD_IMAGES stream (the shipments table).
    Shipments,
    /// Keys plus the sparse `watched` index on `watch`/`last_reading_at`,
    /// keys only (the tracking table).
    Tracking,
    /// Keys plus the alarm feed indexes `by-shipper` (`shipper_feed`/`feed_sk`)
    /// and `by-recipient` (`recipient_feed`/`feed_sk`), projection ALL (the
    /// alarms table).
    Alarms,
    /// Keys plus the `due` index on `queue`/`due_sk`, projection ALL (the
    /// reminders table).
    Reminders,
}

/// What the identity table's `contacts` index projects besides the keys
/// (the template's, and `pharmaguard_aws::user_contacts::PROJECTED`).
pub const CONTACTS_PROJECTION: [&str; 6] = ["id", "email", "name", "org_id", "role", "disabled_at"];

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute")
}

fn index(name: &str, keys: &[(&str, KeyType)], projection: ProjectionType) -> GlobalSecondaryIndex {
    let mut builder = GlobalSecondaryIndex::builder()
        .index_name(name)
        .projection(Projection::builder().projection_type(projection).build());
    for (attribute, key_type) in keys {
        builder = builder.key_schema(key(attribute, key_type.clone()));
    }
    builder.build().expect("index")
}

/// Creates table `name` with `layout` and waits until it is active.
pub async fn create_table(client: &Client, name: &str, layout: Layout) {
    let mut attributes = vec!["pk", "sk"];
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range));
    if matches!(layout, Layout::WithGsi1 | Layout::Shipments) {
        attributes.extend(["gsi1pk", "gsi1sk"]);
        request = request.global_secondary_indexes(index(
            "gsi1",
            &[("gsi1pk", KeyType::Hash), ("gsi1sk", KeyType::Range)],
            ProjectionType::All,
        ));
    }
    if layout == Layout::WithGsi1 {
        let mut contacts = GlobalSecondaryIndex::builder()
            .index_name("contacts")
            .key_schema(key("gsi1pk", KeyType::Hash))
            .key_schema(key("gsi1sk", KeyType::Range));
        let mut projection = Projection::builder().projection_type(ProjectionType::Include);
        for attribute in CONTACTS_PROJECTION {
            projection = projection.non_key_attributes(attribute);
        }
        contacts = contacts.projection(projection.build());
        request = request.global_secondary_indexes(contacts.build().expect("index"));
    }
    if layout == Layout::Shipments {
        attributes.push("device_id");
        request = request
            .global_secondary_indexes(index(
                "by-device",
                &[("device_id", KeyType::Hash)],
                ProjectionType::All,
            ))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("stream"),
            );
    }
    if layout == Layout::Tracking {
        attributes.extend(["watch", "last_reading_at"]);
        request = request.global_secondary_indexes(index(
            "watched",
            &[
                ("watch", KeyType::Hash),
                ("last_reading_at", KeyType::Range),
            ],
            ProjectionType::KeysOnly,
        ));
    }
    if layout == Layout::Alarms {
        attributes.extend(["shipper_feed", "recipient_feed", "feed_sk"]);
        for (name, hash) in [
            ("by-shipper", "shipper_feed"),
            ("by-recipient", "recipient_feed"),
        ] {
            request = request.global_secondary_indexes(index(
                name,
                &[(hash, KeyType::Hash), ("feed_sk", KeyType::Range)],
                ProjectionType::All,
            ));
        }
    }
    if layout == Layout::Reminders {
        attributes.extend(["queue", "due_sk"]);
        request = request.global_secondary_indexes(index(
            "due",
            &[("queue", KeyType::Hash), ("due_sk", KeyType::Range)],
            ProjectionType::All,
        ));
    }
    for attribute in attributes {
        request = request.attribute_definitions(string_attribute(attribute));
    }
    request.send().await.expect("create table");
    for _ in 0..100 {
        let status = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .ok()
            .and_then(|described| described.table)
            .and_then(|table| table.table_status);
        if status == Some(TableStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("table {name} did not become active");
}

//! PharmaGuard AWS adapters: SDK configuration and implementations of the
//! ports of `pharmaguard-domain` on AWS services.
//!
//! - [`config`]: loads the shared SDK configuration once per cold start.
//! - [`logging`]: the JSON log lines every function writes.
//! - [`audit`]: [`audit::DynamoAuditLog`], the append-only audit trail, and
//!   [`audit::audit_put`], a record inside another store's transaction.
//! - [`user_contacts`]: [`user_contacts::DynamoUserContacts`], an
//!   organisation's users without their credentials, for the emailer.
//! - [`identity_store`]: organisations, users, devices and refresh tokens on
//!   DynamoDB ([`identity_store::DynamoIdentityStore`]).
//! - [`dynamo`]: attribute, query and transaction helpers of the stores.
//! - [`errors`]: SDK errors described for logs and answers.
//! - [`ssm`]: parameters (the token signing keys) read once per cold start.
//! - [`kinesis`]: [`kinesis::KinesisReadingSink`], the telemetry stream.
//! - [`device_registry`]: [`device_registry::DynamoDeviceRegistry`], whose a
//!   device is and whether it is disabled, for the telemetry path.
//! - [`shipment_store`]: [`shipment_store::DynamoShipmentStore`], shipments,
//!   their organisation listings and audit trail on DynamoDB.
//! - [`sns`]: [`sns::SnsPublisher`], events to SNS topics.
//! - [`order_parties`]: [`order_parties::DynamoParties`], the organisations,
//!   devices and device shipments a new or dispatched shipment is checked against.
//! - anomaly detector: [`readings_store`] (the reading history),
//!   [`tracking_store`] (per-shipment tracking and alarms),
//!   [`shipment_directory`] (shipment lookups), [`risk_client`] (the risk
//!   calculator function) and [`sqs`] (rejected telemetry).
//! - [`dashboard_store`]: [`dashboard_store::DynamoDashboard`], what the
//!   dashboard's REST API reads (shipments, trackings, the alarm feed, the
//!   reading history) and the alarm acknowledgement.
//! - [`schedule`]: the EventBridge schedule's invocations, told apart.
//! - [`ses`]: [`ses::SesEmailSender`], email through SES.
//! - emailer: [`org_notices`] (an organisation's name and notification
//!   policy) and [`reminder_store`] (the escalation chains of unacknowledged
//!   alarms, and the alarms as stored now).
//! - [`idempotency`]: [`idempotency::DynamoIdempotencyStore`], claims that
//!   make at-least-once deliveries act once.
//! - live events: [`connections`] (the registry of open WebSocket
//!   connections) and [`ws_management`] (the `@connections` API).

pub mod audit;
pub mod config;
pub mod connections;
pub mod dashboard_store;
pub mod device_registry;
pub mod dynamo;
pub mod errors;
pub mod idempotency;
pub mod identity_store;
pub mod kinesis;
pub mod logging;
pub mod order_parties;
pub mod org_notices;
pub mod readings_store;
pub mod reminder_store;
pub mod risk_client;
pub mod schedule;
pub mod ses;
pub mod shipment_directory;
pub mod shipment_store;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod tracking_store;
pub mod user_contacts;
pub mod ws_management;

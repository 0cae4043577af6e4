//! `GET` and `PUT /v1/auth/organisations/{id}/notifications`: who the
//! organisation mails about its alarms, and how it escalates the ones
//! nobody acknowledges ([`NotificationPolicy`]).

use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::{Principal, may_administer, may_read_settings};
use pharmaguard_domain::notification::{NotificationPolicy, parse_policy};
use pharmaguard_domain::ports::{IdentityStore, IdentityStoreError};
use pharmaguard_domain::shipment::ports::Clock;
use serde_json::json;
use tracing::info;

use crate::Reply;
use crate::Services;
use crate::routes::{denied, invalid, store_failed};

/// The largest policy body accepted.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;

fn answer(org_id: &str, policy: &NotificationPolicy, is_default: bool) -> Reply {
    Reply::json(
        200,
        &json!({ "org_id": org_id, "policy": policy, "default": is_default }),
    )
}

/// `GET …/notifications`: the organisation's policy, or the default one
/// (`"default": true`) while it set none. Its own users and ADMINs.
pub async fn get_policy<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    org_id: &str,
) -> Reply
where
    S: IdentityStore,
{
    if let Err(reason) = may_read_settings(caller, org_id) {
        return denied(reason);
    }
    match services.store.get_organisation(org_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Reply::not_found("no such organisation"),
        Err(error) => return store_failed(error),
    }
    match services.store.get_notification_policy(org_id).await {
        Ok(Some(policy)) => answer(org_id, &policy, false),
        Ok(None) => answer(org_id, &NotificationPolicy::default(), true),
        Err(error) => store_failed(error),
    }
}

/// `PUT …/notifications` with a whole policy: an ADMIN, or a MANAGER of the
/// organisation. Audited with the policy before and after.
pub async fn put_policy<S, A, T, C>(
    services: &Services<S, A, T, C>,
    caller: &Principal,
    org_id: &str,
    body: &[u8],
) -> Reply
where
    S: IdentityStore,
    C: Clock,
{
    if let Err(reason) = may_administer(caller, org_id) {
        return denied(reason);
    }
    if body.len() > MAX_POLICY_BYTES {
        return invalid(vec![pharmaguard_domain::FieldError::new(
            "body",
            format!("at most {MAX_POLICY_BYTES} bytes"),
        )]);
    }
    let policy = match parse_policy(body) {
        Ok(policy) => policy,
        Err(errors) => return invalid(errors),
    };
    let before = match services.store.get_notification_policy(org_id).await {
        Ok(before) => before,
        Err(error) => return store_failed(error),
    };
    let record = AuditRecord::new(
        EntityType::Organisation,
        org_id,
        Actor::from(caller),
        "organisation.notification_policy_changed",
        services.clock.now(),
        before.map(|policy| json!(policy)),
        Some(json!(policy)),
    );
    match services
        .store
        .set_notification_policy(org_id, &policy, &record)
        .await
    {
        Ok(()) => {
            info!(%org_id, "notification policy changed");
            answer(org_id, &policy, false)
        }
        Err(IdentityStoreError::OrganisationNotFound) => Reply::not_found("no such organisation"),
        Err(error) => store_failed(error),
    }
}

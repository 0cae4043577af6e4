//! In-memory [`IdentityStore`] and [`AuditLog`] for tests (feature `memory`).
//!
//! They keep the promises of the DynamoDB adapters: unique emails, an
//! organisation must exist for its users and devices, role changes
//! conditional on the version, refresh-token rotation that succeeds once per
//! token, failed-login counters that count every failure, and one audit
//! record per change, written with it or not at all.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use super::lockout::{self, LoginAttempts};
use super::session::{DeviceStatus, UserStatus};
use super::{Device, Organisation, RefreshToken, User};
use crate::audit::AuditRecord;
use crate::notification::NotificationPolicy;
use crate::ports::{
    AccountStatuses, AuditError, AuditLog, IdentityStore, IdentityStoreError, Rotation,
};

#[derive(Default)]
struct State {
    organisations: BTreeMap<String, Organisation>,
    policies: BTreeMap<String, NotificationPolicy>,
    users: BTreeMap<String, User>,
    emails: BTreeMap<String, String>,
    devices: BTreeMap<String, Device>,
    tokens: BTreeMap<String, RefreshToken>,
    /// family id → revoked at
    families: BTreeMap<String, Option<OffsetDateTime>>,
    /// login key → counter
    logins: BTreeMap<String, LoginAttempts>,
    audit: Vec<AuditRecord>,
}

/// An identity store in memory. `unavailable` makes every call fail as an
/// unreachable store would.
#[derive(Default)]
pub struct MemoryIdentityStore {
    state: Mutex<State>,
    /// When set, every call answers [`IdentityStoreError::Unavailable`].
    pub unavailable: bool,
}

impl MemoryIdentityStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, IdentityStoreError> {
        if self.unavailable {
            return Err(IdentityStoreError::Unavailable(
                "store switched off".to_owned(),
            ));
        }
        self.state
            .lock()
            .map_err(|_| IdentityStoreError::Unavailable("lock poisoned".to_owned()))
    }

    /// The audit records written with the changes, in order.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.state
            .lock()
            .map(|state| state.audit.clone())
            .unwrap_or_default()
    }

    /// Whether the family is revoked.
    pub fn is_family_revoked(&self, family_id: &str) -> bool {
        self.state
            .lock()
            .map(|state| matches!(state.families.get(family_id), Some(Some(_))))
            .unwrap_or(false)
    }

    /// Every stored refresh token.
    pub fn refresh_tokens(&self) -> Vec<RefreshToken> {
        self.state
            .lock()
            .map(|state| state.tokens.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Puts an organisation in place without an audit record (test setup).
    pub fn seed_organisation(&self, organisation: Organisation) {
        if let Ok(mut state) = self.state.lock() {
            state
                .organisations
                .insert(organisation.id.clone(), organisation);
        }
    }

    /// Puts a device in place without an audit record (test setup).
    pub fn seed_device(&self, device: Device) {
        if let Ok(mut state) = self.state.lock() {
            state.devices.insert(device.id.clone(), device);
        }
    }

    /// Puts a failed-login counter in place (test setup).
    pub fn seed_login_attempts(&self, key: &str, attempts: LoginAttempts) {
        if let Ok(mut state) = self.state.lock() {
            state.logins.insert(key.to_owned(), attempts);
        }
    }

    /// Puts a user in place without an audit record (test setup).
    pub fn seed_user(&self, user: User) {
        if let Ok(mut state) = self.state.lock() {
            state.emails.insert(user.email.clone(), user.id.clone());
            state.users.insert(user.id.clone(), user);
        }
    }
}

impl IdentityStore for MemoryIdentityStore {
    async fn create_organisation(
        &self,
        organisation: &Organisation,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if state.organisations.contains_key(&organisation.id) {
            return Err(IdentityStoreError::AlreadyExists("organisation".to_owned()));
        }
        state
            .organisations
            .insert(organisation.id.clone(), organisation.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn create_organisation_with_user(
        &self,
        organisation: &Organisation,
        user: &User,
        audit: &[AuditRecord],
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if state.emails.contains_key(&user.email) {
            return Err(IdentityStoreError::EmailTaken);
        }
        if state.organisations.contains_key(&organisation.id) || state.users.contains_key(&user.id)
        {
            return Err(IdentityStoreError::AlreadyExists(
                "organisation or user".to_owned(),
            ));
        }
        state
            .organisations
            .insert(organisation.id.clone(), organisation.clone());
        state.emails.insert(user.email.clone(), user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        state.audit.extend(audit.iter().cloned());
        Ok(())
    }

    async fn get_organisation(&self, id: &str) -> Result<Option<Organisation>, IdentityStoreError> {
        Ok(self.state()?.organisations.get(id).cloned())
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, IdentityStoreError> {
        let mut organisations: Vec<Organisation> =
            self.state()?.organisations.values().cloned().collect();
        organisations.sort_by_key(|org| (org.name.to_lowercase(), org.id.clone()));
        Ok(organisations)
    }

    async fn get_notification_policy(
        &self,
        org_id: &str,
    ) -> Result<Option<NotificationPolicy>, IdentityStoreError> {
        Ok(self.state()?.policies.get(org_id).cloned())
    }

    async fn set_notification_policy(
        &self,
        org_id: &str,
        policy: &NotificationPolicy,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if !state.organisations.contains_key(org_id) {
            return Err(IdentityStoreError::OrganisationNotFound);
        }
        state.policies.insert(org_id.to_owned(), policy.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn create_user(
        &self,
        user: &User,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if !state.organisations.contains_key(&user.org_id) {
            return Err(IdentityStoreError::OrganisationNotFound);
        }
        if state.emails.contains_key(&user.email) {
            return Err(IdentityStoreError::EmailTaken);
        }
        if state.users.contains_key(&user.id) {
            return Err(IdentityStoreError::AlreadyExists("user".to_owned()));
        }
        state.emails.insert(user.email.clone(), user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, IdentityStoreError> {
        Ok(self.state()?.users.get(id).cloned())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, IdentityStoreError> {
        let state = self.state()?;
        Ok(state
            .emails
            .get(&email.to_lowercase())
            .and_then(|id| state.users.get(id))
            .cloned())
    }

    async fn list_users(&self, org_id: &str) -> Result<Vec<User>, IdentityStoreError> {
        let mut users: Vec<User> = self
            .state()?
            .users
            .values()
            .filter(|user| user.org_id == org_id)
            .cloned()
            .collect();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }

    async fn update_user(
        &self,
        user: &User,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        let stored = state
            .users
            .get_mut(&user.id)
            .ok_or(IdentityStoreError::NotFound)?;
        if stored.version != expected_version {
            return Err(IdentityStoreError::VersionConflict {
                current_version: Some(stored.version),
            });
        }
        stored.role = user.role;
        stored.version = user.version;
        stored.updated_at = user.updated_at;
        stored.disabled_at = user.disabled_at;
        stored.tokens_valid_after = user.tokens_valid_after;
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn create_device(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if !state.organisations.contains_key(&device.org_id) {
            return Err(IdentityStoreError::OrganisationNotFound);
        }
        if state.devices.contains_key(&device.id) {
            return Err(IdentityStoreError::AlreadyExists("device".to_owned()));
        }
        state.devices.insert(device.id.clone(), device.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn get_device(&self, id: &str) -> Result<Option<Device>, IdentityStoreError> {
        Ok(self.state()?.devices.get(id).cloned())
    }

    async fn update_device_status(
        &self,
        device: &Device,
        audit: &AuditRecord,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        let stored = state
            .devices
            .get_mut(&device.id)
            .ok_or(IdentityStoreError::NotFound)?;
        stored.disabled_at = device.disabled_at;
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn login_attempts(&self, key: &str) -> Result<Option<LoginAttempts>, IdentityStoreError> {
        Ok(self.state()?.logins.get(key).cloned())
    }

    async fn count_login_failure(
        &self,
        key: &str,
        at: OffsetDateTime,
    ) -> Result<u32, IdentityStoreError> {
        let mut state = self.state()?;
        let next = lockout::count_failure(state.logins.get(key), at);
        let failures = next.failures;
        state.logins.insert(key.to_owned(), next);
        Ok(failures)
    }

    async fn block_login(
        &self,
        key: &str,
        until: OffsetDateTime,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if let Some(attempts) = state.logins.get_mut(key) {
            if attempts.blocked_until.is_none_or(|blocked| blocked < until) {
                attempts.blocked_until = Some(until);
            }
        }
        Ok(())
    }

    async fn reset_login_failures(&self, key: &str) -> Result<(), IdentityStoreError> {
        self.state()?.logins.remove(key);
        Ok(())
    }

    async fn start_refresh_family(&self, first: &RefreshToken) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if state.families.contains_key(&first.family_id)
            || state.tokens.contains_key(&first.token_hash)
        {
            return Err(IdentityStoreError::AlreadyExists(
                "refresh token".to_owned(),
            ));
        }
        state.families.insert(first.family_id.clone(), None);
        state.tokens.insert(first.token_hash.clone(), first.clone());
        Ok(())
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, IdentityStoreError> {
        Ok(self.state()?.tokens.get(token_hash).cloned())
    }

    async fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshToken,
        at: OffsetDateTime,
    ) -> Result<Rotation, IdentityStoreError> {
        let mut state = self.state()?;
        match state.families.get(&next.family_id) {
            Some(None) => {}
            _ => return Ok(Rotation::FamilyRevoked),
        }
        let Some(used) = state.tokens.get_mut(used_hash) else {
            return Ok(Rotation::Unknown);
        };
        if used.used_at.is_some() {
            return Ok(Rotation::AlreadyUsed);
        }
        used.used_at = Some(at);
        state.tokens.insert(next.token_hash.clone(), next.clone());
        Ok(Rotation::Rotated)
    }

    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), IdentityStoreError> {
        let mut state = self.state()?;
        if let Some(revoked) = state.families.get_mut(family_id) {
            revoked.get_or_insert(at);
        }
        Ok(())
    }
}

impl AccountStatuses for MemoryIdentityStore {
    async fn user_status(&self, user_id: &str) -> Result<Option<UserStatus>, IdentityStoreError> {
        Ok(self.state()?.users.get(user_id).map(|user| UserStatus {
            org_id: user.org_id.clone(),
            role: user.role,
            disabled_at: user.disabled_at,
            tokens_valid_after: user.tokens_valid_after,
        }))
    }

    async fn device_status(
        &self,
        device_id: &str,
    ) -> Result<Option<DeviceStatus>, IdentityStoreError> {
        Ok(self
            .state()?
            .devices
            .get(device_id)
            .map(|device| DeviceStatus {
                org_id: device.org_id.clone(),
                disabled_at: device.disabled_at,
            }))
    }
}

/// An audit log in memory.
#[derive(Default)]
pub struct MemoryAuditLog {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryAuditLog {
    /// The records appended, in order.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .map(|records| records.clone())
            .unwrap_or_default()
    }
}

impl AuditLog for MemoryAuditLog {
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| AuditError::Unavailable("lock poisoned".to_owned()))?;
        if records
            .iter()
            .any(|r| r.entity_key() == record.entity_key() && r.sort_key() == record.sort_key())
        {
            return Err(AuditError::AlreadyExists);
        }
        records.push(record.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::CreateUserRequest;
    use crate::audit::{Actor, EntityType};
    use crate::identity::{OrganisationKind, Role};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    /// Runs a future that never waits (everything here is in memory).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("an in-memory call waited"),
        }
    }

    fn audit() -> AuditRecord {
        AuditRecord::new(
            EntityType::User,
            "x",
            Actor::system(),
            "test",
            AT,
            None,
            None,
        )
    }

    fn user(email: &str, org_id: &str) -> User {
        User::new(
            &CreateUserRequest {
                email: email.into(),
                name: "N".into(),
                password: "not stored".into(),
                role: Role::Driver,
                org_id: org_id.into(),
            },
            "hash".into(),
            AT,
        )
    }

    #[test]
    fn emails_are_unique_and_organisations_must_exist() {
        let store = MemoryIdentityStore::new();
        let org = Organisation::new("A", OrganisationKind::Hospital, AT);
        ready(store.create_organisation(&org, &audit())).expect("org");
        assert_eq!(
            ready(store.create_user(&user("a@b.org", "org-none"), &audit())),
            Err(IdentityStoreError::OrganisationNotFound)
        );
        ready(store.create_user(&user("a@b.org", &org.id), &audit())).expect("user");
        assert_eq!(
            ready(store.create_user(&user("a@b.org", &org.id), &audit())),
            Err(IdentityStoreError::EmailTaken)
        );
        assert_eq!(store.audit_records().len(), 2, "one record per change");
    }

    #[test]
    fn a_refresh_token_rotates_once() {
        let store = MemoryIdentityStore::new();
        let first = RefreshToken::new("h1", "fam", "usr", AT);
        ready(store.start_refresh_family(&first)).expect("family");
        let second = RefreshToken::new("h2", "fam", "usr", AT);
        let third = RefreshToken::new("h3", "fam", "usr", AT);
        assert_eq!(
            ready(store.rotate_refresh_token("h1", &second, AT)),
            Ok(Rotation::Rotated)
        );
        assert_eq!(
            ready(store.rotate_refresh_token("h1", &third, AT)),
            Ok(Rotation::AlreadyUsed)
        );
        assert_eq!(
            ready(store.rotate_refresh_token("nope", &third, AT)),
            Ok(Rotation::Unknown)
        );
        ready(store.revoke_refresh_family("fam", AT)).expect("revoke");
        assert!(store.is_family_revoked("fam"));
        assert_eq!(
            ready(store.rotate_refresh_token("h2", &third, AT)),
            Ok(Rotation::FamilyRevoked)
        );
    }
}

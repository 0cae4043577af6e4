//! Whether a verified access token, or an open WebSocket connection, still
//! speaks for its account.
//!
//! A signature and an expiry say a token was issued, not that its account
//! may still act: the authorizer and `$connect` read the account's status
//! (a [`UserStatus`] or [`DeviceStatus`], a small projection of its item) on
//! every call they do not answer from cache, and the connection sweep reads
//! it for every open connection each minute. Refused:
//!
//! - an account that no longer exists;
//! - a disabled user or device;
//! - a user's token issued (or connection opened) before the user's
//!   `tokens_valid_after` (a role change or a disable);
//! - a token or connection whose organisation or role is not the user's
//!   now.

use time::OffsetDateTime;

use crate::identity::{Principal, Role};
use crate::live::Connection;
use crate::ports::{AccountStatuses, IdentityStoreError};

/// What the authorizer reads of a user item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatus {
    /// The user's organisation.
    pub org_id: String,
    /// The user's role.
    pub role: Role,
    /// When the user was disabled; `None` while enabled.
    pub disabled_at: Option<OffsetDateTime>,
    /// Tokens issued and connections opened before this are void.
    pub tokens_valid_after: Option<OffsetDateTime>,
}

/// What the authorizer reads of a device item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device's organisation.
    pub org_id: String,
    /// When the device was disabled; `None` while enabled.
    pub disabled_at: Option<OffsetDateTime>,
}

/// The status of the account behind a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    /// A user's.
    User(UserStatus),
    /// A device's.
    Device(DeviceStatus),
}

/// Why a token or a connection no longer speaks for its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Revoked {
    /// No such user or device (any more).
    #[error("the account does not exist")]
    UnknownAccount,
    /// The user or device is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// Issued or opened before the account's role change or disable.
    #[error("issued before the account's last role change or disable")]
    Superseded,
    /// The organisation or role it carries is not the account's now.
    #[error("its organisation or role is not the account's now")]
    Changed,
}

/// The stored status of the account behind `principal` (one read).
pub async fn status_of<S: AccountStatuses>(
    statuses: &S,
    principal: &Principal,
) -> Result<Option<AccountStatus>, IdentityStoreError> {
    Ok(match principal {
        Principal::User { user_id, .. } => statuses
            .user_status(user_id)
            .await?
            .map(AccountStatus::User),
        Principal::Device { device_id, .. } => statuses
            .device_status(device_id)
            .await?
            .map(AccountStatus::Device),
    })
}

/// The issue time of a token from its `iat` claim (epoch seconds); `None`
/// when out of range.
pub fn issued_at(iat: u64) -> Option<OffsetDateTime> {
    i64::try_from(iat)
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
}

/// Whether a token of `principal` issued at `issued_at` (the `iat` claim,
/// whole seconds) still speaks for its account, given what is stored now.
///
/// `iat` is rounded down, so a token is void when its second began before
/// `tokens_valid_after`: one issued in the same second as a role change but
/// after it is refused too (its holder refreshes or signs in again).
pub fn check_token(
    principal: &Principal,
    issued_at: OffsetDateTime,
    status: Option<&AccountStatus>,
) -> Result<(), Revoked> {
    match (principal, status) {
        (Principal::User { org_id, role, .. }, Some(AccountStatus::User(status))) => {
            check_user(org_id, *role, issued_at, status)
        }
        (Principal::Device { org_id, .. }, Some(AccountStatus::Device(status))) => {
            if status.disabled_at.is_some() {
                Err(Revoked::Disabled)
            } else if *org_id != status.org_id {
                Err(Revoked::Changed)
            } else {
                Ok(())
            }
        }
        _ => Err(Revoked::UnknownAccount),
    }
}

/// Whether an open connection still speaks for its user.
pub fn check_connection(
    connection: &Connection,
    status: Option<&UserStatus>,
) -> Result<(), Revoked> {
    let status = status.ok_or(Revoked::UnknownAccount)?;
    check_user(
        &connection.org_id,
        connection.role,
        connection.connected_at,
        status,
    )
}

fn check_user(
    org_id: &str,
    role: Role,
    since: OffsetDateTime,
    status: &UserStatus,
) -> Result<(), Revoked> {
    if status.disabled_at.is_some() {
        return Err(Revoked::Disabled);
    }
    if status
        .tokens_valid_after
        .is_some_and(|cutoff| since < cutoff)
    {
        return Err(Revoked::Superseded);
    }
    if org_id != status.org_id || role != status.role {
        return Err(Revoked::Changed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    fn manager() -> Principal {
        Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Manager,
        }
    }

    fn status(disabled: bool, valid_after: Option<OffsetDateTime>) -> AccountStatus {
        AccountStatus::User(UserStatus {
            org_id: "org-a".into(),
            role: Role::Manager,
            disabled_at: disabled.then_some(T0),
            tokens_valid_after: valid_after,
        })
    }

    #[test]
    fn an_enabled_unchanged_account_keeps_its_tokens() {
        assert_eq!(
            check_token(&manager(), T0, Some(&status(false, None))),
            Ok(())
        );
        assert_eq!(
            check_token(&manager(), T0, Some(&status(false, Some(T0)))),
            Ok(()),
            "issued in the second that starts at the cutoff"
        );
    }

    #[test]
    fn disabled_unknown_and_superseded_accounts_lose_their_tokens() {
        assert_eq!(
            check_token(&manager(), T0, Some(&status(true, Some(T0)))),
            Err(Revoked::Disabled)
        );
        assert_eq!(
            check_token(&manager(), T0, None),
            Err(Revoked::UnknownAccount)
        );
        let cutoff = T0 + Duration::milliseconds(300);
        assert_eq!(
            check_token(&manager(), T0, Some(&status(false, Some(cutoff)))),
            Err(Revoked::Superseded),
            "its second began before the cutoff"
        );
        assert_eq!(
            check_token(
                &manager(),
                T0 + Duration::seconds(1),
                Some(&status(false, Some(cutoff)))
            ),
            Ok(())
        );
    }

    #[test]
    fn a_token_with_another_role_or_organisation_is_refused() {
        let driver = Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Driver,
        };
        assert_eq!(
            check_token(&driver, T0, Some(&status(false, None))),
            Err(Revoked::Changed)
        );
        let elsewhere = Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-b".into(),
            role: Role::Manager,
        };
        assert_eq!(
            check_token(&elsewhere, T0, Some(&status(false, None))),
            Err(Revoked::Changed)
        );
    }

    #[test]
    fn devices_are_refused_once_disabled() {
        let device = Principal::Device {
            device_id: "truck-7".into(),
            org_id: "org-a".into(),
        };
        let enabled = AccountStatus::Device(DeviceStatus {
            org_id: "org-a".into(),
            disabled_at: None,
        });
        let disabled = AccountStatus::Device(DeviceStatus {
            org_id: "org-a".into(),
            disabled_at: Some(T0),
        });
        assert_eq!(check_token(&device, T0, Some(&enabled)), Ok(()));
        assert_eq!(
            check_token(&device, T0, Some(&disabled)),
            Err(Revoked::Disabled)
        );
        assert_eq!(check_token(&device, T0, None), Err(Revoked::UnknownAccount));
        assert_eq!(
            check_token(&device, T0, Some(&status(false, None))),
            Err(Revoked::UnknownAccount),
            "a user's status is no device's"
        );
    }

    #[test]
    fn a_connection_ends_with_a_disable_or_a_later_role_change() {
        let connection = Connection::open("c1", &manager(), T0).expect("connection");
        let AccountStatus::User(mut user) = status(false, None) else {
            unreachable!()
        };
        assert_eq!(check_connection(&connection, Some(&user)), Ok(()));
        assert_eq!(
            check_connection(&connection, None),
            Err(Revoked::UnknownAccount)
        );
        user.tokens_valid_after = Some(T0 + Duration::minutes(5));
        assert_eq!(
            check_connection(&connection, Some(&user)),
            Err(Revoked::Superseded)
        );
        user.tokens_valid_after = Some(T0 - Duration::minutes(5));
        user.role = Role::Driver;
        assert_eq!(
            check_connection(&connection, Some(&user)),
            Err(Revoked::Changed)
        );
        user.role = Role::Manager;
        user.disabled_at = Some(T0);
        assert_eq!(
            check_connection(&connection, Some(&user)),
            Err(Revoked::Disabled)
        );
    }
}

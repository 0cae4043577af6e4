//! Untrusted auth request bodies into validated requests, listing every
//! problem with its field.
//!
//! Every body is a JSON object of at most [`MAX_BODY_BYTES`]; unknown fields
//! are refused. The requests that carry a secret (password, refresh token,
//! device secret) redact it from `Debug`.

use std::fmt;

use serde_json::{Map, Value};

use crate::FieldError;
use crate::identity::{OrganisationKind, Role};

/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Shortest password a new user may get (length beats composition rules).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest email (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest local part of an email.
pub const MAX_EMAIL_LOCAL_CHARS: usize = 64;
/// Longest display name of a user, organisation or device.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest id (organisation, user, device).
pub const MAX_ID_CHARS: usize = 64;
/// Longest refresh token or device secret accepted (real ones have 43).
pub const MAX_SECRET_CHARS: usize = 256;

/// `POST /v1/auth/login`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Normalized email.
    pub email: String,
    /// The password as typed.
    pub password: String,
}

/// `POST /v1/auth/refresh` and `POST /v1/auth/logout`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// `POST /v1/auth/organisations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrganisationRequest {
    /// Display name.
    pub name: String,
    /// Kind of organisation.
    pub kind: OrganisationKind,
}

/// `POST /v1/auth/users`.
#[derive(Clone, PartialEq, Eq)]
pub struct CreateUserRequest {
    /// Normalized email.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// The initial password ([`MIN_PASSWORD_CHARS`]..=[`MAX_PASSWORD_CHARS`]).
    pub password: String,
    /// The role to grant.
    pub role: Role,
    /// The organisation of the new user.
    pub org_id: String,
}

/// `PATCH /v1/auth/users/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRoleRequest {
    /// The new role.
    pub role: Role,
    /// The version of the user the caller has seen.
    pub expected_version: u64,
}

/// `POST /v1/auth/devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDeviceRequest {
    /// The device id its readings will carry.
    pub device_id: String,
    /// Display name.
    pub name: String,
    /// The organisation registering it.
    pub org_id: String,
}

/// `POST /v1/auth/devices/token`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceTokenRequest {
    /// The device id.
    pub device_id: String,
    /// The secret given when the device was registered.
    pub secret: String,
}

macro_rules! redacted_debug {
    ($type:ident { $($field:ident),* } hides $($secret:ident),*) => {
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &"<redacted>"))*
                    .finish()
            }
        }
    };
}

redacted_debug!(LoginRequest { email } hides password);
redacted_debug!(RefreshRequest {} hides refresh_token);
redacted_debug!(CreateUserRequest { email, name, role, org_id } hides password);
redacted_debug!(DeviceTokenRequest { device_id } hides secret);

const LOGIN_FIELDS: [&str; 2] = ["email", "password"];
const REFRESH_FIELDS: [&str; 1] = ["refresh_token"];
const ORGANISATION_FIELDS: [&str; 2] = ["name", "kind"];
const USER_FIELDS: [&str; 5] = ["email", "name", "password", "role", "org_id"];
const CHANGE_ROLE_FIELDS: [&str; 2] = ["role", "version"];
const USER_STATUS_FIELDS: [&str; 1] = ["version"];
const DEVICE_FIELDS: [&str; 3] = ["device_id", "name", "org_id"];
const DEVICE_TOKEN_FIELDS: [&str; 2] = ["device_id", "secret"];

/// Parses `POST /v1/auth/login`: `email` and `password` are non-empty
/// strings (their format is not checked here: a login never says which part
/// was wrong).
pub fn parse_login_request(body: &[u8]) -> Result<LoginRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &LOGIN_FIELDS);
    let email = errors.check("email", |v| {
        bounded_string(v, MAX_EMAIL_CHARS).map(|email| email.trim().to_lowercase())
    });
    let password = errors.check("password", |v| bounded_string(v, MAX_PASSWORD_CHARS));
    errors.finish()?;
    Ok(LoginRequest {
        email: email.unwrap_or_default(),
        password: password.unwrap_or_default(),
    })
}

/// Parses `POST /v1/auth/refresh` (and `logout`): a non-empty `refresh_token`.
pub fn parse_refresh_request(body: &[u8]) -> Result<RefreshRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &REFRESH_FIELDS);
    let token = errors.check("refresh_token", |v| bounded_string(v, MAX_SECRET_CHARS));
    errors.finish()?;
    Ok(RefreshRequest {
        refresh_token: token.unwrap_or_default(),
    })
}

/// Parses `POST /v1/auth/organisations`.
pub fn parse_create_organisation_request(
    body: &[u8],
) -> Result<CreateOrganisationRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &ORGANISATION_FIELDS);
    let name = errors.check("name", display_name);
    let kind = errors.check("kind", |v| {
        string(v)?
            .parse::<OrganisationKind>()
            .map_err(|error| error.to_string())
    });
    errors.finish()?;
    match (name, kind) {
        (Some(name), Some(kind)) => Ok(CreateOrganisationRequest { name, kind }),
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

/// Parses `POST /v1/auth/users`.
pub fn parse_create_user_request(body: &[u8]) -> Result<CreateUserRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &USER_FIELDS);
    let email = errors.check("email", |v| normalize_email(string(v)?));
    let name = errors.check("name", display_name);
    let password = errors.check("password", |v| {
        let password = string(v)?;
        validate_password(password)?;
        Ok(password.to_owned())
    });
    let role = errors.check("role", role);
    let org_id = errors.check("org_id", identifier);
    errors.finish()?;
    match (email, name, password, role, org_id) {
        (Some(email), Some(name), Some(password), Some(role), Some(org_id)) => {
            Ok(CreateUserRequest {
                email,
                name,
                password,
                role,
                org_id,
            })
        }
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

/// Parses `PATCH /v1/auth/users/{id}`: the new `role` and the `version` seen.
pub fn parse_change_role_request(body: &[u8]) -> Result<ChangeRoleRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &CHANGE_ROLE_FIELDS);
    let role = errors.check("role", role);
    let version = errors.check("version", |v| {
        v.as_u64()
            .filter(|version| *version >= 1)
            .ok_or_else(|| "must be a positive integer (the user's current version)".to_owned())
    });
    errors.finish()?;
    match (role, version) {
        (Some(role), Some(expected_version)) => Ok(ChangeRoleRequest {
            role,
            expected_version,
        }),
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

/// Parses `POST /v1/auth/users/{id}/disable` and `…/enable`: the `version`
/// of the user the caller has seen.
pub fn parse_user_status_request(body: &[u8]) -> Result<u64, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &USER_STATUS_FIELDS);
    let version = errors.check("version", |v| {
        v.as_u64()
            .filter(|version| *version >= 1)
            .ok_or_else(|| "must be a positive integer (the user's current version)".to_owned())
    });
    errors.finish()?;
    version.ok_or_else(|| vec![FieldError::new("body", "is incomplete")])
}

/// Parses `POST /v1/auth/devices/{id}/disable` and `…/enable`: no body, or
/// an empty JSON object (devices have no version: the change is idempotent).
pub fn parse_device_status_request(body: &[u8]) -> Result<(), Vec<FieldError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let object = parse_body(body)?;
    Errors::new(&object, &[]).finish()
}

/// Parses `POST /v1/auth/devices`.
pub fn parse_create_device_request(body: &[u8]) -> Result<CreateDeviceRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &DEVICE_FIELDS);
    let device_id = errors.check("device_id", identifier);
    let name = errors.check("name", display_name);
    let org_id = errors.check("org_id", identifier);
    errors.finish()?;
    match (device_id, name, org_id) {
        (Some(device_id), Some(name), Some(org_id)) => Ok(CreateDeviceRequest {
            device_id,
            name,
            org_id,
        }),
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

/// Parses `POST /v1/auth/devices/token`.
pub fn parse_device_token_request(body: &[u8]) -> Result<DeviceTokenRequest, Vec<FieldError>> {
    let object = parse_body(body)?;
    let mut errors = Errors::new(&object, &DEVICE_TOKEN_FIELDS);
    let device_id = errors.check("device_id", identifier);
    let secret = errors.check("secret", |v| bounded_string(v, MAX_SECRET_CHARS));
    errors.finish()?;
    Ok(DeviceTokenRequest {
        device_id: device_id.unwrap_or_default(),
        secret: secret.unwrap_or_default(),
    })
}

/// Normalizes and checks an email: trimmed, lowercase, `local@domain` with
/// a domain of at least two labels, no spaces or control characters.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("must be at most {MAX_EMAIL_CHARS} characters long"));
    }
    const MESSAGE: &str = "must be an email address such as name@example.org";
    let (local, domain) = email.split_once('@').ok_or(MESSAGE)?;
    let local_ok = !local.is_empty()
        && local.chars().count() <= MAX_EMAIL_LOCAL_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(MESSAGE.to_owned())
    }
}

/// Checks a new password: [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`]
/// characters, not only spaces.
pub fn validate_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters long"
        ));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(format!(
            "must be at most {MAX_PASSWORD_CHARS} characters long"
        ));
    }
    if password.trim().is_empty() {
        return Err("must not be only spaces".to_owned());
    }
    Ok(())
}

/// The body as a JSON object, or the error about `body`.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Vec<FieldError>> {
    let error = |message: String| vec![FieldError::new("body", message)];
    if body.len() > MAX_BODY_BYTES {
        return Err(error(format!(
            "must not exceed {MAX_BODY_BYTES} bytes (got {})",
            body.len()
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(error("is required: a JSON object".to_owned()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(error("must be a JSON object".to_owned())),
        Err(parse) => Err(error(format!("is not valid JSON: {parse}"))),
    }
}

/// Collects the problems of one body.
struct Errors<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Errors<'a> {
    /// Starts with one error per field not in `known`.
    fn new(object: &'a Map<String, Value>, known: &[&str]) -> Self {
        let errors = object
            .keys()
            .filter(|key| !known.contains(&key.as_str()))
            .map(|key| FieldError::new(key.clone(), "unknown field"))
            .collect();
        Self { object, errors }
    }

    /// Checks a required field with `rule`; records its error.
    fn check<T>(
        &mut self,
        field: &str,
        rule: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let Some(value) = self.object.get(field).filter(|value| !value.is_null()) else {
            self.errors.push(FieldError::new(field, "is required"));
            return None;
        };
        match rule(value) {
            Ok(valid) => Some(valid),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

/// A non-empty string of at most `max_chars` characters, kept as given.
fn bounded_string(value: &Value, max_chars: usize) -> Result<String, String> {
    let text = string(value)?;
    let length = text.chars().count();
    if length == 0 {
        return Err("must not be empty".to_owned());
    }
    if length > max_chars {
        return Err(format!("must be at most {max_chars} characters long"));
    }
    Ok(text.to_owned())
}

/// A display name: trimmed, 1..=[`MAX_NAME_CHARS`] characters, no control characters.
fn display_name(value: &Value) -> Result<String, String> {
    let name = string(value)?.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS {
        return Err(format!("must be 1 to {MAX_NAME_CHARS} characters long"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

/// An id: 1..=[`MAX_ID_CHARS`] of `A-Z a-z 0-9 _ . : -` (the telemetry id rules).
fn identifier(value: &Value) -> Result<String, String> {
    let text = string(value)?;
    let length = text.chars().count();
    if length == 0 || length > MAX_ID_CHARS {
        return Err(format!("must be 1 to {MAX_ID_CHARS} characters long"));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
    {
        return Err("may contain only letters, digits, '_', '.', ':' and '-'".to_owned());
    }
    Ok(text.to_owned())
}

fn role(value: &Value) -> Result<Role, String> {
    string(value)?
        .parse::<Role>()
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|error| error.field.as_str()).collect()
    }

    #[test]
    fn a_login_is_normalized_and_its_password_kept_as_typed() {
        let login = parse_login_request(&body(
            json!({"email": " Ana@Example.ORG ", "password": " pw "}),
        ))
        .expect("valid");
        assert_eq!(login.email, "ana@example.org");
        assert_eq!(login.password, " pw ");
        assert!(!format!("{login:?}").contains("pw"));
    }

    #[test]
    fn a_login_names_every_missing_or_wrong_field() {
        let errors = parse_login_request(&body(json!({"email": 7, "pass": "x"}))).unwrap_err();
        assert_eq!(fields(&errors), ["pass", "email", "password"]);
        assert_eq!(errors[1].message, "must be a string");
        assert_eq!(errors[2].message, "is required");
    }

    #[test]
    fn bodies_must_be_json_objects_of_bounded_size() {
        for raw in [&b""[..], b"  ", b"[]", b"null", b"{", b"\xff"] {
            let errors = parse_login_request(raw).unwrap_err();
            assert_eq!(fields(&errors), ["body"], "{raw:?}");
        }
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(
            parse_refresh_request(&huge).unwrap_err()[0]
                .message
                .contains("must not exceed")
        );
    }

    #[test]
    fn refresh_tokens_are_bounded_and_redacted() {
        let request = parse_refresh_request(&body(json!({"refresh_token": "abc"}))).expect("valid");
        assert_eq!(request.refresh_token, "abc");
        assert!(!format!("{request:?}").contains("abc"));
        let errors = parse_refresh_request(&body(json!({"refresh_token": ""}))).unwrap_err();
        assert_eq!(fields(&errors), ["refresh_token"]);
        let long = "a".repeat(MAX_SECRET_CHARS + 1);
        assert!(parse_refresh_request(&body(json!({"refresh_token": long}))).is_err());
    }

    #[test]
    fn organisations_need_a_name_and_a_known_kind() {
        let request = parse_create_organisation_request(&body(
            json!({"name": "  St. Mary  ", "kind": "HOSPITAL"}),
        ))
        .expect("valid");
        assert_eq!(request.name, "St. Mary");
        assert_eq!(request.kind, OrganisationKind::Hospital);

        let errors =
            parse_create_organisation_request(&body(json!({"name": "", "kind": "CASTLE"})))
                .unwrap_err();
        assert_eq!(fields(&errors), ["name", "kind"]);
        assert!(
            errors[1].message.contains("HOSPITAL"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn a_new_user_is_checked_field_by_field() {
        let request = parse_create_user_request(&body(json!({
            "email": "Ana@Example.org", "name": "Ana", "password": "twelve chars",
            "role": "PHARMACIST", "org_id": "org-1"
        })))
        .expect("valid");
        assert_eq!(request.email, "ana@example.org");
        assert_eq!(request.role, Role::Pharmacist);
        assert!(!format!("{request:?}").contains("twelve"));

        let errors = parse_create_user_request(&body(json!({
            "email": "not-an-email", "name": "\u{7}", "password": "short",
            "role": "admin", "org_id": "a b"
        })))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["email", "name", "password", "role", "org_id"]
        );
        assert_eq!(errors[2].message, "must be at least 12 characters long");
    }

    #[test]
    fn emails_follow_a_practical_rule() {
        for good in ["a@b.co", "first.last+tag@sub.example.org", "Z@EXAMPLE.COM"] {
            assert!(normalize_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@localhost",
            "a@@b.org",
            "a b@c.org",
            "a@b..org",
            "a@-b.org",
            ".a@b.org",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize_email(" A@B.org\n"), Ok("a@b.org".to_owned()));
        let long_local = format!("{}@b.org", "a".repeat(65));
        assert!(normalize_email(&long_local).is_err());
    }

    #[test]
    fn passwords_need_twelve_characters_not_all_spaces() {
        assert!(validate_password("123456789012").is_ok());
        assert!(
            validate_password("çççççççççççç").is_ok(),
            "characters, not bytes"
        );
        assert!(validate_password("12345678901").is_err());
        assert!(validate_password(&" ".repeat(12)).is_err());
        assert!(validate_password(&"a".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn a_role_change_needs_a_role_and_a_positive_version() {
        let request =
            parse_change_role_request(&body(json!({"role": "DRIVER", "version": 3}))).expect("ok");
        assert_eq!(request.role, Role::Driver);
        assert_eq!(request.expected_version, 3);
        for bad in [
            json!({"role": "DRIVER"}),
            json!({"role": "DRIVER", "version": 0}),
            json!({"role": "DRIVER", "version": "3"}),
            json!({"role": "DRIVER", "version": -1}),
        ] {
            let errors = parse_change_role_request(&body(bad.clone())).unwrap_err();
            assert_eq!(fields(&errors), ["version"], "{bad}");
        }
    }

    #[test]
    fn devices_need_an_id_a_name_and_an_organisation() {
        let request = parse_create_device_request(&body(
            json!({"device_id": "truck-7", "name": "Truck 7", "org_id": "org-1"}),
        ))
        .expect("ok");
        assert_eq!(request.device_id, "truck-7");
        let errors = parse_create_device_request(&body(
            json!({"device_id": "truck 7", "org_id": "x".repeat(65)}),
        ))
        .unwrap_err();
        assert_eq!(fields(&errors), ["device_id", "name", "org_id"]);
    }

    #[test]
    fn device_token_requests_redact_the_secret() {
        let request =
            parse_device_token_request(&body(json!({"device_id": "truck-7", "secret": "s3cr3t"})))
                .expect("ok");
        assert!(!format!("{request:?}").contains("s3cr3t"));
        let errors = parse_device_token_request(&body(json!({}))).unwrap_err();
        assert_eq!(fields(&errors), ["device_id", "secret"]);
    }

    #[test]
    fn status_changes_name_their_bad_fields() {
        assert_eq!(
            parse_user_status_request(&body(json!({"version": 3}))),
            Ok(3)
        );
        for bad in [json!({}), json!({"version": 0}), json!({"version": "2"})] {
            let errors = parse_user_status_request(&body(bad.clone())).unwrap_err();
            assert_eq!(fields(&errors), ["version"], "{bad}");
        }
        let errors =
            parse_user_status_request(&body(json!({"version": 1, "why": "x"}))).unwrap_err();
        assert_eq!(fields(&errors), ["why"]);
        assert_eq!(
            parse_user_status_request(b"[]").unwrap_err()[0].field,
            "body"
        );

        assert_eq!(parse_device_status_request(b""), Ok(()));
        assert_eq!(parse_device_status_request(b" {} "), Ok(()));
        assert_eq!(
            fields(&parse_device_status_request(&body(json!({"version": 1}))).unwrap_err()),
            ["version"]
        );
        assert_eq!(
            parse_device_status_request(b"nope").unwrap_err()[0].field,
            "body"
        );
    }
}

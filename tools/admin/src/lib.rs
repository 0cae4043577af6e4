//! `pharmaguard-admin`: operator commands run from a workstation or the
//! deploy script, with the same store code as the auth function.
//!
//! ```text
//! pharmaguard-admin bootstrap --org-name <name> --email <email> [--name <name>]
//!                             [--identity-table <table>] [--audit-table <table>]
//! ```
//!
//! `bootstrap` creates the operator organisation (kind
//! `LOGISTICS_OPERATOR`) and its first ADMIN with a freshly generated strong
//! password, in one transaction with both audit records, and prints
//! `{"email", "password", "org_id", "user_id"}` as JSON on stdout — the only
//! time the password is shown. If a user with that email exists already it
//! says so on stderr, changes nothing and still exits 0 (printing nothing on
//! stdout), so a deploy can run it every time.
//!
//! Tables come from the flags or the environment (`IDENTITY_TABLE`,
//! `AUDIT_TABLE`); AWS settings from the environment (`AWS_REGION`,
//! credentials, `AWS_ENDPOINT_URL` for LocalStack).

use pharmaguard_domain::FieldError;
use pharmaguard_domain::accounts::{
    CreateUserRequest, Organisation, User, normalize_email, parse_create_organisation_request,
    parse_create_user_request,
};
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::{OrganisationKind, Role};
use pharmaguard_domain::ports::{IdentityStore, IdentityStoreError};
use pharmaguard_security::{Passwords, generate_password};
use serde_json::json;
use time::OffsetDateTime;

/// Environment variable naming the identity table.
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";
/// Environment variable naming the audit table.
pub const AUDIT_TABLE_VAR: &str = "AUDIT_TABLE";
/// The name of the first admin when `--name` is not given.
pub const DEFAULT_ADMIN_NAME: &str = "Platform administrator";

/// The usage text.
pub const USAGE: &str = "\
usage: pharmaguard-admin bootstrap --org-name <name> --email <email> [--name <name>]
                                   [--identity-table <table>] [--audit-table <table>]

Creates the operator organisation and its first ADMIN with a generated password,
and prints {\"email\", \"password\", \"org_id\", \"user_id\"} as JSON on stdout.
If the email is registered already, changes nothing and exits 0.
Tables default to the environment variables IDENTITY_TABLE and AUDIT_TABLE.";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `--help`.
    Help,
    /// `bootstrap …`.
    Bootstrap(BootstrapArgs),
}

/// The arguments of `bootstrap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapArgs {
    /// Name of the operator organisation.
    pub org_name: String,
    /// Email of the first admin.
    pub email: String,
    /// Name of the first admin.
    pub name: String,
    /// The identity table.
    pub identity_table: String,
    /// The audit table.
    pub audit_table: String,
}

/// The command line is wrong; the message says how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the arguments after the program name; `env` reads an environment
/// variable (for the table defaults).
pub fn parse_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("bootstrap") => {}
        Some(other) => return Err(UsageError(format!("unknown command {other:?}"))),
    }
    let (mut org_name, mut email, mut name, mut identity_table, mut audit_table) =
        (None, None, None, None, None);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--org-name" => &mut org_name,
            "--email" => &mut email,
            "--name" => &mut name,
            "--identity-table" => &mut identity_table,
            "--audit-table" => &mut audit_table,
            other => return Err(UsageError(format!("unknown option {other:?}"))),
        };
        let value = args
            .next()
            .filter(|value| !value.starts_with("--"))
            .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
        *slot = Some(value.clone());
    }
    let required = |value: Option<String>, what: &str| {
        value
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| UsageError(format!("{what} is required")))
    };
    Ok(Command::Bootstrap(BootstrapArgs {
        org_name: required(org_name, "--org-name")?,
        email: required(email, "--email")?,
        name: name.unwrap_or_else(|| DEFAULT_ADMIN_NAME.to_owned()),
        identity_table: required(
            identity_table.or_else(|| env(IDENTITY_TABLE_VAR)),
            "--identity-table (or IDENTITY_TABLE)",
        )?,
        audit_table: required(
            audit_table.or_else(|| env(AUDIT_TABLE_VAR)),
            "--audit-table (or AUDIT_TABLE)",
        )?,
    }))
}

/// What `bootstrap` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Created the organisation and the admin; the password is shown once.
    Created {
        /// The admin's (normalized) email.
        email: String,
        /// The generated password.
        password: String,
        /// The new organisation.
        org_id: String,
        /// The new admin.
        user_id: String,
    },
    /// A user with this email exists already; nothing was changed.
    AlreadyExists {
        /// The (normalized) email.
        email: String,
    },
}

impl Bootstrap {
    /// The JSON printed on stdout for a creation.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match self {
            Bootstrap::Created {
                email,
                password,
                org_id,
                user_id,
            } => Some(json!({
                "email": email, "password": password, "org_id": org_id, "user_id": user_id
            })),
            Bootstrap::AlreadyExists { .. } => None,
        }
    }
}

/// Why `bootstrap` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    /// A value breaks the rules of its field.
    #[error("invalid {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] IdentityStoreError),
    /// No password could be generated or hashed.
    #[error("password: {0}")]
    Password(String),
}

/// Creates the operator organisation and its first ADMIN at `now`, unless a
/// user with `email` exists (then nothing changes).
pub async fn bootstrap<S: IdentityStore>(
    store: &S,
    passwords: &Passwords,
    org_name: &str,
    email: &str,
    name: &str,
    now: OffsetDateTime,
) -> Result<Bootstrap, BootstrapError> {
    let email = normalize_email(email)
        .map_err(|message| BootstrapError::Invalid(vec![FieldError::new("email", message)]))?;
    if store.find_user_by_email(&email).await?.is_some() {
        return Ok(Bootstrap::AlreadyExists { email });
    }
    let password = generate_password().map_err(|e| BootstrapError::Password(e.to_string()))?;
    // The same rules as the API: validate through the request parsers.
    let org_request = parse_create_organisation_request(
        json!({"name": org_name, "kind": OrganisationKind::LogisticsOperator.as_str()})
            .to_string()
            .as_bytes(),
    )
    .map_err(BootstrapError::Invalid)?;
    let organisation = Organisation::new(org_request.name, org_request.kind, now);
    let user_request: CreateUserRequest = parse_create_user_request(
        json!({
            "email": email, "name": name, "password": password,
            "role": Role::Admin.as_str(), "org_id": organisation.id,
        })
        .to_string()
        .as_bytes(),
    )
    .map_err(BootstrapError::Invalid)?;
    let hash = passwords
        .hash(&password)
        .map_err(|e| BootstrapError::Password(e.to_string()))?;
    let user = User::new(&user_request, hash, now);
    let records = [
        AuditRecord::new(
            EntityType::Organisation,
            &organisation.id,
            Actor::system(),
            "organisation.created",
            now,
            None,
            Some(organisation.to_json()),
        ),
        AuditRecord::new(
            EntityType::User,
            &user.id,
            Actor::system(),
            "user.created",
            now,
            None,
            Some(user.to_json()),
        ),
    ];
    match store
        .create_organisation_with_user(&organisation, &user, &records)
        .await
    {
        Ok(()) => Ok(Bootstrap::Created {
            email: user.email,
            password,
            org_id: organisation.id,
            user_id: user.id,
        }),
        // Another bootstrap won the race: same answer as finding the user.
        Err(IdentityStoreError::EmailTaken) => Ok(Bootstrap::AlreadyExists { email }),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::accounts::memory::MemoryIdentityStore;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            IDENTITY_TABLE_VAR => Some("identity-from-env".into()),
            AUDIT_TABLE_VAR => Some("audit-from-env".into()),
            _ => None,
        }
    }

    fn cheap() -> Passwords {
        Passwords::with_cost(64, 1, 1).expect("cheap argon2")
    }

    #[test]
    fn bootstrap_arguments_with_tables_from_the_environment() {
        let command =
            parse_args(&args("bootstrap --org-name Ops --email a@b.org"), env).expect("valid");
        assert_eq!(
            command,
            Command::Bootstrap(BootstrapArgs {
                org_name: "Ops".into(),
                email: "a@b.org".into(),
                name: DEFAULT_ADMIN_NAME.into(),
                identity_table: "identity-from-env".into(),
                audit_table: "audit-from-env".into(),
            })
        );
        let command = parse_args(
            &args("bootstrap --email a@b.org --org-name Ops --name Ann --identity-table i --audit-table a"),
            |_| None,
        )
        .expect("valid");
        let Command::Bootstrap(parsed) = command else {
            panic!("not bootstrap");
        };
        assert_eq!(
            (
                parsed.name.as_str(),
                parsed.identity_table.as_str(),
                parsed.audit_table.as_str()
            ),
            ("Ann", "i", "a")
        );
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(parse_args(&[], env), Ok(Command::Help));
        assert_eq!(parse_args(&args("--help"), env), Ok(Command::Help));
        for (line, message) in [
            ("frobnicate", "unknown command"),
            ("bootstrap --email a@b.org", "--org-name is required"),
            ("bootstrap --org-name Ops", "--email is required"),
            ("bootstrap --org-name Ops --email", "--email needs a value"),
            (
                "bootstrap --org-name --email a@b.org",
                "--org-name needs a value",
            ),
            (
                "bootstrap --org-name Ops --email a@b.org --colour red",
                "unknown option",
            ),
        ] {
            let error = parse_args(&args(line), env).expect_err(line);
            assert!(error.0.contains(message), "{line}: {error}");
        }
        let error = parse_args(&args("bootstrap --org-name Ops --email a@b.org"), |_| None)
            .expect_err("no tables");
        assert!(error.0.contains("IDENTITY_TABLE"), "{error}");
    }

    #[tokio::test]
    async fn bootstrap_creates_the_operator_and_an_admin_who_can_sign_in() {
        let store = MemoryIdentityStore::new();
        let passwords = cheap();
        let outcome = bootstrap(
            &store,
            &passwords,
            "PharmaGuard Ops",
            "Admin@Example.org",
            "Ann",
            NOW,
        )
        .await
        .expect("bootstrap");
        let Bootstrap::Created {
            email,
            password,
            org_id,
            user_id,
        } = outcome.clone()
        else {
            panic!("not created: {outcome:?}");
        };
        assert_eq!(email, "admin@example.org");
        assert!(password.chars().count() >= 20);

        let organisation = store
            .get_organisation(&org_id)
            .await
            .expect("store")
            .expect("organisation");
        assert_eq!(organisation.kind, OrganisationKind::LogisticsOperator);
        assert_eq!(organisation.name, "PharmaGuard Ops");
        let user = store
            .get_user(&user_id)
            .await
            .expect("store")
            .expect("user");
        assert_eq!(
            (user.role, user.org_id.as_str()),
            (Role::Admin, org_id.as_str())
        );
        assert!(passwords.verify(&password, &user.password_hash));

        let records = store.audit_records();
        let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["organisation.created", "user.created"]);
        assert!(records.iter().all(|r| r.actor == Actor::system()));
        let trail = serde_json::to_string(&records).expect("JSON");
        assert!(!trail.contains(&password) && !trail.contains("argon2"));

        let printed = outcome.to_json().expect("printed");
        assert_eq!(printed["email"], "admin@example.org");
        assert_eq!(printed["password"], password.as_str());
        assert_eq!(printed["org_id"], org_id.as_str());
        assert_eq!(printed["user_id"], user_id.as_str());
    }

    #[tokio::test]
    async fn bootstrap_is_idempotent_on_the_email() {
        let store = MemoryIdentityStore::new();
        let passwords = cheap();
        let first = bootstrap(&store, &passwords, "Ops", "admin@example.org", "Ann", NOW)
            .await
            .expect("first");
        assert!(matches!(first, Bootstrap::Created { .. }));
        let second = bootstrap(&store, &passwords, "Ops", "ADMIN@example.org", "Ann", NOW)
            .await
            .expect("second");
        assert_eq!(
            second,
            Bootstrap::AlreadyExists {
                email: "admin@example.org".into()
            }
        );
        assert_eq!(second.to_json(), None);
        assert_eq!(store.list_organisations().await.expect("list").len(), 1);
        assert_eq!(store.audit_records().len(), 2, "nothing changed");
    }

    #[tokio::test]
    async fn bootstrap_refuses_bad_values() {
        let store = MemoryIdentityStore::new();
        let error = bootstrap(&store, &cheap(), "Ops", "not-an-email", "Ann", NOW)
            .await
            .expect_err("bad email");
        assert!(matches!(error, BootstrapError::Invalid(ref errors) if errors[0].field == "email"));
        let error = bootstrap(&store, &cheap(), "  ", "a@b.org", "Ann", NOW)
            .await
            .expect_err("bad name");
        assert!(error.to_string().contains("name"), "{error}");
        assert!(store.audit_records().is_empty());
    }

    #[tokio::test]
    async fn an_unavailable_store_is_an_error() {
        let mut store = MemoryIdentityStore::new();
        store.unavailable = true;
        let error = bootstrap(&store, &cheap(), "Ops", "a@b.org", "Ann", NOW)
            .await
            .expect_err("unavailable");
        assert!(matches!(
            error,
            BootstrapError::Store(IdentityStoreError::Unavailable(_))
        ));
    }
}

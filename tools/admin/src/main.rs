//! `pharmaguard-admin`: see the library ([`pharmaguard_admin`]) for the
//! commands. Logs (JSON lines, `RUST_LOG`, default `warn`) go to stderr; stdout
//! carries only the command's result.

use std::process::ExitCode;

use pharmaguard_admin::{Bootstrap, Command, USAGE, bootstrap, parse_args};
use pharmaguard_aws::identity_store::DynamoIdentityStore;
use pharmaguard_security::Passwords;
use time::OffsetDateTime;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args, |name| std::env::var(name).ok()) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("pharmaguard-admin: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Command::Bootstrap(args) = command else {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    };

    let config = pharmaguard_aws::config::load().await;
    let store = DynamoIdentityStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        &args.identity_table,
        &args.audit_table,
    );
    let outcome = bootstrap(
        &store,
        &Passwords::new(),
        &args.org_name,
        &args.email,
        &args.name,
        OffsetDateTime::now_utc(),
    )
    .await;
    match outcome {
        Ok(created @ Bootstrap::Created { .. }) => {
            if let Some(json) = created.to_json() {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Ok(Bootstrap::AlreadyExists { email }) => {
            eprintln!(
                "pharmaguard-admin: a user with the email {email} exists already; nothing changed"
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pharmaguard-admin: bootstrap failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// JSON log lines on stderr, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}

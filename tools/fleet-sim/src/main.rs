//! `fleet-sim`: see the library ([`fleet_sim`]) and `fleet-sim --help`.
//! Progress and logins go to stderr; stdout carries only the JSON summary.

use std::process::ExitCode;

use fleet_sim::cli::{Command, USAGE, parse_args};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args, |name| std::env::var(name).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Record(config)) => {
            return match fleet_sim::record::record_to_file(&config) {
                Ok(line) => {
                    eprintln!("{line}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("fleet-sim record: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("fleet-sim: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let summary_path = config.summary.clone();
    let summary = match fleet_sim::run::run(*config, shutdown()).await {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("fleet-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(json) => json,
        Err(error) => {
            eprintln!("fleet-sim: summary: {error}");
            return ExitCode::FAILURE;
        }
    };
    match summary_path {
        Some(path) => {
            if let Err(error) = std::fs::write(&path, json + "\n") {
                eprintln!("fleet-sim: {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("fleet-sim: summary written to {}", path.display());
        }
        None => println!("{json}"),
    }
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

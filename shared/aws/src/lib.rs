//! PharmaGuard AWS adapters: SDK configuration and implementations of the
//! ports of `pharmaguard-domain` on AWS services.
//!
//! - [`config`]: loads the shared SDK configuration once per cold start.
//! - [`kinesis`]: [`kinesis::KinesisReadingSink`], the telemetry stream.

pub mod config;
pub mod kinesis;

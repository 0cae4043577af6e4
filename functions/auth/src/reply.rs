//! The answers of the auth routes: the shared REST [`Reply`] (one error shape,
//! `Cache-Control: no-store` on every answer).

pub use pharmaguard_http::{RETRY_AFTER_SECONDS, Reply};

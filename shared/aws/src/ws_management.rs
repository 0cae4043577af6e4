//! The `@connections` API of the WebSocket API: sends messages to open
//! connections and closes them ([`ConnectionGateway`]).
//!
//! On AWS it is API Gateway's management API at
//! `https://<api id>.execute-api.<region>.amazonaws.com/<stage>`; locally,
//! `localstack/ws-gateway` serves the same API at
//! `http://127.0.0.1:4600/<stage>`. Either way the functions find it in the
//! environment variable [`WS_MANAGEMENT_ENDPOINT_VAR`].
//!
//! A connection whose client went away answers 410 (`GoneException`):
//! that is [`PostError::Gone`], and the caller deletes the connection from
//! the registry. Everything else is [`PostError::Failed`].

use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use pharmaguard_domain::live::{ConnectionGateway, PostError};

use crate::errors::describe;

/// Environment variable holding the management API's endpoint (with the
/// stage, without `/@connections`).
pub const WS_MANAGEMENT_ENDPOINT_VAR: &str = "WS_MANAGEMENT_ENDPOINT";

/// The `@connections` API at one endpoint. The SDK retries transient
/// failures itself (standard retry mode) before an error is returned.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    /// The client, built once per cold start.
    pub client: Client,
}

impl ManagementApi {
    /// The API at `endpoint` (e.g. `https://abc123.execute-api.eu-central-1.amazonaws.com/prod`),
    /// with the region and credentials of `config`. The endpoint replaces
    /// any `AWS_ENDPOINT_URL` (which points at LocalStack locally).
    pub fn new(config: &SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .endpoint_url(endpoint.trim_end_matches('/'))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

/// What a failed call means: gone (410 / `GoneException`) or not sent.
pub fn post_error<E, R>(error: &SdkError<E, R>) -> PostError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = match error {
        SdkError::ServiceError(context) => Some(context.raw().status_code()),
        _ => None,
    };
    let code = error.as_service_error().and_then(|error| error.code());
    if code == Some("GoneException") || status == Some(410) {
        return PostError::Gone;
    }
    let retryable = match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            code == Some("LimitExceededException") || status.is_some_and(|status| status >= 500)
        }
        _ => false,
    };
    PostError::Failed {
        retryable,
        message: describe(error),
    }
}

/// The HTTP status of a raw response (lets [`post_error`] read 410s that
/// carry no error code).
pub trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_apigatewaymanagement::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl ConnectionGateway for ManagementApi {
    async fn post(&self, connection_id: &str, message: &str) -> Result<(), PostError> {
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message.as_bytes()))
            .send()
            .await
            .map_err(|error| post_error(&error))?;
        Ok(())
    }

    async fn close(&self, connection_id: &str) -> Result<(), PostError> {
        self.client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map_err(|error| post_error(&error))?;
        Ok(())
    }
}

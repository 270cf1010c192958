//! The S3 backend (`[objects] backend = "s3"`): objects in one bucket, under their keys,
//! handed out as SigV4 presigned URLs the S3 server itself checks, so the relay serves no
//! bytes and boxes never hold the store's credentials.
//!
//! A presigned PUT signs its `Content-Type` header (it is in `X-Amz-SignedHeaders`), so an
//! upload with another content type fails the server's signature check (403). Timeouts are
//! short (connect [`CONNECT_TIMEOUT`], a whole call [`OPERATION_TIMEOUT`], at most two
//! attempts) so that a store that is down answers [`ObjectError::Unavailable`] quickly.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use bytes::Bytes;

use super::{ContentType, Object, ObjectError, ObjectKey, Presigned};
use crate::config::S3Config;

/// How long connecting to the store may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one call may take, retries included.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct S3Store {
    client: Client,
    bucket: String,
    region: String,
    create_bucket: bool,
}

impl S3Store {
    pub(crate) fn new(config: &S3Config) -> S3Store {
        let credentials = Credentials::new(
            &config.access_key_id,
            &config.secret_access_key,
            None,
            None,
            "dipper-relay [objects.s3]",
        );
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.path_style())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            // Checksums only where S3 requires them: a presigned PUT must not carry a
            // checksum of bytes the relay never sees.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        S3Store {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            create_bucket: config.create_bucket,
        }
    }

    /// Heads the bucket; creates it when it is missing and `create_bucket` is set.
    pub(crate) async fn check(&self) -> Result<(), ObjectError> {
        let headed = self.client.head_bucket().bucket(&self.bucket).send().await;
        match headed {
            Ok(_) => Ok(()),
            Err(error) if status(&error) == Some(404) => {
                if !self.create_bucket {
                    return Err(self.refused(
                        "HeadBucket",
                        "the bucket does not exist; create it, or set \
                         objects.s3.create_bucket = true"
                            .to_owned(),
                    ));
                }
                self.create().await
            }
            Err(error) => Err(self.sort("HeadBucket", error)),
        }
    }

    async fn create(&self) -> Result<(), ObjectError> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        request
            .send()
            .await
            .map_err(|e| self.sort("CreateBucket", e))?;
        tracing::info!(bucket = %self.bucket, "created the object store's bucket");
        Ok(())
    }

    pub(crate) async fn put(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        content_type: ContentType,
    ) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type.as_str())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.sort("PutObject", e))?;
        Ok(())
    }

    pub(crate) async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        let output = match got {
            Ok(output) => output,
            Err(error) if status(&error) == Some(404) => return Ok(None),
            Err(error) => return Err(self.sort("GetObject", error)),
        };
        let content_type = output
            .content_type()
            .and_then(|text| ContentType::parse(text).ok())
            .unwrap_or_else(|| key.content_type());
        let bytes = output.body.collect().await.map_err(|e| {
            ObjectError::Unavailable(format!("reading {key} from bucket {}: {e}", self.bucket))
        })?;
        Ok(Some(Object {
            bytes: bytes.into_bytes(),
            content_type,
        }))
    }

    pub(crate) async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        let headed = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        match headed {
            Ok(_) => Ok(true),
            Err(error) if status(&error) == Some(404) => Ok(false),
            Err(error) => Err(self.sort("HeadObject", error)),
        }
    }

    pub(crate) async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        // S3 answers a delete of an absent key with success too.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| self.sort("DeleteObject", e))?;
        Ok(())
    }

    pub(crate) async fn presign_get(
        &self,
        key: &ObjectKey,
        start: SystemTime,
        ttl: Duration,
    ) -> Result<Presigned, ObjectError> {
        let (config, expires_at_ms) = presigning(start, ttl)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(config)
            .await
            .map_err(|e| self.sort("GetObject (presigning)", e))?;
        Ok(Presigned {
            url: request.uri().to_owned(),
            expires_at_ms,
        })
    }

    pub(crate) async fn presign_put(
        &self,
        key: &ObjectKey,
        start: SystemTime,
        ttl: Duration,
        content_type: ContentType,
    ) -> Result<Presigned, ObjectError> {
        let (config, expires_at_ms) = presigning(start, ttl)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type.as_str())
            .presigned(config)
            .await
            .map_err(|e| self.sort("PutObject (presigning)", e))?;
        Ok(Presigned {
            url: request.uri().to_owned(),
            expires_at_ms,
        })
    }

    fn refused(&self, operation: &'static str, message: String) -> ObjectError {
        ObjectError::Refused {
            operation,
            bucket: self.bucket.clone(),
            message,
        }
    }

    /// Sorts an SDK error: no answer, a timeout or a server error is `Unavailable` (retry
    /// later); an answer refusing the request is `Refused`.
    fn sort<E>(&self, operation: &'static str, error: SdkError<E, HttpResponse>) -> ObjectError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = status(&error);
        let detail = match error.as_service_error() {
            Some(service) => format!(
                "{} ({})",
                service.code().unwrap_or("no error code"),
                service.message().unwrap_or("no message")
            ),
            None => DisplayErrorContext(&error).to_string(),
        };
        match (&error, code) {
            (SdkError::ConstructionFailure(_), _) => self.refused(operation, detail),
            (SdkError::ServiceError(_), Some(code)) if code < 500 && code != 429 => {
                self.refused(operation, format!("HTTP {code}: {detail}"))
            }
            _ => {
                ObjectError::Unavailable(format!("{operation} on bucket {}: {detail}", self.bucket))
            }
        }
    }
}

/// The HTTP status of the answer, if there was one.
fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error
        .raw_response()
        .map(|response| response.status().as_u16())
}

/// The presigning settings for `start` and `ttl`, and when the URL expires (Unix ms; SigV4
/// counts from `start`'s whole second).
fn presigning(start: SystemTime, ttl: Duration) -> Result<(PresigningConfig, i64), ObjectError> {
    let config = PresigningConfig::builder()
        .start_time(start)
        .expires_in(ttl)
        .build()
        .map_err(|e| ObjectError::Invalid(format!("cannot presign for {ttl:?}: {e}")))?;
    let start_s = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let expires = start_s.saturating_add(ttl.as_secs()).saturating_mul(1000);
    Ok((config, i64::try_from(expires).unwrap_or(i64::MAX)))
}

//! Open multipart uploads under an S3 repository's prefix: listing them
//! (ListMultipartUploads) and aborting one (AbortMultipartUpload). A run that is SIGKILLed
//! mid-upload leaves its upload open, and the server keeps (and bills) its parts until someone
//! aborts it; OpenDAL 0.59 exposes neither upload ids nor that listing, so these two calls are
//! signed (SigV4, with the AWS credential chain OpenDAL's S3 service uses: environment, profile)
//! and sent beside it, to the same endpoint, bucket and addressing style as the repository.
//! Each call is bounded by `[repository].timeout`. Which uploads to abort is the caller's choice.

use super::repository::{parse_location, Location, RepoError, RepositorySpec};
use chrono::{DateTime, Utc};
use http::{Method, Request};
use opendal::{Buffer, HttpTransporter};
use reqsign_aws_v4::{Credential, DefaultCredentialProvider, RequestSigner};
use reqsign_core::{Context, OsEnv, Signer};
use reqsign_file_read_tokio::TokioFileRead;
use serde::Deserialize;
use std::fmt::Write as _;
use std::time::Duration;

/// A listing of more pages than this (1,000 uploads each) is cut short rather than followed
/// forever: a server that keeps answering "truncated" must not hang a backup.
const MAX_PAGES: usize = 100;

/// What `inventory` prints when the server cannot list open uploads.
pub const UNSUPPORTED_NOTE: &str = "the server does not list open multipart uploads: set a lifecycle rule AbortIncompleteMultipartUpload";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    /// The object's path relative to the repository root, as `Repository::list` names it.
    pub path: String,
    pub upload_id: String,
    /// When the server says the upload began; `None` if it did not say or said it oddly.
    pub initiated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Every open upload under the prefix, oldest first.
    Open(Vec<OpenUpload>),
    /// The server answered NotImplemented (s3s-fs, some gateways).
    Unsupported,
}

#[derive(Debug, thiserror::Error)]
#[error("repository {url}: cannot {action}: {reason}")]
pub struct UploadsError {
    url: String,
    action: String,
    reason: String,
    /// No answer (refused, reset, timed out): the server is down, not refusing this call.
    pub unreachable: bool,
}

/// The side channel to one S3 repository.
pub struct S3Uploads {
    http: HttpTransporter,
    signer: Signer<Credential>,
    /// `scheme://host[:port]`, then `/bucket` in path style: `/<key>` follows for an object.
    base: String,
    path_style: bool,
    /// The repository prefix with a trailing `/`, or empty: what every key listed starts with.
    key_prefix: String,
    url: String,
    timeout: Duration,
    timeout_setting: &'static str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ListResult {
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload")]
    uploads: Vec<UploadXml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct UploadXml {
    key: String,
    upload_id: String,
    initiated: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ErrorXml {
    code: String,
    message: String,
}

impl S3Uploads {
    /// `None` for a local repository.
    pub fn open(spec: &RepositorySpec) -> Result<Option<S3Uploads>, RepoError> {
        let Location::S3 { bucket, prefix } = parse_location(&spec.url)? else {
            return Ok(None);
        };
        let region = spec.s3_region();
        let path_style = spec.s3_path_style();
        let base = base_url(spec.endpoint.as_deref(), &region, &bucket, path_style);
        let http = HttpTransporter::default();
        let context = Context::new()
            .with_file_read(TokioFileRead)
            .with_http_send(http.clone())
            .with_env(OsEnv);
        let signer = Signer::new(
            context,
            DefaultCredentialProvider::new(),
            RequestSigner::new("s3", &region),
        );
        Ok(Some(S3Uploads {
            http,
            signer,
            base,
            path_style,
            key_prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            url: spec.url.clone(),
            timeout: spec.timeout,
            timeout_setting: spec.timeout_setting,
        }))
    }

    fn error(&self, action: impl Into<String>, reason: impl Into<String>) -> UploadsError {
        UploadsError {
            url: self.url.clone(),
            action: action.into(),
            reason: reason.into(),
            unreachable: false,
        }
    }

    fn unreachable(&self, action: &str, reason: String) -> UploadsError {
        UploadsError {
            unreachable: true,
            ..self.error(action, reason)
        }
    }

    /// Every upload open under the repository prefix.
    pub async fn list(&self) -> Result<Listing, UploadsError> {
        const ACTION: &str = "list open multipart uploads";
        let bucket_url = if self.path_style {
            self.base.clone()
        } else {
            format!("{}/", self.base)
        };
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let mut uri = format!("{bucket_url}?uploads&prefix={}", encode(&self.key_prefix));
            if let Some((key, id)) = &markers {
                let _ = write!(
                    uri,
                    "&key-marker={}&upload-id-marker={}",
                    encode(key),
                    encode(id)
                );
            }
            let (status, body) = self.send(ACTION, Method::GET, &uri).await?;
            if status == 501 || error_code(&body).as_deref() == Some("NotImplemented") {
                tracing::debug!("repository {}: ListMultipartUploads: {status}", self.url);
                return Ok(Listing::Unsupported);
            }
            if !(200..300).contains(&status) {
                return Err(self.error(ACTION, describe_failure(status, &body)));
            }
            let page: ListResult = quick_xml::de::from_str(&body).map_err(|e| {
                self.error(ACTION, format!("the server's answer is not a listing: {e}"))
            })?;
            for upload in page.uploads {
                // A prefix "a/b/" lists only keys under it; anything else is not ours.
                let Some(path) = upload.key.strip_prefix(&self.key_prefix) else {
                    continue;
                };
                uploads.push(OpenUpload {
                    path: path.to_string(),
                    upload_id: upload.upload_id,
                    initiated: upload
                        .initiated
                        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                        .map(|t| t.with_timezone(&Utc)),
                });
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id)) if !key.is_empty() => markers = Some((key, id)),
                _ => {
                    uploads.sort_by_key(|u| u.initiated);
                    return Ok(Listing::Open(uploads));
                }
            }
        }
        Err(self.error(
            ACTION,
            format!("the server still said \"truncated\" after {MAX_PAGES} pages"),
        ))
    }

    /// Aborts one upload: the server drops its parts. One already gone counts as aborted.
    pub async fn abort(&self, upload: &OpenUpload) -> Result<(), UploadsError> {
        let action = format!(
            "abort the multipart upload of `{}` (upload id {})",
            upload.path, upload.upload_id
        );
        let key = format!("{}{}", self.key_prefix, upload.path);
        let uri = format!(
            "{}/{}?uploadId={}",
            self.base,
            encode_path(&key),
            encode(&upload.upload_id)
        );
        let (status, body) = self.send(&action, Method::DELETE, &uri).await?;
        if (200..300).contains(&status) || error_code(&body).as_deref() == Some("NoSuchUpload") {
            return Ok(());
        }
        Err(self.error(action, describe_failure(status, &body)))
    }

    /// One signed request with an empty body, bounded by the repository timeout.
    async fn send(
        &self,
        action: &str,
        method: Method,
        uri: &str,
    ) -> Result<(u16, String), UploadsError> {
        // Err((reason, reachable)).
        let exchange = async {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Buffer::new())
                .map_err(|e| (format!("bad request URL {uri}: {e}"), true))?;
            let (mut parts, body) = request.into_parts();
            self.signer.sign(&mut parts, None).await.map_err(|e| {
                let reason = format!("cannot sign the request (AWS credentials?): {e}");
                (reason, true)
            })?;
            let response = self
                .http
                .send(Request::from_parts(parts, body))
                .await
                .map_err(|e| (e.to_string(), false))?;
            let status = response.status().as_u16();
            let body = String::from_utf8_lossy(&response.into_body().to_bytes()).into_owned();
            Ok::<_, (String, bool)>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err((reason, true))) => Err(self.error(action, reason)),
            Ok(Err((reason, false))) => Err(self.unreachable(action, reason)),
            Err(_) => Err(self.unreachable(
                action,
                format!(
                    "no answer within {}s; check that the server is up, or raise {}",
                    self.timeout.as_secs_f64(),
                    self.timeout_setting
                ),
            )),
        }
    }
}

/// Where requests go, as OpenDAL's S3 service builds it: AWS's regional endpoint when none is
/// configured, the bucket in the host name (virtual host) or as the first path segment.
fn base_url(endpoint: Option<&str>, region: &str, bucket: &str, path_style: bool) -> String {
    let endpoint = match endpoint {
        Some(e) if e.starts_with("http://") || e.starts_with("https://") => e.to_string(),
        Some(e) => format!("https://{e}"),
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    let endpoint = endpoint.trim_end_matches('/');
    if path_style {
        format!("{endpoint}/{bucket}")
    } else {
        endpoint.replacen("://", &format!("://{bucket}."), 1)
    }
}

/// AWS URI encoding of a query value: everything but the unreserved characters.
fn encode(text: &str) -> String {
    encode_with(text, false)
}

/// AWS URI encoding of an object key in a path: `/` kept.
fn encode_path(text: &str) -> String {
    encode_with(text, true)
}

fn encode_with(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn error_code(body: &str) -> Option<String> {
    quick_xml::de::from_str::<ErrorXml>(body)
        .ok()
        .map(|e| e.code)
        .filter(|c| !c.is_empty())
}

/// The status and the S3 error code and message: never the request (it carries the signature).
fn describe_failure(status: u16, body: &str) -> String {
    let said = match quick_xml::de::from_str::<ErrorXml>(body) {
        Ok(e) if !e.code.is_empty() => format!("HTTP {status}, {}: {}", e.code, e.message),
        _ => format!("HTTP {status}"),
    };
    if status == 403 {
        return format!(
            "{said}; grant these credentials s3:ListBucketMultipartUploads and \
             s3:AbortMultipartUpload on the bucket, or set a lifecycle rule \
             AbortIncompleteMultipartUpload"
        );
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_repository_style() {
        assert_eq!(
            base_url(Some("http://127.0.0.1:9000/"), "us-east-1", "b", true),
            "http://127.0.0.1:9000/b"
        );
        assert_eq!(
            base_url(None, "eu-west-3", "b", false),
            "https://b.s3.eu-west-3.amazonaws.com"
        );
        assert_eq!(
            base_url(Some("minio.lan:9000"), "x", "b", false),
            "https://b.minio.lan:9000"
        );
    }

    #[test]
    fn keys_and_values_are_encoded_once() {
        assert_eq!(encode("a/b c+~"), "a%2Fb%20c%2B~");
        assert_eq!(encode_path("p/sets/x y.zst"), "p/sets/x%20y.zst");
    }

    #[test]
    fn listing_pages_parse() {
        let page = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/sets/2/db</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>p/sets/1/db</Key><UploadId>u1</UploadId>
    <Initiated>2026-12-04T10:00:00.000Z</Initiated><StorageClass>STANDARD</StorageClass></Upload>
  <Upload><Key>p/sets/2/db</Key><UploadId>u2</UploadId><Initiated>2026-12-04T11:00:00Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let parsed: ListResult = quick_xml::de::from_str(page).unwrap();
        assert!(parsed.is_truncated);
        assert_eq!(parsed.next_upload_id_marker.as_deref(), Some("u2"));
        assert_eq!(parsed.uploads.len(), 2);
        assert_eq!(parsed.uploads[1].key, "p/sets/2/db");
        let empty: ListResult = quick_xml::de::from_str(
            "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(empty.uploads.is_empty() && !empty.is_truncated);
        assert_eq!(
            error_code("<Error><Code>NotImplemented</Code><Message>x</Message></Error>").as_deref(),
            Some("NotImplemented")
        );
        assert_eq!(describe_failure(500, "not xml"), "HTTP 500");
        assert!(describe_failure(403, "").contains("s3:ListBucketMultipartUploads"));
    }
}

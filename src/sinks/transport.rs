//! Sending a chunk of events to a receiver, and what its answer means: HTTP POST (webhook,
//! Splunk HEC) with reqwest and rustls, or a syslog TCP stream (optionally TLS) kept open.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use zeroize::Zeroizing;

use super::format;
use crate::domain::audit::StoredEvent;
use crate::domain::sink::{classify_status, webhook_signature, Answer, SinkTarget};
use crate::service::DeliverySink;
use crate::store::evidence::CheckpointRow;

/// How long a syslog write must leave the connection intact to count as delivered.
pub const SYSLOG_GRACE: Duration = Duration::from_millis(100);
/// Events per syslog write (one grace period each).
pub const SYSLOG_BATCH: usize = 200;

/// What one send carries.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    /// Events of one application, in revision order.
    Events(&'a [&'a StoredEvent]),
    /// A signed checkpoint (sent alone).
    Checkpoint(&'a CheckpointRow),
}

/// What became of a send.
pub enum Outcome {
    /// Acknowledged: a 2xx, or (syslog) written and flushed with the connection intact.
    Delivered,
    /// Try again later (the reason, for `sinks show` and the log).
    Retry(String),
    /// The receiver refused for good (a 4xx other than 408/429): its answer.
    Pause(String),
}

pub enum Transport {
    Http {
        client: reqwest::Client,
        target: SinkTarget,
        secret: Option<Zeroizing<String>>,
        batched: bool,
    },
    Syslog {
        host: String,
        port: u16,
        tls: Option<Arc<ClientConfig>>,
        timeout: Duration,
        stream: Option<Stream>,
        hostname: String,
    },
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether the receiver is still there: a syslog receiver never sends data, so anything
    /// readable (the end of the stream, a TLS alert, an error, data) means the connection is
    /// over. Through TLS the read goes through the session, which takes in what TLS itself
    /// sends (TLS 1.3 session tickets) and reports an alert or close_notify.
    fn alive(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self {
            Stream::Plain(s) => s.peek(&mut byte).now_or_never().is_none(),
            Stream::Tls(s) => s.read(&mut byte).now_or_never().is_none(),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }
}

impl Transport {
    pub fn new(sink: &DeliverySink, timeout: Duration) -> Result<Self, String> {
        match &sink.target {
            SinkTarget::Webhook { .. } | SinkTarget::SplunkHec { .. } => {
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
                Ok(Transport::Http {
                    client,
                    target: sink.target.clone(),
                    secret: sink.secret.clone(),
                    batched: sink.row.batch_max > 1,
                })
            }
            SinkTarget::Syslog {
                host,
                port,
                tls,
                ca_file,
            } => Ok(Transport::Syslog {
                host: host.clone(),
                port: *port,
                tls: if *tls {
                    Some(super::tls::client_config(ca_file.as_deref())?)
                } else {
                    None
                },
                timeout,
                stream: None,
                hostname: hostname(),
            }),
        }
    }

    /// Sends events (one request or write) or a signed checkpoint (one of its own).
    pub async fn send(&mut self, payload: Payload<'_>) -> Outcome {
        match self {
            Transport::Http {
                client,
                target,
                secret,
                batched,
            } => {
                let request = match (&*target, payload) {
                    (SinkTarget::Webhook { .. }, Payload::Events(events)) => Ok((
                        format::webhook_id(events, *batched),
                        format::webhook_body(events, *batched),
                    )),
                    (SinkTarget::Webhook { .. }, Payload::Checkpoint(c)) => {
                        format::webhook_checkpoint_body(c, *batched)
                            .map(|b| (format::checkpoint_id(c), b))
                    }
                    (
                        SinkTarget::SplunkHec {
                            sourcetype, index, ..
                        },
                        Payload::Events(events),
                    ) => format::hec_body(events, sourcetype, index.as_deref())
                        .map(|b| (String::new(), b)),
                    (
                        SinkTarget::SplunkHec {
                            sourcetype, index, ..
                        },
                        Payload::Checkpoint(c),
                    ) => format::hec_checkpoint_body(c, sourcetype, index.as_deref())
                        .map(|b| (String::new(), b)),
                    (SinkTarget::Syslog { .. }, _) => {
                        return Outcome::Retry("not an HTTP sink".into())
                    }
                };
                match request {
                    Ok((id, body)) => {
                        let secret = secret.as_ref().map(|s| s.as_str());
                        send_http(client, target, secret, id, body).await
                    }
                    Err(e) => Outcome::Retry(format!("cannot encode the request: {e}")),
                }
            }
            Transport::Syslog { hostname, .. } => {
                let procid = std::process::id();
                let bytes = match payload {
                    Payload::Events(events) => Ok(events
                        .iter()
                        .flat_map(|e| {
                            format::octet_counted(&format::syslog_message(e, hostname, procid))
                        })
                        .collect::<Vec<u8>>()),
                    Payload::Checkpoint(c) => {
                        format::syslog_checkpoint_message(c, hostname, procid)
                            .map(|m| format::octet_counted(&m))
                    }
                };
                match bytes {
                    Ok(bytes) => self.write_syslog(&bytes).await,
                    Err(e) => Outcome::Retry(format!("cannot encode the message: {e}")),
                }
            }
        }
    }

    /// Writes framed messages to the syslog connection (opened or re-opened as needed).
    async fn write_syslog(&mut self, bytes: &[u8]) -> Outcome {
        let Transport::Syslog {
            host,
            port,
            tls,
            timeout,
            stream,
            ..
        } = self
        else {
            return Outcome::Retry("not a syslog sink".into());
        };
        if stream.as_mut().is_some_and(|s| !s.alive()) {
            *stream = None;
        }
        let mut s = match stream.take() {
            Some(s) => s,
            None => match connect(host, *port, tls.clone(), *timeout).await {
                Ok(s) => s,
                Err(e) => return Outcome::Retry(e),
            },
        };
        let written = tokio::time::timeout(*timeout, s.write_all(bytes)).await;
        if matches!(written, Ok(Ok(()))) {
            // TCP says nothing of what the receiver did with the bytes: a receiver
            // that closes with them unread (stopping) resets the connection. Give it
            // that moment before calling the write delivered (docs/streaming.md).
            tokio::time::sleep(SYSLOG_GRACE).await;
        }
        match written {
            Ok(Ok(())) if s.alive() => {
                *stream = Some(s);
                Outcome::Delivered
            }
            Ok(Ok(())) => Outcome::Retry("the receiver closed the connection".into()),
            Ok(Err(e)) => Outcome::Retry(format!("write failed: {e}")),
            Err(_) => Outcome::Retry("write timed out".into()),
        }
    }
}

async fn connect(
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Stream, String> {
    let address = crate::domain::sink::format_address(host, port);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("connecting to {address} timed out"))?
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(config) => tokio::time::timeout(timeout, super::tls::connect(config, host, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {address} timed out"))?
            .map(|s| Stream::Tls(Box::new(s)))
            .map_err(|e| format!("TLS with {address}: {e}")),
    }
}

/// POSTs a prepared body: a webhook's signed with its `webhook-id` (`id`), a HEC request with
/// the token.
async fn send_http(
    client: &reqwest::Client,
    target: &SinkTarget,
    secret: Option<&str>,
    id: String,
    body: String,
) -> Outcome {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let url = match target {
        SinkTarget::Webhook { url } => {
            let timestamp = chrono::Utc::now().timestamp();
            let Some(signature) =
                secret.and_then(|s| webhook_signature(s, &id, timestamp, body.as_bytes()))
            else {
                return Outcome::Retry("the webhook secret is not usable".into());
            };
            for (name, value) in [
                ("webhook-id", id),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
            url
        }
        SinkTarget::SplunkHec { url, .. } => {
            let Ok(mut auth) = HeaderValue::from_str(&format!("Splunk {}", secret.unwrap_or("")))
            else {
                return Outcome::Pause("the HEC token is not a valid header value".into());
            };
            auth.set_sensitive(true);
            headers.insert(AUTHORIZATION, auth);
            url
        }
        SinkTarget::Syslog { .. } => return Outcome::Retry("not an HTTP sink".into()),
    };
    let res = match client
        .post(url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("request failed: {}", without_url(&e))),
    };
    let status = res.status().as_u16();
    match classify_status(status) {
        Answer::Delivered => Outcome::Delivered,
        answer => {
            let text = res.text().await.unwrap_or_default();
            let text: String = text.chars().take(300).collect();
            let summary = format!("HTTP {status}: {}", text.trim());
            if answer == Answer::Pause {
                Outcome::Pause(summary)
            } else {
                Outcome::Retry(summary)
            }
        }
    }
}

/// A reqwest error without its URL (the operator knows the URL; logs stay short).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" ({url})"), "");
        text = text.replace(url.as_str(), "the receiver");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// This machine's name for the syslog HOSTNAME field (`-` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

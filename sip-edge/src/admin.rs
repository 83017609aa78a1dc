//! The admin API: HTTP/1.1 and JSON on its own listener (loopback advised), for the
//! operators' tools.
//!
//! Every request carries `Authorization: Bearer <token>`. Tokens are configured by
//! name with the SHA-256 of their secret (`[[admin.token]]`), so the configuration
//! holds no secret; a token unused for `token_idle_days` (default 183, the contract's
//! six months) is disabled, its last use being kept in `<spool_dir>/admin-tokens.json`
//! (before its first use, its `issued` date counts). Every action is logged with the
//! token's name.
//!
//! | request                          | body (JSON)                                   | answer |
//! |----------------------------------|-----------------------------------------------|--------|
//! | `GET /status`                    |                                               | node, draining, calls in progress, trunks (channels in force, calls in progress, blocks), fraud blocks, carriers up/down, bans |
//! | `GET /trunks/{id}/calls`         |                                               | the trunk's calls in progress |
//! | `POST /trunks/{id}/block`        | `{"reason": "...", "class": "international", "end_calls": true}` | `{"changed", "calls_ended"}` |
//! | `POST /trunks/{id}/unblock`      | `{"class": "international"}` (absent: the trunk block) | `{"changed"}` |
//! | `POST /calls/{call-id}/end`      | `{"reason": "..."}` (optional)                | `{"calls_ended"}` |
//! | `POST /reload`                   |                                               | `{"reloaded": true}` or the provisioning errors |
//!
//! `class` is `international`, `premium` or `other`; without it the whole trunk is
//! blocked (every new call but emergency calls). `end_calls` ends the calls in progress
//! that the block covers (BYE to both sides). Errors are `{"error": "..."}` with 400,
//! 401 (no or bad token, disabled token), 404 (unknown trunk or call, unknown path) or
//! 405.
//!
//! Server: `hyper` 1 (HTTP/1.1 only) with `hyper-util`'s tokio adapter — already in
//! the build through the ClickHouse client, and it handles what a hand-written server
//! gets wrong (pipelining, chunked bodies, slow clients, header limits).

use crate::core::Command;
use crate::fraud::{BlockEntry, RiskClass};
use crate::guard::{BanInfo, Guard};
use crate::transport::{Event, Events};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The `[admin]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Listening address.
    pub address: SocketAddr,
    /// Days without use after which a token is disabled.
    #[serde(default = "default_idle_days")]
    pub token_idle_days: u32,
    /// The tokens.
    #[serde(default)]
    pub token: Vec<TokenConfig>,
}

fn default_idle_days() -> u32 {
    183
}

/// One `[[admin.token]]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; written in the log of every action.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    /// When it was handed out: its last use until it is used.
    pub issued: toml::value::Datetime,
}

impl TokenConfig {
    fn issued_ms(&self) -> Option<u64> {
        let d = self.issued.date?;
        let date = chrono::NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())?;
        let ms = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        u64::try_from(ms).ok()
    }

    fn hash(&self) -> Option<[u8; 32]> {
        let text = self.sha256.trim();
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

impl AdminConfig {
    /// Problems with the values, each naming its key.
    pub fn check(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.token_idle_days == 0 {
            errors.push("admin.token_idle_days: must be at least 1, got 0".into());
        }
        if self.token.is_empty() {
            errors.push(
                "admin.token: missing (at least one [[admin.token]] with name, sha256 and issued)"
                    .into(),
            );
        }
        for (i, t) in self.token.iter().enumerate() {
            if t.name.trim().is_empty() {
                errors.push(format!("admin.token[{i}].name: must not be empty"));
            }
            if self.token[..i].iter().any(|o| o.name == t.name) {
                errors.push(format!(
                    "admin.token[{i}].name: {:?} is listed twice",
                    t.name
                ));
            }
            if t.hash().is_none() {
                errors.push(format!(
                    "admin.token[{i}].sha256: {:?} is not 64 hexadecimal digits (the SHA-256 of the token: printf %s TOKEN | sha256sum)",
                    t.sha256
                ));
            }
            if t.issued_ms().is_none() {
                errors.push(format!(
                    "admin.token[{i}].issued: {} is not a date (expected e.g. 2026-11-01)",
                    t.issued
                ));
            }
        }
        errors
    }
}

/// What the admin API asks the core.
pub enum AdminRequest {
    /// The core's part of `GET /status`.
    Status(oneshot::Sender<CoreStatus>),
    /// Calls in progress of a trunk (`None`: unknown trunk).
    Calls {
        /// Trunk id.
        trunk: String,
        /// The answer.
        reply: oneshot::Sender<Option<Vec<CallInfo>>>,
    },
    /// Block a trunk or one of its classes.
    Block {
        /// Trunk id.
        trunk: String,
        /// The class; the whole trunk when absent.
        class: Option<RiskClass>,
        /// End the calls in progress the block covers.
        end_calls: bool,
        /// The token's name.
        by: String,
        /// Why.
        reason: String,
        /// The answer (an error for an unknown trunk).
        reply: oneshot::Sender<Result<BlockOutcome, String>>,
    },
    /// Lift a block.
    Unblock {
        /// Trunk id.
        trunk: String,
        /// The class; the trunk block when absent.
        class: Option<RiskClass>,
        /// The token's name.
        by: String,
        /// Whether there was such a block.
        reply: oneshot::Sender<bool>,
    },
    /// End the calls with this Call-ID (BYE to both sides).
    EndCall {
        /// The customer-side Call-ID.
        call_id: String,
        /// The token's name.
        by: String,
        /// Why.
        reason: String,
        /// How many calls were ended.
        reply: oneshot::Sender<u32>,
    },
}

/// The core's state as `GET /status` shows it.
#[derive(Debug, Serialize)]
pub struct CoreStatus {
    /// This node.
    pub node: String,
    /// SIGTERM received: new calls are refused.
    pub draining: bool,
    /// Calls in progress on every trunk.
    pub calls_in_progress: usize,
    /// Every provisioned trunk.
    pub trunks: Vec<TrunkStatus>,
    /// Fraud blocks in force.
    pub blocks: Vec<BlockEntry>,
    /// The carrier interconnects, in routing order.
    pub peers: Vec<PeerStatus>,
}

/// One carrier in `GET /status`.
#[derive(Debug, Serialize)]
pub struct PeerStatus {
    /// The carrier's name (`[[carrier]] name`).
    pub name: String,
    /// Routable: answering its OPTIONS keepalives, or keepalives are off.
    pub up: bool,
    /// Keepalives probe it (`[keepalive]` set); when false `up` is assumed.
    pub probed: bool,
}

/// One trunk in `GET /status`.
#[derive(Debug, Serialize)]
pub struct TrunkStatus {
    /// Trunk id.
    pub id: String,
    /// Customer id.
    pub customer: String,
    /// Channels in force today.
    pub channels_in_force: u32,
    /// Calls holding a channel now.
    pub calls_in_progress: u32,
    /// The whole trunk is blocked.
    pub blocked: bool,
    /// Classes blocked for the trunk.
    pub blocked_classes: Vec<RiskClass>,
}

/// A call in progress.
#[derive(Debug, Serialize)]
pub struct CallInfo {
    /// Customer-side Call-ID (what `POST /calls/{call-id}/end` takes).
    pub call_id: String,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// Calling number.
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// Destination class.
    pub class: RiskClass,
    /// Site id.
    pub site: Option<String>,
    /// `routing`, `answered` or `confirmed`.
    pub state: &'static str,
    /// INVITE received, ms since the epoch.
    pub invite_ms: u64,
    /// Answered, ms since the epoch.
    pub answer_ms: Option<u64>,
}

/// What a block did.
#[derive(Debug, Serialize)]
pub struct BlockOutcome {
    /// The block was not already in force.
    pub changed: bool,
    /// Calls ended because of it.
    pub calls_ended: u32,
}

/// Reloads provisioning on behalf of the admin API (the same path as SIGHUP).
pub type Reload =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The admin tokens and their last use.
pub struct Tokens {
    entries: Vec<TokenState>,
    idle_ms: u64,
    state_file: Option<PathBuf>,
}

struct TokenState {
    name: String,
    hash: [u8; 32],
    last_used_ms: u64,
}

/// Why a request was not authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// No token matches.
    Unknown,
    /// The token matched but was unused for too long.
    Disabled(String),
}

impl Tokens {
    /// The configured tokens, with their last use read from `state_file` when it
    /// exists (a missing or unreadable file: the `issued` dates count).
    pub fn new(config: &AdminConfig, state_file: Option<PathBuf>) -> Tokens {
        let used: BTreeMap<String, u64> = state_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let entries = config
            .token
            .iter()
            .filter_map(|t| {
                let issued = t.issued_ms()?;
                Some(TokenState {
                    name: t.name.clone(),
                    hash: t.hash()?,
                    last_used_ms: used.get(&t.name).copied().unwrap_or(0).max(issued),
                })
            })
            .collect();
        Tokens {
            entries,
            idle_ms: u64::from(config.token_idle_days) * 86_400_000,
            state_file,
        }
    }

    /// The name of the token in `authorization`, its last use set to `now_ms`.
    ///
    /// # Errors
    /// [`AuthError`]; a disabled token is logged.
    pub fn authenticate(
        &mut self,
        authorization: Option<&str>,
        now_ms: u64,
    ) -> Result<String, AuthError> {
        let secret = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::Missing)?;
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        // Compare with every token, every byte: no early exit that timing could reveal.
        let mut found = None;
        for (i, t) in self.entries.iter().enumerate() {
            let diff = t
                .hash
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(i);
            }
        }
        let entry = &mut self.entries[found.ok_or(AuthError::Unknown)?];
        if now_ms.saturating_sub(entry.last_used_ms) > self.idle_ms {
            tracing::warn!(token = %entry.name, last_used_ms = entry.last_used_ms, "Admin token refused: unused for too long, disabled.");
            return Err(AuthError::Disabled(entry.name.clone()));
        }
        entry.last_used_ms = now_ms;
        let name = entry.name.clone();
        self.save();
        Ok(name)
    }

    fn save(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let used: BTreeMap<&str, u64> = self
            .entries
            .iter()
            .map(|t| (t.name.as_str(), t.last_used_ms))
            .collect();
        let temporary = path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&used)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&temporary, bytes))
            .and_then(|()| std::fs::rename(&temporary, path));
        if let Err(error) = written {
            tracing::error!(file = %path.display(), %error, "Cannot save the admin tokens' last use.");
        }
    }
}

/// What the HTTP handlers share.
pub struct AdminContext {
    /// Tokens and their last use.
    pub tokens: Mutex<Tokens>,
    /// The core's queue.
    pub events: Events,
    /// The flood guard (bans).
    pub guard: Arc<Guard>,
    /// Provisioning reload.
    pub reload: Reload,
}

/// Serves the admin API on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, context: Arc<AdminContext>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "Admin API accept failed.");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let context = context.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let context = context.clone();
                async move { Ok::<_, Infallible>(handle(&context, request, peer).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "Admin API connection ended with an error.");
            }
        });
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// Decodes `%XX` escapes of a path segment (Call-IDs hold `@` and more).
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    reason: Option<String>,
    class: Option<String>,
    #[serde(default)]
    end_calls: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EndBody {
    reason: Option<String>,
}

async fn ask<T>(
    events: &Events,
    request: impl FnOnce(oneshot::Sender<T>) -> AdminRequest,
) -> Option<T> {
    let (reply, answer) = oneshot::channel();
    events
        .send(Event::Command(Command::Admin(request(reply))))
        .await
        .ok()?;
    answer.await.ok()
}

async fn handle(
    context: &AdminContext,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let auth = context
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .authenticate(authorization, now);
    let by = match auth {
        Ok(name) => name,
        Err(reason) => {
            tracing::warn!(%peer, path = %request.uri().path(), ?reason, "Admin API request refused: no valid token.");
            let message = match reason {
                AuthError::Missing => "missing Authorization: Bearer <token>".to_string(),
                AuthError::Unknown => "unknown token".to_string(),
                AuthError::Disabled(name) => {
                    format!("token {name:?} is disabled (unused for too long)")
                }
            };
            return error(StatusCode::UNAUTHORIZED, message);
        }
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        }
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let events = &context.events;
    let gone = || error(StatusCode::SERVICE_UNAVAILABLE, "the edge is stopping");
    match (&method, segments.as_slice()) {
        (&Method::GET, ["status"]) => {
            let Some(core) = ask(events, AdminRequest::Status).await else {
                return gone();
            };
            let bans: Vec<BanInfo> = context.guard.bans();
            #[derive(Serialize)]
            struct Status {
                #[serde(flatten)]
                core: CoreStatus,
                bans: Vec<BanInfo>,
            }
            json(StatusCode::OK, &Status { core, bans })
        }
        (&Method::GET, ["trunks", trunk, "calls"]) => {
            let trunk = trunk.to_string();
            match ask(events, |reply| AdminRequest::Calls {
                trunk: trunk.clone(),
                reply,
            })
            .await
            {
                None => gone(),
                Some(None) => error(StatusCode::NOT_FOUND, format!("unknown trunk {trunk:?}")),
                Some(Some(calls)) => json(StatusCode::OK, &calls),
            }
        }
        (&Method::POST, ["trunks", trunk, action @ ("block" | "unblock")]) => {
            let parsed: Result<BlockBody, _> = if body.is_empty() {
                Ok(BlockBody::default())
            } else {
                serde_json::from_slice(&body)
            };
            let body = match parsed {
                Ok(b) => b,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
            };
            let class = match body.class.as_deref().map(|c| (c, RiskClass::from_name(c))) {
                None => None,
                Some((_, Some(class))) => Some(class),
                Some((name, None)) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("class {name:?} is not one of international, premium, other"),
                    )
                }
            };
            let trunk = trunk.to_string();
            let what = class.map_or("trunk", RiskClass::as_str);
            if *action == "block" {
                let Some(reason) = body.reason.filter(|r| !r.trim().is_empty()) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "reason: required (why the trunk is blocked)",
                    );
                };
                tracing::warn!(token = %by, %trunk, class = what, end_calls = body.end_calls, %reason, "Admin: block.");
                let answer = ask(events, |reply| AdminRequest::Block {
                    trunk: trunk.clone(),
                    class,
                    end_calls: body.end_calls,
                    by: by.clone(),
                    reason,
                    reply,
                })
                .await;
                match answer {
                    None => gone(),
                    Some(Err(e)) => error(StatusCode::NOT_FOUND, e),
                    Some(Ok(outcome)) => json(StatusCode::OK, &outcome),
                }
            } else {
                if body.end_calls || body.reason.is_some() {
                    return error(StatusCode::BAD_REQUEST, "unblock takes only class");
                }
                tracing::warn!(token = %by, %trunk, class = what, "Admin: unblock.");
                match ask(events, |reply| AdminRequest::Unblock {
                    trunk: trunk.clone(),
                    class,
                    by: by.clone(),
                    reply,
                })
                .await
                {
                    None => gone(),
                    Some(changed) => {
                        json(StatusCode::OK, &serde_json::json!({ "changed": changed }))
                    }
                }
            }
        }
        (&Method::POST, ["calls", call_id, "end"]) => {
            let Some(call_id) = percent_decode(call_id) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the Call-ID is not valid percent-encoded UTF-8",
                );
            };
            let parsed: Result<EndBody, _> = if body.is_empty() {
                Ok(EndBody::default())
            } else {
                serde_json::from_slice(&body)
            };
            let reason = match parsed {
                Ok(b) => b.reason.unwrap_or_else(|| "ended by an operator".into()),
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
            };
            tracing::warn!(token = %by, %call_id, %reason, "Admin: end a call.");
            match ask(events, |reply| AdminRequest::EndCall {
                call_id: call_id.clone(),
                by: by.clone(),
                reason,
                reply,
            })
            .await
            {
                None => gone(),
                Some(0) => error(
                    StatusCode::NOT_FOUND,
                    format!("no call in progress with Call-ID {call_id:?}"),
                ),
                Some(n) => json(StatusCode::OK, &serde_json::json!({ "calls_ended": n })),
            }
        }
        (&Method::POST, ["reload"]) => {
            tracing::info!(token = %by, "Admin: reload provisioning.");
            match (context.reload)().await {
                Ok(()) => json(StatusCode::OK, &serde_json::json!({ "reloaded": true })),
                Err(errors) => {
                    tracing::warn!(token = %by, %errors, "Admin: reload refused; the provisioning in force is kept.");
                    json(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &serde_json::json!({ "reloaded": false, "error": errors }),
                    )
                }
            }
        }
        (
            _,
            ["status"]
            | ["reload"]
            | ["trunks", _, "calls" | "block" | "unblock"]
            | ["calls", _, "end"],
        ) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        ),
        _ => error(StatusCode::NOT_FOUND, format!("no such resource: {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(secret: &str) -> String {
        Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn config(issued: &str) -> AdminConfig {
        let text = format!(
            "address = \"127.0.0.1:9091\"\n[[token]]\nname = \"noc-alice\"\nsha256 = \"{}\"\nissued = {issued}\n",
            sha256_hex("alice-secret")
        );
        toml::from_str(&text).unwrap()
    }

    const DAY_MS: u64 = 86_400_000;

    fn ms(date: &str) -> u64 {
        let d: chrono::NaiveDate = date.parse().unwrap();
        d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() as u64
    }

    #[test]
    fn tokens_authenticate_by_their_secret() {
        let c = config("2026-11-01");
        assert!(c.check().is_empty(), "{:?}", c.check());
        let mut tokens = Tokens::new(&c, None);
        let now = ms("2026-11-20");
        assert_eq!(
            tokens.authenticate(Some("Bearer alice-secret"), now),
            Ok("noc-alice".to_string())
        );
        assert_eq!(tokens.authenticate(None, now), Err(AuthError::Missing));
        assert_eq!(
            tokens.authenticate(Some("Basic x"), now),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.authenticate(Some("Bearer alice-secreT"), now),
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn a_token_unused_for_six_months_is_disabled() {
        let c = config("2026-01-01");
        let mut tokens = Tokens::new(&c, None);
        // 183 days after issue: still fine, and that use restarts the clock.
        let used = ms("2026-01-01") + 183 * DAY_MS;
        assert!(tokens
            .authenticate(Some("Bearer alice-secret"), used)
            .is_ok());
        assert!(tokens
            .authenticate(Some("Bearer alice-secret"), used + 183 * DAY_MS)
            .is_ok());
        let mut fresh = Tokens::new(&c, None);
        assert_eq!(
            fresh.authenticate(Some("Bearer alice-secret"), ms("2026-01-01") + 184 * DAY_MS),
            Err(AuthError::Disabled("noc-alice".into()))
        );
    }

    #[test]
    fn last_use_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-tokens.json");
        let c = config("2026-01-01");
        let mut tokens = Tokens::new(&c, Some(file.clone()));
        let used = ms("2026-06-01");
        assert!(tokens
            .authenticate(Some("Bearer alice-secret"), used)
            .is_ok());
        // Seven months after issue but four after the last use: accepted.
        let mut again = Tokens::new(&c, Some(file));
        assert!(again
            .authenticate(Some("Bearer alice-secret"), ms("2026-10-01"))
            .is_ok());
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let mut c = config("2026-01-01");
        c.token.push(TokenConfig {
            name: "noc-alice".into(),
            sha256: "abc".into(),
            issued: "12:00:00".parse().unwrap(),
        });
        c.token_idle_days = 0;
        let all = c.check().join("\n");
        for phrase in [
            "admin.token_idle_days: must be at least 1",
            "admin.token[1].name: \"noc-alice\" is listed twice",
            "admin.token[1].sha256: \"abc\" is not 64 hexadecimal digits",
            "admin.token[1].issued: 12:00:00 is not a date",
        ] {
            assert!(all.contains(phrase), "missing {phrase:?} in:\n{all}");
        }
    }

    #[test]
    fn call_ids_are_percent_decoded() {
        assert_eq!(percent_decode("abc%40host").as_deref(), Some("abc@host"));
        assert_eq!(percent_decode("plain-1").as_deref(), Some("plain-1"));
        assert_eq!(percent_decode("bad%4"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}

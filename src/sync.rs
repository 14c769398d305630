//! `sync()`: push pending writes, apply what the server sends back, pull
//! every synced table.
//!
//! # A run
//! 1. Push: pending writes, coalesced per record, in batches of at most
//!    [`PUSH_BATCH`] records. The server's answer carries conflicts and the
//!    stored state of any record it stored differently; those states are
//!    applied, then the batch's `_changes` rows are acknowledged. A crash
//!    between the two re-pushes the batch next time, which the server treats
//!    as a no-op (pushes are idempotent). A batch the server refuses for
//!    good (a 4xx other than 401/408/429) is narrowed down
//!    (`fieldsync_core::outbox`): the change the server names, or the only
//!    change left after splitting, is set aside with the server's code and
//!    message, and the rest is pushed.
//! 2. Pull: each synced table from its cursor (`cursor:<table>` in
//!    `_fieldsync_meta`), page by page while `hasMore`. Each page is applied
//!    in one transaction together with the new cursor, and only if the stored
//!    cursor is still the one the page was fetched from (another tab may have
//!    pulled meanwhile; then the page is dropped and the pull goes on from
//!    the newer cursor).
//!
//! Nothing is lost if the network or the server fails at any point: writes
//! stay pending until acknowledged, cursors move only with applied pages.

use std::cell::RefCell;

use fieldsync_core::outbox::{self, Narrowing, Refusal};
use fieldsync_core::{Conflict, ErrorBody, PullResponse, PushRequest, PushResponse};
use gloo_net::http::{Request, Response};
use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::Error;
use crate::storage::{CursorUpdate, FailedChange, Outgoing, SetAside, Storage, cursor_key};

/// Most records per push.
pub(crate) const PUSH_BATCH: usize = 500;
/// Most records per pull page.
pub(crate) const PULL_PAGE: u32 = 1000;

/// Where and as whom to sync.
pub(crate) struct SyncConfig {
    /// The server's base URL, e.g. `https://sync.example.com`.
    pub server_url: String,
    /// The app id.
    pub app_id: String,
    /// A fixed token.
    pub token: Option<String>,
    /// Returns a (fresh) token; called when there is none, and after a 401.
    pub get_token: Option<Function>,
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct SyncReport {
    /// Records pushed.
    pub pushed: usize,
    /// Records pulled and applied.
    pub pulled: usize,
    /// Fields that lost: pushed values the server had newer ones for, and
    /// pending local values that lost to pulled ones.
    pub conflicts: Vec<Conflict>,
    /// The cursor of the last table pulled.
    pub synced_until: Option<String>,
    /// Changes the server refused in this run, now set aside.
    pub newly_failed: Vec<FailedChange>,
    /// Every change set aside (this run's and earlier ones).
    pub failed: Vec<FailedChange>,
}

impl SyncReport {
    /// The report as the `SyncResult` object of the JS API.
    pub(crate) fn to_js(&self) -> JsValue {
        let report = crate::js::object(&[
            ("pushed", &JsValue::from_f64(self.pushed as f64)),
            ("pulled", &JsValue::from_f64(self.pulled as f64)),
            ("conflicts", &crate::js::conflicts(&self.conflicts)),
            (
                "failed",
                &crate::js::parse_many(&self.failed, FailedChange::write_json),
            ),
        ]);
        if let Some(until) = &self.synced_until {
            let _ = js_sys::Reflect::set(&report, &"syncedUntil".into(), &JsValue::from_str(until));
        }
        report.into()
    }
}

/// The sync layer of one client.
pub(crate) struct Syncer {
    config: SyncConfig,
    token: RefCell<Option<String>>,
}

impl Syncer {
    /// A syncer; nothing happens until [`Syncer::sync`].
    pub(crate) fn new(config: SyncConfig) -> Self {
        let token = RefCell::new(config.token.clone());
        Syncer { config, token }
    }

    /// Fetches a fresh token through `getToken` (after the server refused
    /// one on the WebSocket); without `getToken`, nothing happens.
    pub(crate) async fn refresh_token(&self) -> Result<(), Error> {
        if self.config.get_token.is_some() {
            self.token(true).await?;
        }
        Ok(())
    }

    /// The token in hand, if any (for the WebSocket's `auth`).
    pub(crate) fn cached_token(&self) -> Option<String> {
        self.token.borrow().clone()
    }

    /// The server's WebSocket URL for this app.
    pub(crate) fn ws_url(&self) -> String {
        let base = self.config.server_url.trim_end_matches('/');
        let base = base
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                base.strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| base.to_owned());
        format!("{base}/ws/{}", encode(&self.config.app_id))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.server_url.trim_end_matches('/'))
    }

    async fn token(&self, refresh: bool) -> Result<String, Error> {
        if !refresh && let Some(token) = self.token.borrow().clone() {
            return Ok(token);
        }
        let Some(get_token) = &self.config.get_token else {
            return match self.token.borrow().clone() {
                Some(token) if !refresh => Ok(token),
                _ => Err(Error::Auth(
                    "the server refused the token; pass a valid `token`, or `getToken` to fetch fresh ones".into(),
                )),
            };
        };
        let returned = get_token
            .call0(&JsValue::NULL)
            .map_err(|e| Error::Auth(format!("getToken() threw: {}", describe(&e))))?;
        let value = match returned.dyn_ref::<Promise>() {
            Some(promise) => JsFuture::from(promise.clone())
                .await
                .map_err(|e| Error::Auth(format!("getToken() rejected: {}", describe(&e))))?,
            None => returned,
        };
        let token = value
            .as_string()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Auth("getToken() must resolve to a non-empty string".into()))?;
        *self.token.borrow_mut() = Some(token.clone());
        Ok(token)
    }

    /// Sends a request built by `build` with the bearer token; on a 401,
    /// fetches a fresh token once and retries.
    async fn send(
        &self,
        operation: &str,
        build: impl Fn(&str) -> Result<Request, gloo_net::Error>,
    ) -> Result<String, Error> {
        let mut refreshed = false;
        loop {
            let token = self.token(false).await?;
            let request = build(&format!("Bearer {token}")).map_err(|e| Error::Network {
                operation: operation.into(),
                message: e.to_string(),
            })?;
            let response = request.send().await.map_err(|e| Error::Network {
                operation: operation.into(),
                message: format!(
                    "cannot reach the sync server at {} ({e})",
                    self.config.server_url
                ),
            })?;
            if response.status() == 401 && !refreshed && self.config.get_token.is_some() {
                refreshed = true;
                self.token(true).await?;
                continue;
            }
            return read(operation, response).await;
        }
    }

    /// One sync run (see the module docs). `progress(table, applied)` is
    /// called after each pulled page.
    pub(crate) async fn sync(
        &self,
        storage: &Storage,
        progress: &dyn Fn(&str, usize),
    ) -> Result<SyncReport, Error> {
        let mut report = SyncReport::default();
        let client_id = storage.client_id();
        loop {
            let batch = storage.pending(PUSH_BATCH).await?;
            if !batch.settled.is_empty() {
                storage.acknowledge(&batch.settled).await?;
            }
            if batch.changes.is_empty() {
                break;
            }
            self.push(storage, &client_id, batch.changes, &mut report)
                .await?;
            if !batch.more {
                break;
            }
        }
        for table in storage.synced_tables() {
            self.pull_table(storage, table, &client_id, &mut report, progress)
                .await?;
        }
        report.failed = storage.set_aside_changes(SetAside::List).await?.failed;
        Ok(report)
    }

    /// Pushes `changes`, setting aside those the server refuses for good and
    /// pushing the rest (see the module docs).
    async fn push(
        &self,
        storage: &Storage,
        client_id: &str,
        changes: Vec<Outgoing>,
        report: &mut SyncReport,
    ) -> Result<(), Error> {
        let url = self.url(&format!("/sync/{}", encode(&self.config.app_id)));
        let mut groups = vec![changes];
        while let Some(mut group) = groups.pop() {
            if group.is_empty() {
                continue;
            }
            let body = PushRequest {
                client_id: client_id.to_owned(),
                since: None,
                changes: group.iter().map(|c| c.change.clone()).collect(),
            }
            .to_json();
            let sent = self
                .send("push", |auth| {
                    Request::post(&url)
                        .header("Authorization", auth)
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                })
                .await;
            match sent {
                Ok(text) => {
                    let response = crate::js::read_json(&text, PushResponse::from_json)?;
                    if !response.server_changes.is_empty() {
                        // The server already reported these conflicts.
                        storage.apply_remote(&response.server_changes, None).await?;
                    }
                    report.conflicts.extend(response.conflicts);
                    report.pushed += group.len();
                    let revs: Vec<u64> = group.iter().flat_map(|c| c.revs.clone()).collect();
                    storage.acknowledge(&revs).await?;
                }
                Err(Error::Server {
                    status,
                    code,
                    message,
                    index,
                    ..
                }) if outbox::refuses_for_good(status) => {
                    match outbox::narrow(group.len(), index) {
                        Narrowing::SetAside(i) => {
                            let refused = group.remove(i);
                            let refusal = Refusal {
                                status,
                                code,
                                message: if status == 413 {
                                    outbox::too_large_message(&message)
                                } else {
                                    message
                                },
                                attempts: refused.attempts + 1,
                                retry: false,
                            };
                            storage
                                .set_aside_changes(SetAside::Refuse {
                                    revs: refused.revs.clone(),
                                    refusal: refusal.clone(),
                                })
                                .await?;
                            report.newly_failed.push(FailedChange {
                                table: refused.change.table.clone(),
                                id: refused.change.id.clone(),
                                refusal,
                            });
                            groups.push(group);
                        }
                        Narrowing::Split(at) => {
                            let second = group.split_off(at);
                            groups.push(second);
                            groups.push(group);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn pull_table(
        &self,
        storage: &Storage,
        table: &str,
        client_id: &str,
        report: &mut SyncReport,
        progress: &dyn Fn(&str, usize),
    ) -> Result<(), Error> {
        let key = cursor_key(table);
        let mut applied_here = 0;
        loop {
            let since = storage.meta(&key).await?.as_string();
            let url = self.url(&format!(
                "/sync/{}/pull?collection={}&limit={PULL_PAGE}&since={}",
                encode(&self.config.app_id),
                encode(table),
                encode(since.as_deref().unwrap_or(""))
            ));
            let text = self
                .send("pull", |auth| {
                    Request::get(&url)
                        .header("Authorization", auth)
                        .header("X-Client-Id", client_id)
                        .build()
                })
                .await?;
            let page = crate::js::read_json(&text, PullResponse::from_json)?;
            let next = page.synced_until.0.clone();
            let update = CursorUpdate {
                key: key.clone(),
                expected: since,
                next: next.clone(),
            };
            match storage
                .apply_remote(&page.server_changes, Some(update))
                .await
            {
                Ok(applied) => {
                    report.pulled += applied.applied;
                    applied_here += applied.applied;
                    progress(table, applied_here);
                    report.conflicts.extend(applied.conflicts);
                    report.synced_until = Some(next);
                }
                // Another tab pulled meanwhile: go on from its cursor.
                Err(Error::StaleCursor { .. }) => continue,
                Err(e) => return Err(e),
            }
            if !page.has_more {
                return Ok(());
            }
        }
    }
}

/// The body of a 2xx response, or the server's error as an [`Error`].
async fn read(operation: &str, response: Response) -> Result<String, Error> {
    let status = response.status();
    let text = response.text().await.map_err(|e| Error::Network {
        operation: operation.into(),
        message: format!("the response was cut off ({e})"),
    })?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let (code, message, index) = match crate::js::read_json(&text, ErrorBody::from_json) {
        Ok(ErrorBody { error }) => (
            error.code,
            error.message,
            // The change a refused push names (`error.details.index`).
            error
                .details
                .and_then(|d| d.index)
                .and_then(|i| usize::try_from(i).ok()),
        ),
        Err(_) => (
            "http_error".to_owned(),
            text.chars().take(200).collect(),
            None,
        ),
    };
    Err(match status {
        401 => Error::Auth(format!("the sync server refused the token: {message}")),
        _ => Error::Server {
            operation: operation.into(),
            status,
            code,
            message,
            index,
        },
    })
}

fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

fn describe(value: &JsValue) -> String {
    crate::idb::DomError::from_js(value).message
}

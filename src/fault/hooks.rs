//! Client for the sample services' fault admin API (`/admin/faults`, wire types in
//! [`crate::services::hooks`]).
//!
//! Injecting POSTs the fault with a TTL of *fault duration + margin*, so the service reverts it
//! by itself even if gauntlet dies; the returned [`FaultGuard`] DELETEs it at the fault's end,
//! on error and on drop. A 404 on rollback means the TTL already reverted it and counts as done.

use super::guard::{FaultError, FaultGuard, FaultRegistry};
use crate::services::hooks::{ActiveFaults, FaultCreated, FaultHook, FaultRequest};
use reqwest::Url;
use std::time::Duration;

/// Default extra TTL beyond the planned fault duration.
pub const DEFAULT_TTL_MARGIN: Duration = Duration::from_secs(10);

/// A service's fault admin API.
#[derive(Debug, Clone)]
pub struct HooksClient {
    base_url: Url,
    http: reqwest::Client,
    ttl_margin: Duration,
}

impl HooksClient {
    /// A client for the service at `base_url` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base_url: Url) -> Result<Self, FaultError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| FaultError::Http {
                method: "build",
                url: crate::redact::url(base_url.as_str()),
                source: source.without_url(),
            })?;
        Ok(HooksClient {
            base_url,
            http,
            ttl_margin: DEFAULT_TTL_MARGIN,
        })
    }

    /// Changes the TTL margin added to every fault's duration.
    pub fn with_ttl_margin(mut self, margin: Duration) -> Self {
        self.ttl_margin = margin;
        self
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn url(&self, path: &str) -> Result<Url, FaultError> {
        self.base_url.join(path).map_err(|e| FaultError::Url {
            url: crate::redact::url(&format!("{}{path}", self.base_url)),
            reason: e.to_string(),
        })
    }

    /// Switches `hook` on for `duration` (TTL = duration + margin) and returns its owner.
    /// A `crash` hook has nothing to revert (the process is gone; restarting it is the
    /// runner's job), so its guard's rollback does nothing.
    pub async fn inject(
        &self,
        registry: &FaultRegistry,
        hook: FaultHook,
        duration: Duration,
    ) -> Result<FaultGuard, FaultError> {
        let ttl = duration.saturating_add(self.ttl_margin);
        let request = FaultRequest {
            hook: hook.clone(),
            ttl_ms: Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        };
        let url = self.url("/admin/faults")?;
        let resp = self
            .http
            .post(url.clone())
            .json(&request)
            .send()
            .await
            .map_err(|source| FaultError::Http {
                method: "POST",
                url: crate::redact::url(url.as_str()),
                source: source.without_url(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FaultError::Status {
                method: "POST",
                url: crate::redact::url(url.as_str()),
                status: status.as_u16(),
                body: resp.text().await.unwrap_or_default(),
            });
        }
        let created: FaultCreated = resp.json().await.map_err(|source| FaultError::Http {
            method: "POST",
            url: crate::redact::url(url.as_str()),
            source: source.without_url(),
        })?;
        let description = format!("{} fault {} on {}", hook.kind(), created.id, self.base_url);
        if matches!(hook, FaultHook::Crash { .. }) {
            return Ok(registry.register(description, || Box::pin(async { Ok(()) })));
        }
        let base_url = self.base_url.clone();
        Ok(registry.register(description, move || {
            Box::pin(async move {
                // A fresh client: the rollback may run on another runtime (from `Drop` or a
                // signal handler), where pooled connections of the original one cannot be
                // driven.
                let client = HooksClient::new(base_url)?;
                client.remove(&created.id).await.map(|_| ())
            })
        }))
    }

    /// `DELETE /admin/faults/{id}`; `Ok(false)` if the service no longer had it.
    pub async fn remove(&self, id: &str) -> Result<bool, FaultError> {
        let url = self.url(&format!("/admin/faults/{id}"))?;
        self.delete(url).await
    }

    /// `DELETE /admin/faults`: clears every fault on the service.
    pub async fn clear(&self) -> Result<(), FaultError> {
        self.delete(self.url("/admin/faults")?).await.map(|_| ())
    }

    async fn delete(&self, url: Url) -> Result<bool, FaultError> {
        let resp = self
            .http
            .delete(url.clone())
            .send()
            .await
            .map_err(|source| FaultError::Http {
                method: "DELETE",
                url: crate::redact::url(url.as_str()),
                source: source.without_url(),
            })?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => {
                tracing::debug!(%url, "fault already gone (ttl expired?)");
                Ok(false)
            }
            status => Err(FaultError::Status {
                method: "DELETE",
                url: crate::redact::url(url.as_str()),
                status,
                body: resp.text().await.unwrap_or_default(),
            }),
        }
    }

    /// `GET /admin/faults`.
    pub async fn active(&self) -> Result<ActiveFaults, FaultError> {
        let url = self.url("/admin/faults")?;
        let err = |source: reqwest::Error| FaultError::Http {
            method: "GET",
            url: crate::redact::url(url.as_str()),
            source: source.without_url(),
        };
        let resp = self.http.get(url.clone()).send().await.map_err(err)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FaultError::Status {
                method: "GET",
                url: crate::redact::url(url.as_str()),
                status: status.as_u16(),
                body: resp.text().await.unwrap_or_default(),
            });
        }
        resp.json().await.map_err(err)
    }
}

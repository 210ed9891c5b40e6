//! The per-controller heartbeat, as Kargo's `pkg/heartbeat`: a Lease
//! `kargo-controller-<shard>` (`kargo-controller-unnamed` without a
//! shard) in the Kargo namespace, labelled `kargo.akuity.io/controller:
//! <shard>`, created or renewed every TTL/3 (GET, then POST or a PUT with
//! the resourceVersion read) with this host as holder, and deleted on
//! shutdown. Every replica writes it, leader or not; the API reads these
//! Leases to tell which controllers are alive.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

/// Kargo's default `HEARTBEAT_TTL_SECONDS`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);
/// Longest one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Kargo's heartbeat Lease name for a shard.
pub fn lease_name(shard: &str) -> String {
    if shard.is_empty() {
        "kargo-controller-unnamed".into()
    } else {
        format!("kargo-controller-{shard}")
    }
}

/// One controller's heartbeat.
pub struct Heartbeat {
    api: Api<Lease>,
    name: String,
    shard: String,
    holder: String,
    ttl: Duration,
}

impl Heartbeat {
    /// The heartbeat of `shard` in `namespace`, every `ttl`/3.
    pub fn new(client: kube::Client, namespace: &str, shard: &str, ttl: Duration) -> Heartbeat {
        Heartbeat {
            api: Api::namespaced(client, namespace),
            name: lease_name(shard),
            shard: shard.to_string(),
            holder: crate::leader::hostname(),
            ttl,
        }
    }

    /// Renews until dropped (a failed renewal is logged and tried again
    /// at the next tick).
    pub async fn run(&self) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        loop {
            tick.tick().await;
            if let Err(e) = crate::bounded(CALL_TIMEOUT * 3, self.renew()).await {
                tracing::warn!(lease = %self.name, error = %e, "heartbeat");
            }
        }
    }

    async fn renew(&self) -> Result<(), kube::Error> {
        let now = MicroTime(jiff::Timestamp::now());
        let secs = self.ttl.as_secs() as i32;
        let mut lease = match self.api.get(&self.name).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let mut l = Lease::default();
                l.metadata.name = Some(self.name.clone());
                l.metadata.labels = Some(BTreeMap::from([(
                    kargo_api::labels::CONTROLLER.to_string(),
                    self.shard.clone(),
                )]));
                l.spec = Some(LeaseSpec {
                    holder_identity: Some(self.holder.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..Default::default()
                });
                return self
                    .api
                    .create(&PostParams::default(), &l)
                    .await
                    .map(|_| ());
            }
            Err(e) => return Err(e),
        };
        lease
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(kargo_api::labels::CONTROLLER.into(), self.shard.clone());
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = Some(self.holder.clone());
        spec.lease_duration_seconds = Some(secs);
        if spec.acquire_time.is_none() {
            spec.acquire_time = Some(now.clone());
        }
        spec.renew_time = Some(now);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    /// Deletes the Lease (on shutdown).
    pub async fn delete(&self) {
        let dp = DeleteParams::default();
        match crate::bounded(CALL_TIMEOUT, self.api.delete(&self.name, &dp)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "deleting the heartbeat"),
        }
    }
}

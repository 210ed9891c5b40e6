//! Leader election on a `coordination.k8s.io/v1` Lease with client-go's
//! `leaderelection` semantics, over plain GET, POST and PUT (the PUT
//! carries the resourceVersion it read, so two replicas racing for the
//! Lease cannot both win: the second PUT is a 409). A candidate takes the
//! Lease when it is absent, already its own, or not renewed for
//! `leaseDurationSeconds − retryPeriod` as this replica observed it (the
//! local time it saw the record change, through a watch, not the remote
//! `renewTime`, so clocks need not agree); it then sets `holderIdentity`,
//! `acquireTime`, `renewTime` and counts `leaseTransitions`. The leader
//! renews every `retryPeriod`; when no renewal succeeds within
//! `renewDeadline` of the last one, leadership is lost and
//! [`Elector::hold`] returns — the caller stops reconciling at once.

use crate::bounded;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::time::Instant;

/// client-go's defaults as controller-runtime uses them.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (`holderIdentity`).
    pub identity: String,
    /// How long a Lease not renewed keeps others out (15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (10 s).
    pub renew_deadline: Duration,
    /// Time between attempts (2 s).
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// The Lease `name` in `namespace` with client-go's timings and an
    /// identity of this host and process.
    pub fn new(namespace: &str, name: &str) -> LeaderConfig {
        LeaderConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `<hostname>_<pid>_<nanoseconds>`: unique per process, readable.
pub fn identity() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}_{}_{nanos:09}", hostname(), std::process::id())
}

/// The host's name (`HOSTNAME`, else the kernel's), `kargo-controller`
/// when neither is known.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kargo-controller".into())
}

/// What identifies a Lease record: its holder and last renewal.
type Record = (Option<String>, Option<MicroTime>);

/// One candidate for the Lease.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    /// The last record seen (holder, renewTime) and when it was first seen.
    observed: Option<(Record, Instant)>,
    /// The `leaseDurationSeconds` of the last record seen.
    observed_duration: Duration,
}

impl Elector {
    /// A candidate reaching the Lease through `client`.
    pub fn new(client: kube::Client, cfg: LeaderConfig) -> Elector {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            observed_duration: cfg.lease_duration,
            cfg,
            observed: None,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.cfg.identity
    }

    /// Campaigns until this replica holds the Lease. Between attempts the
    /// Lease is watched, so a renewal is seen when it is written (not at
    /// the next poll) and the next attempt is made the moment the record
    /// expires, or at once when the holder releases or deletes it.
    pub async fn acquire(&mut self) {
        use futures::StreamExt;
        use kube::runtime::watcher;
        let fields = format!("metadata.name={}", self.cfg.name);
        let mut events =
            watcher::watcher(self.api.clone(), watcher::Config::default().fields(&fields)).boxed();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::info!(lease = %self.cfg.name, error = %e, "leader election"),
            }
            // Wait for the record to expire; a newer record moves the
            // moment on; a change of holder or a deletion asks again now.
            loop {
                let wake = self
                    .expiry()
                    .unwrap_or_else(|| Instant::now() + jittered(self.cfg.retry_period));
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => break,
                    event = events.next() => match event {
                        Some(Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l))) => {
                            let before = self.holder();
                            self.observe(&l);
                            if self.holder() != before || self.holder().is_none() {
                                break;
                            }
                        }
                        Some(Ok(watcher::Event::Delete(_))) => break,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(lease = %self.cfg.name, error = %e, "watching the lease");
                            // Poll instead, one retryPeriod at a time.
                            let next = Instant::now() + self.cfg.retry_period;
                            tokio::time::sleep_until(wake.min(next)).await;
                            break;
                        }
                        None => tokio::time::sleep_until(wake).await,
                    },
                }
            }
        }
    }

    /// The holder of the record last seen (None: free).
    fn holder(&self) -> Option<String> {
        self.observed
            .as_ref()
            .and_then(|((h, _), _)| h.clone())
            .filter(|h| !h.is_empty())
    }

    /// When the record last seen, held by another replica, lapses for
    /// this candidate: `leaseDurationSeconds − retryPeriod` after it was
    /// observed (see [`Elector::hold`] for why that is safe); None when
    /// nothing was seen yet.
    fn expiry(&self) -> Option<Instant> {
        let ((_, _), at) = self.observed.as_ref()?;
        Some(*at + self.lapse(self.observed_duration))
    }

    /// How long after its last observed renewal a record with
    /// `held_for` as its duration is taken over.
    fn lapse(&self, held_for: Duration) -> Duration {
        held_for.saturating_sub(self.cfg.retry_period)
    }

    /// Renews every `retryPeriod`; returns when no renewal succeeded
    /// within `renewDeadline` of the last successful one (counted from
    /// when that request was sent), or another replica holds the Lease:
    /// leadership is lost and the caller stops reconciling at once.
    ///
    /// Why a candidate may take the Lease `leaseDuration − retryPeriod`
    /// (13 s) after it saw the last renewal, not the full 15 s as
    /// client-go waits: a client-go leader keeps reconciling up to
    /// `retryPeriod + renewDeadline` (12 s) after its last renewal, this
    /// one at most `renewDeadline` (10 s); either way 3 s separate the old
    /// leader's last reconcile from the new leader's first, while a dead
    /// leader is replaced within 13 s of its last renewal — so within the
    /// 15 s lease duration of its death, whatever the timing of the crash.
    pub async fn hold(&mut self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let deadline = renewed + self.cfg.renew_deadline;
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    tracing::error!(lease = %self.cfg.name, "the lease was not renewed in time");
                    return;
                }
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => {
                        renewed = sent;
                        break;
                    }
                    Ok(Ok(false)) => {
                        tracing::error!(lease = %self.cfg.name, "the lease is held by another replica");
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(lease = %self.cfg.name, error = %e, "renewing the lease")
                    }
                    Err(_) => {
                        tracing::error!(lease = %self.cfg.name, "the lease was not renewed in time");
                        return;
                    }
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + self.cfg.retry_period))
                    .await;
            }
        }
    }

    /// Gives the Lease up (on a clean shutdown), so another replica need
    /// not wait out the lease duration: the holder is cleared and the
    /// duration set to one second, as client-go's `ReleaseOnCancel`.
    pub async fn release(&mut self) {
        let call = async {
            let mut lease = self.api.get(&self.cfg.name).await?;
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now());
            self.api
                .replace(&self.cfg.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(self.cfg.renew_deadline, call).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the lease"),
            Err(_) => tracing::warn!("releasing the lease: no answer"),
        }
    }

    /// client-go's `tryAcquireOrRenew`: Ok(true) when this replica holds
    /// the Lease after the call.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let timeout = self.cfg.renew_deadline;
        let me = self.cfg.identity.clone();
        let secs = self.cfg.lease_duration.as_secs() as i32;
        let existing = match bounded(timeout, self.api.get(&self.cfg.name)).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let mut lease = Lease::default();
                lease.metadata.name = Some(self.cfg.name.clone());
                lease.metadata.namespace = Some(self.cfg.namespace.clone());
                lease.spec = Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                });
                return match bounded(timeout, self.api.create(&PostParams::default(), &lease)).await
                {
                    Ok(l) => {
                        self.observe(&l);
                        Ok(true)
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        self.observe(&existing);
        let spec = existing.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if !holder.is_empty() && holder != me && self.expiry().is_some_and(|t| t > Instant::now()) {
            return Ok(false);
        }
        let mut lease = existing;
        let transitions = spec.lease_transitions.unwrap_or(0);
        let spec = lease.spec.get_or_insert_with(Default::default);
        if holder != me {
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(transitions + 1);
            tracing::info!(lease = %self.cfg.name, previous = %holder, "taking over the lease");
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(secs);
        spec.renew_time = Some(now());
        // The resourceVersion read above rides along: a stale PUT is a 409.
        match bounded(
            timeout,
            self.api
                .replace(&self.cfg.name, &PostParams::default(), &lease),
        )
        .await
        {
            Ok(l) => {
                self.observe(&l);
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        self.observed_duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(self.cfg.lease_duration);
        let record = (spec.holder_identity, spec.renew_time);
        if self.observed.as_ref().is_none_or(|(r, _)| *r != record) {
            self.observed = Some((record, Instant::now()));
        }
    }
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// client-go's `wait.Jitter(retryPeriod, 1.2)`: up to 120% more.
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    d + d.mul_f64(1.2 * f64::from(nanos % 1000) / 1000.0)
}

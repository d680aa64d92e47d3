//! Cluster context for the cross-object rules, served from watch caches: one watch per
//! resource, never a request to the API server while a review is judged.
//!
//! Watched, cluster-wide: Namespaces, NetworkPolicies, Services, ConfigMaps and StatefulSets.
//! Each object is kept as its *context view* (`ws3_engine::context`), the same JSON a rule gets
//! offline: no `status`, no managed fields or last-applied copy, ConfigMap values replaced by
//! stand-ins the credential detector reads as it reads the originals, StatefulSets without their
//! pod spec. So the cache keeps what rules read and not what they don't: memory follows the
//! number of objects, not the bytes of their values, and a lookup is a map access, not a
//! serialization. Secrets are never watched.
//!
//! # RBAC
//!
//! The service account needs exactly this (a ClusterRole bound with a ClusterRoleBinding):
//!
//! ```yaml
//! rules:
//!   - apiGroups: [""]
//!     resources: [namespaces, services, configmaps]
//!     verbs: [get, list, watch]
//!   - apiGroups: [networking.k8s.io]
//!     resources: [networkpolicies]
//!     verbs: [get, list, watch]
//!   - apiGroups: [apps]
//!     resources: [statefulsets]
//!     verbs: [get, list, watch]
//! ```
//!
//! A watch the service account may not run is retried with backoff and logged; its cache never
//! syncs, so `/readyz` keeps failing and names it.

use std::{fmt::Debug, sync::Arc};

use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Namespace, Service},
    networking::v1::NetworkPolicy,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{debug, info, warn};
use ws3_engine::{
    KindRef, ObjectSource,
    context::{SharedContext, view_of},
    object::PodTemplates,
};

use crate::metrics::{Metrics, RESOURCES};

/// The watch caches, readable as an [`ObjectSource`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct ClusterSource {
    context: Arc<SharedContext>,
}

impl Debug for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSource")
            .field(
                "objects",
                &self.context.read(ws3_engine::context::ContextIndex::len),
            )
            .finish()
    }
}

impl ObjectSource for ClusterSource {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.context.get(kind, namespace, name)
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.context.list(kind, namespace)
    }
}

impl ClusterSource {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Objects held, over all kinds.
    pub fn len(&self) -> usize {
        self.context.read(ws3_engine::context::ContextIndex::len)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What a watch event does to the cache of `kind`. `fresh` collects a re-list (from
    /// `Init` to `InitDone`), which then replaces the kind's objects at once, so that reviews
    /// never see a half-listed kind.
    pub fn apply<K>(
        &self,
        kind: &KindRef,
        event: watcher::Event<K>,
        fresh: &mut Vec<(String, String, Arc<str>)>,
    ) where
        K: Resource + ResourceExt + Serialize,
    {
        match event {
            watcher::Event::Init => fresh.clear(),
            watcher::Event::InitApply(object) => {
                if let Some(entry) = entry(kind, &object) {
                    fresh.push(entry);
                }
            }
            watcher::Event::InitDone => {
                let listed = std::mem::take(fresh);
                self.context.update(|index| {
                    index.clear_kind(kind);
                    for (namespace, name, view) in listed {
                        index.insert(kind.clone(), &namespace, &name, view);
                    }
                });
            }
            watcher::Event::Apply(object) => {
                if let Some((namespace, name, view)) = entry(kind, &object) {
                    self.context
                        .update(|index| index.insert(kind.clone(), &namespace, &name, view));
                }
            }
            watcher::Event::Delete(object) => {
                let namespace = object.namespace().unwrap_or_default();
                let name = object.name_any();
                self.context
                    .update(|index| index.remove(kind, &namespace, &name));
            }
        }
    }
}

/// (namespace, name, context view) of an object.
fn entry<K: ResourceExt + Serialize>(
    kind: &KindRef,
    object: &K,
) -> Option<(String, String, Arc<str>)> {
    let serde_json::Value::Object(map) = serde_json::to_value(object).ok()? else {
        return None;
    };
    // Views of the built-in rules' kinds do not depend on configured pod templates.
    let view = view_of(kind, map, &PodTemplates::default());
    Some((
        object.namespace().unwrap_or_default(),
        object.name_any(),
        Arc::from(view),
    ))
}

/// The running watches.
#[derive(Debug)]
pub struct ClusterWatches {
    /// The caches.
    pub source: ClusterSource,
    tasks: Vec<JoinHandle<()>>,
    synced: watch::Receiver<usize>,
}

impl ClusterWatches {
    /// Starts one watch per resource; each marks its cache synced in `metrics` once the first
    /// list is in.
    pub fn start(client: &Client, metrics: &Arc<Metrics>) -> Self {
        let mut tasks = Vec::new();
        let (tx, synced) = watch::channel(0);
        let tx = Arc::new(tx);
        let source = ClusterSource::new();
        let mut watch = |task| tasks.push(task);
        let ctx = (client, &source, metrics, &tx);
        watch(spawn_watch::<Namespace>(
            ctx,
            KindRef::new("", "Namespace"),
            "namespaces",
        ));
        watch(spawn_watch::<NetworkPolicy>(
            ctx,
            KindRef::new("networking.k8s.io", "NetworkPolicy"),
            "networkpolicies",
        ));
        watch(spawn_watch::<Service>(
            ctx,
            KindRef::new("", "Service"),
            "services",
        ));
        watch(spawn_watch::<ConfigMap>(
            ctx,
            KindRef::new("", "ConfigMap"),
            "configmaps",
        ));
        watch(spawn_watch::<StatefulSet>(
            ctx,
            KindRef::new("apps", "StatefulSet"),
            "statefulsets",
        ));
        Self {
            source,
            tasks,
            synced,
        }
    }

    /// Waits until every cache has synced.
    pub async fn wait_until_ready(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|n| *n == RESOURCES.len()).await;
    }

    /// Stops the watches.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for ClusterWatches {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What every watch task shares: the client, the cache, metrics and the synced counter.
type WatchContext<'a> = (
    &'a Client,
    &'a ClusterSource,
    &'a Arc<Metrics>,
    &'a Arc<watch::Sender<usize>>,
);

/// Watches one resource into the cache; marks it synced once its first list is in.
fn spawn_watch<K>(
    (client, source, metrics, synced): WatchContext<'_>,
    kind: KindRef,
    resource: &'static str,
) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()>
        + ResourceExt
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let source = source.clone();
    let metrics = Arc::clone(metrics);
    let synced = Arc::clone(synced);
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut fresh = Vec::new();
        let mut first = true;
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    debug!(resource, event = event_name(&event), "watch event");
                    let listed = matches!(event, watcher::Event::InitDone);
                    source.apply(&kind, event, &mut fresh);
                    if listed && first {
                        first = false;
                        let objects = source.context.read(|i| i.count(&kind));
                        info!(resource, objects, "watch cache synced");
                        metrics.set_cache_synced(resource, true);
                        synced.send_modify(|n| *n += 1);
                    }
                }
                Err(error) => warn!(resource, %error, "watch failed; retrying with backoff"),
            }
        }
    })
}

fn event_name<K>(event: &watcher::Event<K>) -> &'static str {
    match event {
        watcher::Event::Apply(_) => "apply",
        watcher::Event::Delete(_) => "delete",
        watcher::Event::Init => "init",
        watcher::Event::InitApply(_) => "init-apply",
        watcher::Event::InitDone => "init-done",
    }
}

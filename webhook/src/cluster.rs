//! Cluster context for the cross-object rules, served from watch caches (kube-rs reflectors):
//! one watch per resource, never a request to the API server while a review is judged.
//!
//! Watched, cluster-wide: Namespaces, NetworkPolicies, Services, ConfigMaps (keys and values:
//! the credential rule reads them) and StatefulSets. Managed fields and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation are dropped before caching.
//! Secrets are never watched.
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
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{debug, info, warn};
use ws3_engine::{KindRef, ObjectSource};

use crate::metrics::{Metrics, RESOURCES};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Reflector stores of the watched resources, readable as an [`ObjectSource`].
#[derive(Clone)]
pub struct ClusterSource {
    namespaces: Store<Namespace>,
    network_policies: Store<NetworkPolicy>,
    services: Store<Service>,
    config_maps: Store<ConfigMap>,
    stateful_sets: Store<StatefulSet>,
}

impl Debug for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSource")
            .field("namespaces", &self.namespaces.len())
            .field("network_policies", &self.network_policies.len())
            .field("services", &self.services.len())
            .field("config_maps", &self.config_maps.len())
            .field("stateful_sets", &self.stateful_sets.len())
            .finish()
    }
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
        let source = ClusterSource {
            namespaces: watch_resource(client, metrics, &tx, "namespaces", &mut tasks),
            network_policies: watch_resource(client, metrics, &tx, "networkpolicies", &mut tasks),
            services: watch_resource(client, metrics, &tx, "services", &mut tasks),
            config_maps: watch_resource(client, metrics, &tx, "configmaps", &mut tasks),
            stateful_sets: watch_resource(client, metrics, &tx, "statefulsets", &mut tasks),
        };
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

fn watch_resource<K>(
    client: &Client,
    metrics: &Arc<Metrics>,
    synced: &Arc<watch::Sender<usize>>,
    resource: &'static str,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + ResourceExt
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let api: Api<K> = Api::all(client.clone());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o: &mut K| {
            o.managed_fields_mut().clear();
            o.annotations_mut().remove(LAST_APPLIED);
        })
        .reflect(writer);
    tasks.push(tokio::spawn(async move {
        stream
            .for_each(|event| async move {
                match event {
                    Ok(event) => debug!(resource, event = event_name(&event), "watch event"),
                    Err(error) => warn!(resource, %error, "watch failed; retrying with backoff"),
                }
            })
            .await;
    }));
    // The only waiter on this store: kube-runtime's `Store::wait_until_ready` wakes a single
    // waiting task (its `DelayedInit` wraps a oneshot receiver), so a second concurrent waiter
    // could hang. Everyone else waits on `synced`.
    let ready = reader.clone();
    let metrics = Arc::clone(metrics);
    let synced = Arc::clone(synced);
    tasks.push(tokio::spawn(async move {
        if ready.wait_until_ready().await.is_ok() {
            info!(resource, objects = ready.len(), "watch cache synced");
            metrics.set_cache_synced(resource, true);
            synced.send_modify(|n| *n += 1);
        }
    }));
    reader
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

fn to_json<K: Serialize>(object: &K) -> Option<Arc<str>> {
    serde_json::to_string(object).ok().map(Arc::from)
}

fn get<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<str>>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + 'static,
{
    let key = ObjectRef::<K>::new(name).within(namespace);
    store.get(&key).and_then(|o| to_json(o.as_ref()))
}

fn list<K>(store: &Store<K>, namespace: &str) -> Vec<Arc<str>>
where
    K: Resource<DynamicType = ()> + ResourceExt + Clone + Serialize + 'static,
{
    let mut objects = store.state_filter(|o| o.namespace().as_deref().unwrap_or("") == namespace);
    objects.sort_by_key(|o| o.name_any());
    objects.iter().filter_map(|o| to_json(o.as_ref())).collect()
}

impl ObjectSource for ClusterSource {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        match (kind.group.as_str(), kind.kind.as_str()) {
            ("", "Namespace") => get(&self.namespaces, "", name),
            ("networking.k8s.io", "NetworkPolicy") => get(&self.network_policies, namespace, name),
            ("", "Service") => get(&self.services, namespace, name),
            ("", "ConfigMap") => get(&self.config_maps, namespace, name),
            ("apps", "StatefulSet") => get(&self.stateful_sets, namespace, name),
            _ => None,
        }
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        match (kind.group.as_str(), kind.kind.as_str()) {
            ("", "Namespace") => {
                let mut all = self.namespaces.state();
                all.sort_by_key(|o| o.name_any());
                all.iter().filter_map(|o| to_json(o.as_ref())).collect()
            }
            ("networking.k8s.io", "NetworkPolicy") => list(&self.network_policies, namespace),
            ("", "Service") => list(&self.services, namespace),
            ("", "ConfigMap") => list(&self.config_maps, namespace),
            ("apps", "StatefulSet") => list(&self.stateful_sets, namespace),
            _ => Vec::new(),
        }
    }
}

//! What a rule sees of objects other than the one under review, and the index that serves them.
//!
//! A rule reads other objects through `get-object` and `list-objects`. Offline they come from
//! the linted file set, at admission from watch caches; both keep *context views* built here,
//! so a rule gets the same JSON for the same object on both faces, and neither face keeps what
//! no rule reads (a cluster's ConfigMaps can hold gigabytes of values):
//!
//! - `apiVersion`, `kind` and `metadata` without `managedFields` and kubectl's last-applied
//!   copy (which holds every value again);
//! - every other top-level field except `status`;
//! - a ConfigMap's `data` values replaced by [`ws3_credentials::summarize`] stand-ins, which the
//!   credential detector reads exactly as it reads the originals; `binaryData` values by `""`
//!   when empty and a fixed non-empty token otherwise (rules only ask whether one is empty);
//! - a Secret's `data` and `stringData` values by `""` (its keys stay);
//! - a pod-template holder's template without its pod `spec` (rules read other workloads'
//!   selectors and template labels, never their containers).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};

use serde_json::{Map, Value};

use crate::{
    host::ObjectSource,
    object::{LAST_APPLIED, PodTemplates},
    types::KindRef,
};

/// The context view of an object given as JSON, or `None` when it is not a JSON object.
pub fn view(kind: &KindRef, json: &str, pod_templates: &PodTemplates) -> Option<String> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(json) else {
        return None;
    };
    reduce(kind, &mut object, pod_templates);
    serde_json::to_string(&object).ok()
}

/// [`view`] of an already parsed object.
pub fn view_of(
    kind: &KindRef,
    mut object: Map<String, Value>,
    pod_templates: &PodTemplates,
) -> String {
    reduce(kind, &mut object, pod_templates);
    Value::Object(object).to_string()
}

fn reduce(kind: &KindRef, object: &mut Map<String, Value>, pod_templates: &PodTemplates) {
    object.remove("status");
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove(LAST_APPLIED);
        }
    }
    let core = kind.group.is_empty();
    if core && kind.kind == "ConfigMap" {
        if let Some(Value::Object(data)) = object.get_mut("data") {
            for (key, value) in data.iter_mut() {
                if let Value::String(text) = value {
                    let stand_in = summarize(key, text);
                    *text = stand_in;
                }
            }
        }
        if let Some(Value::Object(data)) = object.get_mut("binaryData") {
            for value in data.values_mut() {
                let empty = value.as_str().is_none_or(str::is_empty);
                *value = Value::String(if empty {
                    String::new()
                } else {
                    "AA==".to_owned()
                });
            }
        }
    } else if core && kind.kind == "Secret" {
        blank_values(object.get_mut("data"));
        blank_values(object.get_mut("stringData"));
    } else if let Some(path) = pod_templates.path_of(kind).filter(|p| !p.is_empty()) {
        let mut at = Some(&mut *object);
        for key in path.split('.') {
            at = at
                .and_then(|o| o.get_mut(key))
                .and_then(Value::as_object_mut);
        }
        if let Some(template) = at {
            template.remove("spec");
        }
    }
}

fn blank_values(field: Option<&mut Value>) {
    match field {
        Some(Value::Object(map)) => {
            for value in map.values_mut() {
                *value = Value::String(String::new());
            }
        }
        Some(other) if !other.is_null() => *other = Value::Object(Map::new()),
        _ => {}
    }
}

/// A ConfigMap value's stand-in: what the credential detector reads exactly as it reads the
/// value (so a rule's verdict on the view is its verdict on the object), without the value.
fn summarize(key: &str, value: &str) -> String {
    ws3_credentials::summarize(key, value)
}

/// Objects of some kinds, by namespace and name, as context views (or what a view is made from,
/// see [`Viewed`]). Listing a namespace gives its objects in name order.
#[derive(Debug, Clone)]
pub struct ContextIndex<V = Arc<str>> {
    kinds: HashMap<KindRef, HashMap<String, BTreeMap<Key, V>>>,
    unnamed: u64,
}

impl<V> Default for ContextIndex<V> {
    fn default() -> Self {
        Self {
            kinds: HashMap::new(),
            unnamed: 0,
        }
    }
}

/// What a [`ContextIndex`] keeps of an object: its view, or what answers with it when asked.
pub trait Viewed {
    /// The object's context view (`kind` is the kind it is indexed under); `None` when it has
    /// none (then lookups do not see it).
    fn view(&self, kind: &KindRef) -> Option<Arc<str>>;
}

impl Viewed for Arc<str> {
    fn view(&self, _: &KindRef) -> Option<Arc<str>> {
        Some(Arc::clone(self))
    }
}

/// A name, or a sequence number for objects without one (`generateName`), which can be listed
/// but never looked up by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Named(String),
    Unnamed(u64),
}

impl ContextIndex {
    /// An empty index of views.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<V> ContextIndex<V> {
    /// Adds or replaces an object's view; returns the view it replaced.
    pub fn insert(&mut self, kind: KindRef, namespace: &str, name: &str, view: V) -> Option<V> {
        let key = if name.is_empty() {
            self.unnamed += 1;
            Key::Unnamed(self.unnamed)
        } else {
            Key::Named(name.to_owned())
        };
        let namespaces = self.kinds.entry(kind).or_default();
        match namespaces.get_mut(namespace) {
            Some(objects) => objects.insert(key, view),
            None => {
                namespaces.insert(namespace.to_owned(), BTreeMap::from([(key, view)]));
                None
            }
        }
    }

    /// Removes an object; returns its view.
    pub fn remove(&mut self, kind: &KindRef, namespace: &str, name: &str) -> Option<V> {
        let namespaces = self.kinds.get_mut(kind)?;
        let objects = namespaces.get_mut(namespace)?;
        let removed = objects.remove(&Key::Named(name.to_owned()));
        if objects.is_empty() {
            namespaces.remove(namespace);
        }
        removed
    }

    /// Removes every object of a kind (before a fresh list of it is loaded).
    pub fn clear_kind(&mut self, kind: &KindRef) {
        self.kinds.remove(kind);
    }

    /// Objects held, over all kinds.
    pub fn len(&self) -> usize {
        self.kinds
            .values()
            .flat_map(HashMap::values)
            .map(BTreeMap::len)
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Objects held of one kind.
    pub fn count(&self, kind: &KindRef) -> usize {
        self.kinds
            .get(kind)
            .map_or(0, |n| n.values().map(BTreeMap::len).sum())
    }
}

impl<V: Viewed + Send + Sync> ObjectSource for ContextIndex<V> {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        if name.is_empty() {
            return None;
        }
        self.kinds
            .get(kind)?
            .get(namespace)?
            .get(&Key::Named(name.to_owned()))?
            .view(kind)
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.kinds
            .get(kind)
            .and_then(|n| n.get(namespace))
            .map(|objects| objects.values().filter_map(|v| v.view(kind)).collect())
            .unwrap_or_default()
    }
}

/// A [`ContextIndex`] that watch tasks update while reviews read it.
#[derive(Debug, Default)]
pub struct SharedContext {
    inner: RwLock<ContextIndex>,
}

impl SharedContext {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the index.
    pub fn update<T>(&self, change: impl FnOnce(&mut ContextIndex) -> T) -> T {
        let mut index = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut index)
    }

    /// Reads the index.
    pub fn read<T>(&self, look: impl FnOnce(&ContextIndex) -> T) -> T {
        let index = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        look(&index)
    }
}

impl ObjectSource for SharedContext {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.read(|i| i.get(kind, namespace, name))
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.read(|i| i.list(kind, namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: &KindRef, json: &str) -> Value {
        serde_json::from_str(&view(kind, json, &PodTemplates::default()).unwrap()).unwrap()
    }

    #[test]
    fn views_keep_what_rules_read() {
        let cm = KindRef::new("", "ConfigMap");
        let out = v(
            &cm,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","managedFields":[{}],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"k\":\"secret\"}}","a":"1"}},"data":{"POSTGRES_PASSWORD":"hunter2hunter2","PORT":"5432","EMPTY":""},"binaryData":{"blob":"c2VjcmV0","none":""}}"#,
        );
        let text = out.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("c2VjcmV0"),
            "{text}"
        );
        assert!(
            !text.contains("managedFields") && !text.contains(LAST_APPLIED),
            "{text}"
        );
        assert_eq!(out["data"]["PORT"], "5432");
        assert_eq!(out["data"]["EMPTY"], "");
        assert_eq!(out["binaryData"]["blob"], "AA==");
        assert_eq!(out["binaryData"]["none"], "");
        assert_eq!(out["metadata"]["annotations"]["a"], "1");

        let secret = v(
            &KindRef::new("", "Secret"),
            r#"{"kind":"Secret","data":{"password":"cGFzcw=="},"stringData":{"token":"abc"},"status":{}}"#,
        );
        assert_eq!(secret["data"]["password"], "");
        assert_eq!(secret["stringData"]["token"], "");

        let sts = v(
            &KindRef::new("apps", "StatefulSet"),
            r#"{"kind":"StatefulSet","spec":{"serviceName":"db","template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"env":[{"name":"X","value":"y"}]}]}}},"status":{"replicas":1}}"#,
        );
        assert_eq!(sts["spec"]["serviceName"], "db");
        assert_eq!(sts["spec"]["template"]["metadata"]["labels"]["app"], "db");
        assert!(sts["spec"]["template"].get("spec").is_none());
        assert!(sts.get("status").is_none());
        assert_eq!(view(&cm, "[1]", &PodTemplates::default()), None);
    }

    #[test]
    fn the_index_lists_by_name_and_looks_up_named_objects() {
        let cm = KindRef::new("", "ConfigMap");
        let mut index = ContextIndex::new();
        index.insert(cm.clone(), "ns", "b", Arc::from("b"));
        index.insert(cm.clone(), "ns", "a", Arc::from("a"));
        index.insert(cm.clone(), "ns", "", Arc::from("unnamed1"));
        index.insert(cm.clone(), "ns", "", Arc::from("unnamed2"));
        assert_eq!(
            index
                .insert(cm.clone(), "ns", "a", Arc::from("a2"))
                .as_deref(),
            Some("a")
        );
        let listed: Vec<String> = index
            .list(&cm, "ns")
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(listed, ["a2", "b", "unnamed1", "unnamed2"]);
        assert_eq!(index.get(&cm, "ns", "b").as_deref(), Some("b"));
        assert_eq!(index.get(&cm, "ns", ""), None);
        assert_eq!(index.get(&cm, "other", "b"), None);
        assert_eq!(index.remove(&cm, "ns", "b").as_deref(), Some("b"));
        assert_eq!(index.count(&cm), 3);
        let shared = SharedContext::new();
        shared.update(|i| i.insert(cm.clone(), "ns", "x", Arc::from("x")));
        assert_eq!(shared.get(&cm, "ns", "x").as_deref(), Some("x"));
    }
}

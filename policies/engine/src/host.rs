//! What the host gives a rule: the `cluster` import, answered from an [`ObjectSource`], and
//! per-store limits.

use std::sync::Arc;

use wasmtime::ResourceLimiter;

use crate::types::KindRef;

/// Bindings for `ws3:policy@0.1.0` (the folder `wit/since_v0.1.0`). A later interface version
/// gets its own module here and the engine picks one by the version a module exports.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit/since_v0.1.0",
    });
}

/// Where rules read other objects from: the linted file set offline, watch caches at admission.
///
/// Objects are JSON. Implementations answer from memory; they are called from inside a wasm
/// call and must not block on I/O.
pub trait ObjectSource: Send + Sync {
    /// One object by kind, namespace (empty for cluster-scoped kinds) and name.
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>>;

    /// All objects of one kind in one namespace.
    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>>;
}

/// A source with no objects.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObjects;

impl ObjectSource for NoObjects {
    fn get(&self, _: &KindRef, _: &str, _: &str) -> Option<Arc<str>> {
        None
    }

    fn list(&self, _: &KindRef, _: &str) -> Vec<Arc<str>> {
        Vec::new()
    }
}

/// Memory accounting for one store. Records that the cap was hit, so that the trap that follows
/// (a Rust guest aborts when allocation fails) is reported as out-of-memory.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) max_memory: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_memory;
        self.exceeded |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

/// The data of one store.
pub(crate) struct HostState {
    pub(crate) limiter: Limiter,
    pub(crate) source: Arc<dyn ObjectSource>,
    pub(crate) reads: Arc<[KindRef]>,
}

impl HostState {
    fn kind(&self, kind: v0_1::ws3::policy::types::KindRef) -> Result<KindRef, String> {
        let kind = KindRef {
            group: kind.group,
            kind: kind.kind,
        };
        if self.reads.contains(&kind) {
            Ok(kind)
        } else {
            Err(format!("kind {kind} is not declared in the rule's `reads`"))
        }
    }
}

impl v0_1::ws3::policy::types::Host for HostState {}

impl v0_1::ws3::policy::cluster::Host for HostState {
    fn get_object(
        &mut self,
        kind: v0_1::ws3::policy::types::KindRef,
        namespace: String,
        name: String,
    ) -> Result<Option<String>, String> {
        let kind = self.kind(kind)?;
        Ok(self
            .source
            .get(&kind, &namespace, &name)
            .map(|json| expose(&kind, &json)))
    }

    fn list_objects(
        &mut self,
        kind: v0_1::ws3::policy::types::KindRef,
        namespace: String,
    ) -> Result<Vec<String>, String> {
        let kind = self.kind(kind)?;
        Ok(self
            .source
            .list(&kind, &namespace)
            .iter()
            .map(|json| expose(&kind, json))
            .collect())
    }
}

/// The JSON a rule may see of an object: Secrets lose their values.
fn expose(kind: &KindRef, json: &str) -> String {
    if kind.is_secret() {
        redact_secret(json)
    } else {
        json.to_owned()
    }
}

/// A Secret's JSON with every `data` and `stringData` value replaced by `""` (keys are kept, so
/// a rule can tell that a key exists). Anything that does not parse becomes `{}`.
pub fn redact_secret(json: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else {
        return "{}".to_owned();
    };
    for field in ["data", "stringData"] {
        if let Some(map) = value
            .get_mut(field)
            .and_then(serde_json::Value::as_object_mut)
        {
            for v in map.values_mut() {
                *v = serde_json::Value::String(String::new());
            }
        }
    }
    if let Some(meta) = value
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        // kubectl's last-applied annotation carries the whole object, values included.
        if let Some(ann) = meta
            .get_mut("annotations")
            .and_then(serde_json::Value::as_object_mut)
        {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        meta.remove("managedFields");
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{HostState, Limiter, NoObjects, redact_secret, v0_1};
    use crate::types::KindRef;

    #[test]
    fn rules_read_only_declared_kinds() {
        use v0_1::ws3::policy::cluster::Host as _;
        let mut state = HostState {
            limiter: Limiter {
                max_memory: 1 << 20,
                exceeded: false,
            },
            source: Arc::new(NoObjects),
            reads: Arc::from(vec![KindRef::new("", "Service")]),
        };
        let kind = |g: &str, k: &str| v0_1::ws3::policy::types::KindRef {
            group: g.into(),
            kind: k.into(),
        };
        assert_eq!(
            state.get_object(kind("", "Service"), "ns".into(), "db".into()),
            Ok(None)
        );
        let err = state
            .list_objects(kind("", "Secret"), "ns".into())
            .unwrap_err();
        assert!(err.contains("Secret") && err.contains("reads"), "{err}");
    }

    #[test]
    fn secrets_keep_keys_and_lose_values() {
        let json = r#"{"kind":"Secret","metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"cGFzcw==\"}}"}},"data":{"password":"cGFzcw=="},"stringData":{"token":"abc"}}"#;
        let out = redact_secret(json);
        assert!(!out.contains("cGFzcw=="), "{out}");
        assert!(!out.contains("abc"), "{out}");
        assert!(out.contains(r#""password":"""#), "{out}");
    }
}

//! What the host gives a rule: the `cluster` import, answered from an [`ObjectSource`], and
//! per-store limits. One [`HostState`] serves every interface version.

use std::sync::Arc;

use wasmtime::ResourceLimiter;

use crate::{context, object::PodTemplates, types::KindRef};

/// Bindings for `ws3:policy@0.1.0` (the folder `wit/since_v0.1.0`).
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit/since_v0.1.0",
    });
}

/// Bindings for `ws3:policy@0.2.0` (the folder `wit/since_v0.2.0`).
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit/since_v0.2.0",
    });
}

/// Where rules read other objects from: the linted file set offline, watch caches at admission.
///
/// Objects are JSON context views ([`crate::context`]). Implementations answer from memory;
/// they are called from inside a wasm call and must not block on I/O.
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

/// Bytes of objects one evaluation may read through `cluster`. Lookups cost the guest no fuel,
/// so this is what bounds a rule that calls them in a loop, the same way on every machine.
pub(crate) const MAX_LOOKUP_BYTES: usize = 256 << 20;

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
    /// Bytes read through lookups since the current call started.
    pub(crate) looked_up: usize,
}

impl HostState {
    pub(crate) fn new(
        max_memory: usize,
        source: Arc<dyn ObjectSource>,
        reads: Arc<[KindRef]>,
    ) -> Self {
        Self {
            limiter: Limiter {
                max_memory,
                exceeded: false,
            },
            source,
            reads,
            looked_up: 0,
        }
    }

    fn check(&self, kind: &KindRef) -> Result<(), String> {
        if self.reads.contains(kind) {
            Ok(())
        } else {
            Err(format!("kind {kind} is not declared in the rule's `reads`"))
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), String> {
        self.looked_up = self.looked_up.saturating_add(bytes);
        if self.looked_up > MAX_LOOKUP_BYTES {
            Err(format!(
                "the rule read more than {} MiB of other objects in one evaluation",
                MAX_LOOKUP_BYTES >> 20
            ))
        } else {
            Ok(())
        }
    }

    /// `get-object`, for every interface version.
    pub(crate) fn get_object(
        &mut self,
        kind: KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, String> {
        self.check(&kind)?;
        let found = self.source.get(&kind, namespace, name);
        self.charge(found.as_ref().map_or(0, |j| j.len()))?;
        Ok(found.map(|json| expose(&kind, &json)))
    }

    /// `list-objects`, for every interface version.
    pub(crate) fn list_objects(
        &mut self,
        kind: KindRef,
        namespace: &str,
    ) -> Result<Vec<String>, String> {
        self.check(&kind)?;
        let found = self.source.list(&kind, namespace);
        self.charge(found.iter().map(|j| j.len()).sum())?;
        Ok(found.iter().map(|json| expose(&kind, json)).collect())
    }
}

/// Lookups as a rule running natively in a test makes them, through the same checks as a module's
/// (declared kinds, Secret values, the bytes budget).
#[cfg(feature = "test-support")]
pub struct Lookups<'a> {
    pub(crate) state: &'a mut HostState,
}

#[cfg(feature = "test-support")]
impl std::fmt::Debug for Lookups<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

#[cfg(feature = "test-support")]
impl Lookups<'_> {
    /// `get-object`.
    pub fn get(
        &mut self,
        kind: KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, String> {
        self.state.get_object(kind, namespace, name)
    }

    /// `list-objects`.
    pub fn list(&mut self, kind: KindRef, namespace: &str) -> Result<Vec<String>, String> {
        self.state.list_objects(kind, namespace)
    }
}

/// The JSON a rule may see of another object. Sources hold context views already; a Secret is
/// reduced again in case a source did not, so that its values can never reach a rule.
fn expose(kind: &KindRef, json: &str) -> String {
    if kind.is_secret() {
        context::view(kind, json, &PodTemplates::default()).unwrap_or_else(|| "{}".to_owned())
    } else {
        json.to_owned()
    }
}

/// The host's side of `ws3:policy/cluster` for one interface version: the bindings of each
/// version have their own types, the lookups behind them are one.
macro_rules! cluster_host {
    ($version:ident) => {
        impl $version::ws3::policy::types::Host for HostState {}

        impl $version::ws3::policy::cluster::Host for HostState {
            fn get_object(
                &mut self,
                kind: $version::ws3::policy::types::KindRef,
                namespace: String,
                name: String,
            ) -> Result<Option<String>, String> {
                HostState::get_object(self, KindRef::new(kind.group, kind.kind), &namespace, &name)
            }

            fn list_objects(
                &mut self,
                kind: $version::ws3::policy::types::KindRef,
                namespace: String,
            ) -> Result<Vec<String>, String> {
                HostState::list_objects(self, KindRef::new(kind.group, kind.kind), &namespace)
            }
        }
    };
}

cluster_host!(v0_1);
cluster_host!(v0_2);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{HostState, NoObjects, ObjectSource};
    use crate::types::KindRef;

    #[test]
    fn rules_read_only_declared_kinds() {
        let mut state = HostState::new(
            1 << 20,
            Arc::new(NoObjects),
            Arc::from(vec![KindRef::new("", "Service")]),
        );
        assert_eq!(
            state.get_object(KindRef::new("", "Service"), "ns", "db"),
            Ok(None)
        );
        let err = state
            .list_objects(KindRef::new("", "Secret"), "ns")
            .unwrap_err();
        assert!(err.contains("Secret") && err.contains("reads"), "{err}");
    }

    struct RawSecrets;
    impl ObjectSource for RawSecrets {
        fn get(&self, _: &KindRef, _: &str, _: &str) -> Option<Arc<str>> {
            Some(Arc::from(
                r#"{"kind":"Secret","metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"cGFzcw==\"}}"}},"data":{"password":"cGFzcw=="},"stringData":{"token":"abc"}}"#,
            ))
        }
        fn list(&self, kind: &KindRef, ns: &str) -> Vec<Arc<str>> {
            self.get(kind, ns, "").into_iter().cycle().take(3).collect()
        }
    }

    #[test]
    fn secrets_keep_keys_and_lose_values_whatever_the_source() {
        let secret = KindRef::new("", "Secret");
        let mut state = HostState::new(
            1 << 20,
            Arc::new(RawSecrets),
            Arc::from(vec![secret.clone()]),
        );
        let out = state
            .get_object(secret.clone(), "ns", "s")
            .unwrap()
            .unwrap();
        assert!(!out.contains("cGFzcw==") && !out.contains("abc"), "{out}");
        assert!(out.contains(r#""password":"""#), "{out}");
        for out in state.list_objects(secret, "ns").unwrap() {
            assert!(!out.contains("cGFzcw=="), "{out}");
        }
    }

    #[test]
    fn lookups_are_bounded_per_call() {
        struct Big;
        impl ObjectSource for Big {
            fn get(&self, _: &KindRef, _: &str, _: &str) -> Option<Arc<str>> {
                Some(Arc::from("x".repeat(64 << 20)))
            }
            fn list(&self, _: &KindRef, _: &str) -> Vec<Arc<str>> {
                Vec::new()
            }
        }
        let cm = KindRef::new("", "ConfigMap");
        let mut state = HostState::new(1 << 20, Arc::new(Big), Arc::from(vec![cm.clone()]));
        let results: Vec<bool> = (0..5)
            .map(|_| state.get_object(cm.clone(), "ns", "x").is_ok())
            .collect();
        assert_eq!(results, [true, true, true, true, false]);
    }
}

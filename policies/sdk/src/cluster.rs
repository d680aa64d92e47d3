//! Reading other objects through the host.

use serde::de::DeserializeOwned;

use crate::{Error, KindRef, request::decode};

/// Read access to other objects: the linted file set offline, watch caches at admission.
///
/// Only kinds listed in the rule's [`Meta::reads`](crate::Meta::reads) may be read. Use the typed
/// helpers (`get_as`, `list_as`) in rules; the JSON methods are what a host implements.
/// Objects are context views: see the WIT's `cluster` interface for what they keep.
pub trait Cluster {
    /// One object as JSON, by kind, namespace (empty for cluster-scoped kinds) and name.
    fn get_json(&self, kind: KindRef, namespace: &str, name: &str)
    -> Result<Option<String>, Error>;

    /// The objects of one kind in one namespace, as JSON.
    fn list_json(&self, kind: KindRef, namespace: &str) -> Result<Vec<String>, Error>;
}

impl dyn Cluster + '_ {
    /// One object of `kind`, decoded as any serde type: a struct of the fields the rule reads
    /// (see [`crate::shape`]).
    pub fn get_as<T: DeserializeOwned>(
        &self,
        kind: KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>, Error> {
        self.get_json(kind, namespace, name)?
            .map(|json| decode(kind.kind, &json))
            .transpose()
    }

    /// All objects of `kind` in a namespace, decoded as any serde type.
    pub fn list_as<T: DeserializeOwned>(
        &self,
        kind: KindRef,
        namespace: &str,
    ) -> Result<Vec<T>, Error> {
        self.list_json(kind, namespace)?
            .iter()
            .map(|json| decode(kind.kind, json))
            .collect()
    }
}

//! Loading a rule module: compile, check its `ws3:policy` version, pre-link, read its metadata.

use std::{path::Path, sync::Arc, time::Duration};

use wasmtime::component::Component;

use crate::{
    engine::Engine,
    error::{EvalError, LoadError, Origin},
    host::{NoObjects, ObjectSource, v0_1, v0_2},
    instance::Instance,
    types::{KindRef, Request, RuleMeta, Severity},
};

/// The interface versions this host runs, as `major.minor` (0.x minors are breaking).
pub const SUPPORTED_INTERFACES: &[&str] = &["0.1", "0.2"];

/// A pre-linked component of one interface version.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1(v0_1::PolicyPre<crate::host::HostState>),
    V0_2(v0_2::PolicyPre<crate::host::HostState>),
}

/// What runs a rule.
#[derive(Clone)]
pub(crate) enum Imp {
    /// A wasm component.
    Wasm(Pre),
    /// A rule compiled into the test binary, run through the same host semantics (rule tests).
    #[cfg(feature = "test-support")]
    Native(Arc<dyn crate::testing::NativeRule>),
}

/// A loaded rule. Cheap to clone.
#[derive(Clone)]
pub struct Rule {
    pub(crate) meta: Arc<RuleMeta>,
    pub(crate) origin: Origin,
    pub(crate) imp: Imp,
    pub(crate) reads: Arc<[KindRef]>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.meta.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Compiles and checks a rule component.
    pub fn load(&self, bytes: &[u8], origin: Origin) -> Result<Rule, LoadError> {
        if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
            return Err(LoadError::Compile {
                origin,
                message: "this is a core wasm module, not a component; build rules with `cargo xtask build-rules` (or turn a module into a component with `wasm-tools component new`)".into(),
            });
        }
        let component = Component::new(&self.inner, bytes).map_err(|e| LoadError::Compile {
            origin: origin.clone(),
            message: format!("{e:#}"),
        })?;
        let version = check_interface(&self.inner, &component, &origin)?;
        let link = |e: wasmtime::Error| LoadError::Link {
            origin: origin.clone(),
            message: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = match version {
            "0.1" => Pre::V0_1(v0_1::PolicyPre::new(pre).map_err(link)?),
            _ => Pre::V0_2(v0_2::PolicyPre::new(pre).map_err(link)?),
        };
        let probe = Rule {
            meta: Arc::new(placeholder_meta(&origin)),
            origin: origin.clone(),
            imp: Imp::Wasm(pre),
            reads: Arc::from(Vec::new()),
        };
        let metadata_error = |e: EvalError| LoadError::Metadata {
            origin: origin.clone(),
            message: e.to_string(),
        };
        let mut instance = probe
            .instantiate(self, Arc::new(NoObjects))
            .map_err(metadata_error)?;
        let meta = instance.metadata(self).map_err(metadata_error)?;
        validate_meta(&meta).map_err(|message| LoadError::Metadata {
            origin: origin.clone(),
            message,
        })?;
        Ok(Rule {
            reads: Arc::from(meta.reads.clone()),
            meta: Arc::new(meta),
            origin,
            imp: probe.imp,
        })
    }

    /// Loads a `.wasm` file.
    pub fn load_file(&self, path: &Path) -> Result<Rule, LoadError> {
        let bytes = read_module(path)?;
        self.load(&bytes, Origin::File(path.to_owned()))
    }

    /// Loads a `.wasm` file, or every `*.wasm` file of a directory (sorted by name).
    pub fn load_path(&self, path: &Path) -> Result<Vec<Rule>, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        if !std::fs::metadata(path).map_err(io)?.is_dir() {
            return Ok(vec![self.load_file(path)?]);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let file = entry.map_err(io)?.path();
            if file.extension().is_some_and(|e| e == "wasm") {
                files.push(file);
            }
        }
        files.sort();
        files.iter().map(|f| self.load_file(f)).collect()
    }
}

/// Largest rule module read from a file. The built-in ones are about 250 KiB.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Reads a module file: only a regular file (a FIFO or a device would block or never end), at
/// most [`MAX_MODULE_BYTES`].
fn read_module(path: &Path) -> Result<Vec<u8>, LoadError> {
    crate::files::read_regular_file(path, MAX_MODULE_BYTES).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

fn placeholder_meta(origin: &Origin) -> RuleMeta {
    RuleMeta {
        id: origin.to_string(),
        title: String::new(),
        severity: Severity::Error,
        applies_to: Vec::new(),
        workloads: crate::types::Operations::NONE,
        reads: Vec::new(),
        exempt_namespaces: Vec::new(),
        rationale: String::new(),
        docs: String::new(),
        interface: String::new(),
    }
}

/// Finds the `ws3:policy/rule@X.Y.Z` export and checks that this host runs version X.Y.
fn check_interface(
    engine: &wasmtime::Engine,
    component: &Component,
    origin: &Origin,
) -> Result<&'static str, LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let Some(version) = exports
        .iter()
        .find_map(|name| name.strip_prefix("ws3:policy/rule@"))
    else {
        return Err(LoadError::NotARule {
            origin: origin.clone(),
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    };
    let major_minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    SUPPORTED_INTERFACES
        .iter()
        .find(|v| **v == major_minor)
        .copied()
        .ok_or_else(|| LoadError::Version {
            origin: origin.clone(),
            found: version.to_owned(),
            supported: SUPPORTED_INTERFACES
                .iter()
                .map(|v| format!("{v}.x"))
                .collect::<Vec<_>>()
                .join(" or "),
        })
}

/// Most findings one evaluation may return.
pub const MAX_FINDINGS: usize = 10_000;
/// Longest message, hint or path accepted from a rule, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;
/// Most bytes the host copies out of a module in one call: the whole result of `validate` or
/// `metadata`, or the arguments of one `get-object` or `list-objects` lookup. It is wasmtime's
/// "hostcall fuel", set on every store the engine makes (wasmtime's default is 128 MiB), and it
/// counts what the host allocates while lifting: each string's bytes, and each list's length
/// times the size of the host's element type (about 224 bytes for a finding, 24 for a `redact`
/// entry). Past it the result is refused as [`EvalError::Invalid`](crate::EvalError::Invalid).
///
/// The per-finding limits ([`MAX_FINDINGS`], [`MAX_TEXT`], 1,024 `redact` entries) are checked
/// only after the lift and bound each finding, not their sum: without this, a module can make the
/// host copy tens of MiB from a few KiB of its memory (findings that all name the same long
/// `redact` list), in every concurrent evaluation. 16 MiB is several times what a legitimate
/// result needs: [`MAX_FINDINGS`] findings of a few hundred bytes of text each are about 5 MiB
/// with their records, and metadata (docs at most 256 KiB) and lookup arguments (a kind, a
/// namespace, a name) are far smaller. Data the host passes *to* a module (the request, the
/// objects a lookup returns) is not counted.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

pub(crate) fn validate_meta(meta: &RuleMeta) -> Result<(), String> {
    let id_ok = !meta.id.is_empty()
        && meta.id.len() <= 64
        && meta
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !meta.id.starts_with('-');
    if !id_ok {
        return Err(format!(
            "rule id {:?} must be 1-64 characters of a-z, 0-9 and `-`",
            meta.id
        ));
    }
    if meta.applies_to.is_empty() && meta.workloads.is_empty() {
        return Err(format!(
            "rule {} declares no kinds in `applies-to` and no `workloads`",
            meta.id
        ));
    }
    let kinds_ok = meta
        .applies_to
        .iter()
        .map(|s| &s.kind)
        .chain(&meta.reads)
        .all(|k| !k.kind.is_empty() && k.kind.len() <= 128 && k.group.len() <= 253);
    if !kinds_ok || meta.applies_to.len() > 256 || meta.reads.len() > 256 {
        return Err(format!("rule {} declares invalid kinds", meta.id));
    }
    if meta.exempt_namespaces.len() > 256 || meta.exempt_namespaces.iter().any(|n| n.len() > 253) {
        return Err(format!(
            "rule {} declares invalid exempt namespaces",
            meta.id
        ));
    }
    if meta.title.len() > 200 || meta.rationale.len() > MAX_TEXT || meta.docs.len() > 256 * 1024 {
        return Err(format!(
            "rule {} has an oversized title, rationale or docs",
            meta.id
        ));
    }
    Ok(())
}

impl Rule {
    /// What the rule declares.
    pub fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    /// Where it was loaded from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// A fresh instance reading other objects from `source`. Use one per admission evaluation;
    /// offline, one per worker can serve many calls.
    pub fn instantiate(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
    ) -> Result<Instance, EvalError> {
        Instance::new(self, engine, source, None)
    }

    /// Evaluates one request in a fresh instance.
    pub fn evaluate(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        request: &Request<'_>,
    ) -> Result<Vec<crate::types::Finding>, EvalError> {
        self.instantiate(engine, source)?.validate(engine, request)
    }

    /// [`Rule::evaluate`] within `deadline` when that is shorter than the engine's per-rule
    /// deadline (the time left of an admission review, say): the rule is stopped then and the
    /// error is [`EvalError::Timeout`] with that deadline.
    pub fn evaluate_within(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        request: &Request<'_>,
        deadline: Duration,
    ) -> Result<Vec<crate::types::Finding>, EvalError> {
        Instance::new(self, engine, source, Some(deadline))?.validate(engine, request)
    }
}

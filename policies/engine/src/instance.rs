//! A live instance of a rule and one call into it.

use std::{sync::Arc, time::Duration};

use wasmtime::{Store, Trap};

use crate::{
    engine::{Budget, Engine, Limits, deadline_ticks},
    error::EvalError,
    host::{HostState, ObjectSource, v0_1, v0_2},
    rule::{Imp, MAX_FINDINGS, MAX_RESULT_BYTES, MAX_TEXT, Pre, Rule},
    types::{
        Finding, KindRef, ObjectRef, Operation, Operations, Request, RuleMeta, Scope, Severity,
    },
};

/// Bindings of one instantiated component.
enum Bindings {
    V0_1(v0_1::Policy),
    V0_2(v0_2::Policy),
}

enum Live {
    Wasm {
        store: Store<HostState>,
        bindings: Bindings,
    },
    #[cfg(feature = "test-support")]
    Native {
        rule: Arc<dyn crate::testing::NativeRule>,
        state: HostState,
    },
}

/// A live instance of a rule. After any error other than a rejected or invalid result the
/// instance is discarded: the next call on it returns the same error kind.
pub struct Instance {
    rule: Rule,
    live: Live,
    /// The budget of each call.
    budget: Budget,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("rule", &self.rule.meta.id)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// An instance of `rule`; `deadline` shortens the engine's deadline (admission reviews).
    pub(crate) fn new(
        rule: &Rule,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        deadline: Option<Duration>,
    ) -> Result<Self, EvalError> {
        let budget = match (engine.limits.budget, deadline) {
            (Budget::Deadline(d), Some(shorter)) => Budget::Deadline(d.min(shorter)),
            (budget, _) => budget,
        };
        let state = HostState::new(engine.limits.max_memory, source, Arc::clone(&rule.reads));
        let live = match &rule.imp {
            Imp::Wasm(pre) => {
                let mut store = Store::new(&engine.inner, state);
                store.limiter(|s| &mut s.limiter);
                store.set_hostcall_fuel(MAX_RESULT_BYTES);
                arm(&mut store, budget);
                let started = match pre {
                    Pre::V0_1(pre) => pre.instantiate(&mut store).map(Bindings::V0_1),
                    Pre::V0_2(pre) => pre.instantiate(&mut store).map(Bindings::V0_2),
                };
                let bindings = started.map_err(|e| {
                    classify(
                        &rule.meta.id,
                        budget,
                        &engine.limits,
                        store.data().limiter.exceeded,
                        &e,
                        "start",
                    )
                })?;
                Live::Wasm { store, bindings }
            }
            #[cfg(feature = "test-support")]
            Imp::Native(native) => Live::Native {
                rule: Arc::clone(native),
                state,
            },
        };
        Ok(Self {
            rule: rule.clone(),
            live,
            budget,
        })
    }

    /// The rule this is an instance of.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Reads the module's metadata (at load time).
    pub(crate) fn metadata(&mut self, engine: &Engine) -> Result<RuleMeta, EvalError> {
        let budget = self.budget;
        let id = self.rule.meta.id.clone();
        match &mut self.live {
            Live::Wasm { store, bindings } => {
                arm(store, budget);
                store.data_mut().looked_up = 0;
                let result = match bindings {
                    Bindings::V0_1(b) => b
                        .ws3_policy_rule()
                        .call_metadata(&mut *store)
                        .map(meta_v0_1),
                    Bindings::V0_2(b) => b
                        .ws3_policy_rule()
                        .call_metadata(&mut *store)
                        .map(meta_v0_2),
                };
                result.map_err(|e| {
                    classify(
                        &id,
                        budget,
                        &engine.limits,
                        store.data().limiter.exceeded,
                        &e,
                        "metadata",
                    )
                })
            }
            #[cfg(feature = "test-support")]
            Live::Native { rule, .. } => Ok(rule.meta()),
        }
    }

    /// Evaluates one request.
    pub fn validate(
        &mut self,
        engine: &Engine,
        request: &Request<'_>,
    ) -> Result<Vec<Finding>, EvalError> {
        let budget = self.budget;
        let id = &self.rule.meta.id;
        let raw: Vec<RawFinding> = match &mut self.live {
            Live::Wasm { store, bindings } => {
                arm(store, budget);
                store.data_mut().looked_up = 0;
                let result = match bindings {
                    Bindings::V0_1(b) => b
                        .ws3_policy_rule()
                        .call_validate(&mut *store, &request_v0_1(request))
                        .map(|r| r.map(|list| list.into_iter().map(finding_v0_1).collect())),
                    Bindings::V0_2(b) => b
                        .ws3_policy_rule()
                        .call_validate(&mut *store, &request_v0_2(request))
                        .map(|r| r.map(|list| list.into_iter().map(finding_v0_2).collect())),
                };
                let result = result.map_err(|e| {
                    classify(
                        id,
                        budget,
                        &engine.limits,
                        store.data().limiter.exceeded,
                        &e,
                        "validate",
                    )
                })?;
                result.map_err(|message| EvalError::Rejected {
                    rule: id.clone(),
                    message: truncate(message),
                })?
            }
            #[cfg(feature = "test-support")]
            Live::Native { rule, state } => {
                state.looked_up = 0;
                rule.validate(request, &mut crate::host::Lookups { state })
                    .map_err(|message| EvalError::Rejected {
                        rule: id.clone(),
                        message: truncate(message),
                    })?
                    .into_iter()
                    .map(|f| RawFinding {
                        severity: f.severity,
                        message: f.message,
                        path: f.path,
                        hint: f.hint,
                        subject: f.subject,
                        redact: f.redact,
                    })
                    .collect()
            }
        };
        check(id, raw)
    }
}

/// Sets the budget of the next call.
fn arm(store: &mut Store<HostState>, budget: Budget) {
    match budget {
        Budget::Deadline(deadline) => store.set_epoch_deadline(deadline_ticks(deadline)),
        Budget::Fuel(fuel) => {
            // Only fails when fuel is not enabled, which the engine does for this budget.
            let _ = store.set_fuel(fuel);
        }
    }
}

/// A finding as a module returned it, before the host's checks.
pub(crate) struct RawFinding {
    pub(crate) severity: Severity,
    pub(crate) message: String,
    pub(crate) path: String,
    pub(crate) hint: String,
    pub(crate) subject: Option<ObjectRef>,
    pub(crate) redact: Vec<String>,
}

/// The host's checks of what a module returned; every finding gets the rule's own id.
pub(crate) fn check(id: &str, raw: Vec<RawFinding>) -> Result<Vec<Finding>, EvalError> {
    if raw.len() > MAX_FINDINGS {
        return Err(EvalError::Invalid {
            rule: id.to_owned(),
            message: format!(
                "{} findings for one object (at most {MAX_FINDINGS})",
                raw.len()
            ),
        });
    }
    raw.into_iter()
        .map(|f| {
            for (what, text) in [
                ("message", &f.message),
                ("hint", &f.hint),
                ("path", &f.path),
            ] {
                if text.len() > MAX_TEXT {
                    return Err(EvalError::Invalid {
                        rule: id.to_owned(),
                        message: format!("a finding's {what} is {} bytes long", text.len()),
                    });
                }
            }
            if f.redact.len() > 1024 || f.redact.iter().any(|p| p.len() > MAX_TEXT) {
                return Err(EvalError::Invalid {
                    rule: id.to_owned(),
                    message: "a finding's redact list is too long".to_owned(),
                });
            }
            Ok(Finding {
                // A module speaks only for itself, whatever id it puts in a finding.
                rule_id: id.to_owned(),
                severity: f.severity,
                message: f.message,
                path: f.path,
                hint: f.hint,
                subject: f.subject,
                redact: f.redact,
                suppressed: false,
            })
        })
        .collect()
}

/// Turns a wasmtime error into an [`EvalError`].
fn classify(
    rule: &str,
    budget: Budget,
    limits: &Limits,
    memory_exceeded: bool,
    e: &wasmtime::Error,
    what: &str,
) -> EvalError {
    let rule = rule.to_owned();
    match (e.downcast_ref::<Trap>(), budget) {
        (Some(Trap::Interrupt), Budget::Deadline(deadline)) => {
            return EvalError::Timeout { rule, deadline };
        }
        (Some(Trap::OutOfFuel), Budget::Fuel(fuel)) => {
            return EvalError::OutOfFuel { rule, fuel };
        }
        _ => {}
    }
    if memory_exceeded {
        return EvalError::OutOfMemory {
            rule,
            limit_mib: limits.max_memory >> 20,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(trap) => EvalError::Trap {
            rule,
            message: format!("{trap} (in {what})"),
        },
        None if what == "start" => EvalError::Instantiate {
            rule,
            message: format!("{e:#}"),
        },
        // Wasmtime's error names neither what was copied nor how much: say it in our terms.
        None if hostcall_fuel_exhausted(e) => EvalError::Invalid {
            rule,
            message: format!(
                "the result is too large: the host copies at most {} MiB out of a module in one \
                 call (its result, or the arguments of one lookup)",
                MAX_RESULT_BYTES >> 20
            ),
        },
        // Not a trap: the host could not lift what the guest returned (bad UTF-8, a wild
        // pointer, an unknown discriminant...).
        None => EvalError::Invalid {
            rule,
            message: format!("{e:#}"),
        },
    }
}

/// What wasmtime 48 says when a lift runs out of hostcall fuel ([`MAX_RESULT_BYTES`]); its
/// error type is private, so its message is matched (the adversarial tests check it still is).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

fn hostcall_fuel_exhausted(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
}

pub(crate) fn truncate(mut message: String) -> String {
    if message.len() > 1024 {
        let mut end = 1024;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// The enums every interface version shares, converted once per version (each version's
/// bindings have their own types).
macro_rules! shared_enums {
    ($version:ident, $severity:ident, $operation:ident) => {
        fn $severity(s: $version::ws3::policy::types::Severity) -> Severity {
            use $version::ws3::policy::types::Severity as W;
            match s {
                W::Info => Severity::Info,
                W::Warning => Severity::Warning,
                W::Error => Severity::Error,
            }
        }

        fn $operation(o: Operation) -> $version::ws3::policy::types::Operation {
            use $version::ws3::policy::types::Operation as W;
            match o {
                Operation::Create => W::Create,
                Operation::Update => W::Update,
                Operation::Delete => W::Delete,
                Operation::Lint => W::Lint,
            }
        }
    };
}

shared_enums!(v0_1, severity_v0_1, operation_v0_1);
shared_enums!(v0_2, severity_v0_2, operation_v0_2);

// ---- ws3:policy@0.1 ----

fn meta_v0_1(m: v0_1::ws3::policy::types::RuleMetadata) -> RuleMeta {
    let kinds = |v: Vec<v0_1::ws3::policy::types::KindRef>| -> Vec<KindRef> {
        v.into_iter()
            .map(|k| KindRef::new(k.group, k.kind))
            .collect()
    };
    RuleMeta {
        id: m.id,
        title: m.title,
        severity: severity_v0_1(m.severity),
        // A 0.1 module is taken to judge every operation of its kinds.
        applies_to: kinds(m.applies_to)
            .into_iter()
            .map(|kind| Scope {
                kind,
                operations: Operations::ALL,
            })
            .collect(),
        workloads: Operations::NONE,
        reads: kinds(m.reads),
        exempt_namespaces: Vec::new(),
        rationale: m.rationale,
        docs: m.docs,
        interface: "0.1".to_owned(),
    }
}

fn request_v0_1(request: &Request<'_>) -> v0_1::ws3::policy::types::Request {
    use v0_1::ws3::policy::types as wit;
    wit::Request {
        operation: operation_v0_1(request.operation),
        object: request.object.map(str::to_owned),
        old_object: request.old_object.map(str::to_owned),
        namespace: request.namespace.to_owned(),
        settings: request.settings.to_owned(),
    }
}

fn finding_v0_1(f: v0_1::ws3::policy::types::Finding) -> RawFinding {
    RawFinding {
        severity: severity_v0_1(f.severity),
        message: f.message,
        path: f.path,
        hint: f.hint,
        subject: f.subject.map(|s| ObjectRef {
            api_version: s.api_version,
            kind: s.kind,
            namespace: s.namespace,
            name: s.name,
        }),
        redact: Vec::new(),
    }
}

// ---- ws3:policy@0.2 ----

fn operations_v0_2(o: v0_2::ws3::policy::types::Operations) -> Operations {
    use v0_2::ws3::policy::types::Operations as W;
    Operations {
        create: o.contains(W::CREATE),
        update: o.contains(W::UPDATE),
        delete: o.contains(W::DELETE),
    }
}

fn meta_v0_2(m: v0_2::ws3::policy::types::RuleMetadata) -> RuleMeta {
    RuleMeta {
        id: m.id,
        title: m.title,
        severity: severity_v0_2(m.severity),
        applies_to: m
            .applies_to
            .into_iter()
            .map(|s| Scope {
                kind: KindRef::new(s.kind.group, s.kind.kind),
                operations: operations_v0_2(s.operations),
            })
            .collect(),
        workloads: operations_v0_2(m.workloads),
        reads: m
            .reads
            .into_iter()
            .map(|k| KindRef::new(k.group, k.kind))
            .collect(),
        exempt_namespaces: m.exempt_namespaces,
        rationale: m.rationale,
        docs: m.docs,
        interface: "0.2".to_owned(),
    }
}

fn request_v0_2(request: &Request<'_>) -> v0_2::ws3::policy::types::Request {
    use v0_2::ws3::policy::types as wit;
    wit::Request {
        operation: operation_v0_2(request.operation),
        kind: wit::KindRef {
            group: request.kind.group.clone(),
            kind: request.kind.kind.clone(),
        },
        name: request.name.to_owned(),
        object: request.object.map(str::to_owned),
        old_object: request.old_object.map(str::to_owned),
        namespace: request.namespace.to_owned(),
        settings: request.settings.to_owned(),
        pod_template: request.pod_template.map(str::to_owned),
        context: request.context,
    }
}

fn finding_v0_2(f: v0_2::ws3::policy::types::Finding) -> RawFinding {
    RawFinding {
        severity: severity_v0_2(f.severity),
        message: f.message,
        path: f.path,
        hint: f.hint,
        subject: f.subject.map(|s| ObjectRef {
            api_version: s.api_version,
            kind: s.kind,
            namespace: s.namespace,
            name: s.name,
        }),
        redact: f.redact,
    }
}

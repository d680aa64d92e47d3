//! The properties the `module_result` fuzz target checks, shared with the stable-toolchain replay
//! of the corpus (`policies/engine/tests/fuzz_corpus.rs`). Panics when one does not hold.
//!
//! What is fuzzed: the host's reading of what a rule module returns from `validate`, end to end
//! through wasmtime: the canonical-ABI lifting of `result<list<finding>, string>` out of the
//! module's memory, in both interface versions the host runs (`ws3:policy@0.1.0` and
//! `@0.2.0`, whose findings add `redact: list<string>`), then the host's own checks
//! (`policies/engine/src/instance.rs`: `check`, `truncate`). The module is a WAT rule of the
//! engine's test support ([`Behaviour::HexResult`], built for each version) that copies the
//! input, given to it as the object's JSON in hex, to [`HEX_RESULT_AT`] and returns that
//! address: so the input is the result's return area followed by whatever the findings and
//! strings point at.
//!
//! Input layout: the first byte picks the version (even: 0.1, odd: 0.2); the rest is the
//! result region (all little-endian, addresses absolute in the module's memory; the region
//! starts at `HEX_RESULT_AT` = 0x10000, and the memory after it up to 0x20000 is zeros):
//! - `[0]` discriminant (0 `ok`, 1 `err`), `[4..8]` pointer, `[8..12]` length;
//! - `err`: a string (pointer, length in bytes);
//! - `ok`: a list of findings, 72 bytes (0.1) or 80 (0.2): rule-id (ptr, len), severity (u8 at
//!   8), message (12), path (20), hint (28), subject: option discriminant (u8 at 36), then
//!   api-version, kind, namespace, name (strings at 40, 48, 56, 64); 0.2: redact (a list of
//!   8-byte strings: ptr, len at 72).
//!
//! Properties: never panics; every error is [`EvalError::Invalid`] or [`EvalError::Rejected`]
//! naming the rule (its message says which rule); findings all carry the rule's own id (never
//! the one the module wrote), at most [`MAX_FINDINGS`] of them, each message, path and hint at
//! most [`MAX_TEXT`] bytes, not suppressed; nothing to redact in 0.1, at most
//! [`MAX_REDACT`] redact entries of at most [`MAX_TEXT`] bytes each in 0.2; a rejection's
//! message is at most 1024 bytes plus `…`. And when everything the result points at lies in
//! memory whose contents are known (the input and the zeros after it), the outcome is exactly
//! what a reference reading of the canonical ABI below predicts: the same findings (so every
//! redact entry the module wrote reaches the host's consumers unchanged, in order, none
//! dropped), the same rejection message (truncated as the host documents), or `Invalid` for a
//! bad discriminant, a misaligned or out-of-bounds list or string, invalid UTF-8, a text over
//! [`MAX_TEXT`] (with the host's message naming the field and its length), a redact list
//! over its limits (with the host's message), or a lift that copies more than
//! [`MAX_RESULT_BYTES`] (with the host's message saying the result is too large).

use std::{
    cell::Cell,
    sync::{Arc, LazyLock},
};

use ws3_engine::{
    Budget, Engine, EngineOptions, EvalError, Finding, KindRef, Limits, MAX_FINDINGS,
    MAX_RESULT_BYTES, MAX_TEXT, NoObjects, ObjectRef, Operation, Origin, Request, Rule, Severity,
    testing::{Behaviour, HEX_RESULT_AT, HEX_RESULT_MAX, TestRule},
};

/// The id the rule declares; findings must carry it, whatever the module writes in them.
const ID: &str = "fuzz-module-result";
/// Where the module's heap starts (after the result region): the host's copies of the request's
/// strings land there, so its contents are not modelled.
const HEAP: u32 = HEX_RESULT_AT + HEX_RESULT_MAX;
/// Most redact entries the host accepts on one finding, each at most [`MAX_TEXT`] bytes
/// (`instance.rs`, `check`).
const MAX_REDACT: usize = 1024;

/// What wasmtime lets one call copy out of a guest: its "hostcall fuel", which the engine sets
/// to [`MAX_RESULT_BYTES`] on every store. It counts string bytes plus, per list, its length
/// times the size of the host's element type. Past it the lift fails, so the host reports
/// `Invalid`.
const HOSTCALL_FUEL: u64 = MAX_RESULT_BYTES as u64;
/// An upper bound of the size of the host's Rust type for one finding (bindgen's `Finding`: six
/// strings, four more in the subject, a severity, a `Vec<String>`: about 224 bytes).
const FINDING_FUEL_MAX: u64 = 512;

/// The interface version an input is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V0_1,
    V0_2,
}

impl Version {
    /// Size of a `finding` record in the canonical ABI.
    fn finding_size(self) -> u32 {
        match self {
            Version::V0_1 => 72,
            Version::V0_2 => 80,
        }
    }

    /// Bytes the host allocates on the module's heap for the request (see [`check`]): in 0.1
    /// its strings (the object as hex, the namespace, the settings); in 0.2 the request record
    /// (88 bytes, passed by pointer, allocated first, so without padding) and its strings (the
    /// kind's group and name, the name, the object, the namespace, the settings, the pod
    /// template).
    fn request_bytes(self, input_len: usize) -> u64 {
        let hex = 2 * input_len as u64;
        match self {
            Version::V0_1 => hex + "default{}".len() as u64,
            Version::V0_2 => 88 + hex + "appsStatefulSetdbdefault{}spec.template".len() as u64,
        }
    }
}

/// The engine and the rule of each version.
struct Rules {
    engine: Engine,
    v0_1: Rule,
    v0_2: Rule,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    // Fuel, not a deadline: the same outcome on a loaded machine.
    let engine = Engine::new(&EngineOptions {
        limits: Limits {
            budget: Budget::Fuel(100_000_000),
            max_memory: 64 << 20,
        },
        ..EngineOptions::default()
    })
    .expect("the engine starts");
    let test_rule = TestRule::new(ID, &[("apps", "StatefulSet")], Behaviour::HexResult);
    let load = |test_rule: TestRule| {
        engine
            .load(
                &test_rule.component(),
                Origin::Bytes("module_result".into()),
            )
            .expect("the hex-result module loads")
    };
    let v0_1 = load(test_rule.clone());
    let v0_2 = load(test_rule.with_interface_version("0.2.0"));
    assert_eq!(v0_2.meta().interface, "0.2");
    Rules { engine, v0_1, v0_2 }
});

/// Compiles the modules ahead of the first input.
#[allow(dead_code)] // the stable replay sets up on its first input
pub fn init() {
    LazyLock::force(&RULES);
}

/// Checks one input.
pub fn check(data: &[u8]) {
    let (version, data) = match data.split_first() {
        Some((v, rest)) if v % 2 == 1 => (Version::V0_2, rest),
        Some((_, rest)) => (Version::V0_1, rest),
        None => (Version::V0_1, data),
    };
    let data = &data[..data.len().min(HEX_RESULT_MAX as usize)];
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let kind = KindRef::new("apps", "StatefulSet");
    let request = Request {
        operation: Operation::Lint,
        kind: &kind,
        name: "db",
        object: Some(hex.as_str()),
        old_object: None,
        namespace: "default",
        settings: "{}",
        pod_template: Some("spec.template"),
        context: 1,
    };
    let rules = &*RULES;
    let rule = match version {
        Version::V0_1 => &rules.v0_1,
        Version::V0_2 => &rules.v0_2,
    };
    let outcome = rule.evaluate(&rules.engine, Arc::new(NoObjects), &request);
    bounds(version, &outcome);
    let memory = Memory {
        input: data,
        version,
        fuel: Cell::new(0),
        fuel_slack: Cell::new(0),
    };
    if let Some(expected) = reference(&memory) {
        match (&outcome, &expected) {
            (Ok(got), Expected::Findings(want)) => assert_eq!(got, want, "findings"),
            (Err(EvalError::Rejected { message, .. }), Expected::Rejected(want)) => {
                assert_eq!(message, want, "rejection message");
            }
            (Err(EvalError::Invalid { message, .. }), Expected::Invalid(want)) => {
                if let Some(want) = want {
                    assert_eq!(message, want, "invalid-result message");
                }
            }
            _ => panic!("{version:?}: expected {expected:?}, got {outcome:?}"),
        }
    }
}

/// What holds for any result.
fn bounds(version: Version, outcome: &Result<Vec<Finding>, EvalError>) {
    match outcome {
        Ok(findings) => {
            assert!(
                findings.len() <= MAX_FINDINGS,
                "{} findings",
                findings.len()
            );
            for f in findings {
                assert_eq!(f.rule_id, ID, "a finding speaks for another rule");
                for (what, text) in [
                    ("message", &f.message),
                    ("path", &f.path),
                    ("hint", &f.hint),
                ] {
                    assert!(text.len() <= MAX_TEXT, "a {what} of {} bytes", text.len());
                }
                assert!(!f.suppressed, "a fresh finding is suppressed");
                match version {
                    Version::V0_1 => assert!(
                        f.redact.is_empty(),
                        "a 0.1 module's finding redacts {:?}",
                        f.redact
                    ),
                    Version::V0_2 => {
                        assert!(
                            f.redact.len() <= MAX_REDACT,
                            "{} redact entries",
                            f.redact.len()
                        );
                        for path in &f.redact {
                            assert!(
                                path.len() <= MAX_TEXT,
                                "a redact entry of {} bytes",
                                path.len()
                            );
                        }
                    }
                }
            }
        }
        Err(e) => {
            assert!(
                matches!(e, EvalError::Invalid { .. } | EvalError::Rejected { .. }),
                "not an invalid or rejected result: {e:?}"
            );
            assert_eq!(e.rule(), ID, "the error names another rule: {e:?}");
            assert!(
                e.to_string().contains(ID),
                "the message does not name the rule: {e}"
            );
            assert!(!e.poisons_instance(), "{e:?}");
            if let EvalError::Rejected { message, .. } = e {
                let body = message.strip_suffix('…').unwrap_or(message);
                assert!(body.len() <= 1024, "a rejection of {} bytes", message.len());
            }
        }
    }
}

/// What the reference reading predicts.
#[derive(Debug)]
enum Expected {
    Findings(Vec<Finding>),
    Rejected(String),
    /// The host refuses the result; with the exact message when it is the host's own check.
    Invalid(Option<String>),
}

/// The module's memory as far as it is known: the input at [`HEX_RESULT_AT`], then zeros up to
/// [`HEAP`]. Below (the module's static data) and above (its heap) is not modelled.
struct Memory<'a> {
    input: &'a [u8],
    version: Version,
    /// Hostcall fuel the lift has certainly used so far (a lower bound of wasmtime's count):
    /// string bytes, and string-list lengths times the size of a `String`.
    fuel: Cell<u64>,
    /// What wasmtime may count on top: the findings lists' lengths times
    /// [`FINDING_FUEL_MAX`].
    fuel_slack: Cell<u64>,
}

/// A read the reference cannot predict (memory it does not model), a lifting error, or the
/// lift certainly past [`HOSTCALL_FUEL`] (also an `Invalid` result).
enum Stop {
    Unknown,
    Invalid,
    Fuel,
}

impl Memory<'_> {
    /// The memory's size, in bytes, when the module returns: at least three 64 KiB pages, grown
    /// by the module's allocator to hold what the host writes of the request on its heap.
    fn size(&self) -> u64 {
        let heap_end = u64::from(HEAP) + self.version.request_bytes(self.input.len());
        heap_end.div_ceil(65536).max(3) * 65536
    }

    /// `len` bytes at `at`: `Invalid` past the end of memory, `Unknown` outside the model.
    fn bytes(&self, at: u32, len: u64) -> Result<Vec<u8>, Stop> {
        let end = u64::from(at) + len;
        if end > self.size() {
            return Err(Stop::Invalid);
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        if at < HEX_RESULT_AT || end > u64::from(HEAP) {
            return Err(Stop::Unknown);
        }
        let start = (at - HEX_RESULT_AT) as usize;
        Ok((start..start + len as usize)
            .map(|i| self.input.get(i).copied().unwrap_or(0))
            .collect())
    }

    fn u8(&self, at: u32) -> Result<u8, Stop> {
        Ok(self.bytes(at, 1)?[0])
    }

    fn u32(&self, at: u32) -> Result<u32, Stop> {
        let b = self.bytes(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `Invalid` unless `len` bytes at `at` lie in memory.
    fn in_bounds(&self, at: u32, len: u64) -> Result<(), Stop> {
        if u64::from(at) + len > self.size() {
            return Err(Stop::Invalid);
        }
        Ok(())
    }

    /// Counts `n` units of hostcall fuel; `Fuel` once past [`HOSTCALL_FUEL`].
    fn use_fuel(&self, n: u64) -> Result<(), Stop> {
        let used = self.fuel.get() + n;
        self.fuel.set(used);
        if used > HOSTCALL_FUEL {
            return Err(Stop::Fuel);
        }
        Ok(())
    }

    /// A `string` whose (pointer, length) pair is at `at`, in wasmtime's order: bounds, fuel,
    /// then contents (UTF-8).
    fn string(&self, at: u32) -> Result<String, Stop> {
        let (ptr, len) = (self.u32(at)?, u64::from(self.u32(at + 4)?));
        self.in_bounds(ptr, len)?;
        self.use_fuel(len)?;
        String::from_utf8(self.bytes(ptr, len)?).map_err(|_| Stop::Invalid)
    }

    /// A `list<string>` whose (pointer, length) pair is at `at`: bounds and fuel, alignment,
    /// then the elements.
    fn strings(&self, at: u32) -> Result<Vec<String>, Stop> {
        let (ptr, len) = (self.u32(at)?, self.u32(at + 4)?);
        self.in_bounds(ptr, u64::from(len) * 8)?;
        self.use_fuel(u64::from(len) * size_of::<String>() as u64)?;
        if ptr % 4 != 0 {
            return Err(Stop::Invalid);
        }
        // The whole list must lie in known memory before any element is read.
        self.bytes(ptr, u64::from(len) * 8)?;
        (0..len).map(|i| self.string(ptr + i * 8)).collect()
    }
}

/// Lifts the result as the canonical ABI says, then applies the host's documented checks.
/// `None` when the result reads memory the model does not know, or when the lift may or may
/// not have run out of hostcall fuel.
fn reference(memory: &Memory<'_>) -> Option<Expected> {
    memory.fuel.set(0);
    memory.fuel_slack.set(0);
    match lift(memory) {
        Ok(_) if memory.fuel.get() + memory.fuel_slack.get() > HOSTCALL_FUEL => None,
        Ok(expected) => Some(expected),
        Err(Stop::Invalid) => Some(Expected::Invalid(None)),
        // Wasmtime's count is at least the reference's, so it ran out no later, and nothing
        // before that point was invalid (the reference reads in wasmtime's order).
        Err(Stop::Fuel) => Some(Expected::Invalid(Some(format!(
            "the result is too large: the host copies at most {} MiB out of a module in one \
             call (its result, or the arguments of one lookup)",
            MAX_RESULT_BYTES >> 20
        )))),
        Err(Stop::Unknown) => None,
    }
}

fn lift(m: &Memory<'_>) -> Result<Expected, Stop> {
    let at = HEX_RESULT_AT;
    match m.u8(at)? {
        0 => {}
        1 => {
            let mut message = m.string(at + 4)?;
            if message.len() > 1024 {
                let mut end = 1024;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
                message.push('…');
            }
            return Ok(Expected::Rejected(message));
        }
        _ => return Err(Stop::Invalid),
    }
    let (ptr, len) = (m.u32(at + 4)?, m.u32(at + 8)?);
    if ptr % 4 != 0 {
        return Err(Stop::Invalid);
    }
    let size = m.version.finding_size();
    // The whole list must lie in memory before any element is read.
    m.bytes(ptr, u64::from(len) * u64::from(size))?;
    m.fuel_slack.set(u64::from(len) * FINDING_FUEL_MAX);
    let mut findings = Vec::new();
    for i in 0..len {
        let f = ptr + i * size;
        // The module's rule id is lifted (so it must be valid), then replaced by the host.
        m.string(f)?;
        let severity = match m.u8(f + 8)? {
            0 => Severity::Info,
            1 => Severity::Warning,
            2 => Severity::Error,
            _ => return Err(Stop::Invalid),
        };
        let (message, path, hint) = (m.string(f + 12)?, m.string(f + 20)?, m.string(f + 28)?);
        let subject = match m.u8(f + 36)? {
            0 => None,
            1 => Some(ObjectRef {
                api_version: m.string(f + 40)?,
                kind: m.string(f + 48)?,
                namespace: m.string(f + 56)?,
                name: m.string(f + 64)?,
            }),
            _ => return Err(Stop::Invalid),
        };
        let redact = match m.version {
            Version::V0_1 => Vec::new(),
            Version::V0_2 => m.strings(f + 72)?,
        };
        findings.push(Finding {
            rule_id: ID.to_owned(),
            severity,
            message,
            path,
            hint,
            subject,
            redact,
            suppressed: false,
        });
    }
    // The host's checks, in its order: the count, then each finding's message, hint, path, and
    // its redact list.
    if findings.len() > MAX_FINDINGS {
        return Ok(Expected::Invalid(None));
    }
    for f in &findings {
        for (what, text) in [
            ("message", &f.message),
            ("hint", &f.hint),
            ("path", &f.path),
        ] {
            if text.len() > MAX_TEXT {
                return Ok(Expected::Invalid(Some(format!(
                    "a finding's {what} is {} bytes long",
                    text.len()
                ))));
            }
        }
        if f.redact.len() > MAX_REDACT || f.redact.iter().any(|p| p.len() > MAX_TEXT) {
            return Ok(Expected::Invalid(Some(
                "a finding's redact list is too long".to_owned(),
            )));
        }
    }
    Ok(Expected::Findings(findings))
}

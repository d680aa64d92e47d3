//! Test support (feature `test-support`):
//! - rule components written in WAT against the real `ws3:policy@0.1` and `@0.2` WIT, used by
//!   the engine's, the linter's and the webhook's tests to exercise well-behaved, failing and
//!   hostile modules without a wasm toolchain;
//! - [`native`]: the harness rule crates test with, which runs a rule compiled into the test
//!   binary through the engine's own request building, lookups and lint and admission semantics.

mod native;

pub use native::{
    FakeCluster, NativeRule, admit, lint, lint_set, lint_set_with, native, rule_set, run,
};

/// The WIT of interface 0.1, as text.
const WIT_V0_1: &str = include_str!("../../../wit/since_v0.1.0/policy.wit");
/// The WIT of interface 0.2, as text.
const WIT_V0_2: &str = include_str!("../../../wit/since_v0.2.0/policy.wit");

/// Where the static data of a test module starts.
const BASE: u32 = 1024;

/// Where a [`Behaviour::HexResult`] module copies the bytes its object spells, and the address
/// its `validate` returns: the canonical-ABI return area of `result<list<finding>, string>`.
pub const HEX_RESULT_AT: u32 = 0x1_0000;
/// Most bytes a [`Behaviour::HexResult`] module copies (the rest of the object is ignored).
pub const HEX_RESULT_MAX: u32 = 0x1_0000;

/// What a test rule's `validate` does.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Returns these findings.
    Findings(Vec<TestFinding>),
    /// Traps (`unreachable`).
    Trap,
    /// Loops forever (stopped by the epoch deadline).
    Loop,
    /// Grows memory a page at a time until refused, then aborts (as a Rust guest does).
    GrowMemory,
    /// Returns `err(message)`.
    Reject(&'static str),
    /// One error finding when the operation is DELETE (no object, an old object).
    DenyDelete,
    /// One error finding when the object's JSON is longer than this many bytes: a rule whose
    /// verdict depends on the object's content (an UPDATE can add a violation or keep one).
    DenyLongerThan(u32),
    /// Returns a result with an unknown discriminant.
    BadDiscriminant,
    /// Returns `ok(list)` whose pointer is outside memory.
    WildPointer,
    /// Returns whatever the object says: the object's JSON is read as hex digits (lowercase, two
    /// per byte, at most [`HEX_RESULT_MAX`] bytes), the bytes are copied to [`HEX_RESULT_AT`], and
    /// that address is returned as the result, so the host lifts a result laid out by the
    /// caller: any discriminant, pointers, lengths and strings (the `module_result` fuzz target).
    /// The module's heap starts after that region. The same in both interface versions (0.2
    /// findings are 80 bytes, 0.1 findings 72).
    HexResult,
}

/// One finding a test rule returns.
#[derive(Debug, Clone, Copy)]
pub struct TestFinding {
    /// 0 info, 1 warning, 2 error.
    pub severity: u8,
    /// Message.
    pub message: &'static str,
    /// JSON path.
    pub path: &'static str,
    /// Hint.
    pub hint: &'static str,
}

/// A test rule module.
#[derive(Debug, Clone)]
pub struct TestRule {
    /// Rule id.
    pub id: &'static str,
    /// Kinds it reviews, as (group, kind).
    pub applies_to: Vec<(&'static str, &'static str)>,
    /// What `validate` does.
    pub behaviour: Behaviour,
    /// The `ws3:policy` version the module claims. A `0.2.x` version builds a module of the
    /// 0.2 shape (its metadata, its request passed by pointer, findings with an empty
    /// `redact`); any other builds the 0.1 shape under that version (to test version checks).
    pub interface_version: &'static str,
    /// Whether `metadata` traps.
    pub trap_in_metadata: bool,
}

impl TestRule {
    /// A rule for interface 0.1.0.
    pub fn new(
        id: &'static str,
        applies_to: &[(&'static str, &'static str)],
        behaviour: Behaviour,
    ) -> Self {
        Self {
            id,
            applies_to: applies_to.to_vec(),
            behaviour,
            interface_version: "0.1.0",
            trap_in_metadata: false,
        }
    }

    /// The same rule built against another interface version (see
    /// [`TestRule::interface_version`]).
    #[must_use]
    pub fn with_interface_version(mut self, version: &'static str) -> Self {
        self.interface_version = version;
        self
    }

    /// The same rule with a `metadata` that traps.
    #[must_use]
    pub fn trapping_in_metadata(mut self) -> Self {
        self.trap_in_metadata = true;
        self
    }

    /// The component.
    pub fn component(&self) -> Vec<u8> {
        component_from_wat(&self.wat(), self.interface_version)
    }

    /// The WAT text of the core module.
    pub fn wat(&self) -> String {
        let mut img = Image { bytes: Vec::new() };
        let id = img.string(self.id);
        let title = img.string("test rule");
        let rationale = img.string("for tests");
        let docs = img.string("# test rule");
        let kinds: Vec<[u32; 4]> = self
            .applies_to
            .iter()
            .map(|(g, k)| {
                let g = img.string(g);
                let k = img.string(k);
                [g.0, g.1, k.0, k.1]
            })
            .collect();
        let kinds_at = img.words(&kinds.concat());
        let severity = match &self.behaviour {
            Behaviour::Findings(f) => f.first().map_or(2, |f| f.severity),
            _ => 2,
        };
        let v0_2 = self.is_v0_2();
        let meta = if v0_2 {
            // scope: kind-ref, operations (flags: u8, padded); every operation.
            let scopes: Vec<u32> = kinds
                .iter()
                .flat_map(|k| [k[0], k[1], k[2], k[3], 7])
                .collect();
            let scopes_at = img.words(&scopes);
            // rule-metadata: id, title, severity (u8, padded), applies-to, workloads (flags,
            // padded), exempt-namespaces, reads, rationale, docs.
            img.words(&[
                id.0,
                id.1,
                title.0,
                title.1,
                u32::from(severity),
                scopes_at,
                kinds.len() as u32,
                0,
                0,
                0,
                0,
                0,
                rationale.0,
                rationale.1,
                docs.0,
                docs.1,
            ])
        } else {
            // rule-metadata: id, title, severity (u8, padded), applies-to, reads, rationale, docs.
            img.words(&[
                id.0,
                id.1,
                title.0,
                title.1,
                u32::from(severity),
                kinds_at,
                kinds.len() as u32,
                0,
                0,
                rationale.0,
                rationale.1,
                docs.0,
                docs.1,
            ])
        };
        let findings = |img: &mut Image, list: &[TestFinding]| -> u32 {
            let strings: Vec<_> = list
                .iter()
                .map(|f| {
                    (
                        img.string(f.message),
                        img.string(f.path),
                        img.string(f.hint),
                    )
                })
                .collect();
            let mut words = Vec::new();
            for (f, (m, p, h)) in list.iter().zip(strings) {
                // finding: rule-id, severity, message, path, hint, subject (option<object-ref>),
                // and in 0.2 redact (list<string>, empty).
                words.extend([
                    id.0,
                    id.1,
                    u32::from(f.severity),
                    m.0,
                    m.1,
                    p.0,
                    p.1,
                    h.0,
                    h.1,
                    0,
                ]);
                words.extend([0; 8]);
                if v0_2 {
                    words.extend([0; 2]);
                }
            }
            let at = img.words(&words);
            img.words(&[0, at, list.len() as u32])
        };
        let empty = img.words(&[0, 0, 0]);
        let body = match &self.behaviour {
            Behaviour::Findings(list) => format!("(i32.const {})", findings(&mut img, list)),
            Behaviour::Trap => "unreachable".to_owned(),
            Behaviour::Loop => "(loop $l (br $l)) (i32.const 0)".to_owned(),
            Behaviour::GrowMemory => {
                "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable".to_owned()
            }
            Behaviour::Reject(message) => {
                let m = img.string(message);
                format!("(i32.const {})", img.words(&[1, m.0, m.1]))
            }
            Behaviour::DenyDelete => {
                let deny = findings(
                    &mut img,
                    &[TestFinding { severity: 2, message: "deleting this is not allowed", path: "", hint: "keep it" }],
                );
                // operation is delete (2), object absent, old object present.
                format!(
                    "(if (result i32) (i32.and (i32.eq (local.get $op) (i32.const 2)) (i32.and (i32.eqz (local.get $has_object)) (i32.eq (local.get $has_old) (i32.const 1)))) (then (i32.const {deny})) (else (i32.const {empty})))"
                )
            }
            Behaviour::DenyLongerThan(limit) => {
                let deny = findings(
                    &mut img,
                    &[TestFinding { severity: 2, message: "the object is too long", path: "metadata", hint: "shorten it" }],
                );
                // object present and its length over the limit.
                format!(
                    "(if (result i32) (i32.and (i32.eq (local.get $has_object) (i32.const 1)) (i32.gt_u (local.get $object_len) (i32.const {limit}))) (then (i32.const {deny})) (else (i32.const {empty})))"
                )
            }
            Behaviour::BadDiscriminant => format!("(i32.const {})", img.words(&[7, 0, 0])),
            Behaviour::WildPointer => format!("(i32.const {})", img.words(&[0, 0x7fff_0000, 5])),
            // Bytes i of the region = hex digits 2i, 2i+1 of the object; a digit that is not 0-9
            // reads as a-f (garbage in, bytes out).
            Behaviour::HexResult => format!(
                "(local.set $n (i32.shr_u (local.get $object_len) (i32.const 1)))
    (if (i32.gt_u (local.get $n) (i32.const {HEX_RESULT_MAX})) (then (local.set $n (i32.const {HEX_RESULT_MAX}))))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8
          (i32.add (i32.const {HEX_RESULT_AT}) (local.get $i))
          (i32.or
            (i32.shl (call $digit (i32.load8_u (i32.add (local.get $object) (i32.shl (local.get $i) (i32.const 1))))) (i32.const 4))
            (call $digit (i32.load8_u (i32.add (local.get $object) (i32.add (i32.shl (local.get $i) (i32.const 1)) (i32.const 1)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (i32.const {HEX_RESULT_AT})"
            ),
        };
        let metadata_body = if self.trap_in_metadata {
            "unreachable".to_owned()
        } else {
            format!("(i32.const {meta})")
        };
        let data: String = img.bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        let mut pages = (BASE as usize + img.bytes.len()).div_ceil(65536) as u32;
        if matches!(self.behaviour, Behaviour::HexResult) {
            assert!(BASE as usize + img.bytes.len() <= HEX_RESULT_AT as usize);
            pages = (HEX_RESULT_AT + HEX_RESULT_MAX) / 65536;
        }
        let heap = pages * 65536;
        let version = self.interface_version;
        // The request: flat parameters in 0.1; in 0.2 (more than 16 flat values) a pointer to
        // the record: operation (u8) at 0, kind at 4, name at 20, object (option<string>) at
        // 28 (its string at 32), old-object at 40, namespace, settings, pod-template, context.
        let (params, request) = if v0_2 {
            (
                "(param $request i32)",
                "(local $op i32) (local $has_object i32) (local $object i32) (local $object_len i32) (local $has_old i32)
    (local.set $op (i32.load8_u (local.get $request)))
    (local.set $has_object (i32.load8_u offset=28 (local.get $request)))
    (local.set $object (i32.load offset=32 (local.get $request)))
    (local.set $object_len (i32.load offset=36 (local.get $request)))
    (local.set $has_old (i32.load8_u offset=40 (local.get $request)))",
            )
        } else {
            (
                "(param $op i32) (param $has_object i32) (param $object i32) (param $object_len i32)
    (param $has_old i32) (param i32 i32 i32 i32 i32 i32)",
                "",
            )
        };
        format!(
            r#"(module
  (memory (export "memory") {mem_pages})
  (global $heap (mut i32) (i32.const {heap}))
  (data (i32.const {BASE}) "{data}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ptr) (local.get 3)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $ptr))
  (func (export "ws3:policy/rule@{version}#metadata") (result i32) {metadata_body})
  (func $digit (param i32) (result i32)
    (if (result i32) (i32.le_u (local.get 0) (i32.const 57))
      (then (i32.and (i32.sub (local.get 0) (i32.const 48)) (i32.const 15)))
      (else (i32.and (i32.sub (local.get 0) (i32.const 87)) (i32.const 15)))))
  (func (export "ws3:policy/rule@{version}#validate")
    {params} (result i32)
    (local $i i32) (local $n i32)
    {request}
    {body})
)"#,
            mem_pages = pages + 1,
        )
    }

    /// Whether the module has the 0.2 shape.
    fn is_v0_2(&self) -> bool {
        self.interface_version.starts_with("0.2.")
    }
}

/// Static memory image of a test module.
struct Image {
    bytes: Vec<u8>,
}

impl Image {
    fn addr(&self) -> u32 {
        BASE + self.bytes.len() as u32
    }

    fn align(&mut self) {
        while !self.bytes.len().is_multiple_of(8) {
            self.bytes.push(0);
        }
    }

    fn string(&mut self, s: &str) -> (u32, u32) {
        let at = self.addr();
        self.bytes.extend_from_slice(s.as_bytes());
        (at, s.len() as u32)
    }

    fn words(&mut self, words: &[u32]) -> u32 {
        self.align();
        let at = self.addr();
        for w in words {
            self.bytes.extend_from_slice(&w.to_le_bytes());
        }
        at
    }
}

/// Turns a core module in WAT, written against `ws3:policy@<version>`, into a component: the
/// 0.2 WIT for a `0.2.x` version, else the 0.1 WIT under that version.
///
/// # Panics
/// On invalid WAT: these are test fixtures.
pub fn component_from_wat(wat: &str, version: &str) -> Vec<u8> {
    let (wit, package) = if version.starts_with("0.2.") {
        (WIT_V0_2, "package ws3:policy@0.2.0;")
    } else {
        (WIT_V0_1, "package ws3:policy@0.1.0;")
    };
    let wit = wit.replace(package, &format!("package ws3:policy@{version};"));
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("policy.wit", &wit)
        .expect("the WIT parses");
    let world = resolve
        .select_world(&[pkg], Some("policy"))
        .expect("world `policy` exists");
    let mut module = wat::parse_str(wat).expect("test WAT parses");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("component metadata embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("the module encodes as a component")
}

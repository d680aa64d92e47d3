//! Remembering what a rule derived from other objects while they stay the same.
//!
//! The host tells a rule, with each request, which set of objects its lookups answer from
//! (`Request::context`): one linted file set, or one admission review. While that stays the same,
//! so does everything a rule derives from lookups, so the rule may keep it. This is what keeps a
//! file set of ten thousand workloads in one namespace linear: the namespace's NetworkPolicies are
//! read and judged once, not once per workload.
//!
//! ```
//! # use ws3_policy_sdk::prelude::*;
//! # let req = Request::lint("apps", "Deployment", "{}");
//! let covered: bool = req.memo("coverage/default", || Ok(true))?;
//! # Ok::<(), Error>(())
//! ```
//!
//! Context `0` means "unknown": nothing is remembered.

use std::{any::Any, cell::RefCell, collections::HashMap};

use crate::Error;

/// The context the remembered values belong to, and the values by key.
type Memo = (u64, HashMap<String, Box<dyn Any>>);

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new((0, HashMap::new()));
}

/// The value remembered under `key` for `context`, or what `derive` returns (remembered when
/// it succeeds).
pub fn get_or_insert<T: Clone + 'static>(
    context: u64,
    key: &str,
    derive: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    if context == 0 {
        return derive();
    }
    let found = MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.0 != context {
            m.0 = context;
            m.1.clear();
        }
        m.1.get(key).and_then(|v| v.downcast_ref::<T>()).cloned()
    });
    if let Some(value) = found {
        return Ok(value);
    }
    let value = derive()?;
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.0 == context {
            m.1.insert(key.to_owned(), Box::new(value.clone()));
        }
    });
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_context() {
        let mut calls = 0;
        let mut get = |context| {
            get_or_insert(context, "k", || {
                calls += 1;
                Ok(calls)
            })
            .unwrap()
        };
        assert_eq!(get(7), 1);
        assert_eq!(get(7), 1);
        assert_eq!(get(8), 2, "a new context forgets");
        assert_eq!(get(0), 3, "context 0 never remembers");
        assert_eq!(get(0), 4);
        let failed: Result<u8, Error> = get_or_insert(9, "e", || Err(Error::new("no")));
        assert!(failed.is_err());
        assert_eq!(
            get_or_insert(9, "e", || Ok(5u8)).unwrap(),
            5,
            "failures are not kept"
        );
    }
}

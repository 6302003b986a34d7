//! Caps on concurrent work of one kind: so many at once in the process,
//! and so many per tenant, so that one tenant can take at most its share
//! and never all of it. A refusal is immediate (RESOURCE_EXHAUSTED, saying
//! which cap and how many), never a queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use estate_errors::ApiError;

/// The caps on one kind of work.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What the work is, for refusals ("inventory uploads").
    what: &'static str,
    max_total: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    per_key: HashMap<String, usize>,
}

/// A cap on one tenant's share: at most `max` at once under `key`, which
/// `describes` in a refusal ("for customers/…").
#[derive(Debug, Clone)]
pub struct Share {
    pub key: String,
    pub max: usize,
    pub describes: String,
}

/// One admitted piece of work; its place is given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    inner: Arc<Inner>,
    keys: Vec<String>,
}

impl Admission {
    /// At most `max_total` of `what` at once in this process.
    pub fn new(what: &'static str, max_total: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                what,
                max_total,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Admits one more unless the process or any of `shares` is full.
    pub fn try_admit(&self, shares: &[Share]) -> Result<Admitted, ApiError> {
        let inner = &self.inner;
        let mut state = inner
            .state
            .lock()
            .map_err(|_| ApiError::internal("admission state poisoned"))?;
        if state.total >= inner.max_total {
            return Err(exhausted(format!(
                "{} {} are in progress on this server, the most it takes at once; retry later",
                inner.max_total, inner.what
            )));
        }
        for share in shares {
            let running = state.per_key.get(&share.key).copied().unwrap_or(0);
            if running >= share.max {
                return Err(exhausted(format!(
                    "{running} {} are in progress {}, the most allowed at once; \
                     wait for one to finish",
                    inner.what, share.describes
                )));
            }
        }
        state.total += 1;
        for share in shares {
            *state.per_key.entry(share.key.clone()).or_insert(0) += 1;
        }
        Ok(Admitted {
            inner: inner.clone(),
            keys: shares.iter().map(|share| share.key.clone()).collect(),
        })
    }

    /// How many are admitted now.
    pub fn in_progress(&self) -> usize {
        self.inner
            .state
            .lock()
            .map(|state| state.total)
            .unwrap_or(0)
    }
}

fn exhausted(message: String) -> ApiError {
    ApiError::ResourceExhausted(message)
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        state.total = state.total.saturating_sub(1);
        for key in &self.keys {
            if let Some(count) = state.per_key.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    state.per_key.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(key: &str, max: usize) -> Share {
        Share {
            key: key.into(),
            max,
            describes: format!("for {key}"),
        }
    }

    #[test]
    fn a_tenant_gets_its_share_and_the_process_its_total() {
        let admission = Admission::new("uploads", 3);
        let a1 = admission.try_admit(&[share("a", 2)]).unwrap();
        let _a2 = admission.try_admit(&[share("a", 2)]).unwrap();
        let refused = admission.try_admit(&[share("a", 2)]).unwrap_err();
        assert!(matches!(&refused, ApiError::ResourceExhausted(m) if m.contains("for a")));
        let _b1 = admission.try_admit(&[share("b", 2)]).unwrap();
        let refused = admission.try_admit(&[share("c", 2)]).unwrap_err();
        assert!(matches!(&refused, ApiError::ResourceExhausted(m) if m.contains("on this server")));
        drop(a1);
        assert_eq!(admission.in_progress(), 2);
        admission.try_admit(&[share("a", 2)]).unwrap();
    }

    #[test]
    fn every_share_of_a_piece_of_work_is_held_and_given_back() {
        let admission = Admission::new("uploads", 10);
        let both = admission
            .try_admit(&[share("customer", 1), share("caller", 2)])
            .unwrap();
        assert!(admission.try_admit(&[share("customer", 1)]).is_err());
        let _other = admission
            .try_admit(&[share("other customer", 1), share("caller", 2)])
            .unwrap();
        assert!(
            admission
                .try_admit(&[share("third customer", 1), share("caller", 2)])
                .is_err()
        );
        drop(both);
        admission.try_admit(&[share("customer", 1)]).unwrap();
    }
}

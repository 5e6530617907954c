//! Reconciliation: where did every accepted order go? Stored exactly once, or in the DLQ;
//! anything else is missing or duplicated.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::queue::DeadLetter;

/// The outcome of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Orders answered 202.
    pub accepted: usize,
    /// Accepted orders found in the table.
    pub stored: usize,
    /// Accepted orders found in the dead-letter queue (and not stored).
    pub dead_lettered: usize,
    /// Accepted orders found nowhere.
    pub missing: usize,
    /// Accepted orders stored more than once (the table is keyed by `order_id`, so this
    /// counts what a scan actually returns rather than trusting the key).
    pub duplicated: usize,
    /// Dead-lettered copies of orders that are stored anyway (a duplicate delivery that
    /// failed while its twin succeeded): harmless, a redrive stores nothing twice.
    pub dlq_copies_of_stored: usize,
    /// Dead-lettered messages that are not accepted orders (poison messages).
    pub other_dead_letters: usize,
    /// Up to ten missing order ids, to start looking.
    pub missing_examples: Vec<String>,
}

impl Reconciliation {
    /// Compares accepted ids with what the table and the DLQ hold.
    pub fn compute(accepted: &[String], stored: &[String], dead: &[DeadLetter]) -> Self {
        let mut times_stored: HashMap<&str, usize> = HashMap::new();
        for id in stored {
            *times_stored.entry(id.as_str()).or_default() += 1;
        }
        let mut in_dlq: HashMap<&str, usize> = HashMap::new();
        let mut other = 0;
        for d in dead {
            match d.order_id.as_deref() {
                Some(id) => *in_dlq.entry(id).or_default() += 1,
                None => other += 1,
            }
        }
        let accepted_set: HashSet<&str> = accepted.iter().map(String::as_str).collect();
        let mut r = Reconciliation {
            accepted: accepted_set.len(),
            other_dead_letters: other
                + in_dlq
                    .keys()
                    .filter(|id| !accepted_set.contains(*id))
                    .count(),
            ..Default::default()
        };
        for id in accepted_set {
            let stored_times = times_stored.get(id).copied().unwrap_or(0);
            let dead_copies = in_dlq.get(id).copied().unwrap_or(0);
            if stored_times > 0 {
                r.stored += 1;
                r.duplicated += usize::from(stored_times > 1);
                r.dlq_copies_of_stored += dead_copies;
            } else if dead_copies > 0 {
                r.dead_lettered += 1;
            } else {
                r.missing += 1;
                if r.missing_examples.len() < 10 {
                    r.missing_examples.push(id.to_owned());
                }
            }
        }
        r
    }

    /// True when nothing is missing or duplicated.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.duplicated == 0
    }
}

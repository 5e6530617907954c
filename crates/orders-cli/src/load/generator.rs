//! Realistic orders from a seeded generator: the same seed gives the same orders.
//!
//! - SKUs: a catalog of [`CATALOG_SIZE`] (`SKU-00001`...), drawn with a Zipf-like
//!   popularity (weight `1 / rank^1.1`): a few best sellers, a long tail.
//! - Items per order: mostly one or two (1: 50 %, 2: 25 %, 3: 12 %, 4: 6 %, 5: 3 %,
//!   6-10: 4 %), distinct SKUs.
//! - Quantity per item: mostly 1 (1: 70 %, 2: 15 %, 3: 7 %, 4-5: 5 %, 6-20: 3 %).
//! - E-mail: `customer<n>@<one of four domains>`, `n` up to 50,000.
//!
//! With `invalid_ratio`, that share of orders (drawn per order) is replaced by a request
//! the API must answer 400, one of [`InvalidKind`], each chosen with equal chance.

use serde::Serialize;
use serde_json::{json, Value};

/// SKUs in the catalog.
pub const CATALOG_SIZE: usize = 1000;
const DOMAINS: [&str; 4] = [
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];

/// A request the API answers 400, by `openapi.yaml`'s schema (at the edge: API Gateway's
/// model, or `orders local`'s copy of it) or by the ingest function's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidKind {
    /// An item with `qty: 0` (schema: minimum 1).
    QtyZero,
    /// An item with `qty: 10001` (schema: maximum 10,000).
    QtyTooLarge,
    /// No `items` at all (schema: required).
    MissingItems,
    /// `items: []` (schema: at least one).
    EmptyItems,
    /// An e-mail without `@` (the function: not a plausible address).
    BadEmail,
    /// A SKU of spaces (schema pattern and the function: not blank).
    BlankSku,
}

impl InvalidKind {
    /// Every kind, in a fixed order.
    pub const ALL: [InvalidKind; 6] = [
        InvalidKind::QtyZero,
        InvalidKind::QtyTooLarge,
        InvalidKind::MissingItems,
        InvalidKind::EmptyItems,
        InvalidKind::BadEmail,
        InvalidKind::BlankSku,
    ];
}

/// One order of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOrder {
    /// Position in the run, from 0.
    pub index: u64,
    /// The JSON body to send.
    pub body: Value,
    /// `Some` when the body is deliberately invalid (the API must answer 400).
    pub invalid: Option<InvalidKind>,
}

impl PlannedOrder {
    /// The body's bytes, sent identically on every attempt (an `Idempotency-Key` is tied
    /// to the body's fingerprint).
    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

/// The seeded order generator (an endless iterator of [`PlannedOrder`]s).
#[derive(Debug, Clone)]
pub struct OrderGenerator {
    rng: fastrand::Rng,
    invalid_ratio: f64,
    next_index: u64,
    /// Cumulative SKU weights, for drawing by popularity.
    cumulative: Vec<f64>,
}

impl OrderGenerator {
    /// A generator for `seed`; `invalid_ratio` (0 to 1) of its orders are invalid.
    pub fn new(seed: u64, invalid_ratio: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=CATALOG_SIZE)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(1.1);
                total
            })
            .collect();
        Self {
            rng: fastrand::Rng::with_seed(seed),
            invalid_ratio: invalid_ratio.clamp(0.0, 1.0),
            next_index: 0,
            cumulative,
        }
    }

    /// The SKU of popularity rank `rank` (1 is the best seller).
    pub fn sku(rank: usize) -> String {
        format!("SKU-{rank:05}")
    }

    fn draw_sku_rank(&mut self) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = self.rng.f64() * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(CATALOG_SIZE - 1)
            + 1
    }

    fn draw_items(&mut self) -> usize {
        match self.rng.u32(0..100) {
            0..50 => 1,
            50..75 => 2,
            75..87 => 3,
            87..93 => 4,
            93..96 => 5,
            _ => self.rng.usize(6..=10),
        }
    }

    fn draw_qty(&mut self) -> u32 {
        match self.rng.u32(0..100) {
            0..70 => 1,
            70..85 => 2,
            85..92 => 3,
            92..97 => self.rng.u32(4..=5),
            _ => self.rng.u32(6..=20),
        }
    }

    fn valid_body(&mut self) -> Value {
        let email = format!(
            "customer{}@{}",
            self.rng.u32(1..=50_000),
            DOMAINS[self.rng.usize(..DOMAINS.len())]
        );
        let n = self.draw_items();
        let mut ranks: Vec<usize> = Vec::with_capacity(n);
        while ranks.len() < n {
            let rank = self.draw_sku_rank();
            if !ranks.contains(&rank) {
                ranks.push(rank);
            }
        }
        let items: Vec<Value> = ranks
            .into_iter()
            .map(|rank| json!({"sku": Self::sku(rank), "qty": self.draw_qty()}))
            .collect();
        json!({"email": email, "items": items})
    }

    fn spoil(&mut self, mut body: Value, kind: InvalidKind) -> Value {
        let first = &mut body["items"][0];
        match kind {
            InvalidKind::QtyZero => first["qty"] = json!(0),
            InvalidKind::QtyTooLarge => first["qty"] = json!(10_001),
            InvalidKind::BlankSku => first["sku"] = json!("   "),
            InvalidKind::EmptyItems => body["items"] = json!([]),
            InvalidKind::MissingItems => {
                if let Some(map) = body.as_object_mut() {
                    map.remove("items");
                }
            }
            InvalidKind::BadEmail => {
                let email = body["email"].as_str().unwrap_or_default().replace('@', ".");
                body["email"] = json!(email);
            }
        }
        body
    }
}

impl Iterator for OrderGenerator {
    type Item = PlannedOrder;

    fn next(&mut self) -> Option<PlannedOrder> {
        let index = self.next_index;
        self.next_index += 1;
        // Always draw the same numbers per order, so the ratio does not change the valid
        // orders' contents for a seed.
        let spoil = self.rng.f64() < self.invalid_ratio;
        let kind = InvalidKind::ALL[self.rng.usize(..InvalidKind::ALL.len())];
        let body = self.valid_body();
        let (body, invalid) = if spoil {
            (self.spoil(body, kind), Some(kind))
        } else {
            (body, None)
        };
        Some(PlannedOrder {
            index,
            body,
            invalid,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_orders_and_another_seed_others() {
        let a: Vec<_> = OrderGenerator::new(7, 0.1).take(200).collect();
        let b: Vec<_> = OrderGenerator::new(7, 0.1).take(200).collect();
        let c: Vec<_> = OrderGenerator::new(8, 0.1).take(200).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().enumerate().all(|(i, o)| o.index == i as u64));
    }

    #[test]
    fn the_invalid_ratio_holds_and_every_kind_appears() {
        let orders: Vec<_> = OrderGenerator::new(42, 0.1).take(10_000).collect();
        let invalid = orders.iter().filter(|o| o.invalid.is_some()).count();
        assert!(
            (900..=1100).contains(&invalid),
            "about 10 % invalid: {invalid}"
        );
        let mut kinds: HashMap<InvalidKind, usize> = HashMap::new();
        for o in &orders {
            if let Some(k) = o.invalid {
                *kinds.entry(k).or_default() += 1;
            }
        }
        assert_eq!(kinds.len(), InvalidKind::ALL.len(), "{kinds:?}");
        assert!(OrderGenerator::new(1, 0.0)
            .take(1000)
            .all(|o| o.invalid.is_none()));
        assert!(OrderGenerator::new(1, 1.0)
            .take(1000)
            .all(|o| o.invalid.is_some()));
    }

    #[test]
    fn valid_orders_keep_every_rule_of_the_api() {
        for o in OrderGenerator::new(3, 0.0).take(5000) {
            let email = o.body["email"].as_str().unwrap();
            assert_eq!(email.matches('@').count(), 1, "{email}");
            let items = o.body["items"].as_array().unwrap();
            assert!((1..=10).contains(&items.len()));
            let mut skus: Vec<&str> = items.iter().map(|i| i["sku"].as_str().unwrap()).collect();
            for i in items {
                let qty = i["qty"].as_u64().unwrap();
                assert!((1..=20).contains(&qty));
                assert!(i["sku"].as_str().unwrap().starts_with("SKU-"));
            }
            skus.sort_unstable();
            skus.dedup();
            assert_eq!(skus.len(), items.len(), "distinct SKUs per order");
        }
    }

    #[test]
    fn the_distributions_look_like_a_shop() {
        let orders: Vec<_> = OrderGenerator::new(11, 0.0).take(20_000).collect();
        let one_item = orders
            .iter()
            .filter(|o| o.body["items"].as_array().unwrap().len() == 1)
            .count();
        assert!((9_000..=11_000).contains(&one_item), "{one_item}");
        let lines: Vec<&Value> = orders
            .iter()
            .flat_map(|o| o.body["items"].as_array().unwrap())
            .collect();
        let qty_one = lines.iter().filter(|l| l["qty"] == 1).count();
        let share = qty_one as f64 / lines.len() as f64;
        assert!((0.66..=0.74).contains(&share), "{share}");
        let best = lines.iter().filter(|l| l["sku"] == "SKU-00001").count();
        let tail = lines.iter().filter(|l| l["sku"] == "SKU-00500").count();
        assert!(
            best > 20 * tail.max(1),
            "best seller {best}, rank 500 {tail}"
        );
    }

    #[test]
    fn each_invalid_kind_breaks_exactly_its_rule() {
        let mut g = OrderGenerator::new(5, 0.0);
        for kind in InvalidKind::ALL {
            let valid = g.valid_body();
            let body = g.spoil(valid, kind);
            match kind {
                InvalidKind::QtyZero => assert_eq!(body["items"][0]["qty"], 0),
                InvalidKind::QtyTooLarge => assert_eq!(body["items"][0]["qty"], 10_001),
                InvalidKind::BlankSku => assert_eq!(body["items"][0]["sku"], "   "),
                InvalidKind::EmptyItems => assert_eq!(body["items"], json!([])),
                InvalidKind::MissingItems => assert!(body.get("items").is_none()),
                InvalidKind::BadEmail => {
                    assert!(!body["email"].as_str().unwrap().contains('@'))
                }
            }
        }
    }
}

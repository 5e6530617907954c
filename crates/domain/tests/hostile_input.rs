//! Property tests: whatever bytes or JSON arrive, the parser answers (never panics), and
//! every answer passes the domain's oracle (`orders_domain::oracle`, the fuzz target's
//! checks): an accepted order keeps every rule, only non-JSON is `invalid_json`, a
//! validation failure lists well-formed errors. Each property counts its answers and fails
//! unless every branch it claims to cover was reached. A failing case is saved beside this
//! file, in `hostile_input.proptest-regressions` (committed: every case in it is replayed first
//! on every run).

use std::cell::Cell;

use orders_domain::oracle::check_parse;
use orders_domain::{
    NewOrder, OrderRejection, MAX_EMAIL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{json, Value};

/// How many inputs ended in each answer.
#[derive(Debug, Default)]
struct Answers {
    accepted: Cell<u32>,
    validation: Cell<u32>,
    invalid_json: Cell<u32>,
}

impl Answers {
    fn count(&self, answer: &Result<NewOrder, OrderRejection>) {
        let cell = match answer {
            Ok(_) => &self.accepted,
            Err(OrderRejection::Validation(_)) => &self.validation,
            Err(OrderRejection::InvalidJson(_)) => &self.invalid_json,
        };
        cell.set(cell.get() + 1);
    }
}

/// Runs `property` on `cases` inputs of `strategy` with proptest's runner (shrinking, and
/// the regression file beside this source), and returns how the answers split.
fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value, &Answers) -> Result<(), TestCaseError>,
) -> Answers {
    let mut runner = TestRunner::new(Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // No shrinking past 10 s: a failure is reported with what was reached by then.
        max_shrink_time: 10_000,
        ..Config::default()
    });
    let answers = Answers::default();
    if let Err(failure) = runner.run(&strategy, |value| property(value, &answers)) {
        panic!("{failure}");
    }
    answers
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes of three kinds: random, JSON text, and JSON text with one byte changed or cut
/// short (mostly not JSON any more, sometimes still JSON).
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    let json_text = || any_json().prop_map(|v| serde_json::to_vec(&v).unwrap());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        json_text(),
        (
            json_text(),
            any::<prop::sample::Index>(),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(mut bytes, at, byte, cut)| {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    if cut {
                        bytes.truncate(i);
                    } else {
                        bytes[i] = byte;
                    }
                }
                bytes
            }),
    ]
}

/// One change to a valid order: it breaks a rule, or moves a field to a boundary the rules
/// allow.
#[derive(Debug, Clone, Copy)]
enum Change {
    EmailWithoutAt,
    EmailWithTwoAts,
    EmailTooLong,
    EmailAtItsLongest,
    EmailNotAString,
    NoEmail,
    NoItems,
    ItemsEmpty,
    TooManyItems,
    AsManyItemsAsAllowed,
    QtyZero,
    QtyTooLarge,
    QtyAtItsLargest,
    QtyFraction,
    QtyAsText,
    SkuBlank,
    SkuTooLong,
    SkuAtItsLongest,
    SkuWithControl,
}

impl Change {
    const ALL: [Change; 19] = [
        Self::EmailWithoutAt,
        Self::EmailWithTwoAts,
        Self::EmailTooLong,
        Self::EmailAtItsLongest,
        Self::EmailNotAString,
        Self::NoEmail,
        Self::NoItems,
        Self::ItemsEmpty,
        Self::TooManyItems,
        Self::AsManyItemsAsAllowed,
        Self::QtyZero,
        Self::QtyTooLarge,
        Self::QtyAtItsLargest,
        Self::QtyFraction,
        Self::QtyAsText,
        Self::SkuBlank,
        Self::SkuTooLong,
        Self::SkuAtItsLongest,
        Self::SkuWithControl,
    ];

    /// Applies the change, and records in `broken` whether the field it wrote now breaks a
    /// rule (a later change to the same field overrides an earlier one).
    fn apply(self, order: &mut Value, broken: &mut Broken) {
        let is_broken = self.write(order);
        match self {
            Self::EmailWithoutAt
            | Self::EmailWithTwoAts
            | Self::EmailTooLong
            | Self::EmailAtItsLongest
            | Self::EmailNotAString
            | Self::NoEmail => broken.email = is_broken,
            Self::NoItems | Self::ItemsEmpty | Self::TooManyItems | Self::AsManyItemsAsAllowed => {
                *broken = Broken {
                    email: broken.email,
                    items: is_broken,
                    ..Broken::default()
                };
            }
            Self::QtyZero
            | Self::QtyTooLarge
            | Self::QtyAtItsLargest
            | Self::QtyFraction
            | Self::QtyAsText => broken.qty = is_broken,
            Self::SkuBlank | Self::SkuTooLong | Self::SkuAtItsLongest | Self::SkuWithControl => {
                broken.sku = is_broken
            }
        }
    }

    /// Writes the change; returns whether the field it wrote breaks a rule.
    fn write(self, order: &mut Value) -> bool {
        let longest_email = || {
            // 64 characters before the @, labels of at most 63: 254 in all.
            let local = "a".repeat(64);
            let domain = format!(
                "{}.{}.{}.com",
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(57)
            );
            format!("{local}@{domain}")
        };
        match self {
            Self::EmailWithoutAt => order["email"] = json!("jane.example.com"),
            Self::EmailWithTwoAts => order["email"] = json!("jane@doe@example.com"),
            Self::EmailTooLong => order["email"] = json!(format!("{}m", longest_email())),
            Self::EmailAtItsLongest => {
                let email = longest_email();
                assert_eq!(email.len(), MAX_EMAIL_LEN);
                order["email"] = json!(email);
                return false;
            }
            Self::EmailNotAString => order["email"] = json!(42),
            Self::NoEmail => {
                order.as_object_mut().unwrap().remove("email");
            }
            Self::NoItems => {
                order.as_object_mut().unwrap().remove("items");
            }
            Self::ItemsEmpty => order["items"] = json!([]),
            Self::TooManyItems | Self::AsManyItemsAsAllowed => {
                let n = if matches!(self, Self::TooManyItems) {
                    MAX_ITEMS + 1
                } else {
                    MAX_ITEMS
                };
                order["items"] = json!(vec![json!({"sku": "SKU-1", "qty": 1}); n]);
                return matches!(self, Self::TooManyItems);
            }
            Self::QtyZero
            | Self::QtyTooLarge
            | Self::QtyAtItsLargest
            | Self::QtyFraction
            | Self::QtyAsText => {
                let qty = match self {
                    Self::QtyZero => json!(MIN_QTY - 1),
                    Self::QtyTooLarge => json!(MAX_QTY + 1),
                    Self::QtyAtItsLargest => json!(MAX_QTY),
                    Self::QtyFraction => json!(1.5),
                    _ => json!("2"),
                };
                match first_item(order) {
                    Some(item) => item["qty"] = qty,
                    None => return false,
                }
                return !matches!(self, Self::QtyAtItsLargest);
            }
            Self::SkuBlank | Self::SkuTooLong | Self::SkuAtItsLongest | Self::SkuWithControl => {
                let sku = match self {
                    Self::SkuBlank => " ".to_owned(),
                    Self::SkuTooLong => "S".repeat(MAX_SKU_LEN + 1),
                    Self::SkuAtItsLongest => "é".repeat(MAX_SKU_LEN),
                    _ => "SKU\u{7}1".to_owned(),
                };
                match first_item(order) {
                    Some(item) => item["sku"] = json!(sku),
                    None => return false,
                }
                return !matches!(self, Self::SkuAtItsLongest);
            }
        }
        true
    }
}

/// Which fields of a changed order break a rule (`sku` and `qty`: of the first item).
#[derive(Debug, Default, Clone, Copy)]
struct Broken {
    email: bool,
    items: bool,
    sku: bool,
    qty: bool,
}

impl Broken {
    fn any(self) -> bool {
        self.email || self.items || self.sku || self.qty
    }
}

/// The order's first line item, when it has one (an earlier change may have removed them).
fn first_item(order: &mut Value) -> Option<&mut Value> {
    order.get_mut("items")?.get_mut(0)
}

/// A valid order with up to two changes, and whether one of them broke a rule.
fn near_valid_order() -> impl Strategy<Value = (Value, bool)> {
    let item = ("[A-Z]{1,8}-[0-9]{1,5}", MIN_QTY..=MAX_QTY)
        .prop_map(|(sku, qty)| json!({"sku": sku, "qty": qty}));
    let valid = (
        "[a-z]{1,12}(\\.[a-z]{1,8})?@[a-z]{1,12}\\.(com|org|co\\.uk)",
        prop::collection::vec(item, 1..=5),
    )
        .prop_map(|(email, items)| json!({"email": email, "items": items}));
    let changes = prop::collection::vec(prop::sample::select(&Change::ALL[..]), 0..=2);
    (valid, changes).prop_map(|(mut order, changes)| {
        let mut broken = Broken::default();
        for change in changes {
            change.apply(&mut order, &mut broken);
        }
        (order, broken.any())
    })
}

#[test]
fn arbitrary_bytes_are_invalid_json_exactly_when_they_are_not_json() {
    let answers = run(384, any_bytes(), |bytes, answers| {
        answers.count(&check_parse(&bytes));
        Ok(())
    });
    assert!(
        answers.invalid_json.get() >= 64 && answers.validation.get() >= 64,
        "both branches must be reached often: {answers:?}"
    );
}

#[test]
fn arbitrary_json_is_refused_with_well_formed_errors() {
    let answers = run(256, any_json(), |value, answers| {
        let answer = check_parse(&serde_json::to_vec(&value).unwrap());
        prop_assert!(
            !matches!(answer, Err(OrderRejection::InvalidJson(_))),
            "valid JSON refused as invalid"
        );
        answers.count(&answer);
        Ok(())
    });
    assert!(answers.validation.get() >= 200, "{answers:?}");
}

#[test]
fn near_valid_orders_are_accepted_exactly_when_no_rule_is_broken() {
    let answers = run(384, near_valid_order(), |(order, broken), answers| {
        let answer = check_parse(&serde_json::to_vec(&order).unwrap());
        match (&answer, broken) {
            (Ok(_), false) | (Err(OrderRejection::Validation(_)), true) => {}
            (Ok(_), true) => prop_assert!(false, "accepted although a rule is broken: {order}"),
            (Err(e), false) => prop_assert!(false, "refused a valid order ({e:?}): {order}"),
            (Err(e), true) => prop_assert!(false, "refused as {e:?}: {order}"),
        }
        answers.count(&answer);
        Ok(())
    });
    // Both branches, each often: the accepting one is what the older property never reached.
    assert!(
        answers.accepted.get() >= 96 && answers.validation.get() >= 96,
        "{answers:?}"
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        NewOrder::parse_json(deep.as_bytes()),
        Err(OrderRejection::InvalidJson(_))
    ));
    let deep_items = format!(
        r#"{{"email":"a@b.co","items":{}{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    assert!(NewOrder::parse_json(deep_items.as_bytes()).is_err());
}

#[test]
fn huge_numbers_and_duplicate_keys_are_handled() {
    for qty in [
        "1e400",
        "123456789012345678901234567890",
        "-0",
        "1.0e2",
        "0x10",
    ] {
        let body = format!(r#"{{"email":"a@b.co","items":[{{"sku":"S","qty":{qty}}}]}}"#);
        assert!(NewOrder::parse_json(body.as_bytes()).is_err(), "{qty}");
    }
    // Duplicate keys: the last one wins (as JSON.parse does), and it is validated.
    let dup = br#"{"email":"a@b.co","email":"not-an-email","items":[{"sku":"S","qty":1}]}"#;
    assert!(matches!(
        NewOrder::parse_json(dup),
        Err(OrderRejection::Validation(_))
    ));
    let dup_ok = br#"{"email":"bad","email":"a@b.co","items":[{"sku":"S","qty":1}]}"#;
    assert!(NewOrder::parse_json(dup_ok).is_ok());
}

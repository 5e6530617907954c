//! Property tests: whatever bytes or JSON arrive, the parser answers (never panics), and
//! anything it accepts keeps every rule.

use orders_domain::{
    NewOrder, OrderRejection, MAX_EMAIL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn assert_valid(order: &NewOrder) {
    assert!(order.email().as_str().len() <= MAX_EMAIL_LEN);
    let items = order.items().as_slice();
    assert!(!items.is_empty() && items.len() <= MAX_ITEMS);
    for item in items {
        assert!((MIN_QTY..=MAX_QTY).contains(&item.qty.get()));
        let sku = item.sku.as_str();
        assert!(!sku.trim().is_empty() && sku.chars().count() <= MAX_SKU_LEN);
        assert!(!sku.chars().any(char::is_control));
    }
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

/// Order-shaped JSON with every field drawn from good and bad values.
fn order_like() -> impl Strategy<Value = Value> {
    let email = prop_oneof![
        Just(json!("jane@example.com")),
        "[a-z.+]{0,70}@[a-z-]{0,20}\\.[a-z0-9]{0,5}".prop_map(Value::String),
        ".{0,300}".prop_map(Value::String),
        any_json(),
    ];
    let qty = prop_oneof![
        (0i64..=10_001).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[0-9]{1,6}".prop_map(Value::String),
        any_json(),
    ];
    let sku = prop_oneof![
        "[A-Z0-9-]{0,70}".prop_map(Value::String),
        ".{0,80}".prop_map(Value::String),
        any_json(),
    ];
    let item = (sku, qty).prop_map(|(sku, qty)| json!({"sku": sku, "qty": qty}));
    let items = prop_oneof![
        prop::collection::vec(item, 0..110).prop_map(Value::Array),
        any_json(),
    ];
    (email, items).prop_map(|(email, items)| json!({"email": email, "items": items}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(order) = NewOrder::parse_json(&bytes) {
            assert_valid(&order);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_accepts_only_valid_orders(value in any_json()) {
        match NewOrder::from_value(&value) {
            Ok(order) => assert_valid(&order),
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn order_shaped_json_is_accepted_only_when_every_rule_holds(value in order_like()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match NewOrder::parse_json(&bytes) {
            Ok(order) => assert_valid(&order),
            Err(OrderRejection::Validation(errors)) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(!e.field.is_empty() && !e.message.is_empty());
                }
            }
            Err(OrderRejection::InvalidJson(m)) => prop_assert!(false, "valid JSON refused as invalid: {m}"),
        }
    }
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

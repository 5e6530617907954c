//! The order rules as a table: each case is a body and the exact list of fields it must be
//! refused for (empty = accepted).

use orders_domain::{NewOrder, OrderRejection};
use serde_json::{json, Value};

fn item(sku: Value, qty: Value) -> Value {
    json!({ "sku": sku, "qty": qty })
}

fn order(email: Value, items: Value) -> Value {
    json!({ "email": email, "items": items })
}

fn ok_items() -> Value {
    json!([{ "sku": "SKU-1", "qty": 1 }])
}

fn email_of_len(len: usize) -> String {
    // 64-char local part, '@', two 63-char labels, a padding label, ".com".
    let pad = len - (64 + 1 + 64 + 64 + 4);
    let email = format!(
        "{}@{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(pad)
    );
    assert_eq!(email.len(), len);
    email
}

/// (name, body, fields that must be reported; empty means valid)
fn cases() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"sku": format!("S{i}"), "qty": 1}))
        .collect();
    let hundred_one: Vec<Value> = (0..101)
        .map(|i| json!({"sku": format!("S{i}"), "qty": 1}))
        .collect();
    vec![
        ("minimal valid", order(json!("a@b.co"), ok_items()), vec![]),
        (
            "typical valid",
            order(
                json!("jane.doe+tag@example.com"),
                json!([{"sku":"SKU-123","qty":2},{"sku":"SKU-456","qty":1}]),
            ),
            vec![],
        ),
        (
            "unicode sku and idn domain",
            order(json!("jörg@bücher.de"), json!([{"sku":"Ärmel-Ø","qty":3}])),
            vec![],
        ),
        (
            "extra fields are ignored",
            json!({"email":"a@b.co","items":[{"sku":"S","qty":1,"note":"x"}],"coupon":"X"}),
            vec![],
        ),
        (
            "qty at max",
            order(json!("a@b.co"), json!([item(json!("S"), json!(10_000))])),
            vec![],
        ),
        (
            "64-char local part",
            order(json!(format!("{}@example.com", "a".repeat(64))), ok_items()),
            vec![],
        ),
        (
            "254-char email",
            order(json!(email_of_len(254)), ok_items()),
            vec![],
        ),
        (
            "64-char sku",
            order(
                json!("a@b.co"),
                json!([item(json!("x".repeat(64)), json!(1))]),
            ),
            vec![],
        ),
        (
            "100 items",
            order(json!("a@b.co"), Value::Array(hundred)),
            vec![],
        ),
        ("missing email", json!({"items": ok_items()}), vec!["email"]),
        ("null email", order(Value::Null, ok_items()), vec!["email"]),
        (
            "email not a string",
            order(json!(42), ok_items()),
            vec!["email"],
        ),
        ("email empty", order(json!(""), ok_items()), vec!["email"]),
        (
            "email without @",
            order(json!("not-an-email"), ok_items()),
            vec!["email"],
        ),
        (
            "email with two @",
            order(json!("a@b@c.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email without domain dot",
            order(json!("a@localhost"), ok_items()),
            vec!["email"],
        ),
        (
            "email with space",
            order(json!("a b@c.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email with leading space",
            order(json!(" a@b.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email empty local part",
            order(json!("@b.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email double dot",
            order(json!("a..b@c.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email numeric tld",
            order(json!("a@b.123"), ok_items()),
            vec!["email"],
        ),
        (
            "email domain label starts with hyphen",
            order(json!("a@-b.com"), ok_items()),
            vec!["email"],
        ),
        (
            "email 65-char local part",
            order(json!(format!("{}@example.com", "a".repeat(65))), ok_items()),
            vec!["email"],
        ),
        (
            "email 255 chars",
            order(json!(email_of_len(255)), ok_items()),
            vec!["email"],
        ),
        (
            "email with newline",
            order(json!("a@b.com\n"), ok_items()),
            vec!["email"],
        ),
        ("missing items", json!({"email": "a@b.co"}), vec!["items"]),
        (
            "items not an array",
            order(json!("a@b.co"), json!({"sku":"S","qty":1})),
            vec!["items"],
        ),
        (
            "items empty",
            order(json!("a@b.co"), json!([])),
            vec!["items"],
        ),
        (
            "101 items",
            order(json!("a@b.co"), Value::Array(hundred_one)),
            vec!["items"],
        ),
        (
            "item not an object",
            order(json!("a@b.co"), json!(["SKU-1"])),
            vec!["items[0]"],
        ),
        (
            "sku missing",
            order(json!("a@b.co"), json!([{"qty": 1}])),
            vec!["items[0].sku"],
        ),
        (
            "sku empty",
            order(json!("a@b.co"), json!([item(json!(""), json!(1))])),
            vec!["items[0].sku"],
        ),
        (
            "sku blank",
            order(json!("a@b.co"), json!([item(json!("   "), json!(1))])),
            vec!["items[0].sku"],
        ),
        (
            "sku 65 chars",
            order(
                json!("a@b.co"),
                json!([item(json!("x".repeat(65)), json!(1))]),
            ),
            vec!["items[0].sku"],
        ),
        (
            "sku control char",
            order(
                json!("a@b.co"),
                json!([item(json!("SKU\u{0007}"), json!(1))]),
            ),
            vec!["items[0].sku"],
        ),
        (
            "sku a number",
            order(json!("a@b.co"), json!([item(json!(123), json!(1))])),
            vec!["items[0].sku"],
        ),
        (
            "qty missing",
            order(json!("a@b.co"), json!([{"sku": "S"}])),
            vec!["items[0].qty"],
        ),
        (
            "qty as string",
            order(json!("a@b.co"), json!([item(json!("S"), json!("2"))])),
            vec!["items[0].qty"],
        ),
        (
            "qty fractional",
            order(json!("a@b.co"), json!([item(json!("S"), json!(2.5))])),
            vec!["items[0].qty"],
        ),
        (
            "qty 2.0 is not an integer",
            order(json!("a@b.co"), json!([item(json!("S"), json!(2.0))])),
            vec!["items[0].qty"],
        ),
        (
            "qty zero",
            order(json!("a@b.co"), json!([item(json!("S"), json!(0))])),
            vec!["items[0].qty"],
        ),
        (
            "qty negative",
            order(json!("a@b.co"), json!([item(json!("S"), json!(-1))])),
            vec!["items[0].qty"],
        ),
        (
            "qty over max",
            order(json!("a@b.co"), json!([item(json!("S"), json!(10_001))])),
            vec!["items[0].qty"],
        ),
        (
            "qty huge",
            order(json!("a@b.co"), json!([item(json!("S"), json!(u64::MAX))])),
            vec!["items[0].qty"],
        ),
        (
            "qty boolean",
            order(json!("a@b.co"), json!([item(json!("S"), json!(true))])),
            vec!["items[0].qty"],
        ),
        (
            "qty null",
            order(json!("a@b.co"), json!([item(json!("S"), Value::Null)])),
            vec!["items[0].qty"],
        ),
        (
            "both fields of one item",
            order(json!("a@b.co"), json!([item(json!(""), json!(0))])),
            vec!["items[0].sku", "items[0].qty"],
        ),
        (
            "errors in several items and the email at once",
            order(
                json!("nope"),
                json!([
                    item(json!("S"), json!(1)),
                    item(json!(""), json!(1)),
                    item(json!("S"), json!("2"))
                ]),
            ),
            vec!["email", "items[1].sku", "items[2].qty"],
        ),
        ("body is an array", json!([1, 2]), vec!["body"]),
        ("body is a string", json!("order"), vec!["body"]),
        ("body is null", Value::Null, vec!["body"]),
        ("empty object", json!({}), vec!["email", "items"]),
    ]
}

#[test]
fn every_case_reports_exactly_its_fields() {
    let cases = cases();
    assert!(cases.len() >= 30, "the table must keep at least 30 cases");
    let mut failures = Vec::new();
    for (name, body, expected) in cases {
        let bytes = serde_json::to_vec(&body).unwrap();
        let got: Vec<String> = match NewOrder::parse_json(&bytes) {
            Ok(_) => vec![],
            Err(OrderRejection::Validation(errors)) => {
                for e in &errors {
                    assert!(
                        !e.message.is_empty(),
                        "{name}: empty message for {}",
                        e.field
                    );
                }
                errors.into_iter().map(|e| e.field).collect()
            }
            Err(other) => vec![format!("unexpected {other:?}")],
        };
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "validation table mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn malformed_json_is_invalid_json_not_validation() {
    for body in [&b"{"[..], b"", b"{\"email\": }", b"\xff\xfe", b"not json"] {
        assert!(
            matches!(
                NewOrder::parse_json(body),
                Err(OrderRejection::InvalidJson(_))
            ),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_valid_order_keeps_its_values() {
    let order = NewOrder::parse_json(
        br#"{"email":"jane@example.com","items":[{"sku":"A","qty":3},{"sku":"B","qty":10000}]}"#,
    )
    .unwrap();
    assert_eq!(order.email().as_str(), "jane@example.com");
    let items: Vec<(String, u32)> = order
        .items()
        .as_slice()
        .iter()
        .map(|i| (i.sku.as_str().to_owned(), i.qty.get()))
        .collect();
    assert_eq!(items, vec![("A".to_owned(), 3), ("B".to_owned(), 10_000)]);
}

#[test]
fn field_messages_say_what_is_wrong() {
    let body = br#"{"email":"a@b.co","items":[{"sku":"S","qty":"2"},{"sku":"S","qty":2.5},{"sku":"S","qty":0}]}"#;
    let Err(OrderRejection::Validation(errors)) = NewOrder::parse_json(body) else {
        panic!("must fail")
    };
    assert!(errors[0].message.contains("integer"), "{:?}", errors[0]);
    assert!(
        errors[1].message.contains("whole number"),
        "{:?}",
        errors[1]
    );
    assert!(
        errors[2].message.contains("between 1 and 10000"),
        "{:?}",
        errors[2]
    );
}

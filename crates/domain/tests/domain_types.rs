//! Identity, masking, the queue message and the stored item.

use chrono::{TimeZone, Utc};
use orders_domain::{mask_email, Email, NewOrder, OrderId, QueuedOrder, StoredOrder};

fn sample() -> QueuedOrder {
    NewOrder::parse_json(br#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-1","qty":2}]}"#)
        .unwrap()
        .accept(
            OrderId::new_v7(),
            Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
        )
}

#[test]
fn order_ids_are_uuid_v7_and_round_trip() {
    let a = OrderId::new_v7();
    let b = OrderId::new_v7();
    assert_eq!(a.as_uuid().get_version_num(), 7);
    assert_ne!(a, b);
    assert_eq!(a.to_string().parse::<OrderId>().unwrap(), a);
    assert!("not-a-uuid".parse::<OrderId>().is_err());
    assert!("".parse::<OrderId>().is_err());
}

#[test]
fn emails_are_masked_in_debug_and_display() {
    let email = Email::parse("jane.doe@example.com").unwrap();
    assert_eq!(email.masked(), "j***@example.com");
    assert_eq!(format!("{email}"), "j***@example.com");
    assert!(!format!("{email:?}").contains("jane"));
    assert!(!format!("{:?}", sample()).contains("jane.doe"));
    assert_eq!(mask_email("no at sign"), "***");
}

#[test]
fn queue_message_round_trips_with_rfc3339_time() {
    let order = sample();
    let body = order.to_message_body();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["received_at"], "2026-11-25T12:00:00Z");
    assert_eq!(json["order_id"], order.order_id.to_string());
    assert_eq!(json["email"], "jane.doe@example.com");
    assert_eq!(json["items"][0]["qty"], 2);
    assert_eq!(QueuedOrder::from_message_body(&body).unwrap(), order);
}

#[test]
fn a_tampered_message_is_refused_by_the_domain_types() {
    let good = sample().to_message_body();
    for (from, to) in [
        ("\"qty\":2", "\"qty\":0"),
        ("jane.doe@example.com", "not-an-email"),
        ("\"SKU-1\"", "\"\""),
        ("2026-11-25T12:00:00Z", "yesterday"),
    ] {
        let bad = good.replace(from, to);
        assert_ne!(bad, good);
        assert!(QueuedOrder::from_message_body(&bad).is_err(), "{bad}");
    }
    let no_items = r#"{"order_id":"0193a5b0-7e1c-7b3a-9d4e-5f6a7b8c9d01","email":"a@b.co","items":[],"received_at":"2026-11-25T12:00:00Z"}"#;
    assert!(QueuedOrder::from_message_body(no_items).is_err());
}

#[test]
fn stored_order_has_every_field() {
    let order = sample();
    let id = order.order_id;
    let stored = StoredOrder::processed(
        order,
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 3).unwrap(),
        2500,
        2,
    );
    let json = serde_json::to_value(&stored).unwrap();
    assert_eq!(json["order_id"], id.to_string());
    assert_eq!(json["status"], "processed");
    assert_eq!(json["processed_at"], "2026-11-25T12:00:03Z");
    assert_eq!(json["processing_ms"], 2500);
    assert_eq!(json["attempts"], 2);
    let back: StoredOrder = serde_json::from_value(json).unwrap();
    assert_eq!(back, stored);
}

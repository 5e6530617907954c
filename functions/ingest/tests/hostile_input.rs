//! Property tests over the ingest handler: any body, any Content-Type, base64 or not, is
//! answered with a 2xx or a 4xx carrying a JSON error body, never a 5xx or a panic.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use base64::Engine as _;
use ingest::Ingest;
use orders_platform::adapters::memory::InMemoryQueue;
use proptest::prelude::*;

fn base_event() -> ApiGatewayProxyRequest {
    test_support::fixtures::api_event("order-valid.json")
}

fn body_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,400}",
        Just(r#"{"email":"jane@example.com","items":[{"sku":"S","qty":1}]}"#.to_owned()),
        r#"\{"email":"[a-z@.]{0,30}","items":\[\{"sku":"[A-Z]{0,5}","qty":-?[0-9]{0,8}(\.[0-9])?\}\]\}"#,
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/json; charset=utf-8".to_owned())),
        Just(Some("text/plain".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_answer_is_2xx_or_a_4xx_with_a_json_error(
        body in body_strategy(),
        content_type in content_type(),
        as_base64 in any::<bool>(),
        garbage_base64 in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ingest = Ingest::new(InMemoryQueue::new(), 2);
        let mut event = base_event();
        event.headers.remove("content-type");
        if let Some(ct) = content_type {
            if let Ok(v) = HeaderValue::from_str(&ct) {
                event.headers.insert("content-type", v);
            }
        }
        event.is_base64_encoded = as_base64;
        event.body = Some(match (as_base64, garbage_base64) {
            (true, false) => base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
            _ => body,
        });
        let response = runtime.block_on(ingest.handle(&event));
        let status = response.status_code;
        prop_assert!((200..300).contains(&status) || (400..500).contains(&status), "status {status}");
        let Some(Body::Text(text)) = &response.body else { panic!("no body") };
        let json: serde_json::Value = serde_json::from_str(text).expect("JSON body");
        if status >= 400 {
            prop_assert!(json["error"].as_str().is_some_and(|c| !c.is_empty()), "{json}");
            prop_assert!(ingest.queue().sent().is_empty(), "a refused request queued something");
        } else {
            prop_assert_eq!(status, 202);
            prop_assert_eq!(ingest.queue().sent().len(), 1);
        }
    }
}

//! The status handler against an in-memory store.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use chrono::Utc;
use orders_domain::ports::OrderStore;
use orders_domain::{OrderId, StoredOrder};
use orders_platform::adapters::memory::{Fault, InMemoryStore};
use status::Status;
use test_support::fixtures::{api_event, order, response_json as body};

fn get(id: &str) -> ApiGatewayProxyRequest {
    let mut request = api_event("order-get.json");
    request.path = Some(format!("/orders/{id}"));
    request.path_parameters.insert("order_id".into(), id.into());
    request
}

async fn stored(store: &InMemoryStore) -> StoredOrder {
    let stored = StoredOrder::processed(order(), Utc::now(), 12, 1);
    store.put_new(&stored).await.unwrap();
    stored
}

#[tokio::test]
async fn a_stored_order_is_200_with_the_email_masked() {
    let store = InMemoryStore::new();
    let order = stored(&store).await;
    let status = Status::new(&store, 2);
    let response = status.handle(&get(&order.order_id.to_string())).await;
    assert_eq!(response.status_code, 200);
    let body = body(&response);
    assert_eq!(body["order_id"], order.order_id.to_string());
    assert_eq!(body["status"], "processed");
    assert_eq!(body["items"][0]["sku"], "SKU-1");
    assert_eq!(body["items"][0]["qty"], 2);
    assert_eq!(body["email"], "j***@example.com");
    assert_eq!(body["attempts"], 1);
}

#[tokio::test]
async fn the_sample_event_reads_its_path_parameter() {
    let store = InMemoryStore::new();
    let response = Status::new(&store, 2)
        .handle(&api_event("order-get.json"))
        .await;
    assert_eq!(
        response.status_code, 404,
        "the sample order is not stored in an empty table"
    );
    assert_eq!(body(&response)["error"], "not_found");
}

#[tokio::test]
async fn an_unknown_order_is_404_and_a_bad_id_is_400() {
    let store = InMemoryStore::new();
    let status = Status::new(&store, 2);
    let response = status.handle(&get(&OrderId::new_v7().to_string())).await;
    assert_eq!(response.status_code, 404);
    assert_eq!(body(&response)["error"], "not_found");
    for bad in [
        "not-a-uuid",
        "",
        "123",
        "01936f0e-7b7a-7cc3-9f5e-2c4a8b1d3e5",
    ] {
        let response = status.handle(&get(bad)).await;
        assert_eq!(response.status_code, 400, "{bad:?}");
        assert_eq!(body(&response)["error"], "invalid_order_id");
    }
}

#[tokio::test]
async fn an_unreadable_table_is_503_with_retry_after() {
    let store = InMemoryStore::new();
    let id = OrderId::new_v7();
    store.set_fault(id, Fault::Unavailable);
    let response = Status::new(&store, 3).handle(&get(&id.to_string())).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers.get("retry-after").unwrap(), "3");
    assert_eq!(body(&response)["error"], "service_unavailable");
}

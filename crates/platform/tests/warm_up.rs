//! Issue 16, item 7: the calls each function makes at init to open its connection.
//!
//! What is pinned, against moto (started by this test process) and against the SDK's own
//! endpoint resolution:
//! - the DynamoDB warm-up (worker and status) is answered with success (a 4xx would count in
//!   the account's `UserErrors` metric), names no table (no capacity consumed, nothing read or
//!   written), and goes to the endpoint the table calls go to, so they reuse its connection;
//! - the SQS warm-up (ingest) is the one refusal kept, knowingly: an empty
//!   `SendMessageBatch` (`sqs:SendMessage` allows nothing that succeeds without sending),
//!   which enqueues nothing; SQS publishes no error metric (README "Cold-start warm-up");
//! - after either warm-up, the first real request opens no new connection.

#![cfg(all(feature = "sqs", feature = "dynamodb"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::Utc;
use orders_domain::ports::{OrderQueue, OrderReader, OrderStore, PutOutcome};
use orders_domain::{OrderId, StoredOrder};
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::sqs::SqsOrderQueue;
use test_support::fixtures::order_from;
use test_support::{create_queue, queue_attribute, MotoServer};

fn order() -> orders_domain::QueuedOrder {
    order_from(r#"{"email":"jane.doe@example.com","items":[{"sku":"SKU-1","qty":1}]}"#)
}

/// One request as the SDK sent it and the answer it got.
#[derive(Debug, Clone, PartialEq)]
struct Exchange {
    /// Host the request went to.
    host: String,
    /// The operation (`X-Amz-Target` without its service prefix: `PutItem`, `SendMessage`).
    operation: String,
    /// HTTP status of the answer; `None` when none came.
    status: Option<u16>,
}

/// Records every request attempt of the clients it is installed on.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Exchange>>>);

impl Recorder {
    fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "warm-up test recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let host = request
            .uri()
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        self.0.lock().unwrap().push(Exchange {
            host,
            operation,
            status: None,
        });
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.status = Some(context.response().status().as_u16());
        }
        Ok(())
    }
}

fn dynamodb_client(
    config: &aws_config::SdkConfig,
    recorder: &Recorder,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(recorder.clone())
            .build(),
    )
}

fn sqs_client(config: &aws_config::SdkConfig, recorder: &Recorder) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .interceptor(recorder.clone())
            .build(),
    )
}

fn operations(exchanges: &[Exchange]) -> Vec<(&str, Option<u16>)> {
    exchanges
        .iter()
        .map(|e| (e.operation.as_str(), e.status))
        .collect()
}

#[tokio::test]
async fn the_dynamodb_warm_up_is_answered_with_success_and_touches_no_table() {
    // The worker's and the status function's warm-up: neither a write (an empty PutItem was
    // a user error at every cold start) nor a read (a GetItem cost half a read unit).
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    DynamoOrderStore::from_sdk_config(&config, "orders")
        .create_table_if_missing()
        .await
        .unwrap();
    let recorder = Recorder::default();
    let store = DynamoOrderStore::new(dynamodb_client(&config, &recorder), "orders");

    store.warm_up().await;

    let sent = recorder.take();
    assert_eq!(
        operations(&sent),
        [("DescribeEndpoints", Some(200))],
        "one call, answered 200: a 4xx at every cold start counts in the account's UserErrors"
    );
    let scan = aws_sdk_dynamodb::Client::new(&config)
        .scan()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count, 0, "the warm-up writes nothing");
    // And the store still reads: an unknown id is simply absent.
    assert_eq!(store.get(&OrderId::new_v7()).await.unwrap(), None);
}

#[tokio::test]
async fn the_sqs_warm_up_is_refused_as_empty_and_enqueues_nothing() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = create_queue(&sqs, "orders", &[]).await;
    let recorder = Recorder::default();
    let queue = SqsOrderQueue::new(sqs_client(&config, &recorder), &url);

    queue.warm_up().await;

    // The one refusal kept (README "Cold-start warm-up"): sqs:SendMessage allows no call that
    // succeeds without sending a message. Anything else here is a change to decide anew.
    assert_eq!(
        operations(&recorder.take()),
        [("SendMessageBatch", Some(400))]
    );
    for attribute in [
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ] {
        assert_eq!(queue_attribute(&sqs, &url, attribute).await, "0");
    }
}

/// An HTTP/1.1 server on loopback that keeps connections open (moto closes each one after
/// its answer, so it cannot show reuse), answers every request 200 with `{}`, and counts the
/// connections it accepts.
struct KeepAliveServer {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl KeepAliveServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || Self::serve(stream));
            }
        });
        Self { address, accepted }
    }

    /// Answers the requests of one connection until the client closes it.
    fn serve(stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                          content-length: 2\r\n\r\n{}";
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn after_the_warm_up_the_first_request_opens_no_connection() {
    let server = KeepAliveServer::start();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;

    let store = DynamoOrderStore::from_sdk_config(&config, "orders");
    store.warm_up().await;
    assert_eq!(server.connections(), 1, "the warm-up connects");
    let stored = StoredOrder::processed(order(), Utc::now(), 1, 1);
    assert_eq!(store.put_new(&stored).await.unwrap(), PutOutcome::Created);
    assert_eq!(
        server.connections(),
        1,
        "the first write travels on the warm-up's connection"
    );

    let queue = SqsOrderQueue::from_sdk_config(&config, format!("{}/1/orders", server.endpoint()));
    queue.warm_up().await;
    assert_eq!(server.connections(), 2, "the queue's client has its own");
    queue.enqueue(&order()).await.unwrap();
    assert_eq!(
        server.connections(),
        2,
        "the first send travels on the warm-up's connection"
    );
}

/// Answers every request with 200 and `{}`, sending nothing anywhere.
#[derive(Debug, Clone)]
struct Answering;

impl HttpConnector for Answering {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(HttpResponse::new(
            200.try_into().unwrap(),
            SdkBody::from("{}"),
        )))
    }
}

impl HttpClient for Answering {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The SDK configuration of a function in Lambda (no endpoint override), over [`Answering`].
async fn lambda_like_config(account_id: Option<&str>) -> aws_config::SdkConfig {
    let mut credentials = aws_sdk_dynamodb::config::Credentials::builder()
        .access_key_id("AKIDEXAMPLE")
        .secret_access_key("secret")
        .provider_name("test");
    if let Some(account) = account_id {
        credentials = credentials.account_id(account);
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(credentials.build())
        .http_client(Answering)
        .load()
        .await
}

#[tokio::test]
async fn each_warm_up_goes_to_the_host_of_the_real_requests() {
    // Without an account id in the credentials (Lambda's environment credentials carry
    // none) and with one (if they ever do, DynamoDB's endpoint rules pick the account's
    // endpoint): either way the warm-up and the table calls share one host.
    for (account, dynamodb_host) in [
        (None, "dynamodb.eu-west-1.amazonaws.com"),
        (
            Some("123456789012"),
            "123456789012.ddb.eu-west-1.amazonaws.com",
        ),
    ] {
        let config = lambda_like_config(account).await;
        let recorder = Recorder::default();
        let store = DynamoOrderStore::new(dynamodb_client(&config, &recorder), "orders");
        store.warm_up().await;
        store
            .put_new(&StoredOrder::processed(order(), Utc::now(), 1, 1))
            .await
            .unwrap();
        let _ = store.get(&OrderId::new_v7()).await;
        let sent = recorder.take();
        assert_eq!(
            sent.iter()
                .map(|e| e.operation.as_str())
                .collect::<Vec<_>>(),
            ["DescribeEndpoints", "PutItem", "GetItem"]
        );
        for exchange in &sent {
            assert_eq!(exchange.host, dynamodb_host, "{account:?}: {exchange:?}");
        }
    }

    let config = lambda_like_config(None).await;
    let recorder = Recorder::default();
    let queue = SqsOrderQueue::new(
        sqs_client(&config, &recorder),
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
    );
    queue.warm_up().await;
    let _ = queue.enqueue(&order()).await;
    let sent = recorder.take();
    assert_eq!(
        sent.iter()
            .map(|e| (e.operation.as_str(), e.host.as_str()))
            .collect::<Vec<_>>(),
        [
            ("SendMessageBatch", "sqs.eu-west-1.amazonaws.com"),
            ("SendMessage", "sqs.eu-west-1.amazonaws.com")
        ]
    );
}

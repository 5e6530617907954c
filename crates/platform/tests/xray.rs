//! X-Ray traces end to end: the real SQS and DynamoDB adapters against moto, inside an
//! invocation span shaped like lambda_runtime's, with the trace layer of `orders_platform::xray` in a
//! subscriber scoped to each test (no global subscriber, so the tests run in parallel), and a
//! UDP socket on loopback standing in for the Lambda X-Ray daemon.
//!
//! Every datagram is read with a non-blocking drain right after the invocation returns: a
//! subsegment is sent synchronously when its span ends, and loopback UDP is delivered within
//! the send, so what the drain misses was not sent in time. (A blocking read with a timeout
//! is only used, after a shortfall, to tell "late" from "never" in the failure message.)

use std::future::Future;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use orders_domain::ports::{OrderQueue, OrderStore, PutOutcome};
use orders_domain::StoredOrder;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::sqs::SqsOrderQueue;
use orders_platform::xray::{self, XrayConfig, INVOCATION_SPAN, TRACE_HEADER_FIELD};
use serde_json::Value;
use test_support::fixtures::order;
use test_support::{create_queue, MotoServer};
use tracing::instrument::WithSubscriber as _;
use tracing::{Dispatch, Instrument as _};
use tracing_subscriber::layer::SubscriberExt as _;

const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
const REGION: &str = "us-east-1";

/// The X-Ray daemon: a UDP socket on loopback.
struct Daemon {
    socket: UdpSocket,
}

impl Daemon {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Self { socket }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// The segment documents already delivered, without waiting.
    fn drain(&self) -> Vec<Value> {
        let mut buf = vec![0u8; 65_536];
        let mut documents = Vec::new();
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => documents.push(document(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return documents,
                Err(e) => panic!("daemon socket: {e}"),
            }
        }
    }

    /// Exactly `n` documents, already delivered.
    fn expect(&self, n: usize) -> Vec<Value> {
        let documents = self.drain();
        if documents.len() < n {
            // Only to say whether the rest came late or never: either way the test fails.
            self.socket.set_nonblocking(false).unwrap();
            self.socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut buf = vec![0u8; 65_536];
            let late = (documents.len()..n)
                .filter(|_| self.socket.recv(&mut buf).is_ok())
                .count();
            panic!(
                "{} of {n} subsegments had been sent when the invocation returned \
                 ({late} more arrived later): {documents:#?}",
                documents.len()
            );
        }
        assert_eq!(documents.len(), n, "{documents:#?}");
        documents
    }
}

/// One datagram of the daemon protocol: the header line, then one segment document.
fn document(datagram: &[u8]) -> Value {
    let text = std::str::from_utf8(datagram).unwrap();
    let body = text
        .strip_prefix(DAEMON_HEADER)
        .unwrap_or_else(|| panic!("datagram without the daemon header line: {text:?}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not one JSON document ({e}): {body}"))
}

/// An X-Ray trace header as Lambda gives it to a function.
struct TraceHeader {
    root: String,
    parent: String,
    sampled: bool,
}

impl TraceHeader {
    fn new(sampled: bool) -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Self {
            root: format!(
                "1-{:08x}-{:024x}",
                now.as_secs(),
                fastrand::u128(1..1 << 96)
            ),
            parent: format!("{:016x}", fastrand::u64(1..)),
            sampled,
        }
    }

    fn value(&self) -> String {
        format!(
            "Root={};Parent={};Sampled={};Lineage=1:a87bd80c:0",
            self.root,
            self.parent,
            u8::from(self.sampled)
        )
    }
}

/// A subscriber with only the trace layer.
fn traced(daemon: &Daemon) -> Dispatch {
    xray::observe_sdk_calls();
    let config = XrayConfig::new(daemon.addr()).with_region(REGION);
    Dispatch::new(tracing_subscriber::registry().with(xray::layer(&config).unwrap()))
}

/// One invocation as lambda_runtime and `lambda::run` run it: `work` inside the
/// `Lambda runtime invoke` span (which carries the trace header in `xrayTraceId` unless
/// `header` is `None`), after `adopt_invocation` with the invocation's header.
async fn invoke<F: Future>(
    dispatch: &Dispatch,
    header: Option<&TraceHeader>,
    work: F,
) -> F::Output {
    assert_eq!(INVOCATION_SPAN, "Lambda runtime invoke");
    assert_eq!(TRACE_HEADER_FIELD, "xrayTraceId");
    let header = header.map(TraceHeader::value);
    async move {
        let span = match &header {
            Some(header) => tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "11111111-2222-3333-4444-555555555555",
                xrayTraceId = header.as_str()
            ),
            None => tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "11111111-2222-3333-4444-555555555555"
            ),
        };
        async move {
            xray::adopt_invocation(header.as_deref());
            work.await
        }
        .instrument(span)
        .await
    }
    .with_subscriber(dispatch.clone())
    .await
}

struct Aws {
    _moto: MotoServer,
    config: aws_config::SdkConfig,
    queue_url: String,
    table: String,
}

async fn aws() -> Aws {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue_url, _) = create_queue(&sqs, "orders", &[]).await;
    let table = "orders".to_owned();
    DynamoOrderStore::from_sdk_config(&config, &table)
        .create_table_if_missing()
        .await
        .unwrap();
    Aws {
        _moto: moto,
        config,
        queue_url,
        table,
    }
}

fn seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer}: {doc:#}"))
}

/// The fields every exported document has: an independent subsegment of `header`'s trace,
/// child of `parent_id`, inside `[from, to]`.
fn assert_subsegment(doc: &Value, header: &TraceHeader, parent_id: &str, (from, to): (f64, f64)) {
    assert_eq!(text(doc, "/type"), "subsegment", "{doc:#}");
    let id = text(doc, "/id");
    assert!(
        id.len() == 16
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "id {id:?}"
    );
    assert_eq!(text(doc, "/trace_id"), header.root, "{doc:#}");
    assert_eq!(text(doc, "/parent_id"), parent_id, "{doc:#}");
    let start = doc["start_time"].as_f64().unwrap();
    let end = doc["end_time"].as_f64().unwrap();
    assert!(start <= end, "start {start} after end {end}");
    // Whole milliseconds of slack: the clock is read on both sides at different precision.
    assert!(
        from - 0.001 <= start && end <= to + 0.001,
        "[{start}, {end}] outside the invocation [{from}, {to}]"
    );
    assert!(doc.get("in_progress").is_none(), "{doc:#}");
}

/// An AWS SDK call: named by its service, `namespace: "aws"`, the operation and region.
fn assert_aws_call(doc: &Value, service: &str, operation: &str) {
    assert_eq!(text(doc, "/name"), service, "{doc:#}");
    assert_eq!(text(doc, "/namespace"), "aws", "{doc:#}");
    assert_eq!(text(doc, "/aws/operation"), operation, "{doc:#}");
    assert_eq!(text(doc, "/aws/region"), REGION, "{doc:#}");
}

fn failed(doc: &Value) -> bool {
    doc.get("fault") == Some(&Value::Bool(true)) || doc.get("error") == Some(&Value::Bool(true))
}

#[tokio::test]
async fn sdk_calls_are_subsegments_of_the_function_segment() {
    let aws = aws().await;
    let queue = SqsOrderQueue::from_sdk_config(&aws.config, &aws.queue_url);
    let store = DynamoOrderStore::from_sdk_config(&aws.config, &aws.table);
    let daemon = Daemon::start();
    // The header as lambda_runtime records it on its span; the source would say otherwise.
    let dispatch = traced(&daemon);
    let header = TraceHeader::new(true);

    let from = seconds();
    let sent = order();
    invoke(&dispatch, Some(&header), async {
        queue.enqueue(&sent).await.unwrap();
        let stored = StoredOrder::processed(sent.clone(), Utc::now(), 3, 1);
        assert_eq!(store.put_new(&stored).await.unwrap(), PutOutcome::Created);
    })
    .await;
    let to = seconds();

    // One subsegment per call, nothing for the invocation span (it is the function segment
    // Lambda reports) nor for the SDK's inner spans; all sent before the invocation returned.
    let docs = daemon.expect(2);
    for doc in &docs {
        assert_subsegment(doc, &header, &header.parent, (from, to));
        assert!(!failed(doc), "{doc:#}");
        assert_eq!(
            doc.pointer("/http/response/status"),
            Some(&Value::from(200)),
            "{doc:#}"
        );
    }
    assert_aws_call(&docs[0], "SQS", "SendMessage");
    assert_aws_call(&docs[1], "DynamoDB", "PutItem");
    assert!(
        docs[0]["end_time"].as_f64() <= docs[1]["start_time"].as_f64(),
        "the calls ran one after the other"
    );
    assert_ne!(docs[0]["id"], docs[1]["id"]);
}

#[tokio::test]
async fn handler_spans_are_subsegments_and_calls_nest_under_them() {
    let aws = aws().await;
    let store = DynamoOrderStore::from_sdk_config(&aws.config, &aws.table);
    let daemon = Daemon::start();
    let header = TraceHeader::new(true);
    let dispatch = traced(&daemon);

    let from = seconds();
    let queued = order();
    let order_id = queued.order_id.to_string();
    invoke(&dispatch, Some(&header), async {
        let record = tracing::info_span!("record", message_id = "m-1", order_id = %order_id);
        let stored = StoredOrder::processed(queued.clone(), Utc::now(), 3, 1);
        store.put_new(&stored).instrument(record).await.unwrap();
    })
    .await;
    let to = seconds();

    // Children end first: the PutItem subsegment, then the record's.
    let docs = daemon.expect(2);
    let (put, record) = (&docs[0], &docs[1]);
    assert_subsegment(record, &header, &header.parent, (from, to));
    assert_eq!(text(record, "/name"), "record");
    assert!(record.get("namespace").is_none(), "{record:#}");
    assert_eq!(text(record, "/annotations/order_id"), order_id);
    assert_eq!(text(record, "/annotations/message_id"), "m-1");
    assert_subsegment(put, &header, text(record, "/id"), (from, to));
    assert_aws_call(put, "DynamoDB", "PutItem");
    let (outer, inner) = (
        (record["start_time"].as_f64(), record["end_time"].as_f64()),
        (put["start_time"].as_f64(), put["end_time"].as_f64()),
    );
    assert!(
        outer.0 <= inner.0 && inner.1 <= outer.1,
        "{outer:?} does not contain {inner:?}"
    );
}

#[tokio::test]
async fn a_failed_call_is_marked_as_such() {
    let aws = aws().await;
    let missing = aws.queue_url.replace("/orders", "/no-such-queue");
    let queue = SqsOrderQueue::from_sdk_config(&aws.config, &missing);
    let daemon = Daemon::start();
    let dispatch = traced(&daemon);
    let header = TraceHeader::new(true);

    let from = seconds();
    let result = invoke(&dispatch, Some(&header), queue.enqueue(&order())).await;
    let to = seconds();
    assert!(result.is_err(), "{result:?}");

    let docs = daemon.expect(1);
    let doc = &docs[0];
    assert_subsegment(doc, &header, &header.parent, (from, to));
    assert_aws_call(doc, "SQS", "SendMessage");
    assert!(
        failed(doc),
        "a refused call must be an error or a fault: {doc:#}"
    );
    // A 4xx is the caller's error (X-Ray's `error`), not a fault of the service.
    assert_eq!(
        doc.pointer("/http/response/status"),
        Some(&Value::from(400)),
        "{doc:#}"
    );
    assert_eq!(doc.get("error"), Some(&Value::Bool(true)), "{doc:#}");
}

#[tokio::test]
async fn nothing_is_sent_unless_the_trace_is_sampled() {
    let aws = aws().await;
    let queue = SqsOrderQueue::from_sdk_config(&aws.config, &aws.queue_url);
    let store = DynamoOrderStore::from_sdk_config(&aws.config, &aws.table);
    let daemon = Daemon::start();
    let calls = || async {
        queue.enqueue(&order()).await.unwrap();
        let stored = StoredOrder::processed(order(), Utc::now(), 1, 1);
        store.put_new(&stored).await.unwrap();
    };

    // No header at all, as during init (warm-up calls) or outside Lambda.
    let no_header = traced(&daemon);
    calls().with_subscriber(no_header.clone()).await;
    invoke(&no_header, None, calls()).await;
    // Sampled=0: Lambda decided not to trace this invocation.
    let unsampled = TraceHeader::new(false);
    invoke(&traced(&daemon), Some(&unsampled), calls()).await;
    assert_eq!(daemon.drain(), Vec::<Value>::new());

    // The same daemon does receive a sampled invocation's calls, and only those.
    let sampled = TraceHeader::new(true);
    invoke(&traced(&daemon), Some(&sampled), calls()).await;
    let docs = daemon.expect(2);
    assert!(
        docs.iter().all(|d| text(d, "/trace_id") == sampled.root),
        "{docs:#?}"
    );
}

#[tokio::test]
async fn concurrent_invocations_keep_their_own_traces() {
    let aws = aws().await;
    let store = DynamoOrderStore::from_sdk_config(&aws.config, &aws.table);
    let daemon = Daemon::start();
    // One subscriber, two invocations at once (Lambda managed instances): each invocation
    // is parented on its own header.
    let dispatch = traced(&daemon);
    let (first, second) = (TraceHeader::new(true), TraceHeader::new(true));
    let put = || async {
        let stored = StoredOrder::processed(order(), Utc::now(), 1, 1);
        store.put_new(&stored).await.unwrap();
    };

    tokio::join!(
        invoke(&dispatch, Some(&first), put()),
        invoke(&dispatch, Some(&second), put())
    );

    let docs = daemon.expect(2);
    for header in [&first, &second] {
        let doc = docs
            .iter()
            .find(|d| text(d, "/trace_id") == header.root)
            .unwrap_or_else(|| panic!("nothing for {}: {docs:#?}", header.root));
        assert_eq!(text(doc, "/parent_id"), header.parent);
        assert_aws_call(doc, "DynamoDB", "PutItem");
    }
}

#[tokio::test]
async fn the_adapters_name_the_queue_and_the_table_in_their_subsegments() {
    let aws = aws().await;
    // The SDK hands an operation's input members to its telemetry only when the client
    // opts in; the adapters' own clients do.
    let queue = SqsOrderQueue::from_sdk_config(&aws.config, &aws.queue_url);
    let store = DynamoOrderStore::from_sdk_config(&aws.config, &aws.table);
    let daemon = Daemon::start();
    let dispatch = traced(&daemon);
    let header = TraceHeader::new(true);

    invoke(&dispatch, Some(&header), async {
        queue.enqueue(&order()).await.unwrap();
        let stored = StoredOrder::processed(order(), Utc::now(), 1, 1);
        store.put_new(&stored).await.unwrap();
    })
    .await;

    let docs = daemon.expect(2);
    assert_aws_call(&docs[0], "SQS", "SendMessage");
    assert_eq!(text(&docs[0], "/aws/queue_url"), aws.queue_url);
    assert_aws_call(&docs[1], "DynamoDB", "PutItem");
    assert_eq!(text(&docs[1], "/aws/table_name"), aws.table);
}

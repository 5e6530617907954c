//! AWS X-Ray traces: the handlers' `tracing` spans and the AWS SDK's calls become X-Ray
//! subsegments of the Lambda function segment, sent to the Lambda X-Ray daemon.
//!
//! How a span travels:
//!
//! 1. `tracing` → OpenTelemetry through `tracing-opentelemetry` ([`layer`]), with
//!    `opentelemetry-aws`'s [`XrayIdGenerator`] and a parent-based sampler that never starts a
//!    trace of its own: a span is recorded only under a sampled X-Ray trace header.
//! 2. The trace header: each invocation, before its handler runs, parents lambda_runtime's
//!    `Lambda runtime invoke` span on the function segment its trace header names
//!    ([`adopt_invocation`], which `lambda::run` calls with the header Lambda sent with the
//!    invocation; `tracing-opentelemetry`'s `set_parent`). It is parsed by
//!    `opentelemetry-aws`'s [`XrayPropagator`]. `Sampled=0` (or `?`, or no header at all, as
//!    during init) records nothing. Each invocation has its own header, so concurrent
//!    invocations keep their own traces.
//! 3. The invocation span stands for the function segment that Lambda itself reports, so it
//!    is not exported: its children get the header's `Parent` as `parent_id`. Deeper spans
//!    nest under their enclosing subsegment.
//! 4. Export: every span is translated by `opentelemetry-aws`'s X-Ray exporter into an
//!    independent subsegment document and sent to `AWS_XRAY_DAEMON_ADDRESS` over UDP (one
//!    datagram: `{"format": "json", "version": 1}\n` + the document) *when the span ends*,
//!    synchronously (a non-blocking UDP send). Nothing is buffered, so everything an
//!    invocation did has been sent before its handler returns; no flush call is needed.
//!
//! AWS SDK calls: the SDK opens a `debug` span per operation (`SQS.SendMessage`, with
//! `rpc.system = "aws-api"`, `rpc.service`, `rpc.method`); the X-Ray exporter turns it into a
//! subsegment named by the service (`SQS`, `DynamoDB`), `namespace: "aws"`,
//! `aws.operation`. The outcome comes from the SDK's own observability hook
//! ([`observe_sdk_calls`]): its per-call duration metric carries `http.status_code` and, on
//! failure, `error.type`, which are set on the operation's span (status code: 4xx `error`,
//! 429 `throttle`, 5xx or no response `fault`). `aws.region` is the configured region;
//! `aws.queue_url` / `aws.table_name` are added when the client emits its `QueueUrl` /
//! `TableName` input attributes (`emit_input_attributes`). The request id is not available
//! through either hook and is not recorded.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_observability::instruments::{
    AsyncInstrumentBuilder, AsyncMeasure, Histogram, InstrumentBuilder, MonotonicCounter,
    ProvideInstrument, UpDownCounter,
};
use aws_smithy_observability::meter::{Meter, ProvideMeter};
use aws_smithy_observability::{AttributeValue, Attributes, TelemetryProvider};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanId, Status, TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Array, Context as OtelContext, KeyValue, Value};
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};
use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::config::{ConfigError, FromEnv, Vars};

/// Environment variable Lambda sets, with `Tracing: Active`, to the X-Ray daemon's address
/// (`169.254.79.129:2000`; the X-Ray SDKs' `udp:host:port tcp:host:port` form is accepted).
pub const ENV_DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// Name of lambda_runtime's per-invocation span: it stands for the function segment.
pub const INVOCATION_SPAN: &str = "Lambda runtime invoke";
/// Field of [`INVOCATION_SPAN`] holding the invocation's trace header.
pub const TRACE_HEADER_FIELD: &str = "xrayTraceId";
/// The AWS SDK's per-call duration metric, recorded once per operation when it completes.
const SDK_CALL_DURATION: &str = "smithy.client.call.duration";

/// Span fields indexed as X-Ray annotations (searchable: `annotation.order_id = "…"`).
const ANNOTATED_FIELDS: [&str; 2] = ["order_id", "message_id"];

/// Where traces go.
#[derive(Debug, Clone)]
pub struct XrayConfig {
    /// The X-Ray daemon (UDP).
    pub daemon: SocketAddr,
    /// Region reported on AWS subsegments (`aws.region`).
    pub region: Option<String>,
}

impl XrayConfig {
    /// Sends to `daemon`; no region.
    pub fn new(daemon: SocketAddr) -> Self {
        Self {
            daemon,
            region: None,
        }
    }

    /// Reports `region` on AWS subsegments.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}

/// `None` unless [`ENV_DAEMON_ADDRESS`] is set, that is unless the function runs in Lambda
/// with `Tracing: Active`. The region is `AWS_REGION`.
impl FromEnv for Option<XrayConfig> {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let daemon = vars.parse_or(ENV_DAEMON_ADDRESS, None, |raw| match raw.trim() {
            "" => Ok(None),
            raw => parse_daemon_address(raw).map(Some),
        })?;
        Ok(daemon.map(|daemon| XrayConfig {
            daemon,
            region: vars
                .get("AWS_REGION")
                .or_else(|| vars.get("AWS_DEFAULT_REGION")),
        }))
    }
}

/// Parses `host:port`, or the UDP part of `udp:host:port tcp:host:port`.
pub fn parse_daemon_address(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    let udp = if raw.contains(char::is_whitespace)
        || raw.starts_with("udp:")
        || raw.starts_with("tcp:")
    {
        raw.split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .ok_or_else(|| "no udp: address".to_owned())?
    } else {
        raw
    };
    udp.to_socket_addrs()
        .map_err(|e| format!("not a host:port address ({e})"))?
        .next()
        .ok_or_else(|| "the address resolves to nothing".to_owned())
}

/// The function segment named by an X-Ray trace header, as a remote OpenTelemetry parent.
/// `None` for a header without a valid `Root` and `Parent`. Fields other than `Root`,
/// `Parent` and `Sampled` (such as Lambda's `Lineage`) are ignored.
pub fn parent_from_header(header: &str) -> Option<OtelContext> {
    let mut fields = HashMap::new();
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|part| {
            let key = part.split_once('=').map_or("", |(k, _)| k.trim());
            ["Root", "Parent", "Sampled"].contains(&key)
        })
        .collect();
    fields.insert("x-amzn-trace-id".to_owned(), kept.join(";"));
    let cx = XrayPropagator::new().extract_with_context(&OtelContext::new(), &fields);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Marks the remote parent context of an invocation span: that span stands for the function
/// segment and is not exported.
#[derive(Debug, Clone, Copy)]
struct FunctionSegment;

/// The trace layer: install it next to the log layer (`telemetry::init` does so in Lambda).
/// Every `info` (or more severe) span and every AWS SDK operation span under a sampled trace
/// header becomes an X-Ray subsegment, sent to the daemon when it ends. Call
/// [`observe_sdk_calls`] once as well, for the outcome of SDK calls.
pub fn layer<S>(config: &XrayConfig) -> io::Result<impl Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let translator = SegmentTranslator::new()
        .with_indexed_attrs(ANNOTATED_FIELDS.iter().map(|f| (*f).to_owned()));
    let exporter =
        XrayExporter::new(XrayDaemonClient::new(config.daemon)?).with_translator(translator);
    let processor = SubsegmentProcessor {
        export: SimpleSpanProcessor::new(exporter),
        invocations: Mutex::new(HashMap::new()),
        region: config.region.clone(),
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder_empty().build())
        .with_id_generator(XrayIdGenerator::default())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .with_span_processor(processor)
        .build();
    // The tracer holds the provider (and its processor) for as long as the layer lives.
    let otel = OpenTelemetryLayer::new(provider.tracer("orders"))
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_tracked_inactivity(false);
    Ok(otel.with_filter(
        tracing_subscriber::filter::filter_fn(traced).with_max_level_hint(Level::DEBUG),
    ))
}

/// Parents the current invocation span (lambda_runtime's [`INVOCATION_SPAN`], which runs
/// the handler) on the function segment that the invocation's trace header names: the
/// header Lambda sent with the invocation (`Lambda-Runtime-Trace-Id`, in the event's
/// context), else [`crate::config::ENV_TRACE_HEADER`]. Without a header, or with `Sampled=0`, nothing of
/// the invocation is recorded. [`crate::lambda::run`] calls it first thing in every
/// invocation; it must run before the span has a child.
///
/// The invocation span stands for the function segment Lambda itself reports: it is not
/// exported, and its children become subsegments of the function segment.
pub fn adopt_invocation(header: Option<&str>) {
    let span = tracing::Span::current();
    if span.metadata().map(|m| m.name()) != Some(INVOCATION_SPAN) {
        return;
    }
    let header = header
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(crate::config::lambda_trace_header);
    let Some(parent) = header.as_deref().and_then(parent_from_header) else {
        return;
    };
    // Fails only when no trace layer is installed (nothing to parent) or the span already
    // started (a child exists): either way there is nothing better to do than go on.
    let _ = span.set_parent(parent.with_value(FunctionSegment));
}

/// What the trace layer sees: spans at `info` and above, the AWS SDK's operation spans
/// (`debug`, not its inner ones), and `error` events (which mark their span as failed).
/// Never OpenTelemetry's own diagnostics, nor the log-context spans (they only label lines).
fn traced(meta: &Metadata<'_>) -> bool {
    if meta.target().starts_with("opentelemetry") || meta.target() == crate::telemetry::LOG_CONTEXT
    {
        return false;
    }
    if meta.is_event() {
        return *meta.level() == Level::ERROR;
    }
    *meta.level() <= Level::INFO || is_sdk_operation(meta)
}

/// The span the AWS SDK opens around one operation (all attempts included).
fn is_sdk_operation(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && meta.fields().field("rpc.system").is_some()
        && meta.fields().field("rpc.service").is_some()
}

/// Hides invocation spans (they are the function segment), re-parents their children on the
/// function segment, adds the region to AWS calls, then exports synchronously.
#[derive(Debug)]
struct SubsegmentProcessor {
    export: SimpleSpanProcessor<XrayExporter<XrayDaemonClient>>,
    /// Open invocation spans: their id → the function segment's id.
    invocations: Mutex<HashMap<SpanId, SpanId>>,
    region: Option<String>,
}

impl SpanProcessor for SubsegmentProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &OtelContext) {
        let parent = cx.span().span_context().clone();
        if parent.is_remote() && cx.get::<FunctionSegment>().is_some() {
            let mut invocations = self.invocations.lock().unwrap_or_else(|e| e.into_inner());
            invocations.insert(span.span_context().span_id(), parent.span_id());
        }
    }

    fn on_end(&self, mut span: SpanData) {
        {
            let mut invocations = self.invocations.lock().unwrap_or_else(|e| e.into_inner());
            if invocations.remove(&span.span_context.span_id()).is_some() {
                return;
            }
            if let Some(segment) = invocations.get(&span.parent_span_id) {
                span.parent_span_id = *segment;
                span.parent_span_is_remote = true;
            }
        }
        if let Some(region) = &self.region {
            let aws = span
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "rpc.system" && kv.value.as_str() == "aws-api");
            if aws {
                span.attributes
                    .push(KeyValue::new("aws.region", region.clone()));
            }
        }
        self.export.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.export.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.export.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.export.set_resource(resource);
    }
}

/// Routes the AWS SDK's per-call metric to the call's span: the HTTP status, a failure, and
/// the `QueueUrl` / `TableName` inputs when the client emits them. Process-wide (the SDK
/// reads one global telemetry provider), but stateless: each call lands on the span of the
/// `tracing` subscriber current where the call runs, so subscribers (and tests) stay
/// independent. Idempotent.
pub fn observe_sdk_calls() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let provider = TelemetryProvider::builder()
            .meter_provider(Arc::new(SdkCallMeters))
            .build();
        if let Err(e) = aws_smithy_observability::global::set_telemetry_provider(provider) {
            tracing::warn!(error = %e, "AWS SDK calls will be traced without their outcome");
        }
    });
}

#[derive(Debug)]
struct SdkCallMeters;

impl ProvideMeter for SdkCallMeters {
    fn get_meter(&self, _scope: &'static str, _attributes: Option<&Attributes>) -> Meter {
        Meter::new(Arc::new(SdkCallInstruments))
    }

    fn provider_name(&self) -> &'static str {
        "orders-xray"
    }
}

#[derive(Debug)]
struct SdkCallInstruments;

impl ProvideInstrument for SdkCallInstruments {
    fn create_gauge(
        &self,
        _builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = f64>>, f64>,
    ) -> Arc<dyn AsyncMeasure<Value = f64>> {
        Arc::new(Ignored::<f64>(PhantomData))
    }

    fn create_up_down_counter(
        &self,
        _builder: InstrumentBuilder<'_, Arc<dyn UpDownCounter>>,
    ) -> Arc<dyn UpDownCounter> {
        Arc::new(Ignored::<i64>(PhantomData))
    }

    fn create_async_up_down_counter(
        &self,
        _builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = i64>>, i64>,
    ) -> Arc<dyn AsyncMeasure<Value = i64>> {
        Arc::new(Ignored::<i64>(PhantomData))
    }

    fn create_monotonic_counter(
        &self,
        _builder: InstrumentBuilder<'_, Arc<dyn MonotonicCounter>>,
    ) -> Arc<dyn MonotonicCounter> {
        Arc::new(Ignored::<u64>(PhantomData))
    }

    fn create_async_monotonic_counter(
        &self,
        _builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = u64>>, u64>,
    ) -> Arc<dyn AsyncMeasure<Value = u64>> {
        Arc::new(Ignored::<u64>(PhantomData))
    }

    fn create_histogram(
        &self,
        builder: InstrumentBuilder<'_, Arc<dyn Histogram>>,
    ) -> Arc<dyn Histogram> {
        if builder.get_name() == SDK_CALL_DURATION {
            Arc::new(CallOutcome)
        } else {
            Arc::new(Ignored::<f64>(PhantomData))
        }
    }
}

/// Every other SDK instrument: nothing recorded.
#[derive(Debug)]
struct Ignored<T>(PhantomData<T>);

impl Histogram for Ignored<f64> {
    fn record(
        &self,
        _: f64,
        _: Option<&Attributes>,
        _: Option<&dyn aws_smithy_observability::Context>,
    ) {
    }
}

impl MonotonicCounter for Ignored<u64> {
    fn add(
        &self,
        _: u64,
        _: Option<&Attributes>,
        _: Option<&dyn aws_smithy_observability::Context>,
    ) {
    }
}

impl UpDownCounter for Ignored<i64> {
    fn add(
        &self,
        _: i64,
        _: Option<&Attributes>,
        _: Option<&dyn aws_smithy_observability::Context>,
    ) {
    }
}

impl<T: Send + Sync + fmt::Debug> AsyncMeasure for Ignored<T> {
    type Value = T;

    fn record(
        &self,
        _: T,
        _: Option<&Attributes>,
        _: Option<&dyn aws_smithy_observability::Context>,
    ) {
    }

    fn stop(&self) {}
}

/// `smithy.client.call.duration`, recorded as an operation completes, inside its span.
#[derive(Debug)]
struct CallOutcome;

impl Histogram for CallOutcome {
    fn record(
        &self,
        _seconds: f64,
        attributes: Option<&Attributes>,
        _context: Option<&dyn aws_smithy_observability::Context>,
    ) {
        let Some(attributes) = attributes else {
            return;
        };
        let text = |key: &str| match attributes.get(key) {
            Some(AttributeValue::String(value)) => Some(value.clone()),
            _ => None,
        };
        let mut recorded = Vec::new();
        if let Some(AttributeValue::I64(status)) = attributes.get("http.status_code") {
            recorded.push(KeyValue::new("http.response.status_code", *status));
        }
        if let Some(url) = text("QueueUrl") {
            recorded.push(KeyValue::new("aws.sqs.queue.url", url));
        }
        if let Some(table) = text("TableName") {
            recorded.push(KeyValue::new(
                "aws.dynamodb.table_names",
                Value::Array(Array::String(vec![table.into()])),
            ));
        }
        let failure = text("error.type");
        with_sdk_operation_span(|span| {
            span.set_attributes(recorded);
            if let Some(kind) = failure {
                span.set_status(Status::error(format!("{kind} error")));
            }
        });
    }
}

/// Runs `f` on the OpenTelemetry span of the AWS SDK operation the current `tracing` span is
/// in (the current span may be one of the SDK's inner spans, when they are logged).
fn with_sdk_operation_span(f: impl FnOnce(&opentelemetry::trace::SpanRef<'_>)) {
    let mut f = Some(f);
    tracing::dispatcher::get_default(|dispatch| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        let current = dispatch.current_span();
        let operation = current.id().and_then(|id| {
            registry.span(id).and_then(|span| {
                span.scope()
                    .find(|s| is_sdk_operation(s.metadata()))
                    .map(|s| s.id())
            })
        });
        let cx = operation.and_then(|id| tracing_opentelemetry::get_otel_context(&id, dispatch));
        if let (Some(cx), Some(f)) = (cx, f.take()) {
            f(&cx.span());
        }
    });
}

#[cfg(test)]
mod tests;

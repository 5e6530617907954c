//! The local API: the deployed API's routes, each HTTP request turned into the same API
//! Gateway REST proxy event and handed to the same handler as in Lambda.
//!
//! Like API Gateway, it applies the stage throttle first (the template's `THROTTLED`
//! gateway response), then the request model: a JSON body that does not conform to
//! `openapi.yaml`'s `Order` schema (the template's model) is answered with the template's
//! `BAD_REQUEST_BODY` gateway response. Only then does a function run, in one of the
//! account's executions when their number is emulated; with none free the request is
//! answered as API Gateway answers a throttled Lambda (`INTEGRATION_FAILURE`). Every such
//! answer is rendered from `template.yaml`'s gateway responses, as API Gateway renders it.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
};
use aws_lambda_events::encodings::Body as EventBody;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use ingest::Ingest;
use orders_domain::http::{json_response, ApiError};
use orders_domain::ports::{IdempotencyStore, OrderQueue, OrderReader};
use orders_platform::metrics::InMemoryMetrics;
use orders_template::{ErrorContext, GatewayResponses};
use serde_json::json;
use status::Status;
use tokio::time::Instant;

use crate::limits::Limits;
use crate::openapi::RequestValidator;
use crate::queue::QueueOpError;

/// API Gateway's own payload limit (10 MB); the ingest function enforces its smaller one.
pub const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// What the local API serves from.
pub struct Gateway<Q, I, R> {
    /// The ingest handler (`POST /order`).
    pub ingest: Arc<Ingest<Q, I>>,
    /// The status handler (`GET /orders/{order_id}`).
    pub status: Arc<Status<R>>,
    /// The request model (`openapi.yaml`'s `Order` schema).
    pub validator: Arc<RequestValidator>,
    /// `GET /_local/stats`.
    pub stats:
        Arc<dyn Fn() -> futures::future::BoxFuture<'static, serde_json::Value> + Send + Sync>,
    /// `POST /_local/dlq/redrive`: moves every dead letter back to the queue (what `orders
    /// dlq redrive` asks a running `orders local` to do); how many moved.
    pub redrive: Arc<
        dyn Fn() -> futures::future::BoxFuture<'static, Result<u64, QueueOpError>> + Send + Sync,
    >,
    /// The stage throttle and the account's executions.
    pub limits: Arc<Limits>,
    /// How API Gateway answers what it refuses itself (the template's gateway responses).
    pub responses: Arc<GatewayResponses>,
}

impl<Q, I, R> Gateway<Q, I, R> {
    /// What API Gateway answers with the gateway response `kind`.
    /// One function invocation as API Gateway makes it, for a request that passed the stage
    /// at `passed_stage`: with an execution of the account's, or the gateway response that a
    /// throttled invocation gets (`handler` is then never run).
    async fn invoke(
        &self,
        passed_stage: Instant,
        request_id: &str,
        handler: impl Future<Output = ApiGatewayProxyResponse>,
    ) -> Response {
        let execution = match self.limits.start_execution(passed_stage) {
            Ok(execution) => execution,
            Err(refusal) => return self.gateway_response(refusal.response_type(), "", request_id),
        };
        let response = handler.await;
        execution.finish().await;
        to_http(response)
    }

    fn gateway_response(&self, kind: &str, validation_error: &str, request_id: &str) -> Response {
        let rendered = self.responses.render(
            kind,
            &ErrorContext {
                message: "",
                validation_error,
                request_id,
            },
        );
        let status =
            StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut http = (status, rendered.body).into_response();
        for (name, value) in &rendered.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                http.headers_mut().insert(name, value);
            }
        }
        if !http.headers().contains_key("content-type") {
            http.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        }
        http
    }
}

/// The axum router serving every route through [`handle`].
pub fn router<Q, I, R>(gateway: Arc<Gateway<Q, I, R>>) -> Router
where
    Q: OrderQueue + 'static,
    I: IdempotencyStore + 'static,
    R: OrderReader + 'static,
{
    Router::new()
        .fallback(handle::<Q, I, R>)
        .with_state(gateway)
}

/// [`router`] with every request running under `metrics` as its metrics recorder, whichever
/// thread polls it (what `orders local` serves).
pub fn metered_router<Q, I, R>(gateway: Arc<Gateway<Q, I, R>>, metrics: InMemoryMetrics) -> Router
where
    Q: OrderQueue + 'static,
    I: IdempotencyStore + 'static,
    R: OrderReader + 'static,
{
    router(gateway).layer(axum::middleware::from_fn(
        move |request: Request, next: axum::middleware::Next| {
            let scope = metrics.clone();
            async move { scope.scope(next.run(request)).await }
        },
    ))
}

enum Route {
    PostOrder,
    GetOrder(String),
    Stats,
    Redrive,
}

/// The local route that moves dead letters back to the queue.
pub const REDRIVE_PATH: &str = "/_local/dlq/redrive";

fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let not_allowed = |allow: &'static str| ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    };
    if path == "/order" {
        return if method == Method::POST {
            Ok(Route::PostOrder)
        } else {
            Err(not_allowed("POST"))
        };
    }
    if let Some(id) = path.strip_prefix("/orders/") {
        if !id.is_empty() && !id.contains('/') {
            return if method == Method::GET {
                Ok(Route::GetOrder(id.to_owned()))
            } else {
                Err(not_allowed("GET"))
            };
        }
    }
    if path == "/_local/stats" && method == Method::GET {
        return Ok(Route::Stats);
    }
    if path == REDRIVE_PATH {
        return if method == Method::POST {
            Ok(Route::Redrive)
        } else {
            Err(not_allowed("POST"))
        };
    }
    Err(ApiError::RouteNotFound(format!("{method} {path}")))
}

/// Handles any request: routes it, builds the proxy event, calls the handler.
pub async fn handle<Q, I, R>(
    State(gateway): State<Arc<Gateway<Q, I, R>>>,
    request: Request,
) -> Response
where
    Q: OrderQueue + 'static,
    I: IdempotencyStore + 'static,
    R: OrderReader + 'static,
{
    let (parts, body) = request.into_parts();
    let route = match route(&parts.method, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return to_http(e.into_response()),
    };
    match route {
        Route::Stats => return to_http(json_response(200, &(gateway.stats)().await, [])),
        Route::Redrive => {
            return to_http(match (gateway.redrive)().await {
                Ok(moved) => json_response(200, &json!({ "moved": moved }), []),
                Err(e) => json_response(
                    503,
                    &json!({"error": "service_unavailable", "message": format!("the dead-letter queue was not redriven: {e}")}),
                    [],
                ),
            })
        }
        _ => {}
    }
    let bytes = match to_bytes(body, GATEWAY_MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return to_http(
                ApiError::PayloadTooLarge {
                    limit: GATEWAY_MAX_BODY,
                }
                .into_response(),
            )
        }
    };
    let mut event = ApiGatewayProxyRequest::default();
    event.http_method = parts.method.clone();
    event.path = Some(parts.uri.path().to_owned());
    event.headers = parts.headers.clone();
    event.multi_value_headers = parts.headers.clone();
    match std::str::from_utf8(&bytes) {
        _ if bytes.is_empty() => {}
        Ok(text) => event.body = Some(text.to_owned()),
        Err(_) => {
            event.body = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
            event.is_base64_encoded = true;
        }
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    // The stage throttle answers before anything else is looked at.
    let passed_stage = match gateway.limits.pass_stage() {
        Ok(at) => at,
        Err(refusal) => return gateway.gateway_response(refusal.response_type(), "", &request_id),
    };
    let mut context = ApiGatewayProxyRequestContext::default();
    context.request_id = Some(request_id.clone());
    context.stage = Some("local".into());
    context.http_method = parts.method.clone();
    context.path = event.path.clone();

    match route {
        Route::PostOrder => {
            event.resource = Some("/order".into());
            context.resource_path = event.resource.clone();
            event.request_context = context;
            // API Gateway applies the model to JSON bodies (a missing Content-Type counts as
            // JSON); other media types pass through to the function, which answers 415.
            let is_json = parts.headers.get("content-type").is_none_or(|v| {
                v.to_str()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
            if is_json {
                if let Some(problem) = model_check(&bytes, &gateway.validator) {
                    // As in API Gateway's execution log: the body does not match the model.
                    tracing::info!(%request_id, validation_error = %problem, "request body does not match the Order model");
                    return gateway.gateway_response("BAD_REQUEST_BODY", &problem, &request_id);
                }
            }
            gateway
                .invoke(passed_stage, &request_id, gateway.ingest.handle(&event))
                .await
        }
        Route::GetOrder(id) => {
            event.resource = Some("/orders/{order_id}".into());
            context.resource_path = event.resource.clone();
            event.request_context = context;
            event.path_parameters.insert("order_id".into(), id);
            gateway
                .invoke(passed_stage, &request_id, gateway.status.handle(&event))
                .await
        }
        Route::Stats | Route::Redrive => unreachable!("answered above"),
    }
}

/// API Gateway's request validation against the model: what is wrong with the body (its
/// `validationErrorString`), if anything.
fn model_check(body: &[u8], validator: &RequestValidator) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => validator.check(&value).err(),
        Err(e) => Some(format!("the body is not JSON: {e}")),
    }
}

/// Turns a proxy response into an HTTP response, as API Gateway does.
pub fn to_http(response: ApiGatewayProxyResponse) -> Response {
    let status = StatusCode::from_u16(response.status_code as u16)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match response.body {
        Some(EventBody::Text(text)) if response.is_base64_encoded => Body::from(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default(),
        ),
        Some(EventBody::Text(text)) => Body::from(text),
        Some(EventBody::Binary(bytes)) => Body::from(bytes),
        _ => Body::empty(),
    };
    let mut http = (status, body).into_response();
    for (name, value) in response
        .multi_value_headers
        .iter()
        .chain(response.headers.iter())
    {
        http.headers_mut().insert(name.clone(), value.clone());
    }
    if !http.headers().contains_key("content-type") {
        http.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
    }
    http
}

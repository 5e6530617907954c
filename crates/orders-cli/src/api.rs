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
use crate::web::dashboard::{ApiTraffic, Console};

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
    /// The local routes under `/_local/`: stats, the dashboard, the dead letters.
    pub console: Arc<dyn Console>,
    /// Where the deployed API's routes count their answers (the dashboard's API charts).
    pub traffic: Arc<ApiTraffic>,
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
    Local(LocalRoute),
}

/// The routes of `orders local` itself, under [`LOCAL_PREFIX`]: none changes an order.
enum LocalRoute {
    Page,
    Dashboard,
    Stats,
    DeadLetters,
    Redrive,
    Lookup(String),
}

/// Where `orders local`'s own routes live; nothing under it exists in the deployed API.
pub const LOCAL_PREFIX: &str = "/_local/";
/// The local route that moves dead letters back to the queue (`POST`, with
/// [`REDRIVE_CONFIRMATION`] as its body).
pub const REDRIVE_PATH: &str = "/_local/dlq/redrive";
/// The body a redrive must carry: moving every dead letter is not done by accident.
pub const REDRIVE_CONFIRMATION: &str = r#"{"confirm": true}"#;

fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let not_allowed = |allow: &'static str| ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    };
    let only = |allowed: Method, route: Route| {
        if method == allowed {
            Ok(route)
        } else if allowed == Method::POST {
            Err(not_allowed("POST"))
        } else {
            Err(not_allowed("GET"))
        }
    };
    if path == "/order" {
        return only(Method::POST, Route::PostOrder);
    }
    if let Some(id) = path.strip_prefix("/orders/") {
        if !id.is_empty() && !id.contains('/') {
            return only(Method::GET, Route::GetOrder(id.to_owned()));
        }
    }
    if path == "/_local" || path.starts_with(LOCAL_PREFIX) {
        let local = match &path["/_local".len()..] {
            "" | "/" => LocalRoute::Page,
            "/dashboard.json" => LocalRoute::Dashboard,
            "/stats" => LocalRoute::Stats,
            "/dlq" => LocalRoute::DeadLetters,
            "/dlq/redrive" => return only(Method::POST, Route::Local(LocalRoute::Redrive)),
            rest => match rest.strip_prefix("/orders/") {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    LocalRoute::Lookup(id.to_owned())
                }
                _ => return Err(ApiError::RouteNotFound(format!("{method} {path}"))),
            },
        };
        return only(Method::GET, Route::Local(local));
    }
    Err(ApiError::RouteNotFound(format!("{method} {path}")))
}

/// Answers a route of `orders local` itself.
async fn local<Q, I, R>(
    gateway: &Gateway<Q, I, R>,
    route: LocalRoute,
    query: Option<&str>,
    body: Body,
) -> Response
where
    R: OrderReader + 'static,
{
    let error = |status: u16, code: &str, message: String| {
        to_http(json_response(
            status,
            &json!({ "error": code, "message": message }),
            [],
        ))
    };
    match route {
        LocalRoute::Page => (
            [
                ("content-type", "text/html; charset=utf-8"),
                ("cache-control", "no-store"),
            ],
            crate::web::dashboard::page(),
        )
            .into_response(),
        LocalRoute::Dashboard => {
            let since = query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .find_map(|pair| pair.strip_prefix("since="))
                .map(|v| v.parse::<u64>());
            match since.transpose() {
                Ok(since) => to_http(json_response(
                    200,
                    &gateway.console.dashboard(since).await,
                    [],
                )),
                Err(_) => error(
                    400,
                    "invalid_query",
                    "since must be a whole number of seconds since the epoch".into(),
                ),
            }
        }
        LocalRoute::Stats => to_http(json_response(200, &gateway.console.stats().await, [])),
        LocalRoute::DeadLetters => match gateway.console.dead_letters().await {
            Ok(list) => to_http(json_response(200, &list, [])),
            Err(e) => error(
                503,
                "service_unavailable",
                format!("the dead-letter queue could not be read: {e}"),
            ),
        },
        LocalRoute::Redrive => {
            let confirmed = to_bytes(body, 1024)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["confirm"] == json!(true));
            if !confirmed {
                return error(
                    400,
                    "confirmation_required",
                    format!(
                        "a redrive moves every dead-lettered message back to the orders queue; \
                         send {REDRIVE_CONFIRMATION} as the body to confirm it"
                    ),
                );
            }
            match gateway.console.redrive().await {
                Ok(moved) => to_http(json_response(200, &json!({ "moved": moved }), [])),
                Err(e) => error(
                    503,
                    "service_unavailable",
                    format!("the dead-letter queue was not redriven: {e}"),
                ),
            }
        }
        LocalRoute::Lookup(id) => {
            // What `GET /orders/{id}` answers (outside the stage throttle and the account's
            // executions: looking does not take the API's capacity), then the queues.
            let mut event = ApiGatewayProxyRequest::default();
            event.http_method = Method::GET;
            event.path = Some(format!("/orders/{id}"));
            event.resource = Some("/orders/{order_id}".into());
            event.path_parameters.insert("order_id".into(), id.clone());
            let answer = gateway.status.handle(&event).await;
            let status = answer.status_code;
            let body = match &answer.body {
                Some(EventBody::Text(text)) => {
                    serde_json::from_str(text).unwrap_or_else(|_| json!(text))
                }
                _ => serde_json::Value::Null,
            };
            let located = if status == 200 {
                None
            } else {
                gateway.console.locate(id.clone()).await
            };
            let place = match (&located, status) {
                (_, 200) => "stored",
                (Some(l), _) => l.place,
                (None, _) => "unknown",
            };
            to_http(json_response(
                200,
                &json!({
                    "order_id": id,
                    "status": status,
                    "answer": body,
                    "where": place,
                    "message": located,
                }),
                [],
            ))
        }
    }
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
    let path = parts.uri.path();
    if path == "/_local" || path.starts_with(LOCAL_PREFIX) {
        return match route(&parts.method, path) {
            Ok(Route::Local(local_route)) => {
                local(&gateway, local_route, parts.uri.query(), body).await
            }
            Ok(_) => unreachable!("only local routes start with /_local"),
            Err(e) => to_http(e.into_response()),
        };
    }
    // The deployed API's routes: counted as API Gateway's metrics count them.
    let started = Instant::now();
    let response = api_route(&gateway, parts, body).await;
    gateway
        .traffic
        .record(response.status().as_u16(), started.elapsed());
    response
}

async fn api_route<Q, I, R>(
    gateway: &Gateway<Q, I, R>,
    parts: axum::http::request::Parts,
    body: Body,
) -> Response
where
    Q: OrderQueue + 'static,
    I: IdempotencyStore + 'static,
    R: OrderReader + 'static,
{
    let route = match route(&parts.method, parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return to_http(e.into_response()),
    };
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
        Route::Local(_) => unreachable!("answered by `handle`"),
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

//! Talking to the API: one attempt ([`Transport`]), and retries with jittered exponential
//! backoff ([`RetryPolicy`]), every attempt of an order carrying the same
//! `Idempotency-Key`.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::stats::Outcome;

/// What one attempt came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP answer.
    Response {
        /// Its status.
        status: u16,
        /// Its `Retry-After` header (seconds), if any.
        retry_after: Option<Duration>,
        /// The `order_id` of a 202's body.
        order_id: Option<String>,
        /// Whether it was an idempotent replay (`Idempotent-Replayed: true`).
        replayed: bool,
    },
    /// No answer within the request timeout.
    Timeout,
    /// No connection, or the connection broke before the whole answer.
    Connection(String),
}

impl AttemptResult {
    /// The outcome, for counting.
    pub fn outcome(&self) -> Outcome {
        match self {
            AttemptResult::Response { status, .. } => Outcome::of_status(*status),
            AttemptResult::Timeout => Outcome::Timeout,
            AttemptResult::Connection(_) => Outcome::ConnectionError,
        }
    }

    /// Whether another attempt (with the same `Idempotency-Key`) may succeed and cannot
    /// create a second order: 429 and 503 (the documented "retry" answers), 409 (the key is
    /// still being processed: an earlier attempt is in flight), 502 and 504 (a gateway gave
    /// up; the key makes a retry safe even if the order was queued), timeouts and connection
    /// errors (same reasoning). Not 500 (a bug) nor any other 4xx: the same request would
    /// get the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptResult::Response { status, .. } => {
                matches!(status, 409 | 429 | 502 | 503 | 504)
            }
            AttemptResult::Timeout | AttemptResult::Connection(_) => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptResult::Response { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Sends one order attempt: `POST /order` with the body and the `Idempotency-Key`.
pub trait Transport: Send + Sync + 'static {
    /// One attempt.
    fn post_order(
        &self,
        body: Vec<u8>,
        idempotency_key: &str,
    ) -> impl Future<Output = AttemptResult> + Send;
}

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// First backoff ceiling; doubled on each retry (serialized in ms).
    #[serde(serialize_with = "millis")]
    pub base: Duration,
    /// Largest backoff ceiling (serialized in ms).
    #[serde(serialize_with = "millis")]
    pub cap: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The longest `Retry-After` honoured: a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry): "full jitter", a
    /// uniform draw from 0 to `min(cap, base × 2^(retry-1))`, but never less than the
    /// server's `Retry-After` (itself capped at [`MAX_RETRY_AFTER`]).
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self.base.saturating_mul(exp).min(self.cap);
        let jitter = Duration::from_nanos(rng.u64(0..=ceiling.as_nanos() as u64));
        match retry_after {
            Some(after) => jitter.max(after.min(MAX_RETRY_AFTER)),
            None => jitter,
        }
    }
}

/// One attempt of an order, as measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// How it was answered.
    pub outcome: Outcome,
    /// From its own send to its answer.
    pub took: Duration,
    /// When it was sent (tokio's clock).
    pub sent: tokio::time::Instant,
}

/// What sending one order (all its attempts) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The last attempt's result (the 202, or what the order gave up on).
    pub last: AttemptResult,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// The accepted order's id, if an attempt got a 202.
    pub fn order_id(&self) -> Option<&str> {
        match &self.last {
            AttemptResult::Response {
                status: 202,
                order_id,
                ..
            } => order_id.as_deref(),
            _ => None,
        }
    }

    /// Retries made (attempts after the first).
    pub fn retries(&self) -> u64 {
        self.attempts.len().saturating_sub(1) as u64
    }
}

/// Sends an order until it gets a final answer or the retries run out. Every attempt
/// carries the same `idempotency_key` and the same body, so a retry never creates a
/// second order.
pub async fn deliver<T: Transport>(
    transport: &T,
    body: &[u8],
    idempotency_key: &str,
    policy: &RetryPolicy,
    rng: &mut fastrand::Rng,
) -> Delivery {
    let mut attempts = Vec::new();
    loop {
        let started = tokio::time::Instant::now();
        let result = transport.post_order(body.to_vec(), idempotency_key).await;
        attempts.push(Attempt {
            outcome: result.outcome(),
            took: started.elapsed(),
            sent: started,
        });
        let retries = attempts.len() as u32 - 1;
        if !result.is_retryable() || retries >= policy.max_retries {
            return Delivery {
                last: result,
                attempts,
            };
        }
        let wait = policy.delay(retries + 1, result.retry_after(), rng);
        tokio::time::sleep(wait).await;
    }
}

/// The API over HTTP (reqwest): `POST /order` and `GET /orders/{id}`, with the optional
/// `x-api-key` header.
#[derive(Debug, Clone)]
pub struct HttpApi {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl HttpApi {
    /// The API at `url`: a base URL (`http://127.0.0.1:3000`, the stack's `ApiUrl`
    /// output) or the order endpoint itself (`…/order`, the `OrderEndpoint` output).
    pub fn new(url: &str, api_key: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("--url {url}: not a URL ({e})"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "--url {url}: only http and https are supported"
        );
        let base = url.trim_end_matches('/');
        let base = base.strip_suffix("/order").unwrap_or(base).to_owned();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Self {
            client,
            base,
            api_key,
        })
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the API is on this machine (127.0.0.0/8, `localhost`, `::1`).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(&self.base)
    }

    fn with_key(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    }

    /// `GET /orders/{id}`: `Ok(Some(order))` when stored (200), `Ok(None)` when not (404),
    /// `Err` for anything else: [`CheckError::Throttled`] for a 429 or 503 (with the wait
    /// its `Retry-After` asks for, 1 s without one), [`CheckError::Failed`] otherwise.
    pub async fn get_order(&self, order_id: &str) -> Result<Option<Value>, CheckError> {
        let request = self.client.get(format!("{}/orders/{order_id}", self.base));
        let response = self
            .with_key(request)
            .send()
            .await
            .map_err(|e| CheckError::Failed(e.to_string()))?;
        match response.status().as_u16() {
            200 => response
                .json()
                .await
                .map(Some)
                .map_err(|e| CheckError::Failed(e.to_string())),
            404 => Ok(None),
            429 | 503 => Err(CheckError::Throttled {
                retry_after: Duration::from_secs(
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(1)
                        .min(60),
                ),
            }),
            other => Err(CheckError::Failed(format!(
                "GET /orders/{order_id}: {other}"
            ))),
        }
    }
}

/// Why a `GET /orders/{id}` check did not tell whether the order is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// The API throttled it (429) or is unavailable (503): wait this long before the next.
    Throttled {
        /// From `Retry-After`.
        retry_after: Duration,
    },
    /// Anything else (unreachable, another status).
    Failed(String),
}

/// Whether `url` names this machine (127.0.0.0/8, `localhost`, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn classify(e: &reqwest::Error) -> AttemptResult {
    if e.is_timeout() {
        AttemptResult::Timeout
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        AttemptResult::Connection(text)
    }
}

impl Transport for HttpApi {
    async fn post_order(&self, body: Vec<u8>, idempotency_key: &str) -> AttemptResult {
        let request = self
            .client
            .post(format!("{}/order", self.base))
            .header("content-type", "application/json")
            .header("idempotency-key", idempotency_key)
            .body(body);
        let response = match self.with_key(request).send().await {
            Ok(r) => r,
            Err(e) => return classify(&e),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let replayed = header("idempotent-replayed").is_some_and(|v| v == "true");
        // Read the whole body either way, so the connection can be reused.
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return classify(&e),
        };
        let order_id = (status == 202)
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten()
            .and_then(|v| v["order_id"].as_str().map(str::to_owned));
        AttemptResult::Response {
            status,
            retry_after,
            order_id,
            replayed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn response(status: u16, retry_after: Option<u64>) -> AttemptResult {
        AttemptResult::Response {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            order_id: (status == 202).then(|| "id".to_owned()),
            replayed: false,
        }
    }

    #[test]
    fn only_answers_a_retry_can_change_are_retried() {
        for s in [409, 429, 502, 503, 504] {
            assert!(response(s, None).is_retryable(), "{s}");
        }
        for s in [202, 400, 403, 413, 415, 422, 500] {
            assert!(!response(s, None).is_retryable(), "{s}");
        }
        assert!(AttemptResult::Timeout.is_retryable());
        assert!(AttemptResult::Connection("refused".into()).is_retryable());
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_capped_ceiling() {
        let p = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        let mut rng = fastrand::Rng::with_seed(1);
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)] {
            let draws: Vec<Duration> = (0..2000).map(|_| p.delay(retry, None, &mut rng)).collect();
            let max = *draws.iter().max().unwrap();
            let min = *draws.iter().min().unwrap();
            assert!(
                max <= Duration::from_millis(ceiling),
                "retry {retry}: {max:?}"
            );
            assert!(
                max > Duration::from_millis(ceiling * 9 / 10),
                "uses the range"
            );
            assert!(min < Duration::from_millis(ceiling / 10), "down to 0");
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_is_itself_capped() {
        let p = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..1000 {
            assert!(p.delay(1, Some(Duration::from_secs(2)), &mut rng) >= Duration::from_secs(2));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), &mut rng),
            MAX_RETRY_AFTER
        );
        assert!(p.delay(1, Some(Duration::ZERO), &mut rng) <= p.base);
    }

    /// Answers from a script, recording the keys it saw.
    struct Scripted {
        answers: Mutex<Vec<AttemptResult>>,
        keys: Mutex<Vec<String>>,
        bodies: Mutex<Vec<Vec<u8>>>,
    }

    impl Transport for Scripted {
        async fn post_order(&self, body: Vec<u8>, key: &str) -> AttemptResult {
            self.keys.lock().unwrap().push(key.to_owned());
            self.bodies.lock().unwrap().push(body);
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.answers.lock().unwrap().remove(0)
        }
    }

    fn scripted(answers: Vec<AttemptResult>) -> Scripted {
        Scripted {
            answers: Mutex::new(answers),
            keys: Mutex::default(),
            bodies: Mutex::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_carry_the_same_key_and_body_and_honour_retry_after() {
        let t = scripted(vec![
            response(503, Some(2)),
            AttemptResult::Timeout,
            response(429, Some(1)),
            response(202, None),
        ]);
        let started = tokio::time::Instant::now();
        let d = deliver(
            &t,
            b"{}",
            "key-1",
            &RetryPolicy::default(),
            &mut fastrand::Rng::with_seed(3),
        )
        .await;
        assert_eq!(d.order_id(), Some("id"));
        assert_eq!(d.retries(), 3);
        assert_eq!(*t.keys.lock().unwrap(), vec!["key-1"; 4]);
        assert!(t.bodies.lock().unwrap().iter().all(|b| b == b"{}"));
        // 4 attempts of 10 ms, at least 2 s + 1 s of Retry-After.
        assert!(
            started.elapsed() >= Duration::from_millis(3040),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            d.attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
            vec![
                Outcome::ServerError,
                Outcome::Timeout,
                Outcome::Throttled,
                Outcome::Accepted
            ]
        );
        assert!(d
            .attempts
            .iter()
            .all(|a| a.took == Duration::from_millis(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_limit_and_at_a_final_answer() {
        let t = scripted(vec![response(503, None); 5]);
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let d = deliver(&t, b"{}", "k", &policy, &mut fastrand::Rng::with_seed(4)).await;
        assert_eq!((d.attempts.len(), d.order_id()), (3, None));
        assert_eq!(d.last, response(503, None));

        let t = scripted(vec![response(400, None), response(202, None)]);
        let d = deliver(&t, b"{}", "k", &policy, &mut fastrand::Rng::with_seed(4)).await;
        assert_eq!((d.attempts.len(), d.retries()), (1, 0), "400 is final");
    }

    #[test]
    fn the_url_may_be_the_base_or_the_order_endpoint() {
        let t = Duration::from_secs(1);
        for url in [
            "https://abc.execute-api.us-east-1.amazonaws.com/v1",
            "https://abc.execute-api.us-east-1.amazonaws.com/v1/",
            "https://abc.execute-api.us-east-1.amazonaws.com/v1/order",
        ] {
            let api = HttpApi::new(url, None, t).unwrap();
            assert_eq!(
                api.base(),
                "https://abc.execute-api.us-east-1.amazonaws.com/v1"
            );
            assert!(!api.is_loopback());
        }
        for url in [
            "http://127.0.0.1:3000",
            "http://localhost:3000/",
            "http://[::1]:9/",
        ] {
            assert!(HttpApi::new(url, None, t).unwrap().is_loopback(), "{url}");
        }
        assert!(HttpApi::new("ftp://x", None, t).is_err());
        assert!(HttpApi::new("not a url", None, t).is_err());
    }
}

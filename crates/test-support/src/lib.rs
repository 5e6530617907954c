//! Helpers shared by the integration tests.
//!
//! [`MotoServer`] starts a private moto server (the PyPI package `moto[server]`, installed
//! into `.venv` by `scripts/test`) on a free loopback port chosen by the OS, and stops it
//! when dropped, so every test process gets its own isolated AWS.

pub mod emf_spec;
pub mod fixtures;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The workspace root (where `.venv/` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command from the project's venv, falling back to `PATH`.
pub fn venv_tool(name: &str) -> PathBuf {
    let in_venv = workspace_root().join(".venv/bin").join(name);
    if in_venv.exists() {
        in_venv
    } else {
        PathBuf::from(name)
    }
}

/// A running moto server, stopped on drop.
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    /// Starts moto on `127.0.0.1` with port 0 and waits until it listens.
    ///
    /// Panics with a hint when moto is not installed: run `scripts/test`, which installs it.
    pub fn start() -> Self {
        let program = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| venv_tool("moto_server"));
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}. Run scripts/test once: it installs moto into .venv",
                    program.display()
                )
            });
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Keep draining moto's log so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Running on http://") {
                    let url = line[at + "Running on ".len()..].trim().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
            }
        });
        let endpoint = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("moto did not report its address within 60 s");
            }
        };
        Self { child, endpoint }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing at this server with dummy credentials, no retries (so
    /// error paths answer at once) and region `us-east-1`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Log lines captured from the current thread (JSON, one object per line).
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line, parsed as JSON.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log lines are JSON"))
            .collect()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures what the subscriber `make` builds around the capture logs on this thread until
/// the returned guard is dropped (pass `orders_platform::telemetry::subscriber` for the
/// exact format that ships). Use with `#[tokio::test]` (current-thread runtime).
pub fn capture_logs_with<S>(
    make: impl FnOnce(CapturedLogs) -> S,
) -> (CapturedLogs, tracing::subscriber::DefaultGuard)
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    let logs = CapturedLogs::default();
    let subscriber = make(logs.clone());
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Creates an SQS queue with `attributes`; returns its URL and ARN.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(aws_sdk_sqs::types::QueueAttributeName, String)],
) -> (String, String) {
    let mut request = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value);
    }
    let url = request.send().await.unwrap().queue_url.unwrap();
    let arn = queue_attribute(sqs, &url, aws_sdk_sqs::types::QueueAttributeName::QueueArn).await;
    (url, arn)
}

/// The messages one `ReceiveMessage` request returns (none: an empty list).
pub async fn receive(
    request: aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder,
) -> Vec<aws_sdk_sqs::types::Message> {
    request.send().await.unwrap().messages.unwrap_or_default()
}

/// One attribute of a queue (`QueueArn`, `ApproximateNumberOfMessages`, ...).
pub async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&name)
        .unwrap_or_default()
}

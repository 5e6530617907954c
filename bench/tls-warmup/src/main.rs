//! Measures what the first AWS SDK request of a process costs against a TLS endpoint, and
//! what the second (reused connection) costs: wall time and process CPU time.
use std::time::Instant;

fn cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::args().nth(1).expect("endpoint");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("t", "t", None, None, "t"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let mut out = Vec::new();
    for _ in 0..3 {
        let (w, c) = (Instant::now(), cpu());
        let r = client.describe_endpoints().send().await;
        assert!(r.is_ok(), "{r:?}");
        out.push((w.elapsed().as_secs_f64() * 1e3, cpu() - c));
    }
    // A second client (its own connection pool): a new TCP + TLS connection in a process
    // whose TLS library is already initialised.
    let client2 = aws_sdk_dynamodb::Client::new(&config);
    let (w, c) = (Instant::now(), cpu());
    let r = client2.describe_endpoints().send().await;
    assert!(r.is_ok(), "{r:?}");
    let fresh = (w.elapsed().as_secs_f64() * 1e3, cpu() - c);
    println!("{{\"fresh_wall\":{:.3},\"fresh_cpu\":{:.3}}}", fresh.0, fresh.1);
    println!(
        "{{\"first_wall\":{:.3},\"first_cpu\":{:.3},\"second_wall\":{:.3},\"second_cpu\":{:.3},\"third_wall\":{:.3},\"third_cpu\":{:.3}}}",
        out[0].0, out[0].1, out[1].0, out[1].1, out[2].0, out[2].1
    );
}

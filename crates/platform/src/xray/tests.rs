//! Trace headers, daemon addresses and when traces are on.

use super::*;
use opentelemetry::trace::TraceId;

#[test]
fn header_names_the_function_segment() {
    let cx = parent_from_header(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    .unwrap();
    let parent = cx.span().span_context().clone();
    assert_eq!(
        parent.trace_id(),
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
    );
    assert_eq!(
        parent.span_id(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );
    assert!(parent.is_sampled() && parent.is_remote());
}

#[test]
fn lambda_extra_fields_are_ignored_and_sampling_is_kept() {
    let cx = parent_from_header(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=1:a87bd80c:0",
    )
    .unwrap();
    assert!(!cx.span().span_context().is_sampled());
    let deferred = parent_from_header(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
    )
    .unwrap();
    assert!(!deferred.span().span_context().is_sampled());
}

#[test]
fn a_header_without_root_or_parent_names_nothing() {
    for header in [
        "",
        "garbage",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        "Parent=53995c3f42cd8ad8;Sampled=1",
        "Root=not-a-trace;Parent=53995c3f42cd8ad8;Sampled=1",
    ] {
        assert!(parent_from_header(header).is_none(), "{header:?}");
    }
}

#[test]
fn daemon_address_forms() {
    let lambda: SocketAddr = "169.254.79.129:2000".parse().unwrap();
    assert_eq!(parse_daemon_address("169.254.79.129:2000"), Ok(lambda));
    assert_eq!(
        parse_daemon_address("tcp:127.0.0.1:2000 udp:169.254.79.129:2000"),
        Ok(lambda)
    );
    assert_eq!(parse_daemon_address("udp:169.254.79.129:2000"), Ok(lambda));
    assert!(parse_daemon_address("tcp:127.0.0.1:2000").is_err());
    assert!(parse_daemon_address("no port").is_err());
}

#[test]
fn traces_are_on_only_with_a_daemon_address() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(
        <Option<XrayConfig>>::from_lookup(vars(&[("AWS_REGION", "eu-west-1")]))
            .unwrap()
            .is_none()
    );
    let config = <Option<XrayConfig>>::from_lookup(vars(&[
        (ENV_DAEMON_ADDRESS, "169.254.79.129:2000"),
        ("AWS_REGION", "eu-west-1"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(config.daemon, "169.254.79.129:2000".parse().unwrap());
    assert_eq!(config.region.as_deref(), Some("eu-west-1"));
    assert!(matches!(
        <Option<XrayConfig>>::from_lookup(vars(&[(ENV_DAEMON_ADDRESS, "nowhere")])),
        Err(ConfigError::Invalid {
            name: ENV_DAEMON_ADDRESS,
            ..
        })
    ));
}

//! `template.yaml` and `samconfig.toml` keep the rules that stop orders from being lost,
//! doubled or dead-lettered unrun, in every environment; and the checker really catches a
//! broken rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use orders_domain::{MAX_EMAIL_LEN, MAX_ITEMS, MAX_QTY, MAX_SKU_LEN, MIN_QTY};
use orders_platform::config::{
    ENV_DEADLINE_MARGIN_MS, ENV_PROCESSING_DELAY_MS, ENV_QUEUE_URL, ENV_TABLE_NAME,
};
use orders_template::{parse_overrides, resolve_scalar, PipelineSettings, SamConfig, Template};
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Template {
    Template::load(root().join("template.yaml")).unwrap()
}

fn samconfig() -> SamConfig {
    SamConfig::load(root().join("samconfig.toml")).unwrap()
}

fn tag<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == name => Some(&t.value),
        _ => None,
    }
}

fn get_att(value: &Value) -> Option<String> {
    tag(value, "!GetAtt")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn ref_name(value: &Value) -> Option<&str> {
    tag(value, "!Ref").and_then(Value::as_str)
}

/// Every environment: template defaults alone, and each samconfig environment.
fn environments() -> Vec<(String, Option<BTreeMap<String, String>>)> {
    let config = samconfig();
    let mut envs = vec![("template defaults".to_owned(), None)];
    for env in config.environments() {
        envs.push((env.to_owned(), config.overrides(env).cloned()));
    }
    envs
}

#[test]
fn samconfig_has_default_and_prod_and_only_known_parameters() {
    let config = samconfig();
    let names: Vec<&str> = config.environments().collect();
    assert!(
        names.contains(&"default") && names.contains(&"prod"),
        "{names:?}"
    );
    // Every template parameter and nothing else, in each environment: an environment that
    // leaves one out silently deploys the template default (samconfig.toml says each
    // environment is complete on its own).
    let known: BTreeSet<String> = template().parameter_names().into_iter().collect();
    assert!(known.len() >= 30, "{known:?}");
    for env in names {
        let listed: BTreeSet<String> = config.overrides(env).unwrap().keys().cloned().collect();
        let missing: Vec<&String> = known.difference(&listed).collect();
        let unknown: Vec<&String> = listed.difference(&known).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{env}: parameters missing from samconfig.toml: {missing:?}; not in the template: {unknown:?}"
        );
    }
    let text = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    for env in ["default", "prod"] {
        let deploy = &doc[env]["deploy"]["parameters"];
        assert_eq!(deploy["resolve_s3"].as_bool(), Some(true), "{env}");
        assert!(
            deploy["capabilities"]
                .as_str()
                .unwrap()
                .contains("CAPABILITY_IAM"),
            "{env}"
        );
        assert!(deploy.get("region").is_some(), "{env}");
        assert!(
            doc[env]["global"]["parameters"]["stack_name"]
                .as_str()
                .is_some(),
            "{env}"
        );
    }
    assert_eq!(
        config.overrides("prod").unwrap()["TableDeletionProtection"],
        "true"
    );
}

#[test]
fn an_override_without_a_value_is_refused_not_dropped() {
    // SAM's parser drops `AlarmEmail=` silently (the template default then applies);
    // `AlarmEmail=""` is the empty string.
    let parsed = parse_overrides(r#"A=1 AlarmEmail="" B=2"#).unwrap();
    assert_eq!(parsed["AlarmEmail"], "");
    assert_eq!(parsed.len(), 3);
    for text in ["A=1 AlarmEmail= B=2", "A=1 AlarmEmail="] {
        let err = parse_overrides(text).unwrap_err().to_string();
        assert!(err.contains(r#"AlarmEmail="""#), "{text}: {err}");
    }
}

#[test]
fn timing_rules_hold_in_every_environment() {
    let template = template();
    for (name, overrides) in environments() {
        let settings = PipelineSettings::resolve(&template, overrides.as_ref()).unwrap();
        assert!(
            settings.violations().is_empty(),
            "{name}: {:#?}",
            settings.violations()
        );
        assert!(settings.report_batch_item_failures);
        assert!(settings.max_receive_count >= 5);
        assert!(settings.visibility_timeout >= settings.worker_timeout * 6);
        if let Some(reserved) = settings.worker_reserved_concurrency {
            assert!(settings.maximum_concurrency <= reserved, "{name}");
        }
        // Rule 7: a full burst, and what refills while it runs, fits the executions left.
        assert!(
            settings.api_peak_concurrency() <= settings.api_concurrency(),
            "{name}: {settings:?}"
        );
    }
}

#[test]
fn the_default_environment_answers_a_burst_with_429_before_lambda_throttles() {
    // The arithmetic samconfig.toml explains, for a new account's 10 executions.
    let settings =
        PipelineSettings::resolve(&template(), samconfig().overrides("default")).unwrap();
    assert_eq!(settings.account_concurrency, 10);
    assert_eq!(settings.worker_concurrency(), 5);
    assert_eq!(settings.api_concurrency(), 5);
    assert_eq!((settings.api_burst_limit, settings.api_rate_limit), (2, 40));
    assert_eq!(
        settings.api_peak_concurrency(),
        4,
        "one execution to spare for an invocation that runs long"
    );
    // The template's own defaults are the default environment's.
    let defaults = PipelineSettings::resolve(&template(), None).unwrap();
    assert_eq!(defaults, settings);
}

#[test]
fn the_checker_catches_each_broken_rule() {
    let template = template();
    let cases: [(&str, &str, &str); 9] = [
        ("QueueVisibilityTimeout", "179", "VisibilityTimeout"),
        ("MaxReceiveCount", "4", "maxReceiveCount"),
        ("ProcessingDelayMs", "2000-25000", "slow records"),
        ("WorkerReservedConcurrency", "4", "MaximumConcurrency"),
        ("BatchSize", "100", "BatchSize"),
        // Rule 7: the stage lets through more than the executions left to the API.
        (
            "ApiThrottlingBurstLimit",
            "4",
            "API stage burst 4 + rate 40/s x 50 ms = 6",
        ),
        (
            "ApiThrottlingRateLimit",
            "61",
            "API stage burst 2 + rate 61/s x 50 ms = 6",
        ),
        (
            "WorkerReservedConcurrency",
            "7",
            "left to the API (AccountConcurrency 10 - the worker's 7)",
        ),
        (
            "AccountConcurrency",
            "5",
            "leave none of AccountConcurrency 5",
        ),
    ];
    for (param, value, expected) in cases {
        let overrides = BTreeMap::from([(param.to_owned(), value.to_owned())]);
        let settings = PipelineSettings::resolve(&template, Some(&overrides)).unwrap();
        let violations = settings.violations();
        assert_eq!(violations.len(), 1, "{param}={value}: {violations:?}");
        assert!(
            violations[0].contains(expected),
            "{param}={value}: {violations:?}"
        );
    }
    let mut broken = template.clone();
    let worker = broken.root_mut()["Resources"]["WorkerFunction"]["Properties"]["Events"]
        ["OrdersQueueEvent"]["Properties"]
        .as_mapping_mut()
        .unwrap();
    worker.remove("FunctionResponseTypes");
    let settings = PipelineSettings::resolve(&broken, None).unwrap();
    assert!(settings
        .violations()
        .iter()
        .any(|v| v.contains("ReportBatchItemFailures")));
}

#[test]
fn report_batch_item_failures_is_spelled_exactly() {
    // The linter does not catch a misspelled FunctionResponseTypes value.
    let template = template();
    let event = &template.properties("WorkerFunction").unwrap()["Events"]["OrdersQueueEvent"];
    assert_eq!(event["Type"], "SQS");
    let types = event["Properties"]["FunctionResponseTypes"]
        .as_sequence()
        .unwrap();
    assert_eq!(
        types,
        &vec![Value::String("ReportBatchItemFailures".into())]
    );
    assert_eq!(
        get_att(&event["Properties"]["Queue"]).as_deref(),
        Some("OrdersQueue.Arn")
    );
}

/// X-Ray's write actions have no resource-level permissions: they only take `"*"`
/// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).
/// The one exemption from "every statement names this stack's resources".
const XRAY_WRITE: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// The role a function runs with: its `Role: !GetAtt <id>.Arn`, a role this template writes.
fn role_of(template: &Template, function: &str) -> String {
    let props = template.properties(function).unwrap();
    assert!(
        props.get("Policies").is_none(),
        "{function}: Policies would make SAM write a role of its own"
    );
    let role = get_att(&props["Role"])
        .and_then(|a| a.strip_suffix(".Arn").map(str::to_owned))
        .unwrap_or_else(|| panic!("{function}: Role must be !GetAtt <role>.Arn"));
    assert_eq!(
        template.resource(&role).unwrap()["Type"],
        "AWS::IAM::Role",
        "{function}"
    );
    role
}

/// All IAM statements of a role the template writes.
fn role_statements(template: &Template, role: &str) -> Vec<Value> {
    let props = template.properties(role).unwrap();
    assert!(
        props.get("ManagedPolicyArns").is_none() && props.get("PermissionsBoundary").is_none(),
        "{role}: managed policies grant on \"*\""
    );
    let mut out = Vec::new();
    for policy in props["Policies"].as_sequence().unwrap() {
        out.extend(
            policy["PolicyDocument"]["Statement"]
                .as_sequence()
                .unwrap()
                .iter()
                .cloned(),
        );
    }
    out
}

fn walk_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Sequence(seq) => seq.iter().for_each(|v| walk_strings(v, out)),
        Value::Mapping(map) => map.iter().for_each(|(k, v)| {
            walk_strings(k, out);
            walk_strings(v, out)
        }),
        Value::Tagged(t) => walk_strings(&t.value, out),
        _ => {}
    }
}

/// The actions a statement allows and what it allows them on: a `!GetAtt X.Arn` of this
/// stack, or `"*"`.
type Grant<'a> = (Vec<&'a str>, &'a str);

/// (actions, resource) of each statement: the resource is `X.Arn` for `!GetAtt X.Arn`,
/// `*` for `"*"`, None for anything else.
fn grants(statement: &Value) -> (Vec<String>, Option<String>) {
    let actions = match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        other => panic!("unexpected Action {other:?}"),
    };
    let resource = match &statement["Resource"] {
        Value::String(s) if s == "*" => Some("*".to_owned()),
        other => get_att(other),
    };
    (actions, resource)
}

/// Problems with one role: a statement that is not Allow, names no resource of this stack
/// (a `!GetAtt` of a resource in the template), or grants `"*"` beyond X-Ray's writes.
fn role_problems(template: &Template, role: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for statement in role_statements(template, role) {
        let (actions, resource) = grants(&statement);
        let ok = statement["Effect"] == "Allow"
            && statement.get("NotAction").is_none()
            && statement.get("NotResource").is_none()
            && actions.iter().all(|a| !a.contains('*'))
            && match resource.as_deref() {
                Some("*") => actions.iter().all(|a| XRAY_WRITE.contains(&a.as_str())),
                Some(att) => att
                    .strip_suffix(".Arn")
                    .is_some_and(|id| template.resource(id).is_some()),
                None => false,
            };
        if !ok {
            problems.push(format!("{role}: {statement:?}"));
        }
    }
    problems
}

#[test]
fn each_function_gets_only_the_actions_it_needs_on_its_own_resources() {
    let template = template();
    let logs = vec!["logs:CreateLogStream", "logs:PutLogEvents"];
    let xray = XRAY_WRITE.to_vec();
    let expected: [(&str, Vec<Grant>); 3] = [
        (
            "IngestFunction",
            vec![
                (logs.clone(), "IngestLogGroup.Arn"),
                (xray.clone(), "*"),
                (vec!["sqs:SendMessage"], "OrdersQueue.Arn"),
                (
                    vec![
                        "dynamodb:PutItem",
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                    ],
                    "IdempotencyTable.Arn",
                ),
            ],
        ),
        (
            "WorkerFunction",
            vec![
                (logs.clone(), "WorkerLogGroup.Arn"),
                (xray.clone(), "*"),
                // What the SQS event source mapping needs, on this queue only.
                (
                    vec![
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                    ],
                    "OrdersQueue.Arn",
                ),
                (vec!["dynamodb:PutItem"], "OrdersTable.Arn"),
            ],
        ),
        (
            "StatusFunction",
            vec![
                (logs.clone(), "StatusLogGroup.Arn"),
                (xray.clone(), "*"),
                (vec!["dynamodb:GetItem"], "OrdersTable.Arn"),
            ],
        ),
    ];
    for (function, wanted) in expected {
        let role = role_of(&template, function);
        let statements = role_statements(&template, &role);
        assert_eq!(statements.len(), wanted.len(), "{function}: {statements:?}");
        for (statement, (actions, resource)) in statements.iter().zip(wanted) {
            assert_eq!(statement["Effect"], "Allow");
            let (got_actions, got_resource) = grants(statement);
            assert_eq!(got_actions, actions, "{function}");
            assert_eq!(got_resource.as_deref(), Some(resource), "{function}");
        }
        // The function writes to the log group its role names, which the template creates
        // (so no logs:CreateLogGroup), named without the function (no cycle).
        let log_group =
            ref_name(&template.properties(function).unwrap()["LoggingConfig"]["LogGroup"])
                .unwrap_or_else(|| {
                    panic!("{function}: LoggingConfig.LogGroup must be !Ref <group>")
                })
                .to_owned();
        assert_eq!(
            template.resource(&log_group).unwrap()["Type"],
            "AWS::Logs::LogGroup"
        );
        let mut names = Vec::new();
        walk_strings(
            &template.properties(&log_group).unwrap()["LogGroupName"],
            &mut names,
        );
        assert!(
            names.iter().all(|n| !n.contains(function)),
            "{log_group}: {names:?}"
        );
        assert!(
            role_problems(&template, &role).is_empty(),
            "{:?}",
            role_problems(&template, &role)
        );
    }
}

#[test]
fn every_role_names_only_this_stacks_resources_and_the_check_catches_a_broad_grant() {
    let template = template();
    let roles: Vec<String> = match &template.root()["Resources"] {
        Value::Mapping(resources) => resources
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
            .collect(),
        _ => panic!(),
    };
    assert!(roles.len() >= 3, "{roles:?}");
    // The one exemption: API Gateway's account-wide logging role (CreateApiGatewayLoggingRole)
    // serves every REST API of the account, so it carries AWS's
    // AmazonAPIGatewayPushToCloudWatchLogs; it is no function's role and exists only when
    // the parameter asks for it.
    let exempt = "ApiGatewayLoggingRole";
    let resource = template.resource(exempt).unwrap();
    assert_eq!(resource["Condition"], "CreateApiGatewayLoggingRole");
    assert_eq!(resource["DeletionPolicy"], "Retain");
    let mut managed = Vec::new();
    walk_strings(&resource["Properties"]["ManagedPolicyArns"], &mut managed);
    assert_eq!(
        managed,
        ["arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]
    );
    assert!(resource["Properties"].get("Policies").is_none());
    for role in roles.iter().filter(|r| *r != exempt) {
        assert!(
            role_problems(&template, role).is_empty(),
            "{:?}",
            role_problems(&template, role)
        );
    }
    // What SAM wrote before (AWSLambdaBasicExecutionRole: logs on "*"), and a wildcard
    // action: each is reported.
    for (key, value) in [("Resource", "*"), ("Action", "logs:*")] {
        let mut broken = template.clone();
        let statement = &mut broken.root_mut()["Resources"]["WorkerRole"]["Properties"]["Policies"]
            [0]["PolicyDocument"]["Statement"][0];
        statement[key] = Value::String(value.into());
        let problems = role_problems(&broken, "WorkerRole");
        assert_eq!(problems.len(), 1, "{key}={value}: {problems:?}");
    }
    let mut broken = template.clone();
    broken.root_mut()["Resources"]["StatusRole"]["Properties"]["ManagedPolicyArns"] =
        serde_yaml_ng::from_str(
            "[arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        )
        .unwrap();
    let caught = std::panic::catch_unwind(|| role_problems(&broken, "StatusRole"));
    assert!(
        caught.is_err(),
        "a managed policy on a function role is refused"
    );
}

#[test]
fn no_wildcards_in_any_policy_the_template_writes() {
    let template = template();
    let Value::Mapping(resources) = &template.root()["Resources"] else {
        panic!()
    };
    let mut checked = 0;
    for (id, resource) in resources {
        let props = &resource["Properties"];
        for key in ["Policies", "PolicyDocument", "AssumeRolePolicyDocument"] {
            if let Some(policy) = props.get(key) {
                let mut strings = Vec::new();
                walk_strings(policy, &mut strings);
                // The one "*": the Resource of X-Ray's writes (role_problems checks that
                // it stands with those actions only).
                let xray_star = strings.iter().filter(|s| **s == "*").count()
                    <= usize::from(strings.iter().any(|s| XRAY_WRITE.contains(s)));
                for s in strings.iter().filter(|s| **s != "*") {
                    assert!(!s.contains('*'), "{id:?} {key}: wildcard in {s:?}");
                }
                assert!(xray_star, "{id:?} {key}: \"*\" beside no X-Ray action");
                checked += 1;
            }
        }
        let kind = resource["Type"].as_str().unwrap_or_default();
        assert!(
            !kind.starts_with("AWS::IAM::")
                || props.get("PolicyDocument").is_some()
                || kind == "AWS::IAM::Role",
            "{id:?}"
        );
    }
    assert!(
        checked >= 6,
        "the three roles' policies and trust policies were checked"
    );
}

#[test]
fn functions_are_rust_on_al2023_with_parameters_and_tracing() {
    let template = template();
    for (function, binary, prefix) in [
        ("IngestFunction", "ingest", "Ingest"),
        ("WorkerFunction", "worker", "Worker"),
    ] {
        let resource = template.resource(function).unwrap();
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(resource["Metadata"]["BuildProperties"]["Binary"], binary);
        let p = &resource["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023");
        assert_eq!(p["Handler"], "bootstrap");
        assert_eq!(p["Tracing"], "Active");
        assert_eq!(ref_name(&p["Architectures"][0]), Some("Architecture"));
        assert_eq!(
            ref_name(&p["MemorySize"]),
            Some(format!("{prefix}MemorySize").as_str())
        );
        assert_eq!(
            ref_name(&p["Timeout"]),
            Some(format!("{prefix}Timeout").as_str())
        );
        let reserved = tag(&p["ReservedConcurrentExecutions"], "!If")
            .unwrap()
            .as_sequence()
            .unwrap();
        assert_eq!(
            ref_name(&reserved[1]),
            Some(format!("{prefix}ReservedConcurrency").as_str())
        );
    }
    let defaults = template.parameter_defaults();
    assert_eq!(defaults["Architecture"], "arm64");
}

#[test]
fn environment_variables_match_what_the_code_reads() {
    let template = template();
    let ingest = &template.properties("IngestFunction").unwrap()["Environment"]["Variables"];
    assert_eq!(ref_name(&ingest[ENV_QUEUE_URL]), Some("OrdersQueue"));
    let worker = &template.properties("WorkerFunction").unwrap()["Environment"]["Variables"];
    assert_eq!(ref_name(&worker[ENV_TABLE_NAME]), Some("OrdersTable"));
    assert_eq!(
        ref_name(&worker[ENV_PROCESSING_DELAY_MS]),
        Some("ProcessingDelayMs")
    );
    assert_eq!(
        ref_name(&worker[ENV_DEADLINE_MARGIN_MS]),
        Some("DeadlineMarginMs")
    );
    assert_eq!(template.parameter_defaults()["ProcessingDelayMs"], "0");
}

/// Lambda's log levels, most detailed first (its application-log levels; the system-log
/// levels are DEBUG, INFO and WARN of the same order).
const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// Whether Lambda's filter set to `filter` lets a record of `level` through.
fn admits(filter: &str, level: &str) -> bool {
    let rank = |l: &str| LAMBDA_LEVELS.iter().position(|x| *x == l).unwrap();
    rank(level) >= rank(filter)
}

fn allowed_values(template: &Template, parameter: &str) -> Vec<String> {
    template.root()["Parameters"][parameter]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn no_log_level_drops_the_metric_lines_or_lambdas_report() {
    // Lambda gives a JSON line without a valid "level" field the level INFO
    // (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
    // The metric (EMF) lines have none: at any LogLevel Lambda's application filter must let
    // INFO through, and the functions' own filter gets LogLevel as LOG_LEVEL.
    let template = template();
    let globals = &template.root()["Globals"]["Function"];
    let logging = &globals["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    for log_level in allowed_values(&template, "LogLevel") {
        let params = BTreeMap::from([("LogLevel".to_owned(), log_level.clone())]);
        let filter = resolve_scalar(&logging["ApplicationLogLevel"], &params).unwrap();
        assert!(
            admits(&filter, "INFO"),
            "LogLevel={log_level}: Lambda's ApplicationLogLevel {filter} drops every metric line"
        );
    }
    // The code reads LOG_LEVEL first (crates/platform/src/telemetry.rs).
    assert_eq!(
        ref_name(&globals["Environment"]["Variables"]["LOG_LEVEL"]),
        Some("LogLevel")
    );
    // platform.report (REPORT: duration, max memory used, init duration) is an INFO
    // record: the default keeps it, and WARN stays a choice.
    let defaults = template.parameter_defaults();
    let system = resolve_scalar(&logging["SystemLogLevel"], &defaults).unwrap();
    assert!(
        admits(&system, "INFO"),
        "SystemLogLevel {system} drops REPORT"
    );
    assert_eq!(ref_name(&logging["SystemLogLevel"]), Some("SystemLogLevel"));
    assert_eq!(
        allowed_values(&template, "SystemLogLevel"),
        ["DEBUG", "INFO", "WARN"]
    );
    for function in ["IngestFunction", "WorkerFunction", "StatusFunction"] {
        let props = template.properties(function).unwrap();
        assert!(
            props.get("LoggingConfig").is_none_or(
                |l| l.get("ApplicationLogLevel").is_none() && l.get("SystemLogLevel").is_none()
            ),
            "{function} overrides the global log levels"
        );
    }
}

#[test]
fn every_function_deploys_through_its_alias_and_rolls_back_on_its_alarms() {
    let template = template();
    let globals = &template.root()["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"], "live");
    let kinds = allowed_values(&template, "DeploymentPreferenceType");
    for kind in [
        "AllAtOnce",
        "Canary10Percent5Minutes",
        "Linear10PercentEvery1Minute",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
    assert_eq!(
        template.parameter_defaults()["DeploymentPreferenceType"],
        "AllAtOnce"
    );
    let config = samconfig();
    assert_eq!(
        config.overrides("default").unwrap()["DeploymentPreferenceType"],
        "AllAtOnce"
    );
    assert_eq!(
        config.overrides("prod").unwrap()["DeploymentPreferenceType"],
        "Canary10Percent5Minutes"
    );
    for (function, alarms) in [
        (
            "IngestFunction",
            vec!["Api5xxRateAlarm", "IngestThrottlesAlarm"],
        ),
        (
            "WorkerFunction",
            vec!["WorkerErrorsAlarm", "WorkerThrottlesAlarm"],
        ),
        ("StatusFunction", vec!["Api5xxRateAlarm"]),
    ] {
        let props = template.properties(function).unwrap();
        assert!(
            props.get("AutoPublishAlias").is_none(),
            "{function}: the alias is global"
        );
        let preference = &props["DeploymentPreference"];
        assert_eq!(
            ref_name(&preference["Type"]),
            Some("DeploymentPreferenceType"),
            "{function}"
        );
        let got: Vec<&str> = preference["Alarms"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{function} has no rollback alarms"))
            .iter()
            .filter_map(ref_name)
            .collect();
        assert_eq!(got, alarms, "{function}");
        for alarm in got {
            assert_eq!(
                template.resource(alarm).unwrap()["Type"],
                "AWS::CloudWatch::Alarm"
            );
        }
    }
}

#[test]
fn queues_and_table_are_durable_and_encrypted() {
    let template = template();
    let queue = template.properties("OrdersQueue").unwrap();
    let dlq = template.properties("OrdersDeadLetterQueue").unwrap();
    assert_eq!(queue["SqsManagedSseEnabled"], Value::Bool(true));
    assert_eq!(dlq["SqsManagedSseEnabled"], Value::Bool(true));
    assert_eq!(dlq["MessageRetentionPeriod"].as_u64(), Some(14 * 24 * 3600));
    assert_eq!(
        get_att(&queue["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("OrdersDeadLetterQueue.Arn")
    );
    let defaults = template.parameter_defaults();
    assert_eq!(
        resolve_scalar(&queue["RedrivePolicy"]["maxReceiveCount"], &defaults).as_deref(),
        Some("5")
    );

    let table = template.properties("OrdersTable").unwrap();
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["KeySchema"][0]["AttributeName"], "order_id");
    assert_eq!(table["KeySchema"][0]["KeyType"], "HASH");
    assert_eq!(table["KeySchema"].as_sequence().unwrap().len(), 1);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        Value::Bool(true)
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], Value::Bool(true));
    assert_eq!(
        ref_name(&table["DeletionProtectionEnabled"]),
        Some("TableDeletionProtection")
    );
}

#[test]
fn the_api_validates_and_throttles() {
    let template = template();
    let api = template.properties("OrdersApi").unwrap();
    let settings = &api["MethodSettings"][0];
    assert_eq!(
        ref_name(&settings["ThrottlingRateLimit"]),
        Some("ApiThrottlingRateLimit")
    );
    assert_eq!(
        ref_name(&settings["ThrottlingBurstLimit"]),
        Some("ApiThrottlingBurstLimit")
    );
    assert_eq!(api["TracingEnabled"], Value::Bool(true));
    assert_eq!(api["GatewayResponses"]["THROTTLED"]["StatusCode"], "429");

    let model = &api["Models"]["Order"];
    let required: Vec<&str> = model["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["email", "items"]);
    // The gateway's schema must never be stricter than the domain, or it would refuse
    // orders the domain accepts; here it mirrors the domain's limits exactly.
    let props = &model["properties"];
    assert_eq!(
        props["email"]["maxLength"].as_u64(),
        Some(MAX_EMAIL_LEN as u64)
    );
    assert_eq!(props["items"]["maxItems"].as_u64(), Some(MAX_ITEMS as u64));
    assert_eq!(
        props["items"]["items"]["properties"]["sku"]["maxLength"].as_u64(),
        Some(MAX_SKU_LEN as u64)
    );
    assert_eq!(
        props["items"]["items"]["properties"]["qty"]["minimum"].as_u64(),
        Some(MIN_QTY as u64)
    );
    assert_eq!(
        props["items"]["items"]["properties"]["qty"]["maximum"].as_u64(),
        Some(MAX_QTY as u64)
    );

    let get = &template.properties("StatusFunction").unwrap()["Events"]["GetOrder"]["Properties"];
    assert_eq!(get["Path"], "/orders/{order_id}");
    assert_eq!(get["Method"], "get");

    let event = &template.properties("IngestFunction").unwrap()["Events"]["PostOrder"];
    assert_eq!(event["Type"], "Api");
    assert_eq!(event["Properties"]["Path"], "/order");
    assert_eq!(event["Properties"]["Method"], "post");
    assert_eq!(
        ref_name(&event["Properties"]["RestApiId"]),
        Some("OrdersApi")
    );
    let model_ref = &event["Properties"]["RequestModel"];
    assert_eq!(model_ref["Model"], "Order");
    assert_eq!(model_ref["Required"], Value::Bool(true));
    assert_eq!(model_ref["ValidateBody"], Value::Bool(true));
}

#[test]
fn outputs_name_everything_a_user_needs() {
    let template = template();
    for output in ["ApiUrl", "QueueUrl", "DeadLetterQueueUrl", "TableName"] {
        assert!(template.root()["Outputs"].get(output).is_some(), "{output}");
    }
}

//! The CloudWatch dashboard and alarms in `template.yaml` watch metrics that exist: the
//! business metrics the functions emit (`orders_platform::metrics`), with exactly their dimensions,
//! and the metrics AWS publishes for this stack's own resources, named through `!Ref`,
//! `!GetAtt` or `${...}`, never by a hard-coded name. The alarms the operators rely on exist
//! and notify whom the parameters say. Each check is also shown to fail when the template is
//! broken on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use orders_platform::metrics::{dimensions, names, DEFAULT_NAMESPACE, DEFAULT_SERVICE, EMITTED};
use orders_template::Template;
use serde_json::Value as Json;
use serde_yaml_ng::Value;

/// The settings the functions read their metrics namespace and `Service` dimension from.
const ENV_METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
const ENV_SERVICE_NAME: &str = "SERVICE_NAME";

/// Metrics AWS publishes in one namespace, with the dimension sets it publishes them with (a
/// query must use one of these exact sets).
struct Published {
    namespace: &'static str,
    metrics: &'static [&'static str],
    dimension_sets: &'static [&'static [&'static str]],
}

/// What AWS publishes for the resource types of this stack.
const AWS_METRICS: &[Published] = &[
    Published {
        namespace: "AWS/ApiGateway",
        metrics: &[
            "Count",
            "4XXError",
            "5XXError",
            "Latency",
            "IntegrationLatency",
            "CacheHitCount",
            "CacheMissCount",
        ],
        dimension_sets: &[
            &["ApiName"],
            &["ApiName", "Stage"],
            &["ApiName", "Method", "Resource", "Stage"],
        ],
    },
    Published {
        namespace: "AWS/Lambda",
        metrics: &[
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "DeadLetterErrors",
            "DestinationDeliveryFailures",
            "RecursiveInvocationsDropped",
            "AsyncEventsReceived",
            "AsyncEventAge",
            "AsyncEventsDropped",
        ],
        dimension_sets: &[&["FunctionName"], &["FunctionName", "Resource"]],
    },
    Published {
        namespace: "AWS/Lambda",
        metrics: &[
            "ConcurrentExecutions",
            "UnreservedConcurrentExecutions",
            "ClaimedAccountConcurrency",
        ],
        dimension_sets: &[&[]],
    },
    Published {
        namespace: "AWS/SQS",
        metrics: &[
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateAgeOfOldestMessage",
            "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
            "NumberOfMessagesDeleted",
            "NumberOfEmptyReceives",
            "SentMessageSize",
        ],
        dimension_sets: &[&["QueueName"]],
    },
    Published {
        namespace: "AWS/DynamoDB",
        metrics: &[
            "ConsumedWriteCapacityUnits",
            "ConsumedReadCapacityUnits",
            "WriteThrottleEvents",
            "ReadThrottleEvents",
            "ProvisionedWriteCapacityUnits",
            "ProvisionedReadCapacityUnits",
            "ConditionalCheckFailedRequests",
        ],
        dimension_sets: &[&["TableName"], &["TableName", "GlobalSecondaryIndexName"]],
    },
    Published {
        namespace: "AWS/DynamoDB",
        metrics: &[
            "ThrottledRequests",
            "SuccessfulRequestLatency",
            "SystemErrors",
            "ReturnedItemCount",
        ],
        dimension_sets: &[&["TableName", "Operation"]],
    },
];

fn template() -> Template {
    Template::load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap()
}

// ------------------------------------------------------------------ reading values -------

/// A value in the template as the checker sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    /// Literal text.
    Literal(String),
    /// `!Ref X`, `${X}` (a parameter, a resource or a pseudo parameter).
    Ref(String),
    /// `!GetAtt X.Attr`, `${X.Attr}`.
    GetAtt(String, String),
    /// Text mixing literals and references, or an intrinsic the checker does not read.
    Other(String),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Literal(s) => write!(f, "the literal {s:?}"),
            Val::Ref(name) => write!(f, "!Ref {name}"),
            Val::GetAtt(id, attr) => write!(f, "!GetAtt {id}.{attr}"),
            Val::Other(s) => write!(f, "{s:?}"),
        }
    }
}

/// `${X}` placeholders become `⟦X⟧` markers before the dashboard JSON is parsed, so that a
/// dimension value still says which resource or parameter it names.
const OPEN: char = '⟦';
const CLOSE: char = '⟧';

fn marker(name: &str) -> String {
    format!("{OPEN}{name}{CLOSE}")
}

/// Text from the substituted dashboard: a lone marker is a reference, anything else with a
/// marker is mixed text.
fn decode(text: &str) -> Val {
    if let Some(inner) = text.strip_prefix(OPEN).and_then(|t| t.strip_suffix(CLOSE)) {
        if !inner.contains([OPEN, CLOSE]) {
            return reference(inner);
        }
    }
    if text.contains(OPEN) {
        Val::Other(text.replace(OPEN, "${").replace(CLOSE, "}"))
    } else {
        Val::Literal(text.to_owned())
    }
}

/// `Name` is a `Ref`, `Name.Attr` a `GetAtt` (pseudo parameters `AWS::X` are `Ref`s).
fn reference(name: &str) -> Val {
    match name.split_once('.') {
        Some((id, attr)) if !name.starts_with("AWS::") => Val::GetAtt(id.into(), attr.into()),
        _ => Val::Ref(name.into()),
    }
}

/// An intrinsic function in short (`!Ref x`) or long (`{Ref: x}`, `{"Fn::Sub": x}`) form:
/// its name without `!` or `Fn::`, and its argument.
fn function_of(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            match key {
                "Ref" | "Condition" => Some((key.to_owned(), arg)),
                _ => Some((key.strip_prefix("Fn::")?.to_owned(), arg)),
            }
        }
        _ => None,
    }
}

fn yaml_val(t: &Template, value: &Value) -> Val {
    match value {
        Value::String(s) => Val::Literal(s.clone()),
        Value::Number(n) => Val::Literal(n.to_string()),
        Value::Bool(b) => Val::Literal(b.to_string()),
        other => match function_of(other) {
            Some((f, arg)) if f == "Ref" => match arg.as_str() {
                Some(name) => Val::Ref(name.to_owned()),
                None => Val::Other(format!("{other:?}")),
            },
            Some((f, arg)) if f == "GetAtt" => match arg {
                Value::String(s) => match s.split_once('.') {
                    Some((id, attr)) => Val::GetAtt(id.into(), attr.into()),
                    None => Val::Other(s.clone()),
                },
                Value::Sequence(parts) if parts.len() == 2 => {
                    match (parts[0].as_str(), parts[1].as_str()) {
                        (Some(id), Some(attr)) => Val::GetAtt(id.into(), attr.into()),
                        _ => Val::Other(format!("{other:?}")),
                    }
                }
                _ => Val::Other(format!("{other:?}")),
            },
            Some((f, arg)) if f == "Sub" => match sub_parts(t, arg) {
                Some((text, vars)) => decode(&substitute(t, &text, &vars)),
                None => Val::Other(format!("{other:?}")),
            },
            _ => Val::Other(format!("{other:?}")),
        },
    }
}

/// The text and variables of a `!Sub` argument (`text` or `[text, {variables}]`).
fn sub_parts(t: &Template, arg: &Value) -> Option<(String, BTreeMap<String, Val>)> {
    match arg {
        Value::String(text) => Some((text.clone(), BTreeMap::new())),
        Value::Sequence(parts) if parts.len() == 2 => {
            let Value::Mapping(vars) = &parts[1] else {
                return None;
            };
            let vars = vars
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), yaml_val(t, v))))
                .collect();
            Some((parts[0].as_str()?.to_owned(), vars))
        }
        _ => None,
    }
}

/// `!Sub` text with every `${X}` replaced: `!Sub` variables by their value, Number
/// parameters by their default (JSON numbers stay numbers), anything else by a marker.
fn substitute(t: &Template, text: &str, vars: &BTreeMap<String, Val>) -> String {
    let numbers = number_parameter_defaults(t);
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str(&format!("${{{literal}}}"));
        } else if let Some(value) = vars.get(name) {
            match value {
                Val::Literal(s) => out.push_str(s),
                Val::Ref(n) => out.push_str(&marker(n)),
                Val::GetAtt(id, attr) => out.push_str(&marker(&format!("{id}.{attr}"))),
                Val::Other(o) => out.push_str(&marker(&format!("unreadable {o}"))),
            }
        } else if let Some(default) = numbers.get(name) {
            out.push_str(default);
        } else {
            out.push_str(&marker(name));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn number_parameter_defaults(t: &Template) -> BTreeMap<String, String> {
    let defaults = t.parameter_defaults();
    let Some(Value::Mapping(params)) = t.root().get("Parameters") else {
        return BTreeMap::new();
    };
    params
        .iter()
        .filter(|(_, spec)| spec.get("Type").and_then(Value::as_str) == Some("Number"))
        .filter_map(|(name, _)| {
            let name = name.as_str()?;
            Some((name.to_owned(), defaults.get(name)?.clone()))
        })
        .collect()
}

// ------------------------------------------------------------------ the stack's resources -

fn resources(t: &Template) -> Vec<(String, &Value)> {
    let Some(Value::Mapping(resources)) = t.root().get("Resources") else {
        return Vec::new();
    };
    resources
        .iter()
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r)))
        .collect()
}

fn resources_of_type<'a>(t: &'a Template, kind: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn resource_type<'a>(t: &'a Template, id: &str) -> Option<&'a str> {
    t.resource(id)?.get("Type")?.as_str()
}

/// The function built from `binary` (`ingest`, `worker`): what the `Function` dimension names.
fn function_for_binary(t: &Template, binary: &str) -> Option<String> {
    resources_of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, r)| {
            r.get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                == Some(binary)
        })
        .map(|(id, _)| id)
}

/// A function's environment variable (its own, else the `Globals` one).
fn env_var(t: &Template, function: &str, name: &str) -> Option<Val> {
    let own = t
        .properties(function)
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.get(name));
    let global = || {
        t.root()
            .get("Globals")?
            .get("Function")?
            .get("Environment")?
            .get("Variables")?
            .get(name)
    };
    own.or_else(global).map(|v| yaml_val(t, v))
}

/// The queue the worker's SQS event source reads.
fn worker_queue(t: &Template) -> Option<String> {
    let worker = function_for_binary(t, "worker")?;
    let Value::Mapping(events) = t.properties(&worker)?.get("Events")? else {
        return None;
    };
    let event = events
        .values()
        .find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))?;
    match yaml_val(t, event.get("Properties")?.get("Queue")?) {
        Val::GetAtt(id, attr) if attr == "Arn" => Some(id),
        _ => None,
    }
}

/// The dead-letter queue of `queue`'s redrive policy.
fn dead_letter_queue(t: &Template, queue: &str) -> Option<String> {
    let target = t
        .properties(queue)?
        .get("RedrivePolicy")?
        .get("deadLetterTargetArn")?;
    match yaml_val(t, target) {
        Val::GetAtt(id, attr) if attr == "Arn" => Some(id),
        _ => None,
    }
}

/// Each REST API's CloudWatch `ApiName` and `Stage`. API Gateway names an API its `Name`,
/// else the title of its OpenAPI definition: the `DefinitionBody`'s `info.title`, or, when
/// SAM generates the definition, the stack name (SAM titles it with `AWS::StackName`).
fn apis(t: &Template) -> Vec<(String, Val, Val)> {
    resources_of_type(t, "AWS::Serverless::Api")
        .into_iter()
        .map(|(id, r)| {
            let props = &r["Properties"];
            let title = props
                .get("DefinitionBody")
                .map(|body| &body["info"]["title"]);
            let name = match (props.get("Name"), title, props.get("DefinitionUri")) {
                (Some(name), _, _) => yaml_val(t, name),
                (None, Some(title), _) => yaml_val(t, title),
                (None, None, Some(_)) => Val::Other("the title in DefinitionUri".into()),
                (None, None, None) => Val::Ref("AWS::StackName".into()),
            };
            (id, name, yaml_val(t, &props["StageName"]))
        })
        .collect()
}

// ------------------------------------------------------------------ metric references -----

/// One metric the dashboard or an alarm reads.
#[derive(Debug, Clone)]
struct MetricUse {
    /// Where: resource, widget or alarm query.
    origin: String,
    /// The dashboard widget's title (none for alarms).
    widget: Option<String>,
    namespace: Val,
    name: String,
    dimensions: Dimensions,
}

impl MetricUse {
    fn dimension(&self, name: &str) -> Option<&Option<Val>> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Every metric on every dashboard of the template (problems reading them go to `problems`).
fn dashboard_uses(t: &Template, problems: &mut Vec<String>) -> Vec<MetricUse> {
    let mut uses = Vec::new();
    for (id, resource) in resources_of_type(t, "AWS::CloudWatch::Dashboard") {
        let body = &resource["Properties"]["DashboardBody"];
        let text = match function_of(body) {
            Some((f, arg)) if f == "Sub" => match sub_parts(t, arg) {
                Some((text, vars)) => substitute(t, &text, &vars),
                None => {
                    problems.push(format!("{id}: unreadable !Sub DashboardBody"));
                    continue;
                }
            },
            _ => match body.as_str() {
                Some(text) => text.to_owned(),
                None => {
                    problems.push(format!("{id}: DashboardBody is neither text nor !Sub"));
                    continue;
                }
            },
        };
        let json: Json = match serde_json::from_str(&text) {
            Ok(json) => json,
            Err(e) => {
                problems.push(format!("{id}: DashboardBody is not JSON: {e}"));
                continue;
            }
        };
        let Some(widgets) = json["widgets"].as_array() else {
            problems.push(format!("{id}: DashboardBody has no widgets"));
            continue;
        };
        for (i, widget) in widgets.iter().enumerate() {
            let props = &widget["properties"];
            let title = props["title"].as_str().unwrap_or_default().to_owned();
            let origin = format!("{id} widget {i} {title:?}");
            for arns in [&props["alarms"], &props["annotations"]["alarms"]] {
                for arn in arns.as_array().into_iter().flatten() {
                    let val = decode(arn.as_str().unwrap_or_default());
                    let ok = matches!(&val, Val::GetAtt(alarm, attr)
                        if attr == "Arn" && resource_type(t, alarm) == Some("AWS::CloudWatch::Alarm"));
                    if !ok {
                        problems.push(format!(
                            "{origin}: alarm {val} is not ${{<alarm of this stack>.Arn}}"
                        ));
                    }
                }
            }
            let Some(rows) = props["metrics"].as_array() else {
                continue;
            };
            let mut previous: Vec<String> = Vec::new();
            for row in rows {
                let Some(items) = row.as_array() else {
                    problems.push(format!("{origin}: metric {row} is not an array"));
                    continue;
                };
                if let [Json::Object(options)] = items.as_slice() {
                    match options.get("expression").and_then(Json::as_str) {
                        Some(expression) => uses.extend(expression_uses(
                            expression,
                            &origin,
                            Some(&title),
                            problems,
                        )),
                        None => problems.push(format!("{origin}: {row} has no expression")),
                    }
                    continue;
                }
                let mut parts = Vec::new();
                for (k, item) in items.iter().enumerate() {
                    match item {
                        // "." repeats the previous row's item at this position.
                        Json::String(s) if s == "." => match previous.get(k) {
                            Some(p) => parts.push(p.clone()),
                            None => problems.push(format!("{origin}: {row}: nothing to repeat")),
                        },
                        Json::String(s) => parts.push(s.clone()),
                        Json::Object(_) if k + 1 == items.len() => {}
                        other => problems.push(format!("{origin}: {row}: unexpected {other}")),
                    }
                }
                previous.clone_from(&parts);
                if parts.len() < 2 || parts.len() % 2 != 0 {
                    problems.push(format!(
                        "{origin}: {row} is not [namespace, metric, (dimension, value)...]"
                    ));
                    continue;
                }
                uses.push(MetricUse {
                    origin: origin.clone(),
                    widget: Some(title.clone()),
                    namespace: decode(&parts[0]),
                    name: parts[1].clone(),
                    dimensions: parts[2..]
                        .chunks(2)
                        .map(|p| (p[0].clone(), Some(decode(&p[1]))))
                        .collect(),
                });
            }
        }
    }
    uses
}

/// The metrics a metric math expression reads: those of its SEARCH calls (other functions
/// read other queries by id).
fn expression_uses(
    expression: &str,
    origin: &str,
    widget: Option<&str>,
    problems: &mut Vec<String>,
) -> Vec<MetricUse> {
    let mut uses = Vec::new();
    let upper = expression.to_ascii_uppercase();
    let mut from = 0;
    while let Some(at) = upper[from..].find("SEARCH(") {
        let start = from + at + "SEARCH(".len();
        from = start;
        let query = expression[start..]
            .trim_start()
            .strip_prefix('\'')
            .and_then(|q| q.split_once('\''))
            .map(|(q, _)| q);
        let parsed = query
            .ok_or_else(|| "SEARCH without a quoted query".to_owned())
            .and_then(parse_search);
        match parsed {
            Ok((namespace, name, dimensions)) => uses.push(MetricUse {
                origin: origin.to_owned(),
                widget: widget.map(str::to_owned),
                namespace,
                name,
                dimensions,
            }),
            Err(e) => problems.push(format!("{origin}: {e} in {expression:?}")),
        }
    }
    uses
}

/// Dimension names and values; `None` is a SEARCH schema dimension without a filter.
type Dimensions = Vec<(String, Option<Val>)>;

type SearchQuery = (Val, String, Dimensions);

/// `{Namespace,Dim1,Dim2} MetricName="X" Dim1="v"`: the only SEARCH form the checker reads
/// (exact matches; boolean operators and partial matches cannot be checked).
fn parse_search(query: &str) -> Result<SearchQuery, String> {
    let schema_and_terms = query
        .trim()
        .strip_prefix('{')
        .ok_or("SEARCH without a {namespace,dimension,...} schema")?;
    let (schema, terms) = schema_and_terms
        .split_once('}')
        .ok_or("SEARCH schema without '}'")?;
    let mut schema = schema.split(',').map(|s| s.trim().trim_matches('"'));
    let namespace = decode(schema.next().unwrap_or_default());
    let schema: Vec<String> = schema.map(str::to_owned).collect();
    let mut filters = BTreeMap::new();
    let mut rest = terms.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("search term {rest:?} is not Key=\"value\""))?;
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("search term {key:?} is not Key=\"value\""));
        }
        let quoted = after
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("{key}= needs a quoted (exact) value"))?;
        let (value, next) = quoted
            .split_once('"')
            .ok_or_else(|| format!("{key}= has an unclosed quote"))?;
        if filters.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("{key} is filtered twice"));
        }
        rest = next.trim_start();
    }
    let name = filters
        .remove("MetricName")
        .ok_or("SEARCH without MetricName=\"...\"")?;
    if let Some(stray) = filters.keys().find(|k| !schema.contains(k)) {
        return Err(format!(
            "SEARCH filters on {stray}, which is not in its schema"
        ));
    }
    let dimensions = schema
        .iter()
        .map(|d| (d.clone(), filters.get(d).map(|v| decode(v))))
        .collect();
    Ok((namespace, name, dimensions))
}

/// Every metric every alarm reads.
fn alarm_uses(t: &Template, problems: &mut Vec<String>) -> Vec<MetricUse> {
    let mut uses = Vec::new();
    for (id, alarm) in resources_of_type(t, "AWS::CloudWatch::Alarm") {
        let props = &alarm["Properties"];
        if props.get("MetricName").is_some() {
            uses.push(metric_of(t, id.clone(), props));
        } else if let Some(queries) = props.get("Metrics").and_then(Value::as_sequence) {
            for query in queries {
                let origin = format!("{id} query {}", query["Id"].as_str().unwrap_or("?"));
                if let Some(metric) = query.get("MetricStat").and_then(|s| s.get("Metric")) {
                    uses.push(metric_of(t, origin, metric));
                } else if let Some(expression) = query.get("Expression").and_then(Value::as_str) {
                    if expression.to_ascii_uppercase().contains("SEARCH(") {
                        problems.push(format!("{origin}: alarms cannot use SEARCH"));
                    }
                } else {
                    problems.push(format!("{origin}: neither MetricStat nor Expression"));
                }
            }
        } else {
            problems.push(format!("{id}: neither MetricName nor Metrics"));
        }
    }
    uses
}

/// A metric written as CloudFormation: `Namespace`, `MetricName`, `Dimensions: [{Name, Value}]`.
fn metric_of(t: &Template, origin: String, metric: &Value) -> MetricUse {
    let name = match yaml_val(t, &metric["MetricName"]) {
        Val::Literal(name) => name,
        other => other.to_string(),
    };
    let dimensions = metric["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            let name = d["Name"].as_str().unwrap_or_default().to_owned();
            (name, Some(yaml_val(t, &d["Value"])))
        })
        .collect();
    MetricUse {
        origin,
        widget: None,
        namespace: yaml_val(t, &metric["Namespace"]),
        name,
        dimensions,
    }
}

// ------------------------------------------------------------------ the checker ----------

/// Checks (a) and (b): every metric the dashboards and alarms read exists with these
/// dimensions, and every dimension that names a resource names one of this stack's own.
fn metric_problems(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let mut uses = dashboard_uses(t, &mut problems);
    uses.extend(alarm_uses(t, &mut problems));
    for metric in &uses {
        problems.extend(check_metric(t, metric));
    }
    problems
}

fn check_metric(t: &Template, metric: &MetricUse) -> Vec<String> {
    let mut problems = Vec::new();
    let names: Vec<&str> = metric.dimensions.iter().map(|(n, _)| n.as_str()).collect();
    let set: BTreeSet<&str> = names.iter().copied().collect();
    if set.len() != names.len() {
        problems.push(format!("{}: a dimension is repeated", metric.origin));
    }
    if metric.name.contains(OPEN) || metric.name.is_empty() {
        problems.push(format!(
            "{}: metric name {:?} is not literal",
            metric.origin, metric.name
        ));
    }
    match &metric.namespace {
        Val::Literal(ns) if ns.starts_with("AWS/") => check_aws_metric(t, metric, ns, &set),
        _ => check_custom_metric(t, metric, &set),
    }
    .into_iter()
    .for_each(|p| problems.push(format!("{}: {} {p}", metric.origin, metric.name)));
    problems
}

/// A metric AWS publishes: in the table, with one of its dimension sets, about this stack's
/// own resources.
fn check_aws_metric(
    t: &Template,
    metric: &MetricUse,
    namespace: &str,
    dims: &BTreeSet<&str>,
) -> Vec<String> {
    let rows: Vec<&Published> = AWS_METRICS
        .iter()
        .filter(|p| p.namespace == namespace && p.metrics.contains(&metric.name.as_str()))
        .collect();
    if rows.is_empty() {
        return vec![format!("is not a metric AWS publishes in {namespace}")];
    }
    let allowed: Vec<BTreeSet<&str>> = rows
        .iter()
        .flat_map(|p| p.dimension_sets.iter().map(|s| s.iter().copied().collect()))
        .collect();
    if !allowed.contains(dims) {
        return vec![format!(
            "has dimensions {dims:?}; AWS publishes it in {namespace} with {allowed:?}"
        )];
    }
    let mut problems = Vec::new();
    for (dim, value) in &metric.dimensions {
        let resource = |kinds: &[&str], attr: Option<&str>, how: &str| -> Option<String> {
            let of_kind = |id: &str| kinds.contains(&resource_type(t, id).unwrap_or_default());
            let ok = match (value, attr) {
                (Some(Val::Ref(id)), None) => of_kind(id),
                (Some(Val::GetAtt(id, a)), Some(want)) => a == want && of_kind(id),
                _ => false,
            };
            let shown = value
                .as_ref()
                .map_or("any value".to_owned(), Val::to_string);
            (!ok).then(|| format!("dimension {dim} = {shown}: must be {how} of this stack"))
        };
        let problem = match dim.as_str() {
            "FunctionName" => resource(
                &["AWS::Serverless::Function", "AWS::Lambda::Function"],
                None,
                "!Ref (${X}) of a function",
            ),
            "QueueName" => resource(
                &["AWS::SQS::Queue"],
                Some("QueueName"),
                "!GetAtt (${X.QueueName}) of a queue",
            ),
            "TableName" => resource(&["AWS::DynamoDB::Table"], None, "!Ref (${X}) of a table"),
            _ => None,
        };
        problems.extend(problem);
    }
    if namespace == "AWS/ApiGateway" {
        let api_name = metric.dimension("ApiName").cloned().flatten();
        let stage = metric.dimension("Stage").cloned();
        let known = apis(t);
        let matches = known.iter().any(|(_, name, api_stage)| {
            Some(name) == api_name.as_ref()
                && stage.as_ref().is_none_or(|s| s.as_ref() == Some(api_stage))
        });
        if !matches {
            problems.push(format!(
                "ApiName = {}, Stage = {}: not an API of this stack (its APIs: {})",
                api_name.map_or("any".into(), |v| v.to_string()),
                stage.flatten().map_or("none".into(), |v| v.to_string()),
                known
                    .iter()
                    .map(|(id, name, stage)| format!("{id}: ApiName {name}, Stage {stage}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    problems
}

/// A business metric: emitted (`EMITTED`) by the function its `Function` dimension names,
/// with exactly the dimensions it is emitted with, in the namespace and `Service` that
/// function is configured with.
fn check_custom_metric(t: &Template, metric: &MetricUse, dims: &BTreeSet<&str>) -> Vec<String> {
    let emitters: BTreeSet<&str> = EMITTED
        .iter()
        .filter(|(_, name)| *name == metric.name)
        .map(|(function, _)| *function)
        .collect();
    if emitters.is_empty() {
        return vec![format!(
            "in namespace {} is not a metric the functions emit (orders_platform::metrics::EMITTED)",
            metric.namespace
        )];
    }
    let mut expected: BTreeSet<&str> = [dimensions::SERVICE, dimensions::FUNCTION].into();
    if metric.name == names::ORDERS_REJECTED {
        expected.insert(dimensions::ERROR_CODE);
    }
    if *dims != expected {
        return vec![format!(
            "has dimensions {dims:?}; it is emitted with exactly {expected:?}"
        )];
    }
    let mut problems = Vec::new();
    let functions: Vec<&str> = match metric.dimension(dimensions::FUNCTION) {
        Some(Some(Val::Literal(f))) if emitters.contains(f.as_str()) => vec![f.as_str()],
        Some(None) => emitters.iter().copied().collect(),
        Some(Some(other)) => {
            return vec![format!(
                "{} = {other}: it is emitted only by {emitters:?}",
                dimensions::FUNCTION
            )]
        }
        None => unreachable!("the dimension set was checked"),
    };
    for function in functions {
        let Some(id) = function_for_binary(t, function) else {
            problems.push(format!("no function of the template builds {function:?}"));
            continue;
        };
        let namespace = env_var(t, &id, ENV_METRICS_NAMESPACE);
        if namespace.as_ref() != Some(&metric.namespace) {
            problems.push(format!(
                "namespace {} is not the one {id} emits to ({ENV_METRICS_NAMESPACE} = {})",
                metric.namespace,
                namespace.map_or("unset".into(), |v| v.to_string())
            ));
        }
        let service = env_var(t, &id, ENV_SERVICE_NAME);
        match metric.dimension(dimensions::SERVICE) {
            Some(Some(value)) if service.as_ref() == Some(value) => {}
            Some(value) => problems.push(format!(
                "{} = {} is not the {ENV_SERVICE_NAME} of {id} ({})",
                dimensions::SERVICE,
                value.as_ref().map_or("any value".into(), Val::to_string),
                service.map_or("unset".into(), |v| v.to_string())
            )),
            None => unreachable!("the dimension set was checked"),
        }
    }
    if let Some(Some(code)) = metric.dimension(dimensions::ERROR_CODE) {
        if !matches!(code, Val::Literal(c) if !c.is_empty()) {
            problems.push(format!(
                "{} = {code} is not an error code",
                dimensions::ERROR_CODE
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ alarms --------------

/// A condition's value for these parameter values.
fn eval_condition(
    t: &Template,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let condition = t
        .root()
        .get("Conditions")
        .and_then(|c| c.get(name))
        .ok_or_else(|| format!("no condition {name}"))?;
    eval(t, condition, params)
}

fn eval(t: &Template, expr: &Value, params: &BTreeMap<String, String>) -> Result<bool, String> {
    let (f, arg) = function_of(expr).ok_or_else(|| format!("unreadable condition {expr:?}"))?;
    let items = || arg.as_sequence().cloned().unwrap_or_default();
    match f.as_str() {
        "Equals" => match items().as_slice() {
            [a, b] => Ok(scalar(a, params)? == scalar(b, params)?),
            _ => Err(format!("malformed Equals {arg:?}")),
        },
        "Not" => Ok(!eval(t, items().first().ok_or("empty Not")?, params)?),
        "And" => items()
            .iter()
            .try_fold(true, |acc, c| Ok(acc & eval(t, c, params)?)),
        "Or" => items()
            .iter()
            .try_fold(false, |acc, c| Ok(acc | eval(t, c, params)?)),
        "Condition" => eval_condition(t, arg.as_str().unwrap_or_default(), params),
        other => Err(format!("unsupported condition function {other}")),
    }
}

fn scalar(value: &Value, params: &BTreeMap<String, String>) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => match function_of(other) {
            Some((f, arg)) if f == "Ref" => {
                let name = arg.as_str().unwrap_or_default();
                params
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("no parameter {name}"))
            }
            _ => Err(format!("unsupported value in a condition: {other:?}")),
        },
    }
}

fn resource_exists(
    t: &Template,
    id: &str,
    params: &BTreeMap<String, String>,
) -> Result<bool, String> {
    match t
        .resource(id)
        .and_then(|r| r.get("Condition"))
        .and_then(Value::as_str)
    {
        Some(condition) => eval_condition(t, condition, params),
        None => Ok(t.resource(id).is_some()),
    }
}

/// A value after `!If` (`None` for `AWS::NoValue`).
fn resolve_if<'a>(
    t: &Template,
    value: &'a Value,
    params: &BTreeMap<String, String>,
) -> Result<Option<&'a Value>, String> {
    match function_of(value) {
        Some((f, arg)) if f == "If" => {
            let parts = arg.as_sequence().filter(|p| p.len() == 3);
            let parts = parts.ok_or_else(|| format!("malformed If {arg:?}"))?;
            let holds = eval_condition(t, parts[0].as_str().unwrap_or_default(), params)?;
            resolve_if(t, if holds { &parts[1] } else { &parts[2] }, params)
        }
        Some((f, arg)) if f == "Ref" && arg.as_str() == Some("AWS::NoValue") => Ok(None),
        _ => Ok(Some(value)),
    }
}

/// A list of actions for these parameter values.
fn resolve_actions(
    t: &Template,
    list: Option<&Value>,
    params: &BTreeMap<String, String>,
) -> Result<Vec<Val>, String> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let Some(list) = resolve_if(t, list, params)? else {
        return Ok(Vec::new());
    };
    let items = list
        .as_sequence()
        .ok_or_else(|| format!("actions {list:?} are not a list"))?;
    let mut out = Vec::new();
    for item in items {
        if let Some(item) = resolve_if(t, item, params)? {
            out.push(yaml_val(t, item));
        }
    }
    Ok(out)
}

/// The SNS topic `AlarmEmail` subscribes to (and the separate subscription resource, if any).
fn email_topic(t: &Template) -> Option<(String, Option<String>)> {
    let is_email = |s: &Value| {
        s.get("Protocol").and_then(Value::as_str) == Some("email")
            && s.get("Endpoint").map(|e| yaml_val(t, e)) == Some(Val::Ref("AlarmEmail".into()))
    };
    for (id, topic) in resources_of_type(t, "AWS::SNS::Topic") {
        let inline = topic["Properties"]["Subscription"].as_sequence();
        if inline.is_some_and(|subs| subs.iter().any(is_email)) {
            return Some((id, None));
        }
        for (sub_id, sub) in resources_of_type(t, "AWS::SNS::Subscription") {
            let props = &sub["Properties"];
            if is_email(props) && yaml_val(t, &props["TopicArn"]) == Val::Ref(id.clone()) {
                return Some((id, Some(sub_id)));
            }
        }
    }
    None
}

/// Every alarm notifies the `AlarmEmail` topic when `AlarmEmail` is set and the
/// `AlarmTopicArn` topic when that is set (both, either or none), on ALARM and on OK; the
/// topic exists exactly when `AlarmEmail` is set.
fn notification_problems(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let Some((topic, subscription)) = email_topic(t) else {
        return vec!["no SNS topic has an email subscription to !Ref AlarmEmail".into()];
    };
    for (email, arn) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut params = t.parameter_defaults();
        let email_value = if email { "ops@example.com" } else { "" };
        let arn_value = if arn {
            "arn:aws:sns:eu-west-1:123456789012:on-call"
        } else {
            ""
        };
        params.insert("AlarmEmail".into(), email_value.into());
        params.insert("AlarmTopicArn".into(), arn_value.into());
        let scenario = format!("with AlarmEmail={email_value:?} AlarmTopicArn={arn_value:?}");
        let exists = |id: &str, problems: &mut Vec<String>| match resource_exists(t, id, &params) {
            Ok(exists) => exists,
            Err(e) => {
                problems.push(format!("{scenario}: {id}: {e}"));
                false
            }
        };
        for id in std::iter::once(&topic).chain(subscription.as_ref()) {
            if exists(id, &mut problems) != email {
                problems.push(format!(
                    "{scenario}: {id} {} created",
                    if email { "is not" } else { "is" }
                ));
            }
        }
        let mut expected = BTreeSet::new();
        if email {
            expected.insert(Val::Ref(topic.clone()));
        }
        if arn {
            expected.insert(Val::Ref("AlarmTopicArn".into()));
        }
        for (id, alarm) in resources_of_type(t, "AWS::CloudWatch::Alarm") {
            if !exists(&id, &mut problems) {
                problems.push(format!("{scenario}: alarm {id} is not created"));
                continue;
            }
            for key in ["AlarmActions", "OKActions"] {
                match resolve_actions(t, alarm["Properties"].get(key), &params) {
                    Ok(actions) => {
                        let got: BTreeSet<Val> = actions.iter().cloned().collect();
                        if got != expected || got.len() != actions.len() {
                            problems.push(format!(
                                "{scenario}: {id} {key} = {actions:?}, expected {expected:?}"
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("{scenario}: {id} {key}: {e}")),
                }
            }
        }
    }
    problems
}

/// One required single-metric alarm.
struct Required {
    what: &'static str,
    namespace: &'static str,
    metric: &'static str,
    dimension: (&'static str, Option<Val>),
    statistic: &'static str,
    /// Acceptable (threshold, comparison) pairs.
    thresholds: Vec<(Val, &'static str)>,
    not_breaching: bool,
}

const GT: &str = "GreaterThanThreshold";
const GE: &str = "GreaterThanOrEqualToThreshold";

fn same_threshold(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Literal(a), Val::Literal(b)) => a.parse::<f64>().ok() == b.parse::<f64>().ok(),
        _ => a == b,
    }
}

/// Check (c): the alarms operators rely on exist, measure the right thing, say what to do,
/// and notify per the parameters.
fn alarm_problems(t: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let queue = worker_queue(t);
    let dlq = queue.as_deref().and_then(|q| dead_letter_queue(t, q));
    let worker = function_for_binary(t, "worker");
    let queue_name = |q: Option<String>| q.map(|q| Val::GetAtt(q, "QueueName".into()));
    let param = |p: &str| Val::Ref(p.into());
    let zero = || Val::Literal("0".into());
    let one = || Val::Literal("1".into());
    let required = [
        Required {
            what: "dead-letter queue depth",
            namespace: "AWS/SQS",
            metric: "ApproximateNumberOfMessagesVisible",
            dimension: ("QueueName", queue_name(dlq)),
            statistic: "Maximum",
            thresholds: vec![(one(), GE), (zero(), GT)],
            not_breaching: false,
        },
        Required {
            what: "orders queue age of oldest message",
            namespace: "AWS/SQS",
            metric: "ApproximateAgeOfOldestMessage",
            dimension: ("QueueName", queue_name(queue)),
            statistic: "Maximum",
            thresholds: vec![
                (param("QueueAgeAlarmSeconds"), GT),
                (param("QueueAgeAlarmSeconds"), GE),
            ],
            not_breaching: false,
        },
        Required {
            what: "worker errors",
            namespace: "AWS/Lambda",
            metric: "Errors",
            dimension: ("FunctionName", worker.clone().map(Val::Ref)),
            statistic: "Sum",
            thresholds: vec![(zero(), GT), (one(), GE)],
            not_breaching: true,
        },
        Required {
            what: "worker throttles",
            namespace: "AWS/Lambda",
            metric: "Throttles",
            dimension: ("FunctionName", worker.map(Val::Ref)),
            statistic: "Sum",
            thresholds: vec![(zero(), GT), (one(), GE)],
            not_breaching: true,
        },
    ];
    let alarms = resources_of_type(t, "AWS::CloudWatch::Alarm");
    for want in &required {
        let found = alarms.iter().find(|(_, alarm)| {
            let p = &alarm["Properties"];
            p.get("MetricName").is_some() && {
                let m = metric_of(t, String::new(), p);
                m.namespace == Val::Literal(want.namespace.into())
                    && m.name == want.metric
                    && m.dimensions.len() == 1
                    && want.dimension.1.is_some()
                    && m.dimension(want.dimension.0) == Some(&want.dimension.1)
            }
        });
        let Some((id, alarm)) = found else {
            problems.push(format!(
                "no alarm on {}: {} {} with {} = {}",
                want.what,
                want.namespace,
                want.metric,
                want.dimension.0,
                want.dimension
                    .1
                    .as_ref()
                    .map_or("(resource not found)".into(), Val::to_string)
            ));
            continue;
        };
        let p = &alarm["Properties"];
        if p["Statistic"].as_str() != Some(want.statistic) {
            problems.push(format!(
                "{id} ({}): Statistic must be {}",
                want.what, want.statistic
            ));
        }
        problems.extend(threshold_problem(t, id, want.what, p, &want.thresholds));
        if want.not_breaching && p["TreatMissingData"].as_str() != Some("notBreaching") {
            problems.push(format!(
                "{id} ({}): TreatMissingData must be notBreaching (no traffic is no failure)",
                want.what
            ));
        }
    }
    problems.extend(api_5xx_problems(t, &alarms));
    for (id, alarm) in &alarms {
        let description = match yaml_val(t, &alarm["Properties"]["AlarmDescription"]) {
            Val::Literal(s) | Val::Other(s) => s,
            _ => String::new(),
        };
        if description.trim().len() < 40 || description.len() > 900 {
            problems.push(format!(
                "{id}: AlarmDescription must say what to do (40-900 characters)"
            ));
        }
    }
    problems.extend(notification_problems(t));
    problems
}

fn threshold_problem(
    t: &Template,
    id: &str,
    what: &str,
    props: &Value,
    thresholds: &[(Val, &str)],
) -> Option<String> {
    let threshold = yaml_val(t, &props["Threshold"]);
    let comparison = props["ComparisonOperator"].as_str().unwrap_or_default();
    let ok = thresholds
        .iter()
        .any(|(v, op)| same_threshold(v, &threshold) && *op == comparison);
    (!ok)
        .then(|| format!("{id} ({what}): {comparison} {threshold}; expected one of {thresholds:?}"))
}

/// The API 5xx rate alarm: metric math over the API's 5XXError and Count sums, in percent,
/// against `Api5xxRateAlarmThreshold`, quiet without traffic.
fn api_5xx_problems(t: &Template, alarms: &[(String, &Value)]) -> Vec<String> {
    let what = "API 5xx rate";
    let stat_id = |p: &Value, metric: &str| -> Option<(String, Dimensions)> {
        p.get("Metrics")?.as_sequence()?.iter().find_map(|q| {
            let stat = q.get("MetricStat")?;
            let m = metric_of(t, String::new(), stat.get("Metric")?);
            (m.namespace == Val::Literal("AWS/ApiGateway".into())
                && m.name == metric
                && stat["Stat"].as_str() == Some("Sum"))
            .then(|| {
                (
                    q["Id"].as_str().unwrap_or_default().to_owned(),
                    m.dimensions,
                )
            })
        })
    };
    let found = alarms.iter().find_map(|(id, alarm)| {
        let p = &alarm["Properties"];
        Some((id, p, stat_id(p, "5XXError")?, stat_id(p, "Count")?))
    });
    let Some((id, p, (errors, error_dims), (count, count_dims))) = found else {
        return vec![format!(
            "no alarm on {what}: metric math over AWS/ApiGateway 5XXError and Count (Sum)"
        )];
    };
    let mut problems = Vec::new();
    if error_dims != count_dims {
        problems.push(format!(
            "{id} ({what}): 5XXError and Count of different APIs"
        ));
    }
    let returned: Vec<&Value> = p["Metrics"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|q| q.get("ReturnData").and_then(Value::as_bool) != Some(false))
        .collect();
    let expression = match returned.as_slice() {
        [q] => q["Expression"].as_str().unwrap_or_default(),
        _ => "",
    };
    let compact: String = expression.split_whitespace().collect();
    let percent = [
        format!("100*{errors}/{count}"),
        format!("{errors}*100/{count}"),
        format!("{errors}/{count}*100"),
        format!("({errors}/{count})*100"),
    ];
    if !percent.iter().any(|form| compact.contains(form.as_str())) {
        problems.push(format!(
            "{id} ({what}): the one returned query must be 100 * {errors} / {count}, not {expression:?}"
        ));
    }
    let param = Val::Ref("Api5xxRateAlarmThreshold".into());
    problems.extend(threshold_problem(
        t,
        id,
        what,
        p,
        &[(param.clone(), GT), (param, GE)],
    ));
    if p["TreatMissingData"].as_str() != Some("notBreaching") {
        problems.push(format!(
            "{id} ({what}): TreatMissingData must be notBreaching"
        ));
    }
    problems
}

// ------------------------------------------------------------------ tests: the template ---

#[test]
fn every_dashboard_and_alarm_metric_exists_with_this_stacks_resources() {
    let template = template();
    let problems = metric_problems(&template);
    assert!(problems.is_empty(), "{problems:#?}");
    let mut read = Vec::new();
    let dashboard = dashboard_uses(&template, &mut read);
    let alarms = alarm_uses(&template, &mut read);
    assert!(read.is_empty(), "{read:#?}");
    // Not vacuous: the checker saw the dashboard's metrics and every alarm's.
    assert!(dashboard.len() >= 40, "{}", dashboard.len());
    assert!(alarms.len() >= 6, "{}", alarms.len());
}

#[test]
fn required_alarms_exist_say_what_to_do_and_notify_per_the_parameters() {
    let problems = alarm_problems(&template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_dead_letter_alarm_names_the_operator_commands() {
    let template = template();
    let alarm = resources_of_type(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, a)| a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible")
        .unwrap();
    let description = yaml_val(&template, &alarm.1["Properties"]["AlarmDescription"]);
    let Val::Other(text) = description else {
        panic!("{description:?}")
    };
    assert!(
        text.contains("orders dlq list --stack ${AWS::StackName}"),
        "{text}"
    );
    assert!(text.contains("orders dlq redrive"), "{text}");
}

#[test]
fn the_dashboard_shows_every_emitted_metric_and_each_resource() {
    let template = template();
    let uses = dashboard_uses(&template, &mut Vec::new());
    let custom = |name: &str, function: &str| {
        uses.iter().any(|u| {
            !matches!(&u.namespace, Val::Literal(ns) if ns.starts_with("AWS/"))
                && u.name == name
                && match u.dimension(dimensions::FUNCTION) {
                    Some(Some(Val::Literal(f))) => f == function,
                    Some(None) => true,
                    _ => false,
                }
        })
    };
    for (function, name) in EMITTED {
        assert!(
            custom(name, function),
            "{function} {name} is not on the dashboard"
        );
    }
    let aws = |ns: &str, name: &str, dim: &str, value: &Val| {
        uses.iter().any(|u| {
            u.namespace == Val::Literal(ns.into())
                && u.name == name
                && u.dimension(dim) == Some(&Some(value.clone()))
        })
    };
    let api = Val::Ref("AWS::StackName".into());
    for name in ["Count", "4XXError", "5XXError", "Latency"] {
        assert!(aws("AWS/ApiGateway", name, "ApiName", &api), "{name}");
    }
    for binary in ["ingest", "worker"] {
        let function = Val::Ref(function_for_binary(&template, binary).unwrap());
        for name in [
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
        ] {
            assert!(
                aws("AWS/Lambda", name, "FunctionName", &function),
                "{binary} {name}"
            );
        }
    }
    let queue = worker_queue(&template).unwrap();
    let dlq = dead_letter_queue(&template, &queue).unwrap();
    let queue_name = |q: &str| Val::GetAtt(q.into(), "QueueName".into());
    for name in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
    ] {
        assert!(
            aws("AWS/SQS", name, "QueueName", &queue_name(&queue)),
            "{name}"
        );
    }
    assert!(aws(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        &queue_name(&dlq)
    ));
    let worker = function_for_binary(&template, "worker").unwrap();
    let Some(Val::Ref(table)) = env_var(&template, &worker, "TABLE_NAME") else {
        panic!("the worker's TABLE_NAME")
    };
    for name in ["ConsumedWriteCapacityUnits", "WriteThrottleEvents"] {
        assert!(
            aws("AWS/DynamoDB", name, "TableName", &Val::Ref(table.clone())),
            "{name}"
        );
    }
}

#[test]
fn one_widget_shows_where_every_order_is() {
    let template = template();
    let uses = dashboard_uses(&template, &mut Vec::new());
    let widgets: BTreeSet<&str> = uses.iter().filter_map(|u| u.widget.as_deref()).collect();
    let dlq = dead_letter_queue(&template, &worker_queue(&template).unwrap()).unwrap();
    let wanted = [
        names::ORDERS_RECEIVED,
        names::ORDERS_REJECTED,
        names::ORDERS_ENQUEUED,
        names::ENQUEUE_FAILED,
        names::ORDERS_PROCESSED,
        names::ORDERS_DUPLICATE,
        names::ORDERS_FAILED,
    ];
    let complete = |title: &str| {
        let here: Vec<&MetricUse> = uses
            .iter()
            .filter(|u| u.widget.as_deref() == Some(title))
            .collect();
        wanted.iter().all(|w| here.iter().any(|u| u.name == *w))
            && here.iter().any(|u| {
                u.name == "ApproximateNumberOfMessagesVisible"
                    && u.dimension("QueueName")
                        == Some(&Some(Val::GetAtt(dlq.clone(), "QueueName".into())))
            })
    };
    assert!(
        widgets.iter().any(|title| complete(title)),
        "no widget shows {wanted:?} and the DLQ depth together: {widgets:#?}"
    );
}

#[test]
fn metrics_parameters_default_to_the_code_and_reach_both_functions() {
    let template = template();
    let defaults = template.parameter_defaults();
    assert_eq!(defaults["MetricsNamespace"], DEFAULT_NAMESPACE);
    assert_eq!(defaults["ServiceName"], DEFAULT_SERVICE);
    for binary in ["ingest", "worker"] {
        let id = function_for_binary(&template, binary).unwrap();
        assert_eq!(
            env_var(&template, &id, ENV_METRICS_NAMESPACE),
            Some(Val::Ref("MetricsNamespace".into())),
            "{id}"
        );
        assert_eq!(
            env_var(&template, &id, ENV_SERVICE_NAME),
            Some(Val::Ref("ServiceName".into())),
            "{id}"
        );
    }
}

#[test]
fn the_dashboard_url_is_an_output() {
    let template = template();
    let url = yaml_val(
        &template,
        &template.root()["Outputs"]["DashboardUrl"]["Value"],
    );
    let Val::Other(text) = url else {
        panic!("{url:?}")
    };
    let (dashboard, _) = resources_of_type(&template, "AWS::CloudWatch::Dashboard")
        .pop()
        .unwrap();
    assert!(
        text.contains(&format!("dashboards:name=${{{dashboard}}}")),
        "{text}"
    );
}

// ------------------------------------------------------------------ tests: the checker ----

fn dashboard_text(t: &mut Template) -> &mut String {
    let body = &mut t.root_mut()["Resources"]["OrdersDashboard"]["Properties"]["DashboardBody"];
    match body {
        Value::Tagged(tagged) => match &mut tagged.value {
            Value::String(text) => text,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// The template with `from` replaced by `to` in the dashboard body (`from` must occur).
fn with_dashboard_edit(from: &str, to: &str) -> Template {
    let mut t = template();
    let text = dashboard_text(&mut t);
    assert!(text.contains(from), "{from:?} is not in the dashboard");
    *text = text.replacen(from, to, 1);
    t
}

fn alarm_props<'a>(t: &'a mut Template, id: &str) -> &'a mut Value {
    &mut t.root_mut()["Resources"][id]["Properties"]
}

#[track_caller]
fn assert_reported(problems: &[String], needles: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| needles.iter().all(|n| p.contains(n))),
        "no problem mentions {needles:?}: {problems:#?}"
    );
}

#[test]
fn a_misspelled_business_metric_is_reported() {
    let t = with_dashboard_edit("\"OrdersProcessed\"", "\"OrdersProcesed\"");
    assert_reported(&metric_problems(&t), &["OrdersProcesed", "EMITTED"]);
    let t = with_dashboard_edit(
        "MetricName=\\\"OrdersRejected\\\"",
        "MetricName=\\\"OrderRejected\\\"",
    );
    assert_reported(&metric_problems(&t), &["OrderRejected", "EMITTED"]);
}

#[test]
fn a_business_metric_on_the_wrong_function_is_reported() {
    let t = with_dashboard_edit(
        "\"OrdersProcessed\", \"Service\", \"${ServiceName}\", \"Function\", \"worker\"",
        "\"OrdersProcessed\", \"Service\", \"${ServiceName}\", \"Function\", \"ingest\"",
    );
    assert_reported(
        &metric_problems(&t),
        &["OrdersProcessed", "Function", "ingest"],
    );
}

#[test]
fn business_metric_dimensions_must_be_exactly_the_emitted_ones() {
    let t = with_dashboard_edit(
        "\"OrdersReceived\", \"Service\", \"${ServiceName}\", ",
        "\"OrdersReceived\", ",
    );
    assert_reported(
        &metric_problems(&t),
        &["OrdersReceived", "emitted with exactly"],
    );
    let t = with_dashboard_edit("Service,Function,ErrorCode}", "Service,Function}");
    assert_reported(
        &metric_problems(&t),
        &["OrdersRejected", "emitted with exactly"],
    );
    let t = with_dashboard_edit(
        "Service=\\\"${ServiceName}\\\"",
        "Service=\\\"${ServiceName}\\\" Stage=\\\"v1\\\"",
    );
    assert_reported(&metric_problems(&t), &["Stage", "not in its schema"]);
}

#[test]
fn a_hard_coded_namespace_or_service_is_reported() {
    let t = with_dashboard_edit(
        "[\"${MetricsNamespace}\", \"OrdersReceived\"",
        "[\"OrderPipeline\", \"OrdersReceived\"",
    );
    assert_reported(
        &metric_problems(&t),
        &["OrdersReceived", "METRICS_NAMESPACE"],
    );
    let t = with_dashboard_edit(
        "\"OrdersEnqueued\", \"Service\", \"${ServiceName}\"",
        "\"OrdersEnqueued\", \"Service\", \"orders\"",
    );
    assert_reported(&metric_problems(&t), &["OrdersEnqueued", "SERVICE_NAME"]);
    // ... and so is a function that is not told the namespace.
    let mut t = template();
    let worker = function_for_binary(&t, "worker").unwrap();
    let Value::Mapping(vars) =
        &mut t.root_mut()["Resources"][worker.as_str()]["Properties"]["Environment"]["Variables"]
    else {
        panic!()
    };
    vars.remove("METRICS_NAMESPACE");
    assert_reported(
        &metric_problems(&t),
        &["OrdersProcessed", "METRICS_NAMESPACE = unset"],
    );
}

#[test]
fn a_misspelled_aws_metric_or_dimension_is_reported() {
    let t = with_dashboard_edit(
        "\"ConsumedWriteCapacityUnits\"",
        "\"ConsumedWriteCapacityUnit\"",
    );
    assert_reported(
        &metric_problems(&t),
        &["ConsumedWriteCapacityUnit", "AWS publishes"],
    );
    let t = with_dashboard_edit(
        "\"QueueName\", \"${OrdersQueue.QueueName}\"",
        "\"Queue\", \"${OrdersQueue.QueueName}\"",
    );
    assert_reported(&metric_problems(&t), &["Queue", "dimensions"]);
    let mut t = template();
    alarm_props(&mut t, "WorkerErrorsAlarm")["MetricName"] = "Error".into();
    let problems = metric_problems(&t);
    assert_reported(&problems, &["WorkerErrorsAlarm", "Error", "AWS publishes"]);
    assert_reported(&alarm_problems(&t), &["no alarm on worker errors"]);
}

#[test]
fn a_dimension_that_names_a_resource_literally_is_reported() {
    let t = with_dashboard_edit(
        "\"${WorkerFunction}\"",
        "\"orders-pipeline-WorkerFunction-1A2B3C\"",
    );
    assert_reported(
        &metric_problems(&t),
        &[
            "FunctionName",
            "orders-pipeline-WorkerFunction-1A2B3C",
            "must be",
        ],
    );
    let mut t = template();
    alarm_props(&mut t, "DeadLetterQueueAlarm")["Dimensions"][0]["Value"] = "orders-dlq".into();
    assert_reported(
        &metric_problems(&t),
        &["DeadLetterQueueAlarm", "QueueName", "orders-dlq"],
    );
    assert_reported(
        &alarm_problems(&t),
        &["no alarm on dead-letter queue depth"],
    );
}

#[test]
fn a_dimension_that_names_the_wrong_resource_is_reported() {
    // A resource of another type.
    let t = with_dashboard_edit("\"${IngestFunction}\"", "\"${OrdersTable}\"");
    assert_reported(&metric_problems(&t), &["FunctionName", "!Ref OrdersTable"]);
    // A resource that does not exist.
    let t = with_dashboard_edit("${OrdersTable}", "${OrderTable}");
    assert_reported(&metric_problems(&t), &["TableName", "!Ref OrderTable"]);
    // The queue's URL instead of its name.
    let t = with_dashboard_edit("${OrdersQueue.QueueName}", "${OrdersQueue}");
    assert_reported(&metric_problems(&t), &["QueueName", "!Ref OrdersQueue"]);
    // A stage or API name that is not the stack's API.
    let t = with_dashboard_edit("\"Stage\", \"${StageName}\"", "\"Stage\", \"prod\"");
    assert_reported(
        &metric_problems(&t),
        &["ApiName", "not an API of this stack"],
    );
    let mut t = template();
    alarm_props(&mut t, "OrdersApi")["Name"] = "orders-api".into();
    assert_reported(
        &metric_problems(&t),
        &["ApiName = !Ref AWS::StackName", "not an API"],
    );
}

#[test]
fn a_dashboard_alarm_widget_must_name_this_stacks_alarms() {
    let t = with_dashboard_edit("${QueueAgeAlarm.Arn}", "${QueueAgeAlarm}");
    assert_reported(&metric_problems(&t), &["Alarms", "!Ref QueueAgeAlarm"]);
}

#[test]
fn an_unreadable_search_or_body_is_reported() {
    let t = with_dashboard_edit("MetricName=\\\"OrdersRejected\\\" ", "OrdersRejected ");
    assert_reported(&metric_problems(&t), &["search term"]);
    let t = with_dashboard_edit("\"widgets\": [", "\"widgets\": [[");
    assert_reported(&metric_problems(&t), &["not JSON"]);
}

#[test]
fn each_missing_required_alarm_is_reported() {
    for (id, what) in [
        ("DeadLetterQueueAlarm", "dead-letter queue depth"),
        ("QueueAgeAlarm", "orders queue age"),
        ("WorkerErrorsAlarm", "worker errors"),
        ("WorkerThrottlesAlarm", "worker throttles"),
        ("Api5xxRateAlarm", "API 5xx rate"),
    ] {
        let mut t = template();
        let Value::Mapping(resources) = &mut t.root_mut()["Resources"] else {
            panic!()
        };
        assert!(resources.remove(id).is_some(), "{id}");
        assert_reported(&alarm_problems(&t), &[&format!("no alarm on {what}")]);
    }
}

#[test]
fn a_required_alarm_that_measures_the_wrong_way_is_reported() {
    let mut t = template();
    alarm_props(&mut t, "QueueAgeAlarm")["Threshold"] = 300.into();
    assert_reported(
        &alarm_problems(&t),
        &["QueueAgeAlarm", "QueueAgeAlarmSeconds"],
    );
    let mut t = template();
    alarm_props(&mut t, "WorkerThrottlesAlarm")["Statistic"] = "Average".into();
    assert_reported(&alarm_problems(&t), &["WorkerThrottlesAlarm", "Statistic"]);
    let mut t = template();
    alarm_props(&mut t, "Api5xxRateAlarm")["TreatMissingData"] = "breaching".into();
    assert_reported(&alarm_problems(&t), &["Api5xxRateAlarm", "notBreaching"]);
    let mut t = template();
    alarm_props(&mut t, "Api5xxRateAlarm")["Metrics"][2]["Expression"] = "errors / requests".into();
    assert_reported(
        &alarm_problems(&t),
        &["Api5xxRateAlarm", "100 * errors / requests"],
    );
    let mut t = template();
    alarm_props(&mut t, "WorkerErrorsAlarm")["AlarmDescription"] = "errors".into();
    assert_reported(
        &alarm_problems(&t),
        &["WorkerErrorsAlarm", "AlarmDescription"],
    );
}

#[test]
fn wrongly_wired_notifications_are_reported() {
    // No OK notification.
    let mut t = template();
    let Value::Mapping(props) = alarm_props(&mut t, "WorkerErrorsAlarm") else {
        panic!()
    };
    props.remove("OKActions");
    assert_reported(
        &notification_problems(&t),
        &[
            "AlarmEmail=\"ops@example.com\"",
            "WorkerErrorsAlarm OKActions",
        ],
    );
    // The existing topic is ignored.
    let mut t = template();
    let actions = &mut alarm_props(&mut t, "QueueAgeAlarm")["AlarmActions"];
    let Value::Sequence(items) = actions else {
        panic!()
    };
    items.pop();
    assert_reported(
        &notification_problems(&t),
        &["AlarmTopicArn=\"arn:", "QueueAgeAlarm AlarmActions"],
    );
    // The topic is referenced unconditionally: it does not exist without AlarmEmail.
    let mut t = template();
    let topic: Value = serde_yaml_ng::from_str("!Ref AlarmTopic").unwrap();
    alarm_props(&mut t, "DeadLetterQueueAlarm")["AlarmActions"][0] = topic;
    assert_reported(
        &notification_problems(&t),
        &["AlarmEmail=\"\"", "DeadLetterQueueAlarm AlarmActions"],
    );
    // The topic is created without AlarmEmail.
    let mut t = template();
    let Value::Mapping(topic) = &mut t.root_mut()["Resources"]["AlarmTopic"] else {
        panic!()
    };
    topic.remove("Condition");
    assert_reported(
        &notification_problems(&t),
        &["AlarmEmail=\"\"", "AlarmTopic is created"],
    );
    // No topic subscribes the address.
    let mut t = template();
    t.root_mut()["Resources"]["AlarmTopic"]["Properties"]["Subscription"][0]["Protocol"] =
        "sms".into();
    assert_reported(&notification_problems(&t), &["email subscription"]);
}

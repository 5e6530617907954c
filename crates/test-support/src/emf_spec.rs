//! The rules of the CloudWatch Embedded Metric Format specification, as a checker for EMF
//! lines (tests of the emitter and of the functions' output).
//!
//! Kept apart from the emitter (`orders_platform::metrics`) on purpose: the emitter's output is
//! checked against the specification as written here, not against the emitter's own limits.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The units EMF accepts (CloudWatch's `StandardUnit`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Every metric of every line of `text` (an emitter's output), each line checked by
/// [`check_line`]. Panics, naming the line and the rule, on the first line that breaks one.
pub fn check_text(text: &str) -> Vec<Datum> {
    text.lines()
        .flat_map(|line| check_line(line).unwrap_or_else(|e| panic!("{e}\n{line}")))
        .collect()
}

/// One metric a valid line defines, for each of its dimension sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// The namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Its unit (`None` when the definition has none).
    pub unit: Option<String>,
    /// The dimensions of this set and their values.
    pub dimensions: BTreeMap<String, String>,
    /// Its values in this line.
    pub values: Vec<f64>,
}

/// Parses one line and checks it against the specification: a JSON object; `_aws`
/// with an integer `Timestamp` (epoch milliseconds) and a non-empty `CloudWatchMetrics`
/// array of directives; each directive with a `Namespace` string (1-255 characters),
/// `Dimensions` an array of arrays of at most 30 strings, each naming a top-level string
/// member, and `Metrics` an array of at most 100 `{Name, Unit?}` with distinct names and
/// a unit from [`UNITS`], each naming a top-level number or array of at most 100
/// numbers. Returns every metric it defines, or the first rule broken.
pub fn check_line(line: &str) -> Result<Vec<Datum>, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = root.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .ok_or("no _aws member")?
        .as_object()
        .ok_or("_aws is not an object")?;
    let timestamp = aws.get("Timestamp").ok_or("no _aws.Timestamp")?;
    if !(timestamp.is_u64() || timestamp.as_i64().is_some_and(|t| t >= 0)) {
        return Err(format!(
            "_aws.Timestamp must be an integer of epoch milliseconds, got {timestamp}"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .ok_or("no _aws.CloudWatchMetrics")?
        .as_array()
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    let mut data = Vec::new();
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        let directive = directive
            .as_object()
            .ok_or(format!("{at} is not an object"))?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or(format!("{at}.Namespace is missing or not a string"))?;
        if namespace.is_empty() || namespace.chars().count() > 255 {
            return Err(format!("{at}.Namespace must have 1 to 255 characters"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or(format!("{at}.Dimensions is missing or not an array"))?;
        let mut dimension_sets = Vec::new();
        for (j, set) in sets.iter().enumerate() {
            let set = set
                .as_array()
                .ok_or(format!("{at}.Dimensions[{j}] is not an array"))?;
            if set.len() > 30 {
                return Err(format!(
                    "{at}.Dimensions[{j}] has {} dimensions (at most 30)",
                    set.len()
                ));
            }
            let mut dims = BTreeMap::new();
            for name in set {
                let name = name
                    .as_str()
                    .ok_or(format!("{at}.Dimensions[{j}] holds a non-string"))?;
                let value = root
                    .get(name)
                    .ok_or(format!("dimension {name:?} has no top-level member"))?
                    .as_str()
                    .ok_or(format!("dimension {name:?}'s value is not a string"))?;
                if value.is_empty() {
                    return Err(format!("dimension {name:?}'s value is empty"));
                }
                dims.insert(name.to_owned(), value.to_owned());
            }
            dimension_sets.push(dims);
        }
        if dimension_sets.is_empty() {
            dimension_sets.push(BTreeMap::new());
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or(format!("{at}.Metrics is missing or not an array"))?;
        if metrics.len() > 100 {
            return Err(format!(
                "{at}.Metrics has {} definitions (at most 100)",
                metrics.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for (k, metric) in metrics.iter().enumerate() {
            let metric = metric
                .as_object()
                .ok_or(format!("{at}.Metrics[{k}] is not an object"))?;
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or(format!("{at}.Metrics[{k}].Name is missing or not a string"))?;
            if name.is_empty() || name.chars().count() > 255 {
                return Err(format!(
                    "metric name {name:?} must have 1 to 255 characters"
                ));
            }
            if !seen.insert(name) {
                return Err(format!("metric {name:?} is defined twice in {at}"));
            }
            let unit = match metric.get("Unit") {
                None => None,
                Some(Value::String(u)) if UNITS.contains(&u.as_str()) => Some(u.clone()),
                Some(other) => return Err(format!("metric {name:?} has an invalid Unit {other}")),
            };
            if let Some(resolution) = metric.get("StorageResolution") {
                if resolution != 1 && resolution != 60 {
                    return Err(format!(
                        "metric {name:?}: StorageResolution must be 1 or 60"
                    ));
                }
            }
            let values = match root.get(name) {
                None => return Err(format!("metric {name:?} has no top-level value")),
                Some(Value::Number(n)) => vec![n.as_f64().ok_or("not a number")?],
                Some(Value::Array(items)) => {
                    if items.len() > 100 {
                        return Err(format!(
                            "metric {name:?} has {} values (at most 100)",
                            items.len()
                        ));
                    }
                    items
                        .iter()
                        .map(|v| {
                            v.as_f64()
                                .ok_or(format!("metric {name:?} holds a non-number"))
                        })
                        .collect::<Result<_, _>>()?
                }
                Some(other) => {
                    return Err(format!("metric {name:?}'s value {other} is not a number"))
                }
            };
            for dims in &dimension_sets {
                data.push(Datum {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    unit: unit.clone(),
                    dimensions: dims.clone(),
                    values: values.clone(),
                });
            }
        }
    }
    Ok(data)
}

//! The template's CloudWatch alarms, read so that `orders local` can evaluate them on its
//! own metrics with the same thresholds, periods and operators.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml_ng::Value;

use crate::{invalid, resolve_scalar, Template, TemplateError};

/// What an alarm watches: one metric, or a metric-math expression over several.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Watched {
    /// `Namespace`/`MetricName` with one dimension naming a resource of the stack.
    Metric {
        /// `AWS/SQS`, `AWS/Lambda`, ...
        namespace: String,
        /// `ApproximateNumberOfMessagesVisible`, `Errors`, ...
        metric: String,
        /// The statistic (`Sum`, `Maximum`, ...).
        statistic: String,
        /// The logical id of the resource its dimension names (`!Ref X`, `!GetAtt X.Attr`).
        resource: Option<String>,
    },
    /// `Metrics` with an `Expression` returning the data.
    Expression {
        /// The returned expression (`IF(requests > 0, 100 * errors / requests, 0)`).
        expression: String,
        /// Its inputs by id: (namespace, metric name, statistic).
        inputs: BTreeMap<String, (String, String, String)>,
    },
}

/// One `AWS::CloudWatch::Alarm` of the template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmRule {
    /// Its logical id (`DeadLetterQueueAlarm`).
    pub id: String,
    /// What it watches.
    pub watched: Watched,
    /// Seconds per datapoint.
    pub period_s: u64,
    /// Datapoints looked at.
    pub evaluation_periods: u32,
    /// Breaching datapoints among them that put it in ALARM.
    pub datapoints_to_alarm: u32,
    /// The threshold, parameters resolved.
    pub threshold: f64,
    /// `GreaterThanThreshold`, `GreaterThanOrEqualToThreshold`, ...
    pub comparison: String,
}

impl AlarmRule {
    /// Whether `value` breaches the threshold.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison.as_str() {
            "GreaterThanThreshold" => value > self.threshold,
            "GreaterThanOrEqualToThreshold" => value >= self.threshold,
            "LessThanThreshold" => value < self.threshold,
            "LessThanOrEqualToThreshold" => value <= self.threshold,
            _ => false,
        }
    }
}

impl Template {
    /// Every alarm, with `params` (parameter values) resolving its `!Ref`s.
    pub fn alarms(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<Vec<AlarmRule>, TemplateError> {
        let Some(resources) = self.root().get("Resources").and_then(Value::as_mapping) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::CloudWatch::Alarm") {
                continue;
            }
            let id = id.as_str().unwrap_or_default().to_owned();
            let p = resource
                .get("Properties")
                .ok_or_else(|| invalid(format!("{id} has no Properties")))?;
            let text = |key: &str| p.get(key).and_then(|v| resolve_scalar(v, params));
            let number = |key: &str| -> Result<f64, TemplateError> {
                let t = text(key).ok_or_else(|| invalid(format!("{id}: {key} is not set")))?;
                t.parse()
                    .map_err(|_| invalid(format!("{id}: {key}={t:?} is not a number")))
            };
            let watched = match p.get("Metrics").and_then(Value::as_sequence) {
                Some(metrics) => expression(&id, metrics)?,
                None => Watched::Metric {
                    namespace: text("Namespace").unwrap_or_default(),
                    metric: text("MetricName").unwrap_or_default(),
                    statistic: text("Statistic").unwrap_or_default(),
                    resource: p
                        .get("Dimensions")
                        .and_then(Value::as_sequence)
                        .and_then(|d| d.first())
                        .and_then(|d| d.get("Value"))
                        .and_then(referenced_resource),
                },
            };
            let period_s = match &watched {
                Watched::Metric { .. } => number("Period")? as u64,
                Watched::Expression { .. } => p
                    .get("Metrics")
                    .and_then(Value::as_sequence)
                    .and_then(|m| {
                        m.iter()
                            .find_map(|m| m.get("MetricStat")?.get("Period")?.as_u64())
                    })
                    .unwrap_or(60),
            };
            let evaluation_periods = number("EvaluationPeriods")? as u32;
            let datapoints_to_alarm = text("DatapointsToAlarm")
                .and_then(|t| t.parse().ok())
                .unwrap_or(evaluation_periods);
            let threshold = number("Threshold")?;
            let comparison = text("ComparisonOperator").unwrap_or_default();
            out.push(AlarmRule {
                id,
                watched,
                period_s,
                evaluation_periods,
                datapoints_to_alarm,
                threshold,
                comparison,
            });
        }
        Ok(out)
    }
}

fn expression(id: &str, metrics: &[Value]) -> Result<Watched, TemplateError> {
    let mut inputs = BTreeMap::new();
    let mut returned = None;
    for m in metrics {
        let metric_id = m.get("Id").and_then(Value::as_str).unwrap_or_default();
        if let Some(e) = m.get("Expression").and_then(Value::as_str) {
            if m.get("ReturnData").and_then(Value::as_bool) != Some(false) {
                returned = Some(e.to_owned());
            }
        } else if let Some(stat) = m.get("MetricStat") {
            let metric = stat.get("Metric");
            let field =
                |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
            inputs.insert(
                metric_id.to_owned(),
                (
                    field(metric.and_then(|m| m.get("Namespace"))),
                    field(metric.and_then(|m| m.get("MetricName"))),
                    field(stat.get("Stat")),
                ),
            );
        }
    }
    let expression =
        returned.ok_or_else(|| invalid(format!("{id}: no expression returns data")))?;
    Ok(Watched::Expression { expression, inputs })
}

/// `!Ref X`, `!GetAtt X.Attr` or `{"Ref": X}`: the logical id X.
fn referenced_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(str::to_owned),
        Value::Tagged(t) if t.tag == "!GetAtt" => match &t.value {
            Value::String(s) => s.split('.').next().map(str::to_owned),
            Value::Sequence(s) => s.first()?.as_str().map(str::to_owned),
            _ => None,
        },
        Value::Mapping(m) => m.get("Ref")?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_alarms_are_read_with_their_thresholds() {
        let template = Template::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .expect("template");
        let mut params = template.parameter_defaults();
        params.insert("QueueAgeAlarmSeconds".into(), "42".into());
        let alarms = template.alarms(&params).expect("alarms");
        let by_id = |id: &str| alarms.iter().find(|a| a.id == id).expect(id).clone();
        let dlq = by_id("DeadLetterQueueAlarm");
        assert_eq!(
            dlq.watched,
            Watched::Metric {
                namespace: "AWS/SQS".into(),
                metric: "ApproximateNumberOfMessagesVisible".into(),
                statistic: "Maximum".into(),
                resource: Some("OrdersDeadLetterQueue".into()),
            }
        );
        assert!(dlq.breaches(1.0) && !dlq.breaches(0.0));
        assert_eq!(
            by_id("QueueAgeAlarm").threshold,
            42.0,
            "a parameter resolved"
        );
        let api = by_id("Api5xxRateAlarm");
        assert_eq!((api.evaluation_periods, api.datapoints_to_alarm), (5, 3));
        let Watched::Expression { expression, inputs } = api.watched else {
            panic!("Api5xxRateAlarm is metric math");
        };
        assert_eq!(expression, "IF(requests > 0, 100 * errors / requests, 0)");
        assert_eq!(inputs["errors"].1, "5XXError");
    }
}

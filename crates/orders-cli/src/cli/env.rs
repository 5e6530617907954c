//! `orders env`: the environment variables that point locally run functions at real queues
//! and tables.
//!
//! `sam local invoke` and `sam local start-api` resolve `QUEUE_URL: !Ref OrdersQueue` to
//! the literal logical id `OrdersQueue`: without an `--env-vars` file the ingest function
//! answers 503 and the worker fails every record. This command writes that file from a
//! deployed stack's outputs (`--stack`), or for an AWS emulator such as moto (`--endpoint`,
//! whose queues and tables `--create` makes), in SAM CLI's JSON format (one object per
//! function's logical id,
//! <https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html#serverless-sam-cli-using-invoke-environment-file>)
//! or as `KEY=VALUE` lines for `cargo lambda watch --env-file`.
//!
//! Which variables: each function's `Environment.Variables` in `template.yaml` whose value
//! is an intrinsic function other than `!Ref` of a parameter (SAM CLI resolves parameters
//! itself, from their defaults or `--parameter-overrides`). Each such value must be the
//! `Value` of one of the template's outputs, which is where its deployed value is read.

use std::collections::BTreeMap;

use aws_config::Region;
use aws_credential_types::provider::ProvideCredentials;
use orders_platform::adapters::dynamodb::DynamoOrderStore;
use orders_platform::adapters::idempotency::DynamoIdempotencyStore;
use orders_template::Template;
use serde_yaml_ng::Value;

use crate::pipeline::{LOCAL_IDEMPOTENCY_TABLE, LOCAL_TABLE};

use super::*;

/// The account id in the queue URLs an emulator gives (moto's default, also the
/// `AWS_ACCOUNT_ID` SAM CLI sets in its containers).
const EMULATOR_ACCOUNT: &str = "123456789012";
/// The orders queue's name on an emulator.
const EMULATOR_QUEUE: &str = "orders";
/// The dead-letter queue's name on an emulator.
const EMULATOR_DLQ: &str = "orders-dlq";

/// A problem the user fixes (the message says how): printed without a backtrace.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct EnvError(String);

fn fail(message: impl Into<String>) -> anyhow::Error {
    EnvError(message.into()).into()
}

/// The file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum EnvFormat {
    /// SAM CLI's `--env-vars` JSON: `{"IngestFunction": {"QUEUE_URL": ...}, ...}`.
    Json,
    /// `KEY=VALUE` lines, every function's variables together (`cargo lambda watch
    /// --env-file`; recent SAM CLI versions also take it as `--env-vars`).
    Dotenv,
}

/// A variable of one function whose value only a deployment knows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeployedVariable {
    function: String,
    variable: String,
    /// The template output whose `Value` is the variable's value.
    output: String,
}

pub(super) async fn run(args: EnvArgs) -> anyhow::Result<()> {
    let template = Template::parse(crate::settings::TEMPLATE).map_err(anyhow::Error::from)?;
    let wanted = deployed_variables(&template)?;
    let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // Every function that reads a variable of the template, even one that needs no value
    // here, so that the file names them all.
    for function in functions(&template) {
        files.entry(function.to_owned()).or_default();
    }
    let values = match (&args.stack, &args.endpoint) {
        (Some(stack), _) => stack_outputs(stack, args.region.as_deref()).await?,
        (None, Some(endpoint)) => {
            let endpoint = endpoint.trim_end_matches('/');
            let values = emulator_outputs(endpoint, args.create).await?;
            for vars in files.values_mut() {
                vars.insert("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned());
            }
            values
        }
        (None, None) => unreachable!("clap requires --stack or --endpoint"),
    };
    let source = match &args.stack {
        Some(stack) => format!("stack {stack}"),
        None => "orders env --endpoint".to_owned(),
    };
    for v in &wanted {
        let value = values.get(&v.output).ok_or_else(|| {
            fail(format!(
                "{source} has no output {} (the value of {}'s {}): deploy the current template.yaml to it (sam deploy)",
                v.output, v.function, v.variable
            ))
        })?;
        files
            .entry(v.function.clone())
            .or_default()
            .insert(v.variable.clone(), value.clone());
    }
    print!("{}", render(&files, args.format)?);
    Ok(())
}

/// The logical ids of the template's functions.
fn functions(template: &Template) -> Vec<&str> {
    let Some(Value::Mapping(resources)) = template.root().get("Resources") else {
        return Vec::new();
    };
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .filter_map(|(id, _)| id.as_str())
        .collect()
}

/// Every function variable whose value the deployment decides, with the output that holds it.
fn deployed_variables(template: &Template) -> anyhow::Result<Vec<DeployedVariable>> {
    let parameters = template.root().get("Parameters");
    let outputs = match template.root().get("Outputs") {
        Some(Value::Mapping(outputs)) => outputs.clone(),
        _ => Default::default(),
    };
    let mut found = Vec::new();
    for function in functions(template) {
        let Some(Value::Mapping(vars)) = template
            .properties(function)
            .and_then(|p| p.get("Environment"))
            .and_then(|e| e.get("Variables"))
        else {
            continue;
        };
        for (name, value) in vars {
            let Some(name) = name.as_str() else { continue };
            if !is_deployed(value, parameters) {
                continue;
            }
            let output = outputs
                .iter()
                .find(|(_, o)| o.get("Value") == Some(value))
                .and_then(|(key, _)| key.as_str())
                .ok_or_else(|| {
                    let text = serde_yaml_ng::to_string(value).unwrap_or_default();
                    fail(format!(
                        "template.yaml: no output has the value of {function}'s {name} ({}); add one for orders env to read",
                        text.trim()
                    ))
                })?;
            found.push(DeployedVariable {
                function: function.to_owned(),
                variable: name.to_owned(),
                output: output.to_owned(),
            });
        }
    }
    Ok(found)
}

/// True when SAM CLI cannot know `value` locally: an intrinsic function other than `!Ref`
/// of a parameter or a pseudo parameter.
fn is_deployed(value: &Value, parameters: Option<&Value>) -> bool {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            let Some(name) = tagged.value.as_str() else {
                return true;
            };
            !name.starts_with("AWS::") && parameters.and_then(|p| p.get(name)).is_none()
        }
        Value::Tagged(_) => true,
        Value::Mapping(map) => map
            .keys()
            .filter_map(Value::as_str)
            .any(|k| k == "Ref" || k.starts_with("Fn::")),
        _ => false,
    }
}

/// The outputs of `stack`, in `region` when given (else the default chain's).
async fn stack_outputs(
    stack: &str,
    region: Option<&str>,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let mut sdk = orders_platform::config::sdk_config().await;
    if let Some(region) = region {
        sdk = sdk
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build();
    }
    // Credentials first: the SDK's own error lists every provider it tried, over six lines.
    let credentials = sdk
        .credentials_provider()
        .ok_or_else(|| fail("no AWS credentials provider"))?;
    if let Err(e) = credentials.provide_credentials().await {
        tracing::debug!(error = %aws_sdk_cloudformation::error::DisplayErrorContext(&e), "no credentials");
        return Err(fail(
            "no AWS credentials found (environment, profile, SSO, web identity, container, instance metadata): set AWS_PROFILE, or run aws configure / aws sso login",
        ));
    }
    let client = aws_sdk_cloudformation::Client::new(&sdk);
    crate::stack::outputs(&client, stack).await.map_err(|e| {
        let message = format!("{e:#}");
        if message.contains("does not exist") {
            fail(format!("{message} (check the stack name and --region)"))
        } else {
            fail(message)
        }
    })
}

/// The values an emulator at `endpoint` gives the template's outputs: the queue pair and
/// the tables `orders local` uses, created there first with `create`.
async fn emulator_outputs(
    endpoint: &str,
    create: bool,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let url = |name: &str| format!("{endpoint}/{EMULATOR_ACCOUNT}/{name}");
    let (queue_url, dlq_url) = if create {
        create_on_emulator(endpoint)
            .await
            .map_err(|e| fail(format!("cannot create the queues and tables at {endpoint}: {e:#} (is the emulator running there?)")))?
    } else {
        (url(EMULATOR_QUEUE), url(EMULATOR_DLQ))
    };
    Ok([
        ("QueueUrl", queue_url),
        ("DeadLetterQueueUrl", dlq_url),
        ("TableName", LOCAL_TABLE.to_owned()),
        ("IdempotencyTableName", LOCAL_IDEMPOTENCY_TABLE.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect())
}

/// Creates the queue pair (the orders queue redriving to the DLQ after the template's
/// `MaxReceiveCount` receives) and the two tables, unless they exist; returns the queue URLs.
async fn create_on_emulator(endpoint: &str) -> anyhow::Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sdk = orders_platform::config::sdk_config()
        .await
        .to_builder()
        .endpoint_url(endpoint)
        .build();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(EMULATOR_DLQ)
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("CreateQueue answered no URL"))?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow::anyhow!("GetQueueAttributes answered no QueueArn"))?;
    let settings = crate::settings::LocalSettings::from_template()?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": settings.pipeline.max_receive_count.to_string(),
    });
    let queue_url = sqs
        .create_queue()
        .queue_name(EMULATOR_QUEUE)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            settings.pipeline.visibility_timeout.as_secs().to_string(),
        )
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("CreateQueue answered no URL"))?;
    DynamoOrderStore::from_sdk_config(&sdk, LOCAL_TABLE)
        .create_table_if_missing()
        .await?;
    DynamoIdempotencyStore::from_sdk_config(&sdk, LOCAL_IDEMPOTENCY_TABLE)
        .create_table_if_missing()
        .await?;
    Ok((queue_url, dlq_url))
}

/// The file's text.
fn render(
    files: &BTreeMap<String, BTreeMap<String, String>>,
    format: EnvFormat,
) -> anyhow::Result<String> {
    match format {
        EnvFormat::Json => Ok(serde_json::to_string_pretty(files)? + "\n"),
        EnvFormat::Dotenv => {
            let mut merged: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
            for (function, vars) in files {
                for (name, value) in vars {
                    if let Some((other, seen)) = merged.insert(name, (value, function)) {
                        if other != value {
                            return Err(fail(format!(
                                "{name} is {other:?} for {seen} but {value:?} for {function}: one KEY=VALUE file cannot give both (use --format json)"
                            )));
                        }
                    }
                }
            }
            let mut text = String::new();
            for (name, (value, _)) in merged {
                // Plain values only: quoting rules differ between dotenv readers.
                if value.is_empty()
                    || value
                        .chars()
                        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '#' | '$' | '\\'))
                {
                    return Err(fail(format!(
                        "{name}={value:?} cannot be written as a plain KEY=VALUE line (use --format json)"
                    )));
                }
                text.push_str(&format!("{name}={value}\n"));
            }
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_literals_are_left_to_sam_and_resources_are_not() {
        let template = Template::parse(
            r#"
Parameters:
  Level: {Type: String, Default: INFO}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          QUEUE: !Ref Queue
          ARN: !GetAtt Queue.Arn
          LEVEL: !Ref Level
          REGION: !Ref AWS::Region
          FIXED: "2"
Outputs:
  QueueUrl: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt Queue.Arn}
"#,
        )
        .unwrap();
        let found: Vec<_> = deployed_variables(&template)
            .unwrap()
            .into_iter()
            .map(|v| (v.variable, v.output))
            .collect();
        assert_eq!(
            found,
            [
                ("QUEUE".to_owned(), "QueueUrl".to_owned()),
                ("ARN".to_owned(), "QueueArn".to_owned())
            ]
        );
    }

    #[test]
    fn a_resource_without_an_output_is_an_error_naming_the_variable() {
        let template = Template::parse(
            r#"
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {BUCKET: !Ref Bucket}}
"#,
        )
        .unwrap();
        let err = deployed_variables(&template).unwrap_err().to_string();
        assert!(err.contains("Fn's BUCKET"), "{err}");
    }

    #[test]
    fn dotenv_refuses_conflicting_and_unquotable_values() {
        let files = |a: &str, b: &str| {
            BTreeMap::from([
                (
                    "A".to_owned(),
                    BTreeMap::from([("X".to_owned(), a.to_owned())]),
                ),
                (
                    "B".to_owned(),
                    BTreeMap::from([("X".to_owned(), b.to_owned())]),
                ),
            ])
        };
        assert_eq!(
            render(&files("v", "v"), EnvFormat::Dotenv).unwrap(),
            "X=v\n"
        );
        assert!(render(&files("v", "w"), EnvFormat::Dotenv).is_err());
        assert!(render(&files("a b", "a b"), EnvFormat::Dotenv).is_err());
    }
}

//! A deployed stack's outputs (`--stack NAME`): QueueUrl, DeadLetterQueueUrl, TableName.

use std::collections::HashMap;

/// The outputs of `stack` by key.
pub async fn outputs(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<HashMap<String, String>> {
    let described = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot describe stack {stack}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            )
        })?;
    let stack = described
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("stack {stack} not found"))?;
    Ok(stack
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value?)))
        .collect())
}

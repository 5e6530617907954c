//! `orders dlq list|redrive`: locally (through the owner of the state directory when one
//! runs) or in AWS.

use crate::queue::local::LocalQueue;
use crate::queue::DeadLetterOps;
use crate::settings::LocalSettings;
use crate::state::{Claim, Owner, StateDir, StateError};

use super::*;

pub(super) async fn run(action: DlqAction) -> anyhow::Result<()> {
    let target = match &action {
        DlqAction::List { target, .. } | DlqAction::Redrive { target } => target.clone(),
    };
    let target = target.resolve().await?;
    if target.aws {
        let ops = target.sqs_ops(&orders_platform::config::sdk_config().await)?;
        return run_dlq(&ops, action).await;
    }
    let dir = &target.state_dir;
    let path = dir.join(crate::state::QUEUE_FILE);
    anyhow::ensure!(
        path.exists(),
        "no local queue at {} (start `orders local` first, or use --aws)",
        path.display()
    );
    if let DlqAction::List { .. } = action {
        // Reading only: beside a running `orders local` as well as after it.
        let ops =
            LocalQueue::open_read_only(&path).map_err(|e| StateError::from_queue(dir, &path, e))?;
        return run_dlq(&ops, action).await;
    }
    // A redrive writes: through the owner's API when an `orders local` runs on this
    // directory (its poller sees the messages at once), else under this process's lock.
    match StateDir::try_claim(dir)? {
        Claim::Running(owner) => redrive_through(dir, owner).await,
        Claim::Owned(state) => {
            let settings = LocalSettings::from_template()?;
            let ops = LocalQueue::open(Some(&path), settings.queue_config())
                .map_err(|e| StateError::from_queue(dir, &path, e))?;
            run_dlq(&ops, action).await?;
            drop(state);
            Ok(())
        }
    }
}

/// Asks the `orders local` that owns `dir` to redrive its dead-letter queue.
async fn redrive_through(dir: &std::path::Path, owner: Option<Owner>) -> anyhow::Result<()> {
    let Some(api) = owner.as_ref().and_then(|o| o.api.clone()) else {
        anyhow::bail!(
            "the `orders local` that owns {} is still starting; run this again in a moment",
            dir.display()
        );
    };
    let owner = owner.map(|o| o.to_string()).unwrap_or_default();
    let url = format!("{api}{}", crate::api::REDRIVE_PATH);
    // Running `orders dlq redrive` is the confirmation the route asks for.
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(crate::api::REDRIVE_CONFIRMATION)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is owned by a running `orders local` ({owner}), which did not answer {url}: {e}",
                dir.display()
            )
        })?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    match body["moved"].as_u64() {
        Some(moved) if status.is_success() => {
            println!(
                "moved {moved} message(s) back to the orders queue (through the running orders local: {owner})"
            );
            Ok(())
        }
        _ => anyhow::bail!("the running `orders local` ({owner}) answered {status}: {body}"),
    }
}

async fn run_dlq(ops: &impl DeadLetterOps, action: DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List { limit, bodies, .. } => {
            let messages = ops.dlq_list(limit).await?;
            println!("{} dead-lettered message(s)", messages.len());
            for m in messages {
                println!(
                    "{}  order_id={}  receives={}",
                    m.message_id,
                    m.order_id.as_deref().unwrap_or("-"),
                    m.receive_count
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                if bodies {
                    println!("    {}", m.body);
                }
            }
        }
        DlqAction::Redrive { .. } => {
            let moved = ops.dlq_redrive().await?;
            println!("moved {moved} message(s) back to the orders queue");
        }
    }
    Ok(())
}

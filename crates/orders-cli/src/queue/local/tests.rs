//! The embedded queue's SQS semantics and its file layout, against a temporary file.

use super::*;
use orders_domain::{NewOrder, OrderId};
use std::sync::Arc;

fn order() -> QueuedOrder {
    NewOrder::parse_json(br#"{"email":"a@example.com","items":[{"sku":"SKU-1","qty":1}]}"#)
        .expect("valid")
        .accept(OrderId::new_v7(), chrono::Utc::now())
}

fn rows(queue: &LocalQueue) -> i64 {
    queue
        .conn
        .lock()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap()
}

// The held guard is the point: it blocks the committers while the sends pile up.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_waiting_for_a_commit_share_the_next_one_and_all_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let queue = Arc::new(LocalQueue::open(Some(&path), LocalQueueConfig::default()).unwrap());
    // Holding the connection stands in for a commit in progress: every send meanwhile
    // queues up behind it.
    let busy = queue.conn.lock().unwrap();
    let sends: Vec<_> = (0..20)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.enqueue(&order()).await })
        })
        .collect();
    // Bounded: a send that never reaches the pending list fails the test instead of
    // hanging the suite.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while queue.pending.lock().unwrap().len() < 20 {
        assert!(
            std::time::Instant::now() < give_up,
            "only {} of 20 sends reached the pending list in 30 s",
            queue.pending.lock().unwrap().len()
        );
        tokio::task::yield_now().await;
    }
    assert!(
        sends.iter().all(|s| !s.is_finished()),
        "no send returns before its commit"
    );
    drop(busy);
    for send in sends {
        send.await.unwrap().expect("every send is committed");
    }
    assert_eq!(
        queue.group_commits.load(Ordering::Relaxed),
        1,
        "one commit for all 20"
    );
    drop(queue);
    // What a restarted process finds: every answered send, once.
    let reopened = LocalQueue::open(Some(&path), LocalQueueConfig::default()).unwrap();
    assert_eq!(rows(&reopened), 20);
    let got = reopened.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 10);
}

#[tokio::test]
async fn a_failed_group_commit_fails_every_send_in_it_and_writes_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let queue = LocalQueue::open(Some(&path), LocalQueueConfig::default()).unwrap();
    queue
        .conn
        .lock()
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let error = queue.enqueue(&order()).await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(ref m) if m.contains("disk full")));
    assert_eq!(rows(&queue), 0);
    assert_eq!(queue.group_commits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_failed_send_in_memory_writes_nothing_and_leaves_no_open_transaction() {
    // Every send stored twice: the second insert of each is refused, so a send that
    // fails must take its first row back with it.
    let queue = LocalQueue::open(
        None,
        LocalQueueConfig {
            duplicate_rate: 1.0,
            ..LocalQueueConfig::default()
        },
    )
    .unwrap();
    queue
        .conn
        .lock()
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_copy BEFORE INSERT ON messages
             WHEN (SELECT COUNT(*) FROM messages) % 2 = 1
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let error = queue.enqueue(&order()).await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(ref m) if m.contains("disk full")));
    assert_eq!(rows(&queue), 0, "the first copy was rolled back");
    assert!(
        queue.conn.lock().unwrap().is_autocommit(),
        "no transaction left open"
    );
    queue
        .conn
        .lock()
        .unwrap()
        .execute_batch("DROP TRIGGER refuse_copy")
        .unwrap();
    queue.enqueue(&order()).await.expect("the next send works");
    assert_eq!(rows(&queue), 2);
    assert_eq!(
        queue.group_commits.load(Ordering::Relaxed),
        0,
        "in memory nothing waits for a group commit"
    );
}

#[tokio::test]
async fn deletes_need_the_current_receipt_of_the_row() {
    let queue = LocalQueue::open(
        None,
        LocalQueueConfig {
            visibility_timeout: Duration::ZERO,
            ..LocalQueueConfig::default()
        },
    )
    .unwrap();
    queue.send_raw("one", None).unwrap();
    let first = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let second = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!(first.message_id, second.message_id);
    assert_ne!(first.receipt_handle, second.receipt_handle);
    let stale_or_foreign = [
        first.receipt_handle.clone(),
        "not-a-receipt".to_owned(),
        format!("{}:0000", receipt_row(&second.receipt_handle).unwrap()),
    ];
    queue.delete(&stale_or_foreign).await.unwrap();
    assert_eq!(
        rows(&queue),
        1,
        "stale, malformed and forged receipts delete nothing"
    );
    queue.delete(&[second.receipt_handle]).await.unwrap();
    assert_eq!(rows(&queue), 0);
}

#[tokio::test]
async fn a_version_0_file_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let now = now_ms();
    {
        // The layout (and rows) written before schema version 1.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE messages (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
                message_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, order_id TEXT,
                sent_at_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,
                receive_count INTEGER NOT NULL DEFAULT 0, first_receive_ms INTEGER,
                receipt TEXT);
             CREATE INDEX messages_ready ON messages(queue, visible_at_ms);
             CREATE INDEX messages_receipt ON messages(receipt);",
        )
        .unwrap();
        let insert = "INSERT INTO messages (queue, message_id, body, order_id, sent_at_ms,
             visible_at_ms, receive_count, first_receive_ms, receipt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
        conn.execute(
            insert,
            params![
                "main",
                "m-ready",
                "ready",
                "o-1",
                now,
                now,
                0,
                None::<i64>,
                None::<String>
            ],
        )
        .unwrap();
        conn.execute(
            insert,
            params![
                "main",
                "m-flight",
                "flight",
                "o-2",
                now,
                now + 60_000,
                1,
                now,
                "old-receipt"
            ],
        )
        .unwrap();
        conn.execute(
            insert,
            params![
                "dlq",
                "m-dead",
                "dead",
                "o-3",
                now,
                now,
                5,
                now,
                None::<String>
            ],
        )
        .unwrap();
    }
    let queue = LocalQueue::open(Some(&path), LocalQueueConfig::default()).unwrap();
    let (main, dlq) = queue.counts().await.unwrap();
    assert_eq!((main.visible, main.in_flight, dlq.visible), (1, 1, 1));
    let got = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].message_id.as_str(), got[0].body.as_str()),
        ("m-ready", "ready")
    );
    assert_eq!(got[0].attributes["ApproximateReceiveCount"], "1");
    queue
        .delete(&[got[0].receipt_handle.clone()])
        .await
        .unwrap();
    let dead = queue.dlq_list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].order_id.as_deref(), Some("o-3"));
    drop(queue);
    // Opening again does not migrate twice.
    let queue = LocalQueue::open(Some(&path), LocalQueueConfig::default()).unwrap();
    assert_eq!(rows(&queue), 2);
}

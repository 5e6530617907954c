//! The embedded dead-letter queue: list it, and redrive it to the main queue.

use std::time::Duration;

use rusqlite::params;

use crate::queue::Located;

use super::*;

impl DeadLetterOps for LocalQueue {
    async fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueOpError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT message_id, order_id, receive_count, body FROM messages
                 WHERE queue = ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![DLQ, limit as i64], |r| {
                Ok(DeadLetter {
                    message_id: r.get(0)?,
                    order_id: r.get(1)?,
                    receive_count: Some(r.get::<_, i64>(2)? as u64),
                    body: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    async fn dlq_redrive(&self) -> Result<u64, QueueOpError> {
        let now = now_ms();
        let moved = self
            .conn()
            .execute(
                "UPDATE messages SET queue = ?1, visible_at_ms = ?2, sent_at_ms = ?2,
                 receive_count = 0, first_receive_ms = NULL, receipt = NULL WHERE queue = ?3",
                params![MAIN, now, DLQ],
            )
            .map_err(err)?;
        self.sends.send_modify(|n| *n += 1);
        Ok(moved as u64)
    }

    async fn counts(&self) -> Result<(QueueCounts, QueueCounts), QueueOpError> {
        Ok((self.count(MAIN)?, self.count(DLQ)?))
    }

    async fn oldest_age(&self) -> Option<Duration> {
        let sent: Option<i64> = self
            .conn()
            .query_row(
                "SELECT MIN(sent_at_ms) FROM messages WHERE queue = ?1",
                params![MAIN],
                |r| r.get(0),
            )
            .ok()?;
        Some(Duration::from_millis((now_ms() - sent?).max(0) as u64))
    }

    async fn locate(&self, order_id: &str) -> Option<Located> {
        let now = now_ms();
        let (queue, message_id, visible_at, count): (String, String, i64, i64) = self
            .conn()
            .query_row(
                "SELECT queue, message_id, visible_at_ms, receive_count FROM messages
                 WHERE order_id = ?1 ORDER BY seq DESC LIMIT 1",
                params![order_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .ok()?;
        let place = match queue.as_str() {
            DLQ => "dead_lettered",
            _ if visible_at > now => "in_flight",
            _ => "queued",
        };
        Some(Located {
            place,
            message_id,
            receive_count: count as u64,
        })
    }
}

//! The embedded dead-letter queue: list it, and redrive it to the main queue.

use rusqlite::params;

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
}

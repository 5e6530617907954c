//! The queue file's layout: its version, its schema, the migration of older files, and the
//! read-only check that refuses a newer or foreign file before anything is written.

use std::path::Path;

use rusqlite::Connection;

/// The queue file's layout version (`PRAGMA user_version`) this build writes and reads; a
/// file with a higher one was written by a newer build and is refused.
pub const LAYOUT: i64 = 1;

/// Why a queue file cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite refused (not a database, no permission, disk full...).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A newer build wrote it.
    #[error("layout {found}; this version reads layouts up to {LAYOUT}")]
    Newer {
        /// Its layout version.
        found: i64,
    },
    /// Another program's database.
    #[error("a SQLite database of another program (its tables: {tables})")]
    Foreign {
        /// The tables it has.
        tables: String,
    },
}

/// Refuses, by reading only, a queue file of a newer layout or of another program.
pub fn check_file(path: &Path) -> Result<(), OpenError> {
    check_layout(&open_for_check(path)?)
}

/// Opens a SQLite file to read it, changing nothing beside it. Without a `-wal` file the
/// main file is the whole database: SQLite's `immutable` mode reads it taking no lock and
/// creating no `-wal` or `-shm` file. With one (a process that did not close the database,
/// a crash) the main file alone may be incomplete, so the check opens it read-only as usual
/// and reads through the `-wal` that is already there.
pub fn open_for_check(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        );
    }
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// [`check_file`] on an open connection.
pub(super) fn check_layout(conn: &Connection) -> Result<(), OpenError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > LAYOUT {
        return Err(OpenError::Newer { found });
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "messages") {
        return Err(OpenError::Foreign {
            tables: tables.join(", "),
        });
    }
    Ok(())
}

/// The table's layout, version 1 (`PRAGMA user_version`). Every index costs each send a
/// write, so there are two: ready messages by time (the next visibility, the counts) and each
/// queue in send order (receives). A receipt handle names its row (`seq:token`), so deletes
/// need no index of their own; message ids are random UUIDs, kept without a UNIQUE index.
const SCHEMA_V1: &str = "
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        order_id TEXT,
        sent_at_ms INTEGER NOT NULL,
        visible_at_ms INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        first_receive_ms INTEGER,
        receipt TEXT
    );
    CREATE INDEX messages_ready ON messages(queue, visible_at_ms);
    CREATE INDEX messages_order ON messages(queue, seq);
    PRAGMA user_version = 1;";

/// Brings a queue file to [`SCHEMA_V1`], keeping its messages: a file written by an earlier
/// version (version 0: AUTOINCREMENT, a UNIQUE message id and a receipt index) is rebuilt in
/// one transaction. Receipts of that file's in-flight messages are dropped: the process that
/// held them is gone, and the messages become visible again when their timeout passes.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= 1 {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let old: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
        [],
        |r| r.get(0),
    )?;
    if old {
        tx.execute_batch(
            "DROP INDEX IF EXISTS messages_ready;
             DROP INDEX IF EXISTS messages_receipt;
             ALTER TABLE messages RENAME TO messages_v0;",
        )?;
    }
    tx.execute_batch(SCHEMA_V1)?;
    if old {
        tx.execute_batch(
            "INSERT INTO messages (seq, queue, message_id, body, order_id, sent_at_ms,
                 visible_at_ms, receive_count, first_receive_ms, receipt)
             SELECT seq, queue, message_id, body, order_id, sent_at_ms, visible_at_ms,
                 receive_count, first_receive_ms, NULL FROM messages_v0;
             DROP TABLE messages_v0;",
        )?;
    }
    tx.commit()
}

//! `orders local` as a user starts it, from the real binary: one owner per state
//! directory (an OS lock the kernel releases, even after `kill -9`), start-up errors that
//! name what to fix and leave the files as they were, a quiet and true banner, and the
//! orders a crashed run held in flight delivered at once after a restart, and no order
//! answered 202 lost to a `kill -9` under concurrent load.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ORDERS: &str = env!("CARGO_BIN_EXE_orders");

/// The line `orders local` prints last once it serves.
const READY: &str = "Ctrl-C stops it";

/// A running `orders local` and everything it printed on stderr so far.
struct Local {
    child: Child,
    api: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Local {
    /// Starts `orders local --port 0 <args>` and waits for its banner.
    fn start(args: &[&str]) -> Local {
        let mut child = orders_local(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("orders runs");
        let (send, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut local = Local {
            child,
            api: String::new(),
            lines,
            seen: Vec::new(),
        };
        local.read_until(READY);
        let api = local
            .seen
            .iter()
            .find_map(|l| l.strip_prefix("API: "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no API line in {:#?}", local.seen))
            .to_owned();
        local.api = api;
        local
    }

    /// Reads stderr until a line contains `text` (bounded).
    fn read_until(&mut self, text: &str) {
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("no line with {text:?}; printed: {:#?}", self.seen),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ctrl-C, then everything it printed; it must exit 0.
    fn interrupt(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = wait(&mut self.child, Duration::from_secs(60));
        self.seen.extend(self.lines.iter());
        assert!(status.success(), "{status}: {:#?}", self.seen);
        std::mem::take(&mut self.seen)
    }

    /// `kill -9`: nothing runs after it, no clean-up of any kind.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        wait(&mut self.child, Duration::from_secs(30));
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `orders` command as a user runs it: no backtrace or log settings of the test run.
fn orders() -> Command {
    let mut command = Command::new(ORDERS);
    command
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("PROCESSING_DELAY_MS")
        .stdin(Stdio::null());
    command
}

fn orders_local(args: &[&str]) -> Command {
    let mut command = orders();
    command
        .args(["local", "--port", "0"])
        .args(args)
        .stdout(Stdio::null());
    command
}

/// Waits for a child to exit (bounded): a start that should refuse must not hang.
fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let give_up = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a start that must be refused; returns its stderr.
fn refused(mut command: Command) -> String {
    let mut child = command.stderr(Stdio::piped()).spawn().expect("orders runs");
    let status = wait(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "refused with exit 1: {stderr}");
    assert!(
        stderr.starts_with("error: ")
            && !stderr.contains("backtrace")
            && !stderr.contains("panicked"),
        "one clear message, no backtrace: {stderr}"
    );
    stderr
}

/// Every file of a directory: its size and a hash of its bytes. `-shm` files are SQLite's
/// shared-memory index of a database a running process has open, rewritten by its reads:
/// left out where a process runs.
fn snapshot(dir: &Path, with_shm: bool) -> BTreeMap<String, (usize, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| with_shm || !p.to_string_lossy().ends_with("-shm"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = if p.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            (name, (bytes.len(), hasher.finish()))
        })
        .collect()
}

/// One HTTP request, answered as (status, JSON body). The tests drive processes, not a
/// runtime of their own: each request runs on a small one.
fn http(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn post_order(api: &str, i: usize) -> String {
    let body =
        json!({"email": format!("state{i}@example.com"), "items": [{"sku": "STATE", "qty": 1}]});
    let (status, answer) = http(reqwest::Method::POST, &format!("{api}/order"), Some(body));
    assert_eq!(status, 202, "{answer}");
    answer["order_id"].as_str().unwrap().to_owned()
}

/// Polls `GET /orders/{id}` until the order is stored (bounded).
fn stored(api: &str, id: &str, limit: Duration) -> Value {
    let give_up = Instant::now() + limit;
    loop {
        let (status, order) = http(reqwest::Method::GET, &format!("{api}/orders/{id}"), None);
        if status == 200 {
            return order;
        }
        assert!(Instant::now() < give_up, "{id} not stored within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stats(api: &str) -> Value {
    http(reqwest::Method::GET, &format!("{api}/_local/stats"), None).1
}

fn path_arg(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn a_second_instance_on_the_same_directory_refuses_and_the_first_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    let first = Local::start(&["--state-dir", state]);
    let id = post_order(&first.api, 1);
    stored(&first.api, &id, Duration::from_secs(30));

    let before = snapshot(dir.path(), false);
    let message = refused(orders_local(&["--state-dir", state]));
    assert!(message.contains(state), "names the directory: {message}");
    assert!(
        message.contains(&format!("pid {}", first.pid())) && message.contains(&first.api),
        "names the holder, its pid and API: {message}"
    );
    assert_eq!(
        snapshot(dir.path(), false),
        before,
        "nothing changed on disk"
    );

    // Even on the first one's own port, the lock answers first.
    let port = first.api.rsplit(':').next().unwrap().to_owned();
    let mut same_port = orders();
    same_port
        .args(["local", "--port", &port, "--state-dir", state])
        .stdout(Stdio::null());
    assert!(refused(same_port).contains("is in use by another `orders local`"));

    // The first is undisturbed: it accepts and stores.
    let id = post_order(&first.api, 2);
    stored(&first.api, &id, Duration::from_secs(30));
    assert_eq!(stats(&first.api)["stored_orders"], 2);

    // Beside it, the reading commands work on the same directory.
    let list = orders()
        .args(["dlq", "list", "--state-dir", state])
        .output()
        .unwrap();
    assert!(list.status.success(), "{list:?}");
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("0 dead-lettered message(s)"));
    let lines = first.interrupt();
    assert!(!lines.iter().any(|l| l.contains("WARN")), "{lines:#?}");
}

#[test]
fn kill_9_releases_the_lock_and_the_restart_delivers_what_was_in_flight_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    // 20 s of work per order: the order is surely in flight when the process dies.
    let first = Local::start(&["--state-dir", state, "--processing-delay-ms", "20000"]);
    let id = post_order(&first.api, 1);
    let give_up = Instant::now() + Duration::from_secs(30);
    while stats(&first.api)["queue"]["in_flight"] != 1 {
        assert!(Instant::now() < give_up, "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    let crashed = first.pid();
    first.kill_9();

    // No stale lock: the restart owns the directory, and says what it found.
    let mut second = Local::start(&["--state-dir", state, "--processing-delay-ms", "0"]);
    let recovered = second
        .seen
        .iter()
        .find(|l| l.starts_with("recovered:"))
        .unwrap_or_else(|| panic!("no recovery line: {:#?}", second.seen))
        .clone();
    assert!(
        recovered.contains("1 message was in flight")
            && recovered.contains(&format!("pid {crashed}"))
            && recovered.contains("visible again now"),
        "{recovered}"
    );
    // Delivered now, far sooner than the 180 s visibility timeout it was received with.
    let order = stored(&second.api, &id, Duration::from_secs(30));
    assert_eq!(
        order["attempts"], 2,
        "the crashed receive still counts: {order}"
    );
    second.read_until("batch done");
    let lines = second.interrupt();
    assert!(!lines.iter().any(|l| l.contains("WARN")), "{lines:#?}");
}

/// A crash that is a crash: the real binary, orders sent concurrently, `kill -9` while
/// requests are in flight at the API and orders in flight at the worker, a restart on the
/// same directory, and then every order that was answered 202 is stored. Orders whose request
/// was cut by the kill have no answer: they may or may not be stored, and are counted apart.
#[test]
fn kill_9_under_concurrent_load_loses_no_order_answered_202() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    // 50-300 ms per order: some are always being processed when the process dies.
    let first = Local::start(&["--state-dir", state, "--processing-delay-ms", "50-300"]);
    let api = first.api.clone();
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let (client, api) = (client.clone(), api.clone());
            let (accepted, unanswered, stop) = (accepted.clone(), unanswered.clone(), stop.clone());
            runtime.spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let body = json!({"email": format!("crash{sender}-{i}@example.com"), "items": [{"sku": "CRASH", "qty": 1}]});
                    let answer = client.post(format!("{api}/order")).json(&body).send().await;
                    let answer = match answer {
                        Ok(response) => (response.status().as_u16(), response.json::<Value>().await),
                        Err(_) => {
                            // The kill cut this request: its outcome is unknown to the client.
                            unanswered.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    match answer {
                        (202, Ok(body)) => accepted
                            .lock()
                            .unwrap()
                            .push(body["order_id"].as_str().unwrap().to_owned()),
                        // The emulated limits refused it (nothing accepted): try again soon.
                        (429 | 503, _) => tokio::time::sleep(Duration::from_millis(20)).await,
                        (_, Err(_)) => {
                            // The kill cut the answer's body.
                            unanswered.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        (status, body) => panic!("unexpected answer {status}: {body:?}"),
                    }
                }
            })
        })
        .collect();

    // Kill once 150 orders are accepted, while the 16 senders keep requests open and the
    // worker holds orders in flight.
    let give_up = Instant::now() + Duration::from_secs(60);
    while accepted.lock().unwrap().len() < 150 {
        assert!(
            Instant::now() < give_up,
            "150 orders not accepted within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let in_flight_at_kill = stats(&api)["queue"]["in_flight"].as_u64().unwrap();
    first.kill_9();
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for sender in senders {
            sender.await.unwrap();
        }
    });
    let accepted = accepted.lock().unwrap().clone();

    let second = Local::start(&["--state-dir", state, "--processing-delay-ms", "0"]);
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let s = stats(&second.api);
        if s["queue"]["visible"] == 0 && s["queue"]["in_flight"] == 0 {
            break;
        }
        assert!(Instant::now() < give_up, "the queue never drained: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for id in &accepted {
        let (status, order) = http(
            reqwest::Method::GET,
            &format!("{}/orders/{id}", second.api),
            None,
        );
        assert_eq!(
            status, 200,
            "{id} was answered 202 but is not stored: {order}"
        );
    }
    let s = stats(&second.api);
    let stored = s["stored_orders"].as_u64().unwrap() as usize;
    let cut = unanswered.load(Ordering::Relaxed);
    assert!(
        (accepted.len()..=accepted.len() + cut).contains(&stored),
        "{stored} stored: {} answered 202, {cut} requests cut by the kill",
        accepted.len()
    );
    assert_eq!(s["dlq"]["visible"], 0, "nothing dead-lettered: {s}");
    eprintln!(
        "crash: {} accepted, {cut} cut, {in_flight_at_kill} in flight at the worker, {stored} stored",
        accepted.len()
    );
    assert!(in_flight_at_kill > 0, "no order was in flight at the kill");
    second.interrupt();
}

#[test]
fn keep_in_flight_leaves_a_crashed_runs_messages_to_their_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    let first = Local::start(&["--state-dir", state, "--processing-delay-ms", "20000"]);
    post_order(&first.api, 1);
    let give_up = Instant::now() + Duration::from_secs(30);
    while stats(&first.api)["queue"]["in_flight"] != 1 {
        assert!(Instant::now() < give_up, "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill_9();
    let second = Local::start(&["--state-dir", state, "--keep-in-flight"]);
    let recovered = second
        .seen
        .iter()
        .find(|l| l.starts_with("recovered:"))
        .cloned()
        .unwrap_or_default();
    assert!(
        recovered.contains("1 message was in flight") && recovered.contains("they return by"),
        "{recovered}"
    );
    let counts = stats(&second.api)["queue"].clone();
    assert_eq!(
        counts,
        json!({"visible": 0, "in_flight": 1}),
        "still hidden"
    );
    second.interrupt();
}

#[test]
fn a_port_in_use_is_named_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut command = orders();
    command
        .args(["local", "--in-memory", "--port", &port])
        .stdout(Stdio::null());
    let message = refused(command);
    assert!(
        message.starts_with(&format!("error: 127.0.0.1:{port} is already in use")),
        "{message}"
    );
    assert!(message.contains("--port 0"), "{message}");
}

/// A state directory as a stopped run leaves it: a queue with one message, a table.
fn previous_run(dir: &Path) {
    let first = Local::start(&["--state-dir", path_arg(dir)]);
    post_order(&first.api, 1);
    first.interrupt();
}

#[test]
fn an_unwritable_state_directory_is_refused_and_left_as_it_was() {
    let parent = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap();
    let dir = parent.path().join("state");
    previous_run(&dir);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&dir, true);

    let mut command = orders_local(&["--state-dir", path_arg(&dir)]);
    // Root writes anywhere: run as nobody, whom the modes above do stop.
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        std::os::unix::process::CommandExt::uid(&mut command, 65534);
    }
    let message = refused(command);
    assert!(
        message.contains("cannot write to") && message.contains(path_arg(&dir)),
        "{message}"
    );
    assert_eq!(snapshot(&dir, true), before);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_full_disk_is_refused_with_a_clear_message() {
    // A 256 KiB file system, filled up, in a mount namespace of the command's own (it
    // vanishes with it). Needs root or unprivileged user namespaces, as `unshare` does.
    let dir = tempfile::tempdir().unwrap();
    let script = r#"mount -t tmpfs -o size=256k tmpfs "$1" || exit 97
        dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null
        exec "$0" local --port 0 --state-dir "$1/state""#;
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let mut command = Command::new("unshare");
    command
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG");
    command.args(if as_root {
        &["--mount"][..]
    } else {
        &["-rm"][..]
    });
    command
        .args(["sh", "-c", script, ORDERS, path_arg(dir.path())])
        .stdout(Stdio::null());
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare runs");
    let status = wait(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_ne!(
        status.code(),
        Some(97),
        "cannot mount a tmpfs here: {stderr}"
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: no space left for the state directory")
            && stderr.contains("/state"),
        "{stderr}"
    );
}

/// One refused start per kind of unreadable state; each leaves every file as it was.
#[test]
fn corrupt_foreign_and_newer_state_files_are_refused_untouched() {
    let not_sqlite = |dir: &Path, name: &str| {
        std::fs::write(
            dir.join(name),
            b"definitely not a database, but 100 bytes or more of something else entirely ....",
        )
        .unwrap();
    };
    let foreign = |dir: &Path, name: &str| {
        let conn = rusqlite::Connection::open(dir.join(name)).unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    };
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make, &str)> = vec![
        (
            "queue.sqlite",
            Box::new(move |d| not_sqlite(d, "queue.sqlite")),
            "is not a file `orders local` can read: it is not a SQLite database",
        ),
        (
            "table.sqlite",
            Box::new(move |d| not_sqlite(d, "table.sqlite")),
            "is not a file `orders local` can read: it is not a SQLite database",
        ),
        (
            "queue.sqlite",
            Box::new(move |d| foreign(d, "queue.sqlite")),
            "a SQLite database of another program (its tables: notes)",
        ),
        (
            "table.sqlite",
            Box::new(move |d| foreign(d, "table.sqlite")),
            "a SQLite database of another program (its tables: notes)",
        ),
        (
            "queue.sqlite",
            Box::new(|d| {
                previous_run(d);
                let conn = rusqlite::Connection::open(d.join("queue.sqlite")).unwrap();
                conn.execute_batch("PRAGMA user_version = 99").unwrap();
            }),
            "was written by a newer version: layout 99; this version reads layouts up to 1",
        ),
        (
            "table.sqlite",
            Box::new(|d| {
                previous_run(d);
                let conn = rusqlite::Connection::open(d.join("table.sqlite")).unwrap();
                conn.execute_batch("UPDATE _config SET value = '999' WHERE key = 'schema_version'")
                    .unwrap();
            }),
            "was written by a newer version: this database was written by a newer version of Dynoxide",
        ),
        (
            "notes.txt",
            Box::new(|d| std::fs::write(d.join("notes.txt"), "my notes").unwrap()),
            "holds other files (notes.txt) and no `orders local` state",
        ),
    ];
    for (file, make, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let before = snapshot(dir.path(), true);
        let message = refused(orders_local(&["--state-dir", path_arg(dir.path())]));
        assert!(
            message.contains(expected) && message.contains(file),
            "{file}: expected {expected:?} in {message}"
        );
        let after = snapshot(dir.path(), true);
        let without_lock = |s: &BTreeMap<String, (usize, u64)>| {
            s.iter()
                .filter(|(name, _)| name.as_str() != "orders-local.lock")
                .map(|(n, b)| (n.clone(), *b))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            without_lock(&after),
            without_lock(&before),
            "{file}: the files were left as they were"
        );
    }
}

#[test]
fn the_banner_is_quiet_and_says_the_delay_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    // Every delivery twice: the second write of each order is the failed condition that
    // Dynoxide logs as an error answer.
    let first = Local::start(&[
        "--state-dir",
        state,
        "--processing-delay-ms",
        "2000-5000",
        "--fault-duplicate-rate",
        "1",
    ]);
    assert!(
        first.seen.iter().any(|l| l.contains("delay 2000-5000 ms,")),
        "{:#?}",
        first.seen
    );
    let id = post_order(&first.api, 1);
    stored(&first.api, &id, Duration::from_secs(30));
    let mut first = first;
    first.read_until("duplicate_order_ids");
    let lines = first.interrupt();
    // The limits it emulates, from the template (rule 7's stage throttle, a new account).
    assert!(
        lines.iter().any(|l| l.starts_with(
            "limits: API stage throttle 40/s, burst 2 (429); account concurrency 10,"
        )),
        "{lines:#?}"
    );
    // The second start finds the tables made by the first; it takes samconfig's prod.
    let second = Local::start(&[
        "--state-dir",
        state,
        "--processing-delay-ms",
        "0",
        "--env",
        "prod",
    ]);
    assert!(second.seen.iter().any(|l| l.contains("delay 0 ms,")));
    assert!(
        second.seen.iter().any(|l| l.starts_with(
            "limits: API stage throttle 500/s, burst 900 (429); account concurrency 1000,"
        )),
        "{:#?}",
        second.seen
    );
    let lines: Vec<String> = lines.into_iter().chain(second.interrupt()).collect();
    let noisy: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(noisy.is_empty(), "{noisy:#?}");
}

/// `orders dlq redrive` beside a running `orders local` goes through its API: the
/// poller sees the messages at once, and the file has one writer.
#[test]
fn dlq_redrive_goes_through_the_running_owner() {
    let dir = tempfile::tempdir().unwrap();
    let state = path_arg(dir.path());
    // Not a valid order: dead-lettered after its receives (fast settings).
    let local = Local::start(&[
        "--state-dir",
        state,
        "--worker-timeout",
        "1",
        "--visibility-timeout",
        "1",
        "--max-receive-count",
        "1",
        "--deadline-margin-ms",
        "100",
        "--allow-unsafe-settings",
    ]);
    {
        let queue = orders_cli::queue::local::LocalQueue::open(
            Some(&dir.path().join("queue.sqlite")),
            Default::default(),
        )
        .unwrap();
        queue.send_raw("{\"not\": \"an order\"}", None).unwrap();
    }
    let give_up = Instant::now() + Duration::from_secs(30);
    while stats(&local.api)["dlq"]["visible"] != 1 {
        assert!(Instant::now() < give_up, "not dead-lettered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = orders()
        .args(["dlq", "redrive", "--state-dir", state])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.starts_with(
            "moved 1 message(s) back to the orders queue (through the running orders local: pid "
        ) && stdout.contains(&local.api),
        "{stdout}"
    );
    let received_again = Instant::now() + Duration::from_secs(30);
    while stats(&local.api)["poller"]["records"] != 2 {
        assert!(
            Instant::now() < received_again,
            "redriven message not received"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    local.interrupt();
}

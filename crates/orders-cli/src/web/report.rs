//! `orders load --report FILE.html`: one run as a self-contained page.
//!
//! The tables are rendered here; the charts are drawn in the browser by `assets/report.js`
//! (uPlot, through the shared `Charts.line`) from the report's JSON, the same object
//! `orders load --json` prints, embedded in the page. Everything is inline: the file opens
//! offline and refers to nothing outside itself.
//!
//! Markers the browser test relies on (keep them):
//! - each chart: `<div class="chart" data-chart="latency|status|retries|percentiles">`;
//! - each count: `[data-outcome="PATH"]`, named by its path in the `--json` output
//!   (`orders.sent`, `orders.accepted`..., `responses.202`, `responses.429`,
//!   `responses.5xx`..., `retries`, `replayed`), and each reconciliation figure:
//!   `[data-reconcile="NAME"]`, named by its field of `reconciliation` (`accepted`,
//!   `stored`, `dead_lettered`, `missing`, `duplicated`...); both show the integer as
//!   their text and hold it in `data-value` (an unknown dead-letter count shows
//!   `unknown`, with `data-known="false"`);
//! - the data: `<script type="application/json" id="report-data">`;
//! - `body[data-rendered="1"]` once every chart is drawn (`"error"` if one failed, with the
//!   message in `data-error`).

use std::fmt::Write as _;

use crate::load::{LoadReport, Percentiles, EXIT_LOST_ORDERS, EXIT_UNREACHABLE};

use super::{head_assets, script_json};

/// The charts: built from the embedded JSON once the page has loaded.
pub const REPORT_JS: &str = include_str!("../../assets/report.js");

/// The page's own layout, on top of the shared theme.
const REPORT_CSS: &str = "
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 12px; margin-bottom: 12px; }
header .sub { color: var(--muted); }
.grid.tables { grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); }
.grid.charts { grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
.panel { overflow-x: auto; }
table.latency { margin-top: 8px; }
code.ids { font-size: 11px; }
table.kv th { color: var(--muted); font-weight: normal; white-space: nowrap; }
.panel code { overflow-wrap: anywhere; }
td.num { white-space: nowrap; }
.panel p.note { margin: 8px 0 0; color: var(--muted); font-size: 12px; }
";

/// Escapes text for HTML element content and double-quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A row of a key/value table; `value` is already HTML.
fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "<tr><th>{}</th><td>{value}</td></tr>", esc(key));
}

/// A row with a count: the number shown, and in `data-{attr}="{name}" data-value`.
fn count_row(out: &mut String, attr: &str, name: &str, label: &str, value: u64) {
    let _ = writeln!(
        out,
        "<tr><th>{}</th><td class=\"num\" data-{attr}=\"{name}\" data-value=\"{value}\">{value}</td></tr>",
        esc(label)
    );
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn verdict(report: &LoadReport) -> (&'static str, &'static str) {
    match report.exit_code() {
        EXIT_UNREACHABLE => ("ALARM", "unreachable: no request got an answer"),
        EXIT_LOST_ORDERS => ("ALARM", "accepted orders missing or duplicated"),
        _ if report.reconciliation.is_none() => ("INSUFFICIENT_DATA", "not reconciled"),
        _ => ("OK", "every accepted order accounted for"),
    }
}

fn settings(out: &mut String, r: &LoadReport) {
    let c = &r.config;
    out.push_str("<section class=\"panel\"><h2>Settings</h2><table class=\"kv\">\n");
    kv(out, "target", &format!("<code>{}</code>", esc(&c.url)));
    kv(out, "x-api-key sent", if c.api_key { "yes" } else { "no" });
    kv(out, "schedule", &esc(&c.schedule_text()));
    kv(out, "orders planned", &c.planned.to_string());
    kv(out, "in-flight cap", &c.max_in_flight.to_string());
    kv(
        out,
        "invalid orders",
        &format!("{} %", c.invalid_ratio * 100.0),
    );
    kv(out, "seed", &c.seed.to_string());
    kv(
        out,
        "request timeout",
        &format!("{} ms", c.request_timeout_ms),
    );
    kv(
        out,
        "retries",
        &format!(
            "up to {}, backoff from {} ms to {} ms (full jitter, at least Retry-After)",
            c.retry.max_retries,
            c.retry.base.as_millis(),
            c.retry.cap.as_millis()
        ),
    );
    kv(out, "--verify", if c.verify { "yes" } else { "no" });
    kv(
        out,
        "started",
        &esc(&r
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    kv(out, "run", &format!("{:.2} s", r.elapsed_ms / 1000.0));
    kv(
        out,
        "rate (orders/s)",
        &format!(
            "requested {:.1}, achieved {:.1}, completed {:.1}",
            r.rate.requested, r.rate.achieved, r.rate.completed
        ),
    );
    kv(
        out,
        "max send lag",
        &format!("{} ms", ms(r.max_send_lag_ms)),
    );
    out.push_str("</table></section>\n");
}

fn outcomes(out: &mut String, r: &LoadReport) {
    let o = &r.orders;
    out.push_str(
        "<section class=\"panel\"><h2>Orders, by final outcome</h2><table class=\"kv\">\n",
    );
    for (name, label, value) in [
        ("orders.sent", "sent", o.sent),
        ("orders.valid", "valid", o.valid),
        ("orders.invalid", "invalid (on purpose)", o.invalid),
        ("orders.accepted", "accepted (202)", o.accepted),
        ("orders.rejected", "rejected (final 4xx)", o.rejected),
        ("orders.failed", "failed (gave up, or 500)", o.failed),
        (
            "orders.invalid_answered_400",
            "invalid answered 400",
            o.invalid_answered_400,
        ),
        (
            "orders.invalid_accepted",
            "invalid accepted (must be 0)",
            o.invalid_accepted,
        ),
        ("orders.valid_rejected", "valid rejected", o.valid_rejected),
    ] {
        count_row(out, "outcome", name, label, value);
    }
    out.push_str("</table></section>\n");
    let a = &r.responses;
    out.push_str("<section class=\"panel\"><h2>Attempts, by answer</h2><table class=\"kv\">\n");
    let _ = writeln!(
        out,
        "<tr><th>attempts</th><td class=\"num\">{}</td></tr>",
        a.total()
    );
    for (name, label, value) in [
        ("responses.202", "202", a.accepted),
        ("responses.400", "400", a.bad_request),
        ("responses.429", "429", a.throttled),
        ("responses.5xx", "5xx", a.server_error),
        ("responses.other_status", "other status", a.other_status),
        ("responses.timeout", "timeouts", a.timeout),
        (
            "responses.connection_error",
            "connection errors",
            a.connection_error,
        ),
        ("retries", "retries", r.retries),
        ("replayed", "idempotent replays", r.replayed),
    ] {
        count_row(out, "outcome", name, label, value);
    }
    out.push_str("</table></section>\n");
}

fn latency_table(out: &mut String, r: &LoadReport) {
    out.push_str(
        "<table class=\"latency\">\n<tr><th>ms</th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th><th class=\"num\">count</th></tr>\n",
    );
    let row = |out: &mut String, name: &str, key: &str, p: &Percentiles| {
        let _ = write!(out, "<tr data-latency=\"{key}\"><th>{name}</th>");
        for v in [p.p50_ms, p.p90_ms, p.p99_ms, p.p99_9_ms, p.max_ms] {
            let _ = write!(out, "<td class=\"num\">{}</td>", ms(v));
        }
        let _ = writeln!(out, "<td class=\"num\">{}</td></tr>", p.count);
    };
    row(out, "from intended send", "latency", &r.latency);
    row(out, "per attempt", "service_time", &r.service_time);
    out.push_str("</table>\n");
}

fn reconciliation(out: &mut String, r: &LoadReport) {
    out.push_str("<section class=\"panel\"><h2>Reconciliation</h2>\n");
    let Some(v) = &r.reconciliation else {
        out.push_str(
            "<p data-reconcile-status=\"not-run\">not run (--verify not given)</p></section>\n",
        );
        return;
    };
    let rec = &v.reconciliation;
    let _ = writeln!(
        out,
        "<p data-reconcile-status=\"{}\">{} after {:.1} s</p><table class=\"kv\">",
        if v.settled { "settled" } else { "timed-out" },
        if v.settled {
            "every accepted order accounted for"
        } else {
            "TIMED OUT"
        },
        v.waited_ms / 1000.0
    );
    let n = |v: usize| v as u64;
    count_row(out, "reconcile", "accepted", "accepted", n(rec.accepted));
    count_row(out, "reconcile", "stored", "stored", n(rec.stored));
    if v.dead_letters_known {
        count_row(
            out,
            "reconcile",
            "dead_lettered",
            "dead-lettered",
            n(rec.dead_lettered),
        );
    } else {
        let _ = writeln!(
            out,
            "<tr><th>dead-lettered</th><td class=\"num\" data-reconcile=\"dead_lettered\" data-value=\"{}\" data-known=\"false\">unknown</td></tr>",
            rec.dead_lettered
        );
    }
    for (name, label, value) in [
        ("missing", "missing", rec.missing),
        ("duplicated", "duplicated", rec.duplicated),
        (
            "dlq_copies_of_stored",
            "DLQ copies of stored orders",
            rec.dlq_copies_of_stored,
        ),
        (
            "other_dead_letters",
            "other dead letters",
            rec.other_dead_letters,
        ),
    ] {
        count_row(out, "reconcile", name, label, n(value));
    }
    if let Some(ms) = v.last_stored_after_start_ms {
        kv(
            out,
            "last stored",
            &format!("{:.2} s after the start", ms / 1000.0),
        );
    }
    kv(out, "checks repeated", &v.check_errors.to_string());
    out.push_str("</table>\n");
    let _ = write!(
        out,
        "<p class=\"note\">Stored: read with <code>{}</code>. Dead letters: {}.",
        esc(&v.stored_from),
        esc(&v.dead_letters_from)
    );
    if !rec.missing_examples.is_empty() {
        let _ = write!(
            out,
            " Missing, for example: <code class=\"ids\">{}</code>",
            esc(&rec.missing_examples.join(" "))
        );
    }
    out.push_str("</p></section>\n");
}

/// A chart's panel; `extra` (HTML) goes between the chart and its note.
fn chart(out: &mut String, name: &str, title: &str, extra: &str, note: &str) {
    let _ = writeln!(
        out,
        "<section class=\"panel\"><h2>{}</h2><div class=\"chart\" data-chart=\"{name}\"></div>{extra}<p class=\"note\">{}</p></section>",
        esc(title),
        esc(note)
    );
}

/// The whole page for `report`: one HTML document with everything inline.
pub fn render(report: &LoadReport) -> String {
    let data = serde_json::to_value(report).expect("a load report serializes to JSON");
    let (badge, verdict) = verdict(report);
    let started = report
        .started_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>orders load: {} at {}</title>\n{}<style>{REPORT_CSS}</style>\n</head>\n<body>\n",
        esc(&report.config.url),
        esc(&started),
        head_assets()
    );
    let _ = writeln!(
        out,
        "<header><h1>orders load</h1><span class=\"sub\"><code>{}</code>, {}, {} orders in {:.1} s</span><span class=\"badge {badge}\" data-verdict=\"{badge}\">{}</span></header>",
        esc(&report.config.url),
        esc(&started),
        report.orders.sent,
        report.elapsed_ms / 1000.0,
        esc(verdict)
    );
    out.push_str("<div class=\"grid tables\">\n");
    settings(&mut out, report);
    outcomes(&mut out, report);
    reconciliation(&mut out, report);
    out.push_str("</div>\n<div class=\"grid charts\">\n");
    let mut summary = String::new();
    latency_table(&mut summary, report);
    chart(
        &mut out,
        "latency",
        "Latency over time (ms)",
        "",
        "p50 and p99 per second. From intended send: the orders due in that second. Per \
         attempt: the attempts sent in that second.",
    );
    chart(
        &mut out,
        "status",
        "Answers by status over time",
        "",
        "Attempts per second by answer, in the second each attempt was sent.",
    );
    chart(
        &mut out,
        "retries",
        "Retries over time",
        "",
        "Attempts after an order's first, in the second each was sent.",
    );
    chart(
        &mut out,
        "percentiles",
        "Latency by percentile (ms)",
        &summary,
        "HdrHistogram's percentile distribution. x is 1/(1-p): 2 = p50, 10 = p90, 100 = p99, \
         1000 = p99.9; the last point is the maximum. From intended send: each order from the \
         time the schedule meant to send it to its final answer, retries included (no \
         coordinated omission). Per attempt: one request, from its actual send to its answer.",
    );
    out.push_str("</div>\n");
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n<script>{REPORT_JS}</script>\n</body>\n</html>\n",
        script_json(&data)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

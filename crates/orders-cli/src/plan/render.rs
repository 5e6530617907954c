//! The plan as text: one table per rate, or the saturation points of a sweep.

use std::fmt::Write as _;

use super::{Environment, Plan};

/// `1234.5` as `1,235` (and small numbers with their decimals).
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "∞".to_owned();
    }
    if v.abs() < 10.0 && v.fract() != 0.0 {
        return format!("{v:.2}");
    }
    let whole = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn component_name(plan: &Plan, id: &str) -> String {
    if id == "target" {
        return "nothing: the target rate itself".to_owned();
    }
    plan.rows
        .iter()
        .find(|r| r.id == id)
        .map_or_else(|| id.to_owned(), |r| r.component.clone())
}

/// The plan for one rate.
pub fn render_table(plan: &Plan, settings_from: &str) -> String {
    let mut out = String::new();
    let env = match plan.environment {
        Environment::Aws => "AWS",
        Environment::Local => "orders local's emulation",
    };
    let _ = writeln!(
        out,
        "orders plan: {} orders/s, delay {}, settings of {settings_from}, for {env}",
        num(plan.rate),
        plan.delay
    );
    let _ = writeln!(
        out,
        "a worker invocation: {} records in {} ms (a batch takes about its slowest record, plus a {} ms write); an API request holds an ingest execution {} ms\n",
        num(plan.batch_records),
        num(plan.batch_ms),
        num(plan.assumptions.write_ms),
        num(plan.assumptions.ingest_ms)
    );
    let width = plan
        .rows
        .iter()
        .map(|r| r.component.chars().count())
        .max()
        .unwrap_or(10);
    let _ = writeln!(
        out,
        "{:width$}  {:>10}  {:>10}  {:10}  {:>9}  {:>13}  source",
        "component", "needs", "limit", "", "headroom", "saturates at"
    );
    let mut sources = Vec::new();
    for row in &plan.rows {
        let source = match sources.iter().position(|s| s == &row.source) {
            Some(i) => i + 1,
            None => {
                sources.push(row.source.clone());
                sources.len()
            }
        };
        let headroom = row.headroom().map_or("-".to_owned(), |h| {
            format!("{}{h:.2}x", if h < 1.0 { "!" } else { "" })
        });
        let _ = writeln!(
            out,
            "{:width$}  {:>10}  {:>10}  {:10}  {:>9}  {:>11}/s  [{source}]",
            row.component,
            num(row.need),
            row.limit.map_or("-".to_owned(), num),
            row.unit,
            headroom,
            row.saturates_at.map_or("-".to_owned(), num),
        );
        if let Some(note) = &row.note {
            let _ = writeln!(out, "{:width$}    ({note})", "");
        }
    }
    out.push('\n');
    match &plan.first_limit {
        Some((id, at)) if plan.exceeded => {
            let _ = writeln!(
                out,
                "FIRST LIMIT EXCEEDED: {} — reached at {} orders/s; the pipeline sustains about {} orders/s with these settings.",
                component_name(plan, id),
                num(*at),
                num(plan.sustained)
            );
        }
        Some((id, at)) => {
            let _ = writeln!(
                out,
                "within every limit; the first to give: {} at {} orders/s ({:.1}x the target).",
                component_name(plan, id),
                num(*at),
                at / plan.rate
            );
        }
        None => {}
    }
    if !plan.lifts.is_empty() {
        out.push_str("what lifts it (each alone):\n");
        for lift in &plan.lifts {
            let _ = write!(out, "  - {}", lift.change);
            if let Some(h) = lift.headroom {
                let _ = write!(out, ": headroom {h:.2}x");
            }
            if let Some((id, at)) = &lift.next_limit {
                let _ = write!(
                    out,
                    "; then the first limit is {} at {} orders/s",
                    component_name(plan, id),
                    num(*at)
                );
            }
            for b in &lift.breaks {
                let _ = write!(out, "\n      but alone it breaks a timing rule: {b}");
            }
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "steady state at this rate: {} orders/s accepted, {} stored (limited by {}){}",
        num(plan.accepted),
        num(plan.stored),
        component_name(plan, &plan.stored_limited_by),
        if plan.accepted > plan.stored {
            format!(
                "; the queue grows by {} a second, nothing is lost",
                num(plan.accepted - plan.stored)
            )
        } else {
            String::new()
        }
    );
    if plan.timing.is_empty() {
        out.push_str("timing rules: kept (visibility, timeout, delay, margins)\n");
    } else {
        out.push_str("TIMING RULES BROKEN:\n");
        for t in &plan.timing {
            let _ = writeln!(out, "  - {t}");
        }
    }
    match &plan.cost {
        Some(c) => {
            let _ = writeln!(
                out,
                "cost: ${:.2} per million orders (${:.2} with logs and traces), ${:.2} an hour at {} orders/s [bench/cost.py: {}]",
                c.per_million,
                c.per_million_with_logs,
                c.per_hour,
                num(plan.rate),
                c.prices
            );
        }
        None if plan.environment == Environment::Aws => {
            out.push_str("cost: not computed (bench/cost.py could not run)\n");
        }
        None => {}
    }
    out.push_str("\nsources:\n");
    for (i, s) in sources.iter().enumerate() {
        let _ = writeln!(out, "  [{}] {s}", i + 1);
    }
    out
}

/// A sweep: each component's saturation rate, then each sampled rate's first limit.
pub fn render_sweep(plans: &[Plan], settings_from: &str) -> String {
    let mut out = String::new();
    let (Some(first), Some(last)) = (plans.first(), plans.last()) else {
        return out;
    };
    let _ = writeln!(
        out,
        "orders plan: {} to {} orders/s, delay {}, settings of {settings_from}\n",
        num(first.rate),
        num(last.rate),
        first.delay
    );
    out.push_str("where each component saturates (orders/s), lowest first:\n");
    let mut rows: Vec<_> = last
        .rows
        .iter()
        .filter_map(|r| r.saturates_at.map(|at| (at, r)))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let width = rows
        .iter()
        .map(|(_, r)| r.component.chars().count())
        .max()
        .unwrap_or(10);
    for (at, r) in rows {
        let mark = if at < first.rate {
            "below the range"
        } else if at <= last.rate {
            "within the range"
        } else {
            "above the range"
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:>10}/s  (limit {} {}; {mark})",
            r.component,
            num(at),
            r.limit.map_or("-".to_owned(), num),
            r.unit
        );
    }
    out.push_str(
        "\n     rate  first limit                                        headroom     stored\n",
    );
    for p in plans {
        let (name, headroom) = p
            .first_limit
            .as_ref()
            .map_or(("-".to_owned(), None), |(id, _)| {
                let row = p.rows.iter().find(|r| r.id == id);
                (
                    row.map_or(id.clone(), |r| r.component.clone()),
                    row.and_then(|r| r.headroom()),
                )
            });
        let _ = writeln!(
            out,
            "{:>9}  {:50}  {:>8}  {:>9}{}",
            num(p.rate),
            name.split(" (").next().unwrap_or_default(),
            headroom.map_or("-".to_owned(), |h| format!("{h:.2}x")),
            num(p.stored),
            if p.exceeded { "  EXCEEDED" } else { "" }
        );
    }
    out
}

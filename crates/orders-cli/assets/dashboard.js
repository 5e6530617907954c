// The live dashboard: polls /_local/dashboard.json once a second (see web/dashboard.rs for
// why polling), renders the totals from /_local/stats, the charts from per-second points,
// the alarms, and on demand the dead letters and an order lookup. Nothing here changes an
// order: the only write is the redrive, behind a confirmation.
"use strict";
(() => {
  const KEEP = 900;
  const state = { since: null, points: [], charts: {}, refreshes: 0, dlqSeen: null, refreshMs: 1000 };
  const $ = (sel) => document.querySelector(sel);
  const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  const fmt = (v, digits = 0) => (v == null ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }));
  const text = (s) => document.createTextNode(s == null ? "–" : String(s));

  const CHARTS = {
    orders: [["received", "Received"], ["rejected", "Rejected"], ["enqueued", "Enqueued"], ["processed", "Processed (stored)"], ["failed", "Failed (retried)"], ["duplicate", "Duplicate deliveries"]],
    api: [["api_2xx", "2xx"], ["api_4xx", "4xx (not 429)"], ["api_429", "429 throttled"], ["api_5xx", "5xx"]],
    "api-latency": [["api_p50_ms", "p50"], ["api_p99_ms", "p99"]],
    processing: [["processing_p50_ms", "p50"], ["processing_p99_ms", "p99"]],
    queue: [["queue_visible", "waiting"], ["queue_in_flight", "in flight"], ["dlq_visible", "in the DLQ"]],
    age: [["oldest_age_s", "oldest"]],
    concurrency: [["executions_in_use", "executions in use"], ["worker_throttles", "worker throttles"], ["ingest_throttles", "API: no free execution"], ["worker_errors", "worker errors"]],
  };

  function renderStats(stats) {
    document.querySelectorAll("[data-stat]").forEach((el) => {
      const v = get(stats, el.dataset.stat);
      el.dataset.value = v == null ? "" : v;
      el.textContent = fmt(v);
    });
    const m = stats.metrics || {}, i = m.ingest || {}, w = m.worker || {};
    const q = stats.queue || {}, d = stats.dlq || {};
    const arrived = (i.OrdersRejected || 0) + (i.OrdersEnqueued || 0) + (i.EnqueueFailed || 0);
    const placed = (w.OrdersProcessed || 0) + (q.visible || 0) + (q.in_flight || 0) + (d.visible || 0);
    // While orders move the sums differ a little: the counters are read one after the
    // other, an order is counted received before it is enqueued, and a message stays in
    // flight after it is stored until its batch is deleted. Idle, they must match.
    const idle = !(q.visible || q.in_flight);
    const line = (same, s) => `<div class="${same ? "ok" : idle ? "off" : "muted"}">${same ? "✓" : idle ? "≠" : "≈"} ${s}</div>`;
    const ingesting = (i.OrdersReceived || 0) - arrived;
    $("#checks").innerHTML =
      line(ingesting === 0, `received ${fmt(i.OrdersReceived)} = rejected ${fmt(i.OrdersRejected)} + enqueued ${fmt(i.OrdersEnqueued)} + enqueue failed ${fmt(i.EnqueueFailed)}` +
        (ingesting > 0 && !idle ? ` (${fmt(ingesting)} being validated or enqueued)` : "")) +
      line(placed === (i.OrdersEnqueued || 0), `enqueued ${fmt(i.OrdersEnqueued)} = stored ${fmt(w.OrdersProcessed)} + waiting ${fmt(q.visible)} + in flight ${fmt(q.in_flight)} + dead-lettered ${fmt(d.visible)}` +
        (placed === (i.OrdersEnqueued || 0) ? "" : idle
          ? ` = ${fmt(placed)}: the difference is orders accepted before this start, or messages that did not come from ingest`
          : ` = ${fmt(placed)} while orders move (a stored message stays in flight until its batch is deleted)`));
    const codes = i.OrdersRejectedByErrorCode || {};
    const list = Object.entries(codes).map(([c, n]) => `${c}: ${fmt(n)}`).join(", ");
    $("#rejected-codes").textContent = list ? `rejected by error code (OrdersRejected by ErrorCode): ${list}` : "";
  }

  function renderFlow(stats, p) {
    p = p || {};
    $("#flow-api").textContent = `${fmt(p.api_count)}/s answered · ${fmt(p.api_429)}/s 429 · p99 ${fmt(p.api_p99_ms, 1)} ms`;
    $("#flow-ingest").textContent = `${fmt(p.received)}/s received · ${fmt(p.enqueued)}/s enqueued · ${fmt(p.rejected)}/s rejected`;
    $("#flow-queue").textContent = `${fmt(get(stats, "queue.visible"))} waiting · ${fmt(get(stats, "queue.in_flight"))} in flight · oldest ${fmt(p.oldest_age_s, 1)} s`;
    $("#flow-worker").textContent = `${fmt(p.processed)}/s stored · ${fmt(p.failed)}/s failed · p99 ${fmt(p.processing_p99_ms, 1)} ms`;
    $("#flow-table").textContent = `${fmt(get(stats, "stored_orders"))} orders`;
    $("#flow-dlq").textContent = `${fmt(get(stats, "dlq.visible"))} messages`;
  }

  function renderAlarms(alarms) {
    const body = $("#alarms tbody");
    body.replaceChildren(...alarms.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.alarm = a.id;
      tr.dataset.state = a.state;
      const r = a.rule, w = r.watched;
      const stat = w.kind === "metric" ? `${w.statistic} of ${w.metric}` : w.expression;
      const op = { GreaterThanThreshold: ">", GreaterThanOrEqualToThreshold: "≥", LessThanThreshold: "<", LessThanOrEqualToThreshold: "≤" }[r.comparison] || r.comparison;
      const cells = [a.id, null, fmt(a.value, 2), `${stat} ${op} ${r.threshold} in ${r.datapoints_to_alarm} of ${r.evaluation_periods} × ${r.period_s} s`, a.source];
      cells.forEach((c, i) => {
        const td = document.createElement("td");
        if (i === 1) {
          const b = document.createElement("span");
          b.className = `badge ${a.state}`;
          b.textContent = a.state;
          td.append(b);
        } else td.append(text(c));
        if (i === 2) td.className = "num";
        tr.append(td);
      });
      return tr;
    }));
  }

  function renderCharts() {
    const xs = state.points.map((p) => p.t);
    for (const [name, series] of Object.entries(CHARTS)) {
      const data = [xs].concat(series.map(([key]) => state.points.map((p) => (p[key] == null ? null : p[key]))));
      if (!state.charts[name]) {
        const el = document.querySelector(`[data-chart="${name}"]`);
        state.charts[name] = Charts.line(el, series.map(([, label]) => label), data, { height: 190 });
      } else state.charts[name].setData(data);
    }
  }

  async function loadDeadLetters() {
    const r = await fetch("/_local/dlq", { cache: "no-store" });
    const d = await r.json();
    if (!r.ok) throw new Error(d.message || r.status);
    const rows = (d.messages || []).map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.messageId = m.message_id;
      tr.dataset.orderId = m.order_id || "";
      tr.dataset.receiveCount = m.receive_count == null ? "" : m.receive_count;
      [m.order_id || `(no order id) ${m.message_id}`, m.receive_count, m.last_error || "not known (failed before this orders local started)"].forEach((c, i) => {
        const td = document.createElement("td");
        td.append(text(c));
        if (i === 1) td.className = "num";
        tr.append(td);
      });
      return tr;
    });
    $("#dlq tbody").replaceChildren(...rows);
    $("#dlq-empty").hidden = rows.length > 0;
    $("#redrive-count").textContent = rows.length ? `the ${rows.length}${rows.length >= d.limit ? "+" : ""}` : "every";
  }

  async function refresh() {
    try {
      const url = "/_local/dashboard.json" + (state.since == null ? "" : `?since=${state.since}`);
      const r = await fetch(url, { cache: "no-store" });
      if (!r.ok) throw new Error(`answered ${r.status}`);
      const d = await r.json();
      state.refreshMs = d.refresh_ms || 1000;
      if (d.points.length) {
        state.points = state.points.concat(d.points).slice(-KEEP);
        state.since = state.points[state.points.length - 1].t;
      }
      renderStats(d.stats);
      renderFlow(d.stats, state.points[state.points.length - 1]);
      renderAlarms(d.alarms);
      renderCharts();
      $("#settings").textContent = d.settings;
      const dlq = get(d.stats, "dlq.visible");
      if (dlq !== state.dlqSeen) {
        await loadDeadLetters();
        state.dlqSeen = dlq;
      }
      state.refreshes += 1;
      document.body.dataset.refreshes = state.refreshes;
      $("#connection").className = "muted";
      $("#connection").textContent = `live · refreshed ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      $("#connection").className = "down";
      $("#connection").textContent = `cannot reach orders local (${e.message}); retrying`;
    } finally {
      setTimeout(refresh, state.refreshMs);
    }
  }

  const dialog = $("#redrive-dialog");
  $("#redrive").addEventListener("click", () => dialog.showModal());
  $("#redrive-cancel").addEventListener("click", () => dialog.close());
  $("#redrive-confirm").addEventListener("click", async () => {
    dialog.close();
    const out = $("#redrive-result");
    try {
      const r = await fetch("/_local/dlq/redrive", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ confirm: true }) });
      const d = await r.json();
      if (!r.ok) throw new Error(d.message || r.status);
      out.dataset.moved = d.moved;
      out.textContent = `moved ${d.moved} message(s) back to the orders queue`;
      state.dlqSeen = null;
    } catch (e) {
      out.textContent = `redrive failed: ${e.message}`;
    }
  });

  $("#lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = new FormData(event.target).get("order_id").trim();
    const out = $("#lookup-result");
    if (!id) return;
    try {
      const r = await fetch(`/_local/orders/${encodeURIComponent(id)}`, { cache: "no-store" });
      const d = await r.json();
      if (!r.ok) throw new Error(d.message || r.status);
      out.dataset.status = d.status;
      out.dataset.where = d.where;
      const where = { stored: "stored in the table", queued: "waiting in the orders queue", in_flight: "in flight: the worker has it", dead_lettered: "in the dead-letter queue", unknown: "not in the table, nor in a queue orders local can search" }[d.where] || d.where;
      const extra = d.message ? ` (receives: ${d.message.receive_count})` : "";
      out.innerHTML = "";
      const p = document.createElement("p");
      p.append(text(`GET /orders/${d.order_id} answers ${d.status}: ${where}${extra}`));
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(d.answer, null, 2);
      out.append(p, pre);
    } catch (e) {
      out.textContent = `lookup failed: ${e.message}`;
    }
  });

  refresh();
})();

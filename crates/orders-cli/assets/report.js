// The charts of `orders load --report`: drawn with the shared Charts.line (uPlot) from the
// report's JSON (the object `orders load --json` prints), embedded in #report-data.
// body[data-rendered="1"] once every chart is drawn; "error" (message in data-error) if one
// could not be.
"use strict";
(() => {
  const draw = () => {
    const report = JSON.parse(document.getElementById("report-data").textContent);
    const el = (name) => document.querySelector(`.chart[data-chart="${name}"]`);
    const secs = report.per_second;
    const xs = secs.map((s) => s.second);
    const col = (f) => secs.map(f);
    const time = { x: "seconds since the start", height: 240 };

    Charts.line(el("latency"),
      ["p50 from intended send", "p99 from intended send", "p50 per attempt", "p99 per attempt"],
      [xs, col((s) => s.latency_p50_ms), col((s) => s.latency_p99_ms),
       col((s) => s.service_time_p50_ms), col((s) => s.service_time_p99_ms)],
      Object.assign({ y: "ms" }, time));

    const r = (key) => col((s) => s.responses[key]);
    Charts.line(el("status"),
      ["202", "400", "429", "5xx", "other status", "timeouts + connection errors"],
      [xs, r("202"), r("400"), r("429"), r("5xx"), r("other_status"),
       col((s) => s.responses.timeout + s.responses.connection_error)],
      Object.assign({ y: "attempts / s" }, time));

    Charts.line(el("retries"), ["retries", "attempts"],
      [xs, col((s) => s.retries), col((s) => s.attempts)],
      Object.assign({ y: "per second" }, time));

    // x = 1/(1-p), on a log scale, as HdrHistogram's plots: the tail gets the room. The
    // maximum (p = 100 %) has no finite x: it goes at the number of values, where the
    // data's resolution ends.
    const lat = report.latency_curve, svc = report.service_time_curve;
    const count = Math.max(report.latency.count, report.service_time.count);
    const px = [];
    lat.forEach((point) => {
      const p = point.percentile / 100;
      const last = px.length ? px[px.length - 1] : 1;
      px.push(p < 1 ? 1 / (1 - p) : Math.max(count, last * 1.15));
    });
    Charts.line(el("percentiles"), ["from intended send", "per attempt"],
      [px, lat.map((point) => point.ms), svc.map((point) => point.ms)],
      { x: "percentile (log scale of 1/(1-p))", xlog: true, y: "ms", height: 240,
        // A tick at 1/(1-p) = 10^k is the percentile with k nines: 10 → p90, 100 → p99.
        xvalues: (v) => (v == null ? "" : v <= 1 ? "p0" : `p${+(100 * (1 - 1 / v)).toPrecision(6)}`) });
  };
  const start = () => {
    try {
      draw();
      document.body.dataset.rendered = "1";
    } catch (e) {
      document.body.dataset.rendered = "error";
      document.body.dataset.error = String(e && e.stack || e);
      throw e;
    }
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

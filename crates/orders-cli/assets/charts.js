// Charts for the dashboard and the load report: one uPlot line chart per call, coloured
// from the theme (theme.css). uPlot is vendored (vendor/uplot, see its VERSION).
"use strict";
const Charts = (() => {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const palette = () => ["--s1", "--s2", "--s3", "--s4", "--s5", "--s6"].map(css);
  const axis = () => ({ stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 },
                        ticks: { stroke: css("--grid") } });
  // el: a container; names: one label per series; data: [xs, ys1, ys2, ...].
  // options.x: "time" (seconds since the epoch) or a label for a numeric x axis;
  // options.xlog: a log-scale x axis; options.xvalues: x value -> tick label;
  // options.y: the y axis's label.
  function line(el, names, data, options = {}) {
    const colours = palette();
    const time = options.x === undefined || options.x === "time";
    const opts = {
      width: Math.max(el.clientWidth, 300),
      height: options.height || 200,
      scales: { x: time ? { time: true } : { time: false, distr: options.xlog ? 3 : 1 } },
      axes: [Object.assign(axis(), time ? {} : { label: options.x },
                           options.xvalues ? { values: (u, splits) => splits.map(options.xvalues) } : {}),
             Object.assign(axis(), { label: options.y || "", size: 60 })],
      series: [{}].concat(names.map((name, i) => ({
        label: name, stroke: colours[i % colours.length], width: 1.5, spanGaps: false,
        points: { show: false } }))),
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
    el.innerHTML = "";
    const plot = new uPlot(opts, data, el);
    new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 300), height: opts.height }))
      .observe(el);
    return plot;
  }
  return { line };
})();

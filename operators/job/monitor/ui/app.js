// wstream's live UI: one snapshot at load, then one message a second over
// server-sent events. Everything shown is text set with textContent: plugin
// names, URIs and guest messages never become markup.
"use strict";

const S = { pipeline: null, status: null, series: [], batches: [], checkpoints: [], events: [], sandbox: [], plugins: [] };
const keepSeconds = 600;
const histBounds = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...kids) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function fill(id, ...kids) { const e = $(id); e.replaceChildren(...kids); return e; }

// ---- formatting ----
function num(v) {
  if (v == null) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
function msf(v) {
  if (v == null) return "–";
  if (v >= 60000) return (v / 60000).toFixed(1) + " min";
  if (v >= 1000) return (v / 1000).toFixed(2) + " s";
  if (v >= 10) return v.toFixed(0) + " ms";
  if (v >= 1) return v.toFixed(1) + " ms";
  return v.toFixed(2) + " ms";
}
function bytes(v) {
  if (v == null) return "–";
  if (v >= 1 << 30) return (v / (1 << 30)).toFixed(1) + " GiB";
  if (v >= 1 << 20) return (v / (1 << 20)).toFixed(1) + " MiB";
  if (v >= 1 << 10) return (v / (1 << 10)).toFixed(1) + " KiB";
  return v + " B";
}
function clock(ms) { const d = new Date(ms); return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0"); }
function dur(s) { s = Math.floor(s); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60; return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (s % 60) + "s"; }
function stageName(st) { return st.op + (st.fn ? " " + st.fn : ""); }
function split(guest, total) {
  const g = total > 0 ? Math.min(100, 100 * guest / total) : 0;
  return el("span", { class: "split", title: `guest ${msf(guest)}, host ${msf(Math.max(total - guest, 0))}` }, el("span", { style: `width:${g.toFixed(1)}%` }));
}

function table(head, rows, onclick) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr", onclick ? { class: "click", onclick: () => onclick(r.key) } : {});
    for (const c of r.cells) tr.append(c instanceof Node ? el("td", {}, c) : el("td", { text: c == null ? "" : String(c) }));
    body.append(tr);
  }
  t.append(body);
  return t;
}

// ---- data ----
function windowSeconds() { return Number($("window").value); }
function visible() {
  const w = windowSeconds();
  if (!S.series.length) return [];
  const last = S.series[S.series.length - 1].t;
  return S.series.filter((s) => s.t > last - w);
}
function recent(n) { return S.series.slice(-n); }
function rate(f, n = 5) {
  const xs = recent(n);
  if (!xs.length) return 0;
  return xs.reduce((a, s) => a + f(s), 0) / xs.length;
}
const sumIn = (s) => s.in.reduce((a, b) => a + b, 0);

// ---- charts ----
// timeline draws series of [t, value] (mean line, optional max line).
function timeline(id, pts, maxPts, unit) {
  const box = $(id);
  const W = box.clientWidth || 600, H = box.clientHeight || 140, L = 48, R = 8, T = 8, B = 18;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, "data-points": String(pts.length) });
  const t1 = pts.length ? pts[pts.length - 1][0] : Date.now() / 1000;
  // The window, or the run so far when it is shorter (at least 30 s).
  const first = S.series.length ? S.series[0].t : t1;
  const w = Math.max(30, Math.min(windowSeconds(), t1 - first)), t0 = t1 - w;
  let top = 0;
  for (const p of pts.concat(maxPts || [])) top = Math.max(top, p[1]);
  top = niceTop(top);
  const x = (t) => L + (W - L - R) * (t - t0) / w, y = (v) => T + (H - T - B) * (1 - v / top);
  svg.append(el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }), el("svg:line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  for (const v of [0, top / 2, top]) svg.append(el("svg:text", { class: "tick", x: L - 4, y: y(v) + 3, "text-anchor": "end", text: unit === "ms" ? msf(v) : num(v) }));
  for (let k = 0; k <= 4; k++) {
    const t = t0 + k * w / 4;
    svg.append(el("svg:text", { class: "tick", x: x(t), y: H - 4, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle", text: new Date(t * 1000).toLocaleTimeString([], { hour12: false }) }));
  }
  const path = (ps) => ps.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("");
  if (pts.length) {
    svg.append(el("svg:path", { class: "area", d: path(pts) + `L${x(pts[pts.length - 1][0]).toFixed(1)},${y(0)}L${x(pts[0][0]).toFixed(1)},${y(0)}Z` }));
    if (maxPts && maxPts.length) svg.append(el("svg:path", { class: "line-max", d: path(maxPts) }));
    svg.append(el("svg:path", { class: "line-mean", d: path(pts) }));
  }
  box.replaceChildren(svg);
}

function niceTop(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// hist draws the summed bins of a histogram over the visible seconds.
function hist(id, bins, labels, noun = "batches") {
  const box = $(id);
  const W = box.clientWidth || 300, H = box.clientHeight || 140, L = 8, R = 8, T = 10, B = 30;
  let first = bins.findIndex((b) => b > 0), last = bins.length - 1 - [...bins].reverse().findIndex((b) => b > 0);
  if (first < 0) { first = 0; last = 0; }
  first = Math.max(0, first - 1); last = Math.min(bins.length - 1, last + 1);
  const shown = bins.slice(first, last + 1), top = Math.max(1, ...shown);
  const n = shown.reduce((a, b) => a + b, 0);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, "data-points": String(n) });
  const bw = (W - L - R) / shown.length;
  shown.forEach((b, i) => {
    const h = (H - T - B) * b / top;
    const r = el("svg:rect", { class: "bar", x: L + i * bw + 1, y: H - B - h, width: Math.max(bw - 2, 1), height: h });
    r.append(el("svg:title", { text: `${labels(first + i)}: ${b} ${noun}` }));
    svg.append(r);
    const every = Math.ceil(shown.length / Math.max(2, Math.floor((W - L - R) / 55)));
    if (i % every === 0) svg.append(el("svg:text", { class: "tick", x: L + i * bw + bw / 2, y: H - B + 12, "text-anchor": "middle", text: labels(first + i) }));
  });
  svg.append(el("svg:text", { class: "tick", x: W - R, y: H - 4, "text-anchor": "end", text: `${num(n)} ${noun}` }));
  box.replaceChildren(svg);
}
const binLabel = (i) => (i < histBounds.length ? "≤" + msf(histBounds[i]) : ">" + msf(histBounds[histBounds.length - 1]));

function drawCharts() {
  const v = visible();
  timeline("tl-input", v.map((s) => [s.t, sumIn(s)]), null, "");
  for (const [key, name] of [["sched", "sched"], ["proc", "proc"], ["total", "total"]]) {
    const pts = v.filter((s) => s[key].n > 0);
    timeline("tl-" + name, pts.map((s) => [s.t, s[key].sum / s[key].n]), pts.map((s) => [s.t, s[key].max]), "ms");
    const bins = new Array(histBounds.length + 1).fill(0);
    for (const s of v) s.hist[key].forEach((b, i) => (bins[i] += b));
    hist("hist-" + name, bins, binLabel);
  }
  const inBins = [];
  const rates = v.map((s) => sumIn(s));
  const top = niceTop(Math.max(1, ...rates)), nb = 10;
  for (let i = 0; i < nb; i++) inBins.push(0);
  for (const r of rates) inBins[Math.min(nb - 1, Math.floor(r / top * nb))]++;
  hist("hist-input", inBins, (i) => num(i * top / nb) + "/s", "seconds");
}

// ---- the pipeline graph ----
function drawGraph() {
  const p = S.pipeline;
  if (!p) return;
  const last = S.series.length ? S.series[S.series.length - 1] : null;
  const avg = (f) => rate(f, 5);
  const NW = 210, NH = 64, CW = 255, RH = 92, PAD = 14;
  const nodes = [], edges = [];
  const streams = [], cut = p.split || 0;
  for (const [i, st] of p.stages.entries()) {
    const keyed = cut > 0 && i >= cut;
    let s = streams.find((x) => x.name === st.stream && x.keyed === keyed);
    if (!s) { s = { name: st.stream, from: st.from, stages: [], keyed }; streams.push(s); }
    s.stages.push(i);
  }
  const rowOf = {}, endOf = {};
  p.sources.forEach((src, i) => {
    const n = { kind: "source", title: src.name, sub: src.uri, col: 0, row: i, key: "src:" + src.name };
    nodes.push(n);
    endOf[src.name] = n;
  });
  let row = 0;
  const stageNodes = [];
  for (const s of streams) {
    const from = s.keyed ? endOf["__prefix"] : endOf[s.from];
    const r = from && from.kind === "source" && !rowOf[s.from] ? from.row : row;
    if (from && from.kind === "source") rowOf[s.from] = true;
    row = Math.max(row, r) + 1;
    let prev = from, col = from ? from.col + 1 : 1;
    for (const i of s.stages) {
      const st = p.stages[i];
      const n = { kind: "stage", idx: i, title: stageName(st), col: col++, row: r, stateful: st.stateful, key: "st:" + i };
      nodes.push(n); stageNodes.push(n);
      if (prev) edges.push({ from: prev, to: n, rate: prev.kind === "source" ? avg((x) => x.in[p.sources.findIndex((e) => "src:" + e.name === prev.key)] || 0) : avg((x) => x.stages[prev.idx].out) });
      if (st.other && endOf[st.other]) { const o = endOf[st.other]; edges.push({ from: o, to: n, rate: avg((x) => x.stages[o.idx] ? x.stages[o.idx].out : 0) }); }
      prev = n;
    }
    endOf[s.name] = prev;
    if (!s.keyed && cut > 0) endOf["__prefix"] = prev;
  }
  const final = stageNodes.length ? stageNodes[stageNodes.length - 1] : nodes[nodes.length - 1];
  const sink = { kind: "sink", title: "sink", sub: p.sink, col: (final ? final.col : 0) + 1, row: final ? final.row : 0, key: "sink" };
  nodes.push(sink);
  if (final) edges.push({ from: final, to: sink, rate: avg((x) => (final.kind === "stage" ? x.out : 0)) });
  const cols = Math.max(...nodes.map((n) => n.col)) + 1, rows = Math.max(...nodes.map((n) => n.row)) + 1;
  const W = PAD * 2 + (cols - 1) * CW + NW, H = PAD * 2 + (rows - 1) * RH + NH;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, style: `width:100%;max-width:${W}px;height:auto`, id: "graph-svg", "data-nodes": String(nodes.length), "data-edges": String(edges.length) });
  const defs = el("svg:defs", {}, el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, el("svg:path", { d: "M0,0L10,5L0,10z", fill: "#9aa3b2" })));
  svg.append(defs);
  const X = (n) => PAD + n.col * CW, Y = (n) => PAD + n.row * RH;
  for (const e of edges) {
    const x1 = X(e.from) + NW, y1 = Y(e.from) + NH / 2, x2 = X(e.to), y2 = Y(e.to) + NH / 2;
    const mx = (x1 + x2) / 2;
    svg.append(el("svg:path", { class: "edge" + (e.rate > 0 ? " hot" : ""), d: `M${x1},${y1}C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
    svg.append(el("svg:text", { class: "rate", x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle", text: num(Math.round(e.rate)) + "/s" }));
  }
  for (const n of nodes) {
    const g = el("svg:g", { class: "node " + n.kind + (n.stateful ? " stateful" : ""), transform: `translate(${X(n)},${Y(n)})` });
    g.append(el("svg:rect", { width: NW, height: NH }));
    g.append(el("svg:text", { x: 8, y: 16, text: clip(n.title, 34) }));
    if (n.kind === "stage") {
      const st = p.stages[n.idx];
      const d = last ? last.stages[n.idx] : null;
      const tot = S.status && S.status.stageTotals ? S.status.stageTotals[n.idx] : null;
      const per = avg((x) => x.stages[n.idx].ms), guest = avg((x) => x.stages[n.idx].guestMs);
      g.append(el("svg:text", { class: "sub", x: 8, y: 31, text: `${st.stream}/${st.index} · ${msf(per)}/s busy` }));
      const gw = per > 0 ? Math.min(1, guest / per) : 0;
      g.append(el("svg:rect", { class: "host", x: 8, y: 38, width: NW - 16, height: 6 }));
      g.append(el("svg:rect", { class: "guest", x: 8, y: 38, width: (NW - 16) * gw, height: 6 }));
      const size = last && last.state ? last.state[n.idx] : null;
      let extra = st.stateful && size ? `state ${size.keys >= 0 ? num(size.keys) + " keys, " : ""}${bytes(size.bytes)}` : "";
      if (st.eventTime && last && last.watermark != null) extra = "wm " + clock(last.watermark);
      if (d && (d.late || d.dead)) extra += ` late ${d.late || 0} dead ${d.dead || 0}`;
      g.append(el("svg:text", { class: "sub", x: 8, y: 58, text: clip(extra, 38) }));
      void tot;
    } else {
      g.append(el("svg:text", { class: "sub", x: 8, y: 34, text: clip(n.sub || "", 38) }));
    }
    const t = el("svg:title", { text: n.kind === "stage" ? p.stages[n.idx].funcs ? p.stages[n.idx].funcs.join(", ") : n.title : n.sub || n.title });
    g.append(t);
    svg.append(g);
  }
  fill("graph", svg, el("div", { class: "legend muted small" }, "time split:", el("i", { style: "background:#8a5cf6" }), "guest", el("i", { style: "background:#2f6fdb" }), "host; edges: records/s over the last 5 s"));
}
function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

// ---- tables and cards ----
function drawCards() {
  const st = S.status;
  if (!st) return;
  const inRate = rate(sumIn), outRate = rate((s) => s.out);
  const guestShare = st.guestMs + st.hostMs > 0 ? (100 * st.guestMs / (st.guestMs + st.hostMs)).toFixed(0) + "%" : "–";
  const cards = [
    ["batches", num(st.batches)], ["input rate", num(Math.round(inRate)) + "/s"], ["records in", num(st.in)], ["output rate", num(Math.round(outRate)) + "/s"],
    ["records out", num(st.out)], ["late batches", num(st.lateBatches), st.lateBatches ? "warn" : ""],
    ["dead letters", num(st.dead), st.dead ? "bad" : ""], ["late rows", num(st.late), st.late ? "warn" : ""],
    ["time in guest", guestShare], ["checkpoints", num(st.checkpoints)],
  ];
  if (st.watermark != null) cards.push(["watermark", clock(st.watermark)]);
  if (st.lag && st.lag.length) cards.push(["kafka lag", num(st.lag.reduce((a, l) => a + l.lag, 0))]);
  fill("cards", ...cards.map(([k, v, c]) => el("div", { class: "card " + (c || "") }, el("div", { class: "v", text: v }), el("div", { class: "k", text: k }))));
  const b = $("state");
  b.textContent = st.state + (st.error ? ": " + st.error : "");
  b.className = "badge " + st.state;
  $("uptime").textContent = "up " + dur((st.now - st.started) / 1000) + " · wstream " + st.version;
}

function batchRows(list) {
  return list.map((b) => ({
    key: b.time,
    cells: [clock(b.time), num(b.in), msf(b.schedMs), msf(b.procMs), msf(b.totalMs), num(b.out), b.late || "", b.dead || "", b.ckptMs ? msf(b.ckptMs) + " / " + bytes(b.ckptBytes) : ""],
  }));
}
const batchHead = ["batch time", "input", "scheduling delay", "processing", "total delay", "output", "late", "dead letters", "checkpoint"];
function drawBatches() {
  fill("recent", table(batchHead, batchRows(S.batches.slice(0, 10)), openBatch));
  if (view === "batches") fill("batch-table", table(batchHead, batchRows(S.batches), openBatch));
}

function drawStages() {
  const p = S.pipeline, st = S.status;
  if (!p || !st || !st.stageTotals) return;
  const secs = Math.max(1, (st.now - st.started) / 1000);
  const rows = p.stages.map((s, i) => {
    const t = st.stageTotals[i] || {}, size = st.stateSizes ? st.stateSizes[i] : null;
    return {
      key: i,
      cells: [`${s.stream}/${s.index}`, stageName(s), num(t.in), num(t.out), num(t.in / secs) + "/s", msf(t.ms), msf(t.guestMs), split(t.guestMs, t.ms),
        s.stateful && size ? (size.keys >= 0 ? num(size.keys) : "?") : "", s.stateful && size ? bytes(size.bytes) : "", s.eventTime ? num(t.late || 0) : "", num(t.dead || 0)],
    };
  });
  fill("stage-table", table(["stage", "op", "records in", "records out", "in rate", "time", "guest", "guest | host", "state keys", "state bytes", "late rows", "dead letters"], rows));
  const w = st.watermark;
  fill("watermark", w == null ? el("span", { class: "muted", text: "no event time in this pipeline" }) : el("span", { text: "watermark " + new Date(w).toISOString() }));
}

function drawPlugins() {
  const rows = [];
  for (const p of S.plugins) for (const f of p.functions || []) rows.push({ cells: [p.name, `${p.module} ${p.version} (${p.language})`, f.name, f.kind, num(f.calls), num(f.items), msf(f.guestMs), f.calls ? msf(f.guestMs / f.calls) : ""] });
  fill("plugin-table", table(["plugin", "module", "function", "kind", "calls", "items", "guest time", "per call"], rows));
  const sb = [];
  for (const s of S.sandbox) {
    const counts = Object.entries(s.events || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    sb.push(el("div", {}, el("b", { text: s.plugin }), ` events: ${counts}; instances restarted: ${s.restarts}`));
    const recentRows = (s.recent || []).slice().reverse().map((e) => ({ cells: [new Date(e.time).toLocaleTimeString([], { hour12: false }), e.func, e.kind, el("span", { class: "msg", text: e.message })] }));
    if (recentRows.length) sb.push(table(["time", "function", "kind", "message"], recentRows));
  }
  fill("sandbox", ...(sb.length ? sb : [el("span", { class: "muted", text: "no plugins" })]));
  const lag = (S.status && S.status.lag) || [];
  fill("lag", lag.length ? table(["source", "partition", "lag (records)"], lag.sort((a, b) => a.partition - b.partition).map((l) => ({ cells: [l.source, l.partition, num(l.lag)] })))
    : el("span", { class: "muted", text: "no Kafka group source" }), S.status ? el("div", { class: "muted small", text: `rebalances seen: ${S.status.rebalances || 0}` }) : null);
}

function drawCheckpoints() {
  const cks = S.checkpoints;
  const pts = cks.slice().reverse().map((c) => [c.at / 1000, c.ms]);
  timeline("tl-ckpt", pts, null, "ms");
  fill("ckpt-table", cks.length ? table(["batch", "written at", "duration", "size"], cks.map((c) => ({ cells: [clock(c.batch), clock(c.at), msf(c.ms), bytes(c.bytes)] })))
    : el("span", { class: "muted", text: "no checkpoints (add checkpoint: DIR to the pipeline)" }));
}

function drawEvents() {
  const rows = [];
  for (const e of S.events) rows.push({ time: Date.parse(e.time), cells: [new Date(e.time).toLocaleTimeString([], { hour12: false }), e.kind, e.plugin || "", el("span", { class: "msg " + (e.kind.endsWith("refused") ? "err" : "ok"), text: e.message })] });
  for (const s of S.sandbox) for (const e of s.recent || []) rows.push({ time: Date.parse(e.time), cells: [new Date(e.time).toLocaleTimeString([], { hour12: false }), "sandbox " + e.kind, s.plugin + " " + e.func, el("span", { class: "msg err", text: e.message })] });
  rows.sort((a, b) => b.time - a.time);
  fill("events", rows.length ? table(["time", "event", "plugin", "message"], rows.slice(0, 30)) : el("span", { class: "muted", text: "no reloads and no sandbox events" }));
}

// ---- the batch page ----
async function openBatch(t) { location.hash = "#batch/" + t; }
async function showBatch(t) {
  $("batch-title").textContent = "Batch " + clock(Number(t)) + " (" + t + " ms)";
  const r = await fetch("api/batches/" + t);
  if (!r.ok) { fill("batch-detail", el("span", { class: "err", text: await r.text() })); return; }
  const b = await r.json(), p = S.pipeline;
  const info = table(["input", "scheduling delay", "processing", "total delay", "output", "late rows", "dead letters", "watermark", "checkpoint"],
    [{ cells: [num(b.in), msf(b.schedMs), msf(b.procMs), msf(b.totalMs), b.emitted ? num(b.out) : "no output at this time", b.late, b.dead, b.watermark != null ? clock(b.watermark) : "", b.ckptMs ? msf(b.ckptMs) + " / " + bytes(b.ckptBytes) : ""] }]);
  const srcs = table(["source", "records"], p.sources.map((s, i) => ({ cells: [s.name + " (" + s.uri + ")", num(b.sources[i] || 0)] })));
  const stages = table(["stage", "op", "records in", "records out", "time", "guest", "host", "guest | host", "late rows", "dead letters"],
    p.stages.map((s, i) => { const d = b.stages[i] || {}; return { cells: [`${s.stream}/${s.index}`, stageName(s), num(d.in), num(d.out), msf(d.ms), msf(d.guestMs), msf(Math.max(d.ms - d.guestMs, 0)), split(d.guestMs, d.ms), d.late || "", d.dead || ""] }; }));
  const sb = b.sandbox.length ? table(["time", "plugin", "function", "kind", "message"], b.sandbox.map((e) => ({ cells: [new Date(e.time).toLocaleTimeString([], { hour12: false }), e.plugin, e.func, e.kind, el("span", { class: "msg err", text: e.message })] })))
    : el("p", { class: "muted", text: "no sandbox events during this batch" });
  fill("batch-detail", info, el("h2", { text: "Sources" }), srcs, el("h2", { text: "Stages" }), stages, el("h2", { text: "Errors" }), sb, el("p", {}, el("a", { href: "#batches", text: "← all batches" })));
}

// ---- views and updates ----
let view = "overview";
function route() {
  const h = location.hash.slice(1);
  view = h.startsWith("batch/") ? "batch" : h || "overview";
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + view;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === (view === "batch" ? "batches" : view));
  if (view === "batch") showBatch(h.slice(6));
  draw();
}

function draw() {
  drawCards();
  if (view === "overview") { drawGraph(); drawCharts(); drawBatches(); drawEvents(); }
  if (view === "batches") drawBatches();
  if (view === "stages") drawStages();
  if (view === "plugins") drawPlugins();
  if (view === "checkpoints") drawCheckpoints();
}

function apply(msg) {
  if (msg.second) {
    S.series.push(msg.second);
    if (S.series.length > keepSeconds) S.series.splice(0, S.series.length - keepSeconds);
  }
  if (msg.status) S.status = msg.status;
  if (msg.batches) {
    const seen = new Set(msg.batches.map((b) => b.time));
    S.batches = msg.batches.concat(S.batches.filter((b) => !seen.has(b.time))).slice(0, 1000);
  }
  if (msg.checkpoints) {
    const seen = new Set(msg.checkpoints.map((c) => c.at));
    S.checkpoints = msg.checkpoints.concat(S.checkpoints.filter((c) => !seen.has(c.at))).slice(0, 100);
  }
  if (msg.events) S.events = msg.events;
  if (msg.sandbox) S.sandbox = msg.sandbox;
}

async function load() {
  const r = await fetch("api/snapshot");
  const snap = await r.json();
  S.pipeline = snap.pipeline; S.status = snap.status; S.series = snap.series || []; S.batches = snap.batches || [];
  S.checkpoints = snap.checkpoints || []; S.events = snap.events || []; S.sandbox = snap.sandbox || []; S.plugins = snap.plugins || [];
  $("file").textContent = (S.pipeline.file || "") + " · batch " + S.pipeline.intervalMs + " ms · " + S.pipeline.clock + " clock";
  route();
}

let plugTick = 0;
function connect() {
  const es = new EventSource("api/live");
  es.onopen = () => $("live").classList.add("on");
  es.onerror = () => $("live").classList.remove("on");
  es.onmessage = (e) => {
    apply(JSON.parse(e.data));
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    if (++plugTick % 5 === 0 || view === "plugins") fetch("api/plugins").then((r) => r.json()).then((p) => { S.plugins = p; if (view === "plugins") drawPlugins(); });
    draw();
  };
}

$("reload").addEventListener("click", async () => {
  const b = $("reload");
  b.disabled = true; b.textContent = "Reloading…";
  try {
    const r = await fetch("api/reload", { method: "POST" });
    const text = await r.text();
    let res;
    try { res = JSON.parse(text); } catch { res = [{ plugin: "", result: "refused", reason: text }]; }
    b.textContent = res.map((x) => `${x.plugin.split("/").pop()}: ${x.result}${x.reason ? " (" + x.reason + ")" : ""}`).join("; ") || "nothing to reload";
  } finally {
    setTimeout(() => { b.disabled = false; b.textContent = "Reload plugins"; }, 4000);
  }
});
$("window").addEventListener("change", draw);
window.addEventListener("hashchange", route);
window.addEventListener("resize", draw);
load().then(connect);

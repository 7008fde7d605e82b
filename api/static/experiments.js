// The experiments page: the list, one experiment's readout and its CTR over time. Reads the JSON API only;
// every value from the server is set as text (names and segments are data, never markup).
"use strict";

const KEY_STORAGE = "adcreative.apiKey";
const COLORS = ["#2557d6", "#d6512a", "#17803d", "#8a3fd1", "#b8860b", "#0f8a8a"];  // also in experiments.css
const SVG = "http://www.w3.org/2000/svg";
const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
let current = null;

function setStatus(text) { $("status").textContent = text; }

function el(tag, attrs = {}, text = "") {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

async function api(path) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try { response = await fetch(path, { headers }); } catch (error) {
    return { ok: false, error: { message: `the server did not answer (${error})` } };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.ok) return { ok: true, data };
  const error = (data && data.error) || { message: `HTTP ${response.status}` };
  if (response.status === 401) error.message += ". Enter an API key above.";
  return { ok: false, error };
}

function showError(message) { const box = $("error"); box.textContent = message; box.hidden = !message; }

const pct = (value) => (value === null || value === undefined ? "—" : `${(100 * value).toFixed(2)}%`);
const interval = (low, high) => (low === null || low === undefined ? "" : ` [${pct(low)}, ${pct(high)}]`);

async function loadList() {
  const result = await api("/v1/experiments");
  const list = $("experiment-list");
  list.replaceChildren();
  if (!result.ok) { showError(result.error.message); return; }
  showError("");
  for (const experiment of result.data.data) {
    const button = el("button", { "data-testid": `experiment-${experiment.id}` });
    button.append(experiment.name, el("span", { class: "meta" }, `${experiment.placement} · ${experiment.status}`));
    button.addEventListener("click", () => open(experiment));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
  setStatus(`${result.data.data.length} experiment(s)`);
}

function armRow(arm, pinned) {
  const ctrLift = arm.lift.ctr;
  const lift = !ctrLift ? "control" : ctrLift.always_valid_p_value === null
    ? `${pct(ctrLift.value)} (${ctrLift.note})`
    : `${pct(ctrLift.value)}${interval(ctrLift.always_valid_low, ctrLift.always_valid_high)}`;
  const verdict = ctrLift ? ctrLift.verdict : "";
  const cells = [
    arm.name + (arm.control ? " (control)" : ""),
    pinned ? `${pinned.template} · ${pinned.adapter ?? "base model"}` : "",
    String(arm.units), String(arm.impressions), String(arm.clicks),
    `${pct(arm.rates.ctr.value)}${interval(arm.rates.ctr.low, arm.rates.ctr.high)}`,
    lift,
    pct(arm.rates.conversion_rate.value),
    pct(arm.probability_best.ctr),
  ];
  const row = el("tr", { "data-testid": `arm-${arm.name}` });
  for (const text of cells) row.append(el("td", {}, text));
  row.append(el("td", { class: `verdict-${verdict}` }, verdict));
  return row;
}

let periods = [];

async function open(experiment) {
  current = experiment;
  const result = await api(`/v1/experiments/${experiment.id}/report`);
  if (!result.ok) { showError(result.error.message); return; }
  showError("");
  const report = result.data;
  $("experiment-name").textContent = experiment.name;
  $("experiment-status").textContent = report.status;
  $("experiment-meta").textContent =
    `${experiment.id} · ${experiment.placement} · policy ${report.policy.name} · computed ${report.computed_at}`;
  const pinned = Object.fromEntries(experiment.pinned.map((p) => [p.name, p]));
  $("arms").querySelector("tbody").replaceChildren(...report.arms.map((arm) => armRow(arm, pinned[arm.name])));
  const srm = report.sample_ratio;
  $("srm").textContent = `Sample ratio: p = ${srm.p_value === null ? "—" : srm.p_value.toPrecision(3)}` +
    (srm.flagged ? " — MISMATCH: the assigned units do not follow the intended split" : "");
  $("srm").classList.toggle("flagged", srm.flagged);
  $("rule").textContent = report.rule;
  $("estimator").textContent = report.estimator;
  periods = report.periods;
  $("periods").replaceChildren(...periods.map((p) => el("li", { "data-testid": `period-${p.first_version}` },
    `${p.started_at} — ${p.ended_at ?? "now"}: ${p.policy} over ${p.arms.join(", ")} (${p.reason.replace("_", " ")}` +
    `; versions ${p.first_version}–${p.last_version}, ${p.updates} learned updates, ${p.observations} decisions seen)`)));
  $("readout").hidden = false;
  await drawChart();
}

function scale(domain, range) {
  const [d0, d1] = domain; const [r0, r1] = range;
  return (value) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((value - d0) / (d1 - d0)) * (r1 - r0));
}

async function drawChart() {
  const result = await api(`/v1/experiments/${current.id}/timeline?bucket=${$("bucket").value}`);
  if (!result.ok) { showError(result.error.message); return; }
  const svg = $("chart");
  svg.replaceChildren();
  const arms = Object.entries(result.data.arms);
  const points = arms.flatMap(([, line]) => line.filter((p) => p.ctr !== null));
  $("chart-card").hidden = false;
  if (!points.length) { svg.append(el("svg:text", { x: 20, y: 30 }, "No impressions yet.")); return; }
  const times = points.map((p) => Date.parse(p.at));
  const highs = points.map((p) => p.high ?? p.ctr);
  const x = scale([Math.min(...times), Math.max(...times)], [60, 880]);
  const y = scale([0, Math.max(...highs) * 1.1 || 0.01], [270, 20]);
  svg.append(el("svg:line", { class: "axis", x1: 60, y1: 270, x2: 880, y2: 270 }));
  svg.append(el("svg:line", { class: "axis", x1: 60, y1: 20, x2: 60, y2: 270 }));
  for (const tick of [0, 0.5, 1]) {
    const value = (Math.max(...highs) * 1.1 || 0.01) * tick;
    svg.append(el("svg:text", { x: 4, y: y(value) + 4 }, pct(value)));
  }
  const legend = $("legend");
  legend.replaceChildren();
  arms.forEach(([name, line], index) => {
    const color = COLORS[index % COLORS.length];
    const shown = line.filter((p) => p.ctr !== null);
    if (!shown.length) return;
    const band = shown.filter((p) => p.low !== null);
    if (band.length) {
      const upper = band.map((p) => `${x(Date.parse(p.at))},${y(p.high)}`);
      const lower = band.slice().reverse().map((p) => `${x(Date.parse(p.at))},${y(p.low)}`);
      svg.append(el("svg:polygon", { points: [...upper, ...lower].join(" "), fill: color, "fill-opacity": 0.15 }));
    }
    const path = shown.map((p) => `${x(Date.parse(p.at))},${y(p.ctr)}`).join(" ");
    svg.append(el("svg:polyline", { points: path, fill: "none", stroke: color, "stroke-width": 2, "data-arm": name }));
    for (const p of shown) {  // a dot per point: a single hour still shows
      const dot = el("svg:circle", { cx: x(Date.parse(p.at)), cy: y(p.ctr), r: 3.5, fill: color });
      dot.append(el("svg:title", {}, `${name} ${p.at}: ${pct(p.ctr)}${interval(p.low, p.high)}, ${p.units} units`));
      svg.append(dot);
    }
    const item = el("span");
    item.append(el("span", { class: `swatch c${index % COLORS.length}` }), name);
    legend.append(item);
  });
  for (const period of periods.slice(1)) {  // a new period: an arm added or retired
    const at = Date.parse(period.started_at);
    if (at < Math.min(...times) || at > Math.max(...times)) continue;
    const mark = el("svg:line", { class: "period", x1: x(at), y1: 20, x2: x(at), y2: 270, "data-testid": "period-mark" });
    mark.append(el("svg:title", {}, `${period.reason.replace("_", " ")}: ${period.arms.join(", ")}`));
    svg.append(mark);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const keyInput = $("api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  keyInput.addEventListener("change", () => {
    if (keyInput.value.trim()) sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
    else sessionStorage.removeItem(KEY_STORAGE);
    loadList();
  });
  $("bucket").addEventListener("change", () => current && drawChart());
  loadList();
});

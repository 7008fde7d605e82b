// The template editor: a small static app on the JSON API (no build step, no external assets).
// Everything the server or a user wrote (template text, generated copy, messages) is set with
// textContent, never parsed as HTML.
"use strict";

const KEY_STORAGE = "adcreative.apiKey";
const LABELS = ["production", "staging"];
const SAMPLE = {
  profile: {
    id: "sample-user", age: 34, location: "Denver", interests: ["trail running", "hiking"],
    recent_activity: ["viewed waterproof jackets"], segment: "outdoor", language: "en",
  },
  product: {
    name: "TrailRunner X", brand: "Peak", category: "running shoes",
    description: "Waterproof trail shoe with a grippy outsole",
    features: ["waterproof", "380 g"], price: 89, currency: "USD",
  },
};

const state = {
  placements: [], variables: {}, templates: [], detail: null, loaded: null, base: null, declared: new Set(),
};

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "testid") node.dataset.testid = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setStatus(text) { $("status").textContent = text; }

function showError(testid, text, ...extra) {
  const box = $(testid);
  box.replaceChildren(text, ...extra);
  box.hidden = false;
}

function hideError(testid) { $(testid).hidden = true; $(testid).replaceChildren(); }

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    return { ok: false, status: 0, error: { message: `the server did not answer (${error})` } };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  const error = response.ok ? null : (data && data.error) || { message: `HTTP ${response.status}` };
  return { ok: response.ok, status: response.status, data, error };
}

function describeError(result) {
  const error = result.error || {};
  const where = error.param ? ` [${error.param}]` : "";
  if (result.status === 401) return `${error.message}. Enter an API key above.`;
  return `${result.status || ""} ${error.message || "failed"}${where}`.trim();
}

// f-string variables: {name}, with {{ and }} as literal braces (as the server's renderer reads them).
function usedVariables(text) {
  const used = new Set();
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{" && text[i + 1] === "{") { i++; continue; }
    if (ch === "}" && text[i + 1] === "}") { i++; continue; }
    if (ch === "{") {
      const end = text.indexOf("}", i);
      if (end < 0) break;
      const name = text.slice(i + 1, end).split(/[!:]/)[0].trim();
      if (name) used.add(name);
      i = end;
    }
  }
  return used;
}

function currentUsed() {
  return new Set([...usedVariables($("system").value), ...usedVariables($("user").value)]);
}

function renderVariables() {
  const used = currentUsed();
  const names = [...new Set([...Object.keys(state.variables), ...state.declared, ...used])];
  const chips = names.map((name) => {
    const allowed = name in state.variables;
    const declared = state.declared.has(name);
    let kind = "available";
    let note = "";
    if (!allowed && used.has(name)) { kind = "unknown"; note = " · unknown"; }
    else if (used.has(name) && !declared) { kind = "undeclared"; note = " · used, not declared"; }
    else if (declared && !used.has(name)) { kind = "unused"; note = " · declared, not used"; }
    else if (declared) kind = "declared";
    return el("button", {
      type: "button", class: `chip ${kind}`, testid: `var-${name}`, "data-state": kind,
      title: state.variables[name] || "No request provides this variable",
      onclick: () => { toggleDeclared(name); },
    }, `{${name}}${note}`);
  });
  $("variables").replaceChildren(...chips);
}

function toggleDeclared(name) {
  if (state.declared.has(name)) state.declared.delete(name); else state.declared.add(name);
  renderVariables();
}

function renderVariableHelp() {
  const rows = Object.entries(state.variables).flatMap(([name, help]) => [el("dt", {}, `{${name}}`), el("dd", {}, help)]);
  $("variable-help").replaceChildren(...rows);
}

function renderPlacements(selected) {
  const legend = el("legend", {}, "Placements");
  const boxes = state.placements.map((p) => el("label", {},
    el("input", { type: "checkbox", value: p.name, testid: `placement-${p.name}`, checked: selected.includes(p.name) }),
    p.name));
  $("placements").replaceChildren(legend, ...boxes);
}

function renderTemplateList() {
  const items = state.templates.map((t) => {
    const labels = Object.entries(t.labels).map(([label, v]) => `${label}→${v}`).join(" ");
    const active = state.detail && state.detail.name === t.name;
    return el("li", {}, el("button", {
      type: "button", testid: `template-${t.name}`, class: active ? "active" : "",
      onclick: () => selectTemplate(t.name),
    }, t.name, el("span", { class: "meta" }, `v${t.latest_version} · ${labels || "no labels"}`)));
  });
  $("template-list").replaceChildren(...items);
}

function labelChips(labels) {
  return labels.map((label) => el("span", { class: `label ${label}`, testid: `label-${label}` }, label));
}

function renderVersions() {
  const detail = state.detail;
  const rows = [...detail.versions].reverse().map((v) => {
    const buttons = [el("button", { type: "button", testid: `open-${v.version}`, onclick: () => openVersion(v.version) }, "Open")];
    for (const label of LABELS) {
      const here = detail.labels[label] === v.version;
      buttons.push(el("button", {
        type: "button", testid: `promote-${label}-${v.version}`, disabled: here,
        onclick: () => moveLabel(label, v.version),
      }, here ? label : `→ ${label}`));
    }
    const current = state.loaded && state.loaded.version === v.version;
    return el("tr", { testid: `version-row-${v.version}`, class: current ? "current" : "" },
      el("td", {}, `v${v.version}`), el("td", {}, labelChips(v.labels)), el("td", {}, v.author),
      el("td", {}, v.message), el("td", {}, new Date(v.created_at).toLocaleString()),
      el("td", { class: "actions" }, buttons));
  });
  $("versions").replaceChildren(...rows);
  const history = detail.label_history.map((m) => el("li", {},
    `${new Date(m.moved_at).toLocaleString()} · ${m.author} moved ${m.label} `
    + `${m.previous_version === null ? "(new)" : `v${m.previous_version}`} → v${m.version}`));
  $("label-history").replaceChildren(...history);
  const options = (selected) => detail.versions.map((v) => el("option", { value: v.version, selected: v.version === selected }, `v${v.version}`));
  const latest = detail.latest_version;
  $("diff-from").replaceChildren(...options(Math.max(1, latest - 1)));
  $("diff-to").replaceChildren(...options(latest));
}

function fillEditor(version) {
  state.loaded = version;
  state.declared = new Set(version.variables);
  $("editing").textContent = `${version.name} · editing from v${version.version} (newest v${state.base})`;
  $("editing-labels").replaceChildren(...labelChips(version.labels));
  $("description").value = version.description;
  $("system").value = version.system;
  $("user").value = version.user;
  for (const field of ["temperature", "top_p", "n", "k"]) {
    const value = version.sampling[field];
    $(`sampling-${field}`).value = value === null || value === undefined ? "" : value;
  }
  renderPlacements(version.placements);
  renderVariables();
  const sample = { ...SAMPLE, placement: version.placements[0] };
  if (!$("sample").value.trim()) $("sample").value = JSON.stringify(sample, null, 2);
  else {
    try {
      const current = JSON.parse($("sample").value);
      current.placement = version.placements.includes(current.placement) ? current.placement : version.placements[0];
      $("sample").value = JSON.stringify(current, null, 2);
    } catch { /* keep the marketer's text */ }
  }
  document.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
  renderVersions();
}

function samplingFromForm() {
  const sampling = {};
  for (const field of ["temperature", "top_p", "n", "k"]) {
    const raw = $(`sampling-${field}`).value.trim();
    if (raw !== "") sampling[field] = Number(raw);
  }
  return sampling;
}

function contentFromForm() {
  const placements = [...$("placements").querySelectorAll("input:checked")].map((box) => box.value);
  return {
    description: $("description").value,
    placements,
    variables: [...state.declared].sort(),
    system: $("system").value,
    user: $("user").value,
    sampling: samplingFromForm(),
  };
}

function unchanged(content) {
  const v = state.loaded;
  if (!v) return false;
  const sampling = Object.fromEntries(Object.entries(v.sampling).filter(([, value]) => value !== null));
  return JSON.stringify([content.description, content.placements, content.variables, content.system, content.user, sampling])
    === JSON.stringify([v.description, v.placements, [...v.variables].sort(), v.system, v.user, sampling]);
}

async function loadTemplates() {
  const [placements, templates] = await Promise.all([api("GET", "/v1/placements"), api("GET", "/v1/templates")]);
  if (!templates.ok) { setStatus(describeError(templates)); return false; }
  state.placements = placements.ok ? placements.data.data : [];
  state.templates = templates.data.data;
  state.variables = templates.data.variables;
  renderVariableHelp();
  renderTemplateList();
  setStatus(`${state.templates.length} templates`);
  return true;
}

async function loadDetail(name) {
  const detail = await api("GET", `/v1/templates/${encodeURIComponent(name)}`);
  if (!detail.ok) { setStatus(describeError(detail)); return false; }
  state.detail = detail.data;
  state.base = detail.data.latest_version;
  return true;
}

async function selectTemplate(name, version) {
  setStatus(`Loading ${name}…`);
  if (!(await loadDetail(name))) return;
  $("editor").hidden = false;
  renderTemplateList();
  await openVersion(version || state.detail.latest_version, true);
  setStatus(`${name}: newest v${state.detail.latest_version}, production v${state.detail.labels.production ?? "–"}`);
}

async function openVersion(version, quiet) {
  const result = await api("GET", `/v1/templates/${encodeURIComponent(state.detail.name)}/versions/${version}`);
  if (!result.ok) { setStatus(describeError(result)); return; }
  hideError("save-error");
  fillEditor(result.data);
  if (!quiet) setStatus(`Opened ${result.data.ref}; saving creates v${state.base + 1}`);
}

function markInvalid(param) {
  const field = (param || "").replace(/^draft\./, "");
  const target = { system: "system", user: "user", description: "description", message: "message",
    variables: "variables", placements: "placements" }[field];
  if (target) $(target).classList.add("invalid");
}

async function save() {
  hideError("save-error");
  document.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
  const message = $("message").value.trim();
  if (!message) { showError("save-error", "Write a message: what changed and why."); markInvalid("message"); return; }
  const name = state.detail.name;
  const body = { ...contentFromForm(), base_version: state.base, message };
  $("save").disabled = true;
  const result = await api("POST", `/v1/templates/${encodeURIComponent(name)}/versions`, body);
  $("save").disabled = false;
  if (result.status === 201) {
    $("message").value = "";
    await loadDetail(name);
    await loadTemplates();
    fillEditor(result.data);
    setStatus(`Saved ${result.data.ref}. Labels did not move: promote it below to ship it.`);
    return;
  }
  if (result.status === 409) {
    const current = result.error.current_version;
    showError("save-error", `Conflict: ${result.error.message}`,
      el("button", { type: "button", testid: "rebase", onclick: () => rebase(current) }, `Keep my text, base it on v${current}`),
      el("button", { type: "button", testid: "load-newest", onclick: () => selectTemplate(name) }, `Discard my edit, load v${current}`));
    return;
  }
  markInvalid(result.error && result.error.param);
  showError("save-error", describeError(result));
}

async function rebase(current) {
  if (!(await loadDetail(state.detail.name))) return;
  state.base = current;
  renderVersions();
  hideError("save-error");
  $("editing").textContent = `${state.detail.name} · your edit, now based on v${current}`;
  setStatus(`Your text is kept; review v${current} (Diff) and save again.`);
}

function renderPreview(result) {
  const summary = el("div", { class: "summary", testid: "preview-summary" },
    `${result.template.ref} on ${result.placement} · prompt ${result.prompt_tokens} tokens · `
    + `${result.valid}/${result.variants.length} valid · ${result.timings.generate_s}s · ${result.model}`
    + (result.adapter ? ` + ${result.adapter}` : ""));
  const messages = el("details", { class: "messages" }, el("summary", {}, "Rendered prompt"),
    ...result.messages.map((m) => el("pre", {}, `[${m.role}]\n${m.content}`)));
  const cards = result.variants.map((v) => {
    const flags = [v.valid ? "valid" : "rejected", v.valid_first_try ? "first try" : null,
      v.repaired ? `repaired (${v.repairs.join("; ")})` : null, `seed ${v.seed ?? "–"}`, `${v.output_tokens} tokens`]
      .filter(Boolean).join(" · ");
    const fields = Object.entries(v.fields).map(([name, f]) => el("div", { class: "field" },
      el("span", { class: "name" }, name), el("span", { testid: "field-text" }, f.text),
      el("span", { class: `badge ${f.within_limit ? "within" : "over"}`, testid: "badge",
        "data-within": f.within_limit, title: `min ${f.min_chars}, max ${f.max_chars} (${result.counting})` },
      `${f.chars}/${f.max_chars}`)));
    const reasons = v.reasons.length ? el("div", { class: "reasons" }, v.reasons.join("; ")) : null;
    return el("div", { class: `variant ${v.valid ? "" : "invalid-variant"}`, testid: "variant" },
      el("div", { class: "flags" }, `#${v.index + 1} · ${flags}`), fields, reasons);
  });
  $("preview-results").replaceChildren(summary, ...cards, messages);
}

async function preview() {
  hideError("preview-error");
  let sample;
  try { sample = JSON.parse($("sample").value); } catch (error) {
    showError("preview-error", `The sample request is not valid JSON: ${error.message}`);
    return;
  }
  const content = contentFromForm();
  const body = { sample, n: Number($("preview-n").value) || 3 };
  const seed = $("preview-seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  if (unchanged(content)) body.version = state.loaded.version;
  else body.draft = { ...content, base_version: state.base };
  $("preview").disabled = true;
  $("preview-results").replaceChildren(el("div", { class: "summary" }, "Generating…"));
  setStatus("Generating a preview…");
  const result = await api("POST", `/v1/templates/${encodeURIComponent(state.detail.name)}/preview`, body);
  $("preview").disabled = false;
  if (!result.ok) {
    $("preview-results").replaceChildren();
    markInvalid(result.error && result.error.param);
    showError("preview-error", describeError(result));
    setStatus("Preview failed");
    return;
  }
  renderPreview(result.data);
  setStatus(`Preview of ${result.data.template.ref}: ${result.data.valid}/${result.data.variants.length} valid`);
}

async function moveLabel(label, version) {
  hideError("label-error");
  const name = state.detail.name;
  const expected = state.detail.labels[label] ?? null;
  const result = await api("PUT", `/v1/templates/${encodeURIComponent(name)}/labels/${label}`,
    { version, expected_version: expected });
  if (!result.ok) {
    showError("label-error", describeError(result));
    await loadDetail(name);
    renderVersions();
    return;
  }
  const verb = expected !== null && version < expected ? "Rolled back" : "Moved";
  await loadDetail(name);
  await loadTemplates();
  renderVersions();
  $("editing-labels").replaceChildren(...labelChips(state.detail.versions.find((v) => v.version === state.loaded.version).labels));
  setStatus(`${verb} ${name}:${label} to v${version} (was ${expected === null ? "unset" : `v${expected}`})`);
}

async function showDiff() {
  const name = state.detail.name;
  const from = $("diff-from").value;
  const to = $("diff-to").value;
  const result = await api("GET", `/v1/templates/${encodeURIComponent(name)}/diff?from=${from}&to=${to}`);
  if (!result.ok) { $("diff-output").textContent = describeError(result); return; }
  const text = result.data.unified || `v${from} and v${to} have the same content`;
  const lines = text.split("\n").map((line) => {
    const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
    return el("span", { class: kind }, `${line}\n`);
  });
  const changed = el("div", { testid: "diff-changed" }, `changed: ${result.data.changed.join(", ") || "nothing"}`);
  $("diff-output").replaceChildren(changed, ...lines);
}

function init() {
  const keyInput = $("api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  keyInput.addEventListener("change", async () => {
    if (keyInput.value.trim()) sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
    else sessionStorage.removeItem(KEY_STORAGE);
    if (await loadTemplates() && state.detail) await selectTemplate(state.detail.name);
  });
  $("system").addEventListener("input", renderVariables);
  $("user").addEventListener("input", renderVariables);
  $("save").addEventListener("click", save);
  $("preview").addEventListener("click", preview);
  $("diff").addEventListener("click", showDiff);
  loadTemplates().then((ok) => {
    const wanted = new URLSearchParams(location.search).get("template");
    if (ok && wanted && state.templates.some((t) => t.name === wanted)) selectTemplate(wanted);
  });
}

document.addEventListener("DOMContentLoaded", init);

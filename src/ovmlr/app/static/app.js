// The ovmlr page: pick images, type labels, POST /api/tag, show tags, scores and why (ISR heat map, IST
// neighbours). Every user string goes through textContent (never innerHTML).
"use strict";

const state = { files: [], model: null, result: null, selected: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
}

function showError(message) {
  $("error").textContent = message;
  $("error").style.display = message ? "block" : "none";
}

function parseLabels(text) {
  // one per line or comma-separated; empty entries dropped, duplicates kept (the server names them)
  return text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s.length > 0);
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

function pickFiles(list) {
  state.files = Array.from(list);
  $("picked").textContent = state.files.length
    ? state.files.map((f) => f.name).join(", ")
    : "no image picked";
}

// ---- thresholds --------------------------------------------------------------------------------------
function thresholdOf(label) {
  if ($("calibrated").checked) return label.threshold; // null: no calibrated threshold, never a tag
  return Number($("threshold").value);
}

function isTag(label) {
  const t = thresholdOf(label);
  return t !== null && label.score >= t;
}

function fitSlider(result) {
  const scores = result.images.flatMap((im) => (im.labels || []).map((l) => l.score));
  if (!scores.length) return;
  const lo = Math.min(...scores), hi = Math.max(...scores);
  const pad = (hi - lo) * 0.05 || 0.05;
  const slider = $("threshold");
  slider.min = (lo - pad).toFixed(4);
  slider.max = (hi + pad).toFixed(4);
  slider.step = ((hi - lo + 2 * pad) / 400).toFixed(6);
  slider.value = ((lo + hi) / 2).toFixed(4);
  $("threshold-value").textContent = Number(slider.value).toFixed(3);
}

// ---- results -----------------------------------------------------------------------------------------
function renderResults() {
  const box = $("results");
  box.replaceChildren();
  if (!state.result) return;
  state.result.images.forEach((image, i) => box.appendChild(renderImage(image, i)));
}

function renderImage(image, index) {
  const card = el("div", { class: "card", "data-image": image.name });
  if (image.error) {
    card.appendChild(el("div", { class: "err image-error" }, image.error));
    return card;
  }
  card.appendChild(el("img", { src: image.view, alt: image.name }));
  const right = el("div");
  right.appendChild(el("b", {}, image.name));
  const tags = el("div", { class: "tags" });
  const sorted = [...image.labels].sort((a, b) => b.score - a.score);
  for (const label of sorted.filter(isTag)) {
    const chip = el("span", { class: label.status === "new" ? "tag new" : "tag", "data-label": label.label },
      label.label);
    chip.addEventListener("click", () => explainLabel(index, label.label));
    tags.appendChild(chip);
  }
  if (!tags.childNodes.length) tags.appendChild(el("span", { class: "muted" }, "no tag at this threshold"));
  right.appendChild(tags);
  right.appendChild(renderBars(image, sorted, index));
  card.appendChild(right);
  return card;
}

function renderBars(image, sorted, index) {
  const bars = el("div", { class: "bars" });
  const scores = sorted.map((l) => l.score);
  const lo = Math.min(...scores, 0), hi = Math.max(...scores);
  for (const label of sorted) {
    const row = el("div", { class: isTag(label) ? "bar on" : "bar", "data-label": label.label });
    row.appendChild(el("span", {}, label.label));
    const track = el("div");
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * (label.score - lo)) / (hi - lo || 1)}%`;
    track.appendChild(fill);
    row.appendChild(track);
    row.appendChild(el("span", { class: "mark" }, label.score.toFixed(3)));
    row.addEventListener("click", () => explainLabel(index, label.label));
    bars.appendChild(row);
  }
  return bars;
}

// ---- why -----------------------------------------------------------------------------------------------
function explainLabel(imageIndex, name) {
  const image = state.result.images[imageIndex];
  const label = image.labels.find((l) => l.label === name);
  state.selected = { imageIndex, name };
  $("why-title").textContent = `${name} in ${image.name}: score ${label.score.toFixed(3)}`;
  $("why-policy").textContent = `${name}: ${label.note}`;
  drawHeatmap(image, label);
  const body = $("neighbours").querySelector("tbody");
  body.replaceChildren();
  if (!label.neighbours.length) {
    body.appendChild(el("tr")).appendChild(el("td", { colspan: "3" }, "this model has no IST: no neighbours"));
  }
  for (const n of [...label.neighbours].sort((a, b) => b.weight - a.weight)) {
    const tr = el("tr", { class: "neighbour" });
    tr.appendChild(el("td", {}, n.name));
    tr.appendChild(el("td", {}, n.status));
    tr.appendChild(el("td", {}, n.weight.toFixed(3)));
    body.appendChild(tr);
  }
}

function drawHeatmap(image, label) {
  const canvas = $("heatmap");
  const ctx = canvas.getContext("2d");
  const picture = new Image();
  picture.onload = () => {
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
    if (!label.patches) {
      $("why-isr").textContent = "this model has no ISR: every label uses the whole image";
      canvas.dataset.drawn = "1";
      return;
    }
    $("why-isr").textContent = "ISR: the patches selected for the label, shaded by their weight in its local feature.";
    const [rows, cols] = image.grid;
    const w = canvas.width / cols, h = canvas.height / rows;
    const top = Math.max(...label.patches);
    ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    label.patches.forEach((weight, p) => {
      if (weight <= 0) return;
      const x = (p % cols) * w, y = Math.floor(p / cols) * h;
      ctx.clearRect(x, y, w, h);
      ctx.drawImage(picture, (x / canvas.width) * picture.width, (y / canvas.height) * picture.height,
        picture.width / cols, picture.height / rows, x, y, w, h);
      ctx.fillStyle = `rgba(255, 40, 0, ${0.15 + 0.5 * (weight / top)})`;
      ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = "rgba(255, 220, 0, 0.9)";
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    });
    canvas.dataset.drawn = "1";
  };
  canvas.dataset.drawn = "";
  picture.src = image.view;
}

// ---- downloads -------------------------------------------------------------------------------------------
function rows() {
  const out = [];
  for (const image of state.result.images) {
    if (image.error) continue;
    for (const l of image.labels) {
      out.push({ image: image.name, label: l.label, score: l.score, threshold: thresholdOf(l), tag: isTag(l),
        status: l.status, policy: l.policy });
    }
  }
  return out;
}

function csvCell(value) {
  const text = value === null ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function download(name, type, text) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.appendChild(link);
  link.click();
  link.remove();
}

function downloadCsv() {
  const data = rows();
  const header = ["image", "label", "score", "threshold", "tag", "status", "policy"];
  const lines = [header.join(","), ...data.map((r) => header.map((k) => csvCell(r[k])).join(","))];
  download("ovmlr-tags.csv", "text/csv", lines.join("\n") + "\n");
}

function downloadJson() {
  const images = state.result.images.map((im) => ({
    name: im.name, error: im.error, top_labels: im.top_labels,
    tags: im.error ? [] : im.labels.filter(isTag).map((l) => l.label),
    labels: im.error ? [] : im.labels.map((l) => ({ ...l, threshold_used: thresholdOf(l) })),
  }));
  download("ovmlr-tags.json", "application/json", JSON.stringify({ labels: state.result.labels, images }, null, 1));
}

// ---- requests --------------------------------------------------------------------------------------------
async function tag() {
  showError("");
  if (!state.files.length) return showError("no image: pick or drop one or more images");
  const labels = parseLabels($("labels").value);
  $("tag-button").disabled = true;
  $("results").replaceChildren(el("p", { class: "muted", id: "working" }, "tagging…"));
  try {
    const images = await Promise.all(state.files.map(async (f) => ({ name: f.name, data: await readBase64(f) })));
    const response = await fetch("/api/tag", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ images, labels }) });
    const body = await response.json().catch(() => ({ error: `the server answered HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    state.result = body;
    fitSlider(body);
    renderResults();
    $("download-csv").disabled = $("download-json").disabled = false;
    const errors = body.images.filter((im) => im.error).map((im) => im.error);
    if (errors.length) showError(errors.join("\n"));
    document.body.dataset.tagged = String(Date.now());
  } catch (error) {
    $("results").replaceChildren();
    showError(error.message);
  } finally {
    $("tag-button").disabled = false;
  }
}

async function loadModel() {
  const response = await fetch("/api/model");
  state.model = await response.json();
  $("model").textContent = state.model.model_uri ? `${state.model.model_uri}: ${state.model.model}` : state.model.model;
  const lim = state.model.limits;
  $("limits").textContent = `Limits: ${lim.max_rows} images, ${lim.max_labels} labels of ${lim.max_label_chars} ` +
    `characters, ${lim.max_image_pixels.toLocaleString()} pixels per image.`;
  $("calibrated").checked = state.model.calibrated;
  $("calibrated").disabled = !state.model.calibrated;
  if (!state.model.calibrated) $("calibrated").parentElement.title = "this model has no calibrated thresholds";
}

function init() {
  $("files").addEventListener("change", (e) => pickFiles(e.target.files));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); pickFiles(e.dataTransfer.files); });
  $("vocabulary").addEventListener("click", () => { $("labels").value = state.model.vocabulary.join("\n"); });
  $("tag-button").addEventListener("click", tag);
  const rerender = () => {
    $("threshold-value").textContent = Number($("threshold").value).toFixed(3);
    renderResults();
  };
  $("threshold").addEventListener("input", rerender);
  $("calibrated").addEventListener("change", rerender);
  $("download-csv").addEventListener("click", downloadCsv);
  $("download-json").addEventListener("click", downloadJson);
  loadModel().catch((error) => showError(`cannot load the model description: ${error.message}`));
}

init();

// gnnannot annotate: the page's logic (no build step). Frames and mask overlays are
// fetched one JPEG at a time from /api/frames/<t>; strokes are kept in normalised DAVIS
// coordinates (x, y in 0..1; pixel i of n is sent as (i + 0.5) / (n - 1), clipped to 1).
"use strict";

const $ = (id) => document.getElementById(id);
const BG_COLOUR = "#ffffff";
const STRIP_MAX = 48; // thumbnails shown in the strip (evenly spaced over the video)

const S = {
  info: null,       // /api/session
  frame: 0,         // frame shown
  tool: 1,          // object id drawn with (0 = background)
  pending: [],      // strokes drawn but not submitted: {frame, object_id, path}
  drawing: null,    // stroke being drawn
  saved: [],        // submitted strokes on the shown frame
  image: null,      // the shown frame's Image
  token: 0,         // guards against late image loads
  busy: false,
  playTimer: null,
};

// ------------------------------------------------------------------ server
async function api(method, url, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(url, opt);
  const isJson = (r.headers.get("content-type") || "").includes("json");
  const data = isJson ? await r.json() : null;
  if (!r.ok) {
    const msg = data && data.error ? (data.field ? `${data.field}: ${data.error}` : data.error)
      : `HTTP ${r.status}`;
    throw new Error(msg);
  }
  return data;
}

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function guarded(fn) {
  if (S.busy) return;
  S.busy = true;
  document.body.dataset.busy = "1";
  try {
    await fn();
  } catch (err) {
    status(err.message, true);
  } finally {
    S.busy = false;
    document.body.dataset.busy = "0";
  }
}

// ------------------------------------------------------------------ geometry / colours
function colour(id) {
  if (id === 0) return BG_COLOUR;
  const p = S.info.palette[id] || [255, 255, 0];
  return `rgb(${p[0]},${p[1]},${p[2]})`;
}

function toNorm(ev) {
  const c = $("canvas");
  const r = c.getBoundingClientRect();
  const px = Math.min(Math.max((ev.clientX - r.left) * c.width / r.width, 0), c.width - 1);
  const py = Math.min(Math.max((ev.clientY - r.top) * c.height / r.height, 0), c.height - 1);
  const norm = (v, n) => (n <= 1 ? 0 : Math.min((Math.floor(v) + 0.5) / (n - 1), 1));
  return [norm(px, c.width), norm(py, c.height)];
}

function drawPath(ctx, stroke, width, dashed) {
  const c = $("canvas");
  if (!stroke.path.length) return;
  ctx.save();
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  stroke.path.forEach(([x, y], i) => {
    const X = x * (c.width - 1), Y = y * (c.height - 1);
    if (i === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
  });
  if (stroke.path.length === 1) ctx.lineTo(stroke.path[0][0] * (c.width - 1) + 0.1,
                                           stroke.path[0][1] * (c.height - 1));
  ctx.strokeStyle = stroke.object_id === 0 ? "rgba(0,0,0,0.6)" : "rgba(255,255,255,0.8)";
  ctx.lineWidth = width + 2; // a halo so that dark object colours stay visible
  ctx.stroke();
  ctx.strokeStyle = colour(stroke.object_id);
  ctx.lineWidth = width;
  ctx.setLineDash(dashed ? [width * 2, width * 2] : []);
  ctx.stroke();
  ctx.restore();
}

function fitCanvas() {
  // scale the canvas (kept at the working resolution) to the space available
  const c = $("canvas");
  const s = Math.min($("stage").clientWidth / c.width, window.innerHeight * 0.68 / c.height);
  c.style.width = `${Math.max(1, Math.floor(c.width * s))}px`;
  c.style.height = `${Math.max(1, Math.floor(c.height * s))}px`;
}

function redraw() {
  const c = $("canvas");
  const ctx = c.getContext("2d");
  if (S.image) ctx.drawImage(S.image, 0, 0, c.width, c.height);
  const w = Math.max(2, c.width / 180);
  if ($("show-strokes").checked) S.saved.forEach((s) => drawPath(ctx, s, w * 0.6, true));
  S.pending.filter((s) => s.frame === S.frame).forEach((s) => drawPath(ctx, s, w, false));
  if (S.drawing) drawPath(ctx, S.drawing, w, false);
}

// ------------------------------------------------------------------ frames
function frameUrl(t, height) {
  const ov = $("show-overlay").checked && S.info.has_masks ? 1 : 0;
  let u = `/api/frames/${t}?overlay=${ov}&v=${S.info.version}`;
  if (height) u += `&height=${height}`;
  return u;
}

async function showFrame(t) {
  const n = S.info.n_frames;
  t = Math.min(Math.max(t, 0), n - 1);
  S.frame = t;
  $("slider").value = t;
  $("frame-label").textContent = `frame ${t} / ${n - 1}`;
  document.querySelectorAll("#strip figure").forEach((f) =>
    f.classList.toggle("current", Number(f.dataset.t) === t));
  const token = ++S.token;
  const version = S.info.version;
  const overlay = $("show-overlay").checked && S.info.has_masks;
  const img = new Image();
  const loaded = new Promise((ok, fail) => { img.onload = ok; img.onerror = fail; });
  img.src = frameUrl(t);
  const strokes = api("GET", `/api/frames/${t}/strokes`);
  try {
    await loaded;
    const saved = (await strokes).strokes;
    if (token !== S.token) return;
    S.image = img;
    S.saved = saved;
    redraw();
    const c = $("canvas");
    c.dataset.frame = String(t);
    c.dataset.version = String(version);
    c.dataset.overlay = overlay ? "1" : "0";
  } catch (err) {
    if (token === S.token) status(`frame ${t}: ${err.message || "cannot load the image"}`, true);
  }
}

function buildStrip() {
  const strip = $("strip");
  strip.textContent = "";
  const n = S.info.n_frames;
  const count = Math.min(n, STRIP_MAX);
  const marked = new Set(S.info.interactions.flatMap((it) => it.frames));
  for (let i = 0; i < count; i++) {
    const t = count === 1 ? 0 : Math.round(i * (n - 1) / (count - 1));
    const fig = document.createElement("figure");
    fig.dataset.t = String(t);
    fig.classList.toggle("current", t === S.frame);
    fig.classList.toggle("marked", marked.has(t));
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = `frame ${t}`;
    img.src = frameUrl(t, 64);
    const cap = document.createElement("figcaption");
    cap.textContent = String(t);
    fig.append(img, cap);
    fig.addEventListener("click", () => showFrame(t));
    strip.append(fig);
  }
}

// ------------------------------------------------------------------ session state
function renderObjects() {
  const box = $("objects");
  box.textContent = "";
  const ids = [0, ...Array.from({ length: S.info.n_objects }, (_, i) => i + 1)];
  if (S.tool > S.info.n_objects) S.tool = S.info.n_objects;
  for (const id of ids) {
    const b = document.createElement("button");
    b.dataset.object = String(id);
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(id === S.tool));
    b.classList.toggle("selected", id === S.tool);
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(id);
    b.append(sw, document.createTextNode(id === 0 ? "background" : `object ${id}`));
    b.addEventListener("click", () => selectTool(id));
    box.append(b);
  }
  $("remove-object").disabled = S.tool === 0 || S.info.n_objects <= 1;
}

function selectTool(id) {
  if (id < 0 || id > S.info.n_objects) return;
  S.tool = id;
  renderObjects();
}

function renderPending() {
  const n = S.pending.length;
  const frames = [...new Set(S.pending.map((s) => s.frame))].sort((a, b) => a - b);
  $("pending").textContent = n ? `${n} stroke(s) on frame(s) ${frames.join(", ")} not submitted`
    : "Draw on the frame, then submit.";
  $("submit").disabled = n === 0;
}

function renderHistory() {
  const ol = $("history");
  ol.textContent = "";
  S.info.interactions.forEach((it, i) => {
    const li = document.createElement("li");
    li.textContent = `frame ${it.frames.join(", ")}: ${it.n_strokes} stroke(s), ${it.seconds.toFixed(2)} s`;
    li.addEventListener("click", () => showFrame(it.frames[0]));
    ol.append(li);
    if (i === S.info.interactions.length - 1) li.scrollIntoView({ block: "nearest" });
  });
  $("undo").disabled = S.info.interactions.length === 0 && S.pending.length === 0;
}

async function applySession(info) {
  const first = S.info === null;
  S.info = info;
  document.body.dataset.version = String(info.version);
  $("video-name").textContent =
    `${info.video} — ${info.n_frames} frames, ${info.frame_size[1]}×${info.frame_size[0]}` +
    ` (shown at ${info.work_size[1]}×${info.work_size[0]}), method ${info.method}`;
  if (first) {
    const c = $("canvas");
    c.width = info.work_size[1];
    c.height = info.work_size[0];
    $("slider").max = String(info.n_frames - 1);
    fitCanvas();
  }
  renderObjects();
  renderPending();
  renderHistory();
  buildStrip();
  await showFrame(S.frame);
}

// ------------------------------------------------------------------ actions
function submit() {
  return guarded(async () => {
    if (!S.pending.length) { status("nothing to submit: draw a stroke first", true); return; }
    status("updating all frames…");
    const t0 = performance.now();
    const res = await api("POST", "/api/interactions", { strokes: S.pending });
    const rtt = (performance.now() - t0) / 1000;
    S.pending = [];
    await applySession(res.session);
    status(`masks of all ${res.session.n_frames} frames updated in ${res.seconds.toFixed(2)} s` +
           ` (${rtt.toFixed(2)} s with the request)`);
  });
}

function change(url, body, label) {
  return guarded(async () => {
    const res = await api("POST", url, body);
    await applySession(res.session);
    const sec = typeof res.seconds === "number" ? ` in ${res.seconds.toFixed(2)} s` : "";
    status(`${label}${sec}`);
  });
}

function undo() {
  if (S.pending.length) { S.pending.pop(); renderPending(); redraw(); return; }
  return change("/api/undo", {}, "undid the last interaction");
}

function exportMasks() {
  return guarded(async () => {
    status("exporting…");
    const res = await api("POST", "/api/export",
      { rle: $("exp-rle").checked, overlay: $("exp-overlay").checked });
    const box = $("downloads");
    box.textContent = "";
    for (const d of res.downloads) {
      const a = document.createElement("a");
      a.href = d.url;
      a.download = d.name;
      a.textContent = `download ${d.name}`;
      box.append(a);
    }
    status(`exported to ${res.out} in ${res.seconds.toFixed(2)} s`);
  });
}

function togglePlay() {
  if (S.playTimer) {
    clearInterval(S.playTimer);
    S.playTimer = null;
    $("play").textContent = "Play";
    return;
  }
  $("play").textContent = "Pause";
  const ms = 1000 / Math.min(S.info.fps || 12, 12);
  S.playTimer = setInterval(() => {
    if (S.frame >= S.info.n_frames - 1) togglePlay(); else showFrame(S.frame + 1);
  }, ms);
}

// ------------------------------------------------------------------ events
function bind() {
  const c = $("canvas");
  window.addEventListener("resize", () => { if (S.info) fitCanvas(); });
  c.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0 || !S.info) return;
    c.setPointerCapture(ev.pointerId);
    S.drawing = { frame: S.frame, object_id: S.tool, path: [toNorm(ev)] };
    redraw();
  });
  c.addEventListener("pointermove", (ev) => {
    if (!S.drawing) return;
    const p = toNorm(ev);
    const last = S.drawing.path[S.drawing.path.length - 1];
    if (p[0] !== last[0] || p[1] !== last[1]) S.drawing.path.push(p);
    redraw();
  });
  const finish = () => {
    if (!S.drawing) return;
    S.pending.push(S.drawing);
    S.drawing = null;
    renderPending();
    renderHistory();
    redraw();
  };
  c.addEventListener("pointerup", finish);
  c.addEventListener("pointercancel", finish);

  $("slider").addEventListener("input", (ev) => showFrame(Number(ev.target.value)));
  $("prev").addEventListener("click", () => showFrame(S.frame - 1));
  $("next").addEventListener("click", () => showFrame(S.frame + 1));
  $("play").addEventListener("click", togglePlay);
  $("submit").addEventListener("click", submit);
  $("clear").addEventListener("click", () => { S.pending = []; renderPending(); redraw(); });
  $("undo").addEventListener("click", undo);
  $("reset").addEventListener("click", () => {
    if (confirm("Remove every interaction of this video?")) {
      S.pending = [];
      change("/api/reset", {}, "reset");
    }
  });
  $("add-object").addEventListener("click", () => guarded(async () => {
    const res = await api("POST", "/api/objects", {});
    S.tool = res.object_id;
    await applySession(res.session);
    status(`added object ${res.object_id}`);
  }));
  $("remove-object").addEventListener("click", () => {
    const k = S.tool;
    if (k < 1 || !confirm(`Remove object ${k} and all its strokes?`)) return;
    guarded(async () => {
      const res = await api("DELETE", `/api/objects/${k}`);
      S.pending = S.pending.filter((s) => s.object_id !== k)
        .map((s) => ({ ...s, object_id: s.object_id > k ? s.object_id - 1 : s.object_id }));
      await applySession(res.session);
      status(`removed object ${k}`);
    });
  });
  $("show-overlay").addEventListener("change", () => { buildStrip(); showFrame(S.frame); });
  $("show-strokes").addEventListener("change", redraw);
  $("export").addEventListener("click", exportMasks);

  document.addEventListener("keydown", (ev) => {
    // the slider and text fields handle their own keys; Enter on a button clicks it
    if (ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox") return;
    if (ev.target instanceof HTMLButtonElement && ev.key === "Enter") return;
    if (ev.key === "ArrowLeft") { showFrame(S.frame - 1); ev.preventDefault(); }
    else if (ev.key === "ArrowRight") { showFrame(S.frame + 1); ev.preventDefault(); }
    else if (ev.key === "Enter") { submit(); ev.preventDefault(); }
    else if (ev.key === "Escape") { S.pending = []; renderPending(); redraw(); }
    else if ((ev.ctrlKey || ev.metaKey) && ev.key === "z") { undo(); ev.preventDefault(); }
    else if (ev.key === "b" || ev.key === "B") selectTool(0);
    else if (/^[0-9]$/.test(ev.key)) selectTool(Number(ev.key));
  });
}

async function main() {
  bind();
  try {
    const info = await api("GET", "/api/session");
    await applySession(info);
    let msg = info.resumed ? `resumed ${info.interactions.length} interaction(s)` : "ready";
    if (info.warning) msg += ` — ${info.warning}`;
    status(msg, Boolean(info.warning));
  } catch (err) {
    status(`cannot load the session: ${err.message}`, true);
  }
}

main();

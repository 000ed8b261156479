// gnnannot annotate: the page's logic (no build step). Frames and mask overlays are
// fetched one JPEG at a time from /api/frames/<t>; strokes are kept in normalised DAVIS
// coordinates (x, y in 0..1; pixel i of n is sent as (i + 0.5) / (n - 1), clipped to 1)
// with a kind (scribble, mask, erase) and a radius in working pixels.
"use strict";

const $ = (id) => document.getElementById(id);
const THUMB_H = 64;      // thumbnail height (px)
const THUMB_GAP = 3;     // px between thumbnails
const STRIP_MARGIN = 4;  // thumbnails rendered beyond each edge of the visible strip
const TOOL_KEYS = { s: "scribble", c: "click", m: "mask", e: "erase" };
const TOOL_NAMES = { scribble: "scribble", click: "clicks", mask: "mask brush", erase: "eraser" };

const S = {
  info: null,       // /api/session
  frame: 0,         // frame shown
  obj: 1,           // object id drawn with (0 = background)
  tool: "scribble", // scribble | click | mask | erase
  radius: 2,        // brush radius in working pixels
  pending: [],      // strokes drawn but not submitted: {id, frame, object_id, path, kind, radius}
  nextId: 1,
  drawing: null,    // stroke being drawn
  saved: [],        // submitted strokes on the shown frame
  hidden: new Set(), // object ids whose mask is not drawn
  image: null,      // the shown frame's Image
  token: 0,         // guards against late image loads
  busy: false,
  queue: Promise.resolve(), // changes in flight, in order
  queued: 0,
  playTimer: null,
  view: { s: 1, x: 0, y: 0 }, // zoom and pan of the canvas (CSS px)
  pan: null,        // {x, y, vx, vy} while panning
  space: false,     // Space held (pan)
  thumbW: 0,        // thumbnail width incl. gap
  thumbs: new Map(), // frame -> <figure> currently in the strip
  progress: { count: 0, timer: null },
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
  el.title = text;
  el.classList.toggle("error", isError);
}

function showProgress(label) {
  const p = $("progress");
  const t0 = performance.now();
  S.progress.count += 1;
  p.dataset.count = String(S.progress.count);
  p.hidden = false;
  const tick = () => {
    $("progress-text").textContent = `${label} ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  };
  tick();
  S.progress.timer = setInterval(tick, 100);
}

function hideProgress() {
  clearInterval(S.progress.timer);
  S.progress.timer = null;
  $("progress").hidden = true;
}

// Changes run one at a time, in the order asked (a change asked while another runs waits
// for it instead of being dropped).
function guarded(fn, progressLabel) {
  const run = async () => {
    S.busy = true;
    document.body.dataset.busy = "1";
    if (progressLabel) showProgress(progressLabel);
    try {
      await fn();
    } catch (err) {
      status(err.message, true);
    } finally {
      if (progressLabel) hideProgress();
      S.queued -= 1;
      S.busy = S.queued > 0;
      document.body.dataset.busy = S.busy ? "1" : "0";
    }
  };
  S.queued += 1;
  S.queue = S.queue.then(run);
  return S.queue;
}

// ------------------------------------------------------------------ objects / colours
function objMeta(id) {
  if (id === 0) return { id: 0, name: "background", colour: [255, 255, 255] };
  return S.info.objects[id - 1] || { id, name: `object ${id}`, colour: [255, 255, 0] };
}

function colour(id, alpha = 1) {
  const c = objMeta(id).colour;
  return `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;
}

function hexColour(c) {
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ geometry
function toNorm(ev) {
  const c = $("canvas");
  const r = c.getBoundingClientRect();
  const px = Math.min(Math.max((ev.clientX - r.left) * c.width / r.width, 0), c.width - 1);
  const py = Math.min(Math.max((ev.clientY - r.top) * c.height / r.height, 0), c.height - 1);
  const norm = (v, n) => (n <= 1 ? 0 : Math.min((Math.floor(v) + 0.5) / (n - 1), 1));
  return [norm(px, c.width), norm(py, c.height)];
}

function drawStroke(ctx, stroke, dashed) {
  const c = $("canvas");
  if (!stroke.path.length) return;
  const base = Math.max(2, c.width / 180);
  const width = Math.max(2 * (stroke.radius || 0) + 1, stroke.kind === "scribble" ? base : 1);
  const pts = stroke.path.map(([x, y]) => [Math.floor(x * (c.width - 1)) + 0.5,
                                           Math.floor(y * (c.height - 1)) + 0.5]);
  ctx.save();
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  pts.forEach(([X, Y], i) => { if (i === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y); });
  if (pts.length === 1) ctx.lineTo(pts[0][0] + 0.01, pts[0][1]);
  const kind = stroke.kind || "scribble";
  if (kind === "scribble") {
    ctx.strokeStyle = stroke.object_id === 0 ? "rgba(0,0,0,0.6)" : "rgba(255,255,255,0.8)";
    ctx.lineWidth = width + 2; // a halo so that dark object colours stay visible
    ctx.stroke();
    ctx.strokeStyle = colour(stroke.object_id);
    ctx.lineWidth = width;
    ctx.setLineDash(dashed ? [width * 2, width * 2] : []);
    ctx.stroke();
  } else { // mask / eraser: the covered pixels, translucent, with an outline
    ctx.lineWidth = width;
    ctx.strokeStyle = kind === "erase" ? "rgba(0,0,0,0.55)" : colour(stroke.object_id, 0.55);
    ctx.stroke();
  }
  ctx.restore();
}

function applyView() {
  const v = S.view;
  $("canvas").style.transform = `translate(${v.x}px, ${v.y}px) scale(${v.s})`;
  $("canvas").dataset.zoom = v.s.toFixed(3);
}

function fitCanvas() {
  // scale the canvas (kept at the working resolution) to the space available
  const c = $("canvas");
  const s = Math.min($("stage").clientWidth / c.width, window.innerHeight * 0.66 / c.height);
  c.style.width = `${Math.max(1, Math.floor(c.width * s))}px`;
  c.style.height = `${Math.max(1, Math.floor(c.height * s))}px`;
  $("stage").style.height = c.style.height;
}

function zoomAt(factor, cx, cy) {
  // zoom by `factor` keeping the stage point (cx, cy) (CSS px from its corner) in place
  const v = S.view;
  const c = $("canvas");
  const lx = cx - c.offsetLeft, ly = cy - c.offsetTop; // relative to the untransformed canvas
  const s = Math.min(Math.max(v.s * factor, 1), 16);
  const f = s / v.s;
  v.x = lx - (lx - v.x) * f;
  v.y = ly - (ly - v.y) * f;
  v.s = s;
  if (s === 1) { v.x = 0; v.y = 0; }
  applyView();
}

function zoomCentre(factor) {
  const st = $("stage");
  zoomAt(factor, st.clientWidth / 2, st.clientHeight / 2);
}

let redrawQueued = false;
function redrawSoon() {
  // pointer moves can come faster than the screen refreshes: draw once per frame
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => { redrawQueued = false; redraw(); });
}

function redraw() {
  const c = $("canvas");
  const ctx = c.getContext("2d");
  if (S.image) ctx.drawImage(S.image, 0, 0, c.width, c.height);
  if ($("show-strokes").checked) S.saved.forEach((s) => drawStroke(ctx, s, true));
  S.pending.filter((s) => s.frame === S.frame).forEach((s) => drawStroke(ctx, s, false));
  if (S.drawing) drawStroke(ctx, S.drawing, false);
}

// ------------------------------------------------------------------ pointer indicator
function updateCursor(ev) {
  const cur = $("cursor");
  if (!S.info || !ev) { cur.hidden = true; return; }
  const st = $("stage").getBoundingClientRect();
  const c = $("canvas");
  const scale = c.getBoundingClientRect().width / c.width; // CSS px per working px
  const r = Math.max(S.radius, 0.5) * scale;
  const ring = cur.querySelector(".ring");
  ring.style.width = ring.style.height = `${2 * r}px`;
  ring.style.left = ring.style.top = `${-r}px`;
  const id = S.tool === "erase" ? 0 : S.obj;
  ring.style.borderColor = colour(id);
  cur.style.left = `${ev.clientX - st.left}px`;
  cur.style.top = `${ev.clientY - st.top}px`;
  cur.querySelector(".label").textContent = currentLabel();
  cur.querySelector(".label").style.borderColor = colour(S.obj);
  cur.hidden = false;
}

function currentLabel() {
  if (S.tool === "erase") return "eraser";
  return `${objMeta(S.obj).name} · ${TOOL_NAMES[S.tool]}`;
}

// ------------------------------------------------------------------ frames
function hideParam() {
  return S.hidden.size ? `&hide=${[...S.hidden].sort((a, b) => a - b).join(",")}` : "";
}

function frameUrl(t, height) {
  const ov = $("show-overlay").checked && S.info.has_masks ? 1 : 0;
  let u = `/api/frames/${t}?overlay=${ov}&v=${S.info.version}${ov ? hideParam() : ""}`;
  if (height) u += `&height=${height}`;
  return u;
}

async function showFrame(t) {
  const n = S.info.n_frames;
  t = Math.min(Math.max(t, 0), n - 1);
  S.frame = t;
  $("slider").value = t;
  $("frame-label").textContent = `frame ${t} / ${n - 1}`;
  S.thumbs.forEach((f, ft) => f.classList.toggle("current", ft === t));
  scrollStripTo(t);
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
    c.dataset.hidden = [...S.hidden].sort((a, b) => a - b).join(",");
  } catch (err) {
    if (token === S.token) status(`frame ${t}: ${err.message || "cannot load the image"}`, true);
  }
}

// ------------------------------------------------------------------ thumbnail strip
// Every frame has a slot; only the thumbnails near the visible part exist (virtualised).
// After a change, each one swaps to its new image once that has loaded (no blank).
function layoutStrip() {
  const [h, w] = S.info.work_size;
  S.thumbW = Math.max(8, Math.round(THUMB_H * w / h)) + THUMB_GAP;
  $("strip-inner").style.width = `${S.info.n_frames * S.thumbW}px`;
  renderStrip();
}

function thumbKey() {
  return `${S.info.version}|${$("show-overlay").checked ? 1 : 0}|${hideParam()}`;
}

function renderStrip() {
  if (!S.info) return;
  const strip = $("strip");
  const n = S.info.n_frames;
  const first = Math.max(0, Math.floor(strip.scrollLeft / S.thumbW) - STRIP_MARGIN);
  const last = Math.min(n - 1, Math.ceil((strip.scrollLeft + strip.clientWidth) / S.thumbW)
                        + STRIP_MARGIN);
  for (const [t, fig] of S.thumbs) {
    if (t < first || t > last) { fig.remove(); S.thumbs.delete(t); }
  }
  const marked = new Set(S.info.interactions.flatMap((it) => it.frames));
  const key = thumbKey();
  for (let t = first; t <= last; t++) {
    let fig = S.thumbs.get(t);
    if (!fig) {
      fig = document.createElement("figure");
      fig.dataset.t = String(t);
      fig.style.left = `${t * S.thumbW}px`;
      const img = document.createElement("img");
      img.alt = `frame ${t}`;
      img.height = THUMB_H;
      img.width = S.thumbW - THUMB_GAP;
      img.src = frameUrl(t, THUMB_H);
      fig.dataset.key = key;
      const cap = document.createElement("figcaption");
      cap.textContent = String(t);
      fig.append(img, cap);
      fig.addEventListener("click", () => showFrame(t));
      $("strip-inner").append(fig);
      S.thumbs.set(t, fig);
    } else if (fig.dataset.key !== key) {
      swapThumb(fig, t, key);
    }
    fig.classList.toggle("current", t === S.frame);
    fig.classList.toggle("marked", marked.has(t));
  }
}

function swapThumb(fig, t, key) {
  fig.dataset.key = key;
  fig.dataset.loading = "1";
  const next = new Image();
  next.onload = () => {
    if (fig.dataset.key !== key) return; // a newer change is on its way
    fig.querySelector("img").src = next.src;
    fig.dataset.loading = "0";
  };
  next.src = frameUrl(t, THUMB_H);
}

function scrollStripTo(t) {
  const strip = $("strip");
  if (!S.thumbW) return;
  const x = t * S.thumbW;
  if (x < strip.scrollLeft || x + S.thumbW > strip.scrollLeft + strip.clientWidth) {
    strip.scrollLeft = Math.max(0, x - strip.clientWidth / 2);
  }
  renderStrip();
}

// ------------------------------------------------------------------ session state
function renderObjects() {
  const box = $("objects");
  box.textContent = "";
  if (S.obj > S.info.n_objects) S.obj = S.info.n_objects;
  for (const id of [0, ...S.info.objects.map((o) => o.id)]) {
    const meta = objMeta(id);
    const row = document.createElement("div");
    row.className = "object-row";
    row.dataset.object = String(id);
    const b = document.createElement("button");
    b.dataset.object = String(id);
    b.className = "select";
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(id === S.obj));
    b.classList.toggle("selected", id === S.obj);
    b.title = id === 0 ? "background (B)" : `draw for ${meta.name} (${id <= 9 ? id : "click"})`;
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(id);
    b.append(sw, document.createTextNode(id === 0 ? "background" : String(id)));
    b.addEventListener("click", () => selectObject(id));
    row.append(b);
    if (id > 0) {
      const name = document.createElement("input");
      name.type = "text";
      name.className = "name";
      name.value = meta.name;
      name.setAttribute("aria-label", `name of object ${id}`);
      name.addEventListener("change", () => updateObject(id, { name: name.value }));
      name.addEventListener("keydown", (ev) => { // Esc: keep the old name; Enter: done
        if (ev.key === "Escape") { name.value = meta.name; name.blur(); }
        else if (ev.key === "Enter") name.blur();
      });
      const col = document.createElement("input");
      col.type = "color";
      col.className = "colour";
      col.value = hexColour(meta.colour);
      col.setAttribute("aria-label", `colour of object ${id}`);
      col.addEventListener("change", () => {
        const v = col.value;
        updateObject(id, { colour: [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)) });
      });
      const eye = document.createElement("button");
      eye.className = "eye";
      eye.textContent = S.hidden.has(id) ? "show" : "hide";
      eye.title = "hide/show this object's mask (H)";
      eye.addEventListener("click", () => toggleHidden(id));
      const del = document.createElement("button");
      del.className = "delete";
      del.textContent = "×";
      del.title = "delete this object and all its strokes";
      del.disabled = S.info.n_objects <= 1;
      del.addEventListener("click", () => deleteObject(id));
      row.append(name, col, eye, del);
    }
    box.append(row);
  }
}

function selectObject(id) {
  if (id < 0 || id > S.info.n_objects) return;
  S.obj = id;
  if (id === 0 && S.tool === "mask") S.tool = "erase";
  renderObjects();
  renderTool();
}

function selectTool(tool) {
  S.tool = tool;
  if (tool === "mask" && S.obj === 0) S.obj = 1;
  renderObjects();
  renderTool();
}

function renderTool() {
  document.querySelectorAll("#tool-buttons button").forEach((b) => {
    b.classList.toggle("selected", b.dataset.tool === S.tool);
    b.setAttribute("aria-checked", String(b.dataset.tool === S.tool));
  });
  document.body.dataset.tool = S.tool;
  $("brush").value = String(S.radius);
  $("brush-value").textContent = String(S.radius);
  document.body.dataset.object = String(S.obj);
  const lab = document.querySelector("#cursor .label");
  if (lab) lab.textContent = currentLabel();
}

function setRadius(r) {
  S.radius = Math.min(Math.max(Math.round(r), 0), 40);
  renderTool();
}

function toggleHidden(id) {
  if (id < 1) return;
  if (S.hidden.has(id)) S.hidden.delete(id); else S.hidden.add(id);
  renderObjects();
  renderStrip();
  showFrame(S.frame);
}

function strokeLabel(s) {
  const what = { scribble: "scribble", mask: "mask brush", erase: "eraser" }[s.kind];
  const dot = s.path.length === 1; // a click (Clicks tool) or a dab of a brush
  const name = dot ? (s.kind === "scribble" ? "click" : `${what} dab`) : what;
  return `${name} r${s.radius}, ${s.path.length} pt`;
}

const PENDING_LISTED = 12; // strokes listed per object and frame

function renderPending() {
  const n = S.pending.length;
  const list = $("pending-list");
  list.textContent = "";
  // grouped by object, then frame
  const groups = new Map();
  for (const s of S.pending) {
    const key = `${s.kind === "erase" ? 0 : s.object_id}|${s.frame}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const [oa, fa] = a.split("|").map(Number), [ob, fb] = b.split("|").map(Number);
    return oa - ob || fa - fb;
  });
  const summary = [];
  for (const key of keys) {
    const [oid, frame] = key.split("|").map(Number);
    const items = groups.get(key);
    const head = document.createElement("li");
    head.className = "group";
    head.dataset.object = String(oid);
    head.dataset.frame = String(frame);
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(oid);
    head.append(sw, document.createTextNode(
      `${objMeta(oid).name} — frame ${frame}: ${items.length} stroke(s)`));
    head.addEventListener("click", () => showFrame(frame));
    list.append(head);
    summary.push(`${objMeta(oid).name} on frame ${frame} (${items.length})`);
    // the latest strokes of a group are listed (each removable); a long group (a mask
    // fixed stroke by stroke) keeps the list, and re-rendering it, short
    if (items.length > PENDING_LISTED) {
      const more = document.createElement("li");
      more.className = "more";
      more.textContent = `… ${items.length - PENDING_LISTED} earlier stroke(s)`;
      list.append(more);
    }
    for (const s of items.slice(-PENDING_LISTED)) {
      const li = document.createElement("li");
      li.className = "stroke";
      li.dataset.id = String(s.id);
      li.textContent = strokeLabel(s);
      const rm = document.createElement("button");
      rm.textContent = "×";
      rm.title = "remove this stroke";
      rm.className = "remove";
      rm.addEventListener("click", (ev) => { ev.stopPropagation(); removePending(s.id); });
      li.append(rm);
      li.addEventListener("click", () => showFrame(s.frame));
      list.append(li);
    }
  }
  $("pending").textContent = n ? `${n} stroke(s) not submitted: ${summary.join(", ")}`
    : "Draw on the frame, then submit.";
  $("submit").disabled = n === 0;
}

function removePending(id) {
  S.pending = S.pending.filter((s) => s.id !== id);
  renderPending();
  renderHistory();
  redraw();
}

function renderHistory() {
  const ol = $("history");
  ol.textContent = "";
  S.info.interactions.forEach((it, i) => {
    const li = document.createElement("li");
    li.textContent = `frame ${it.frames.join(", ")}: ${it.n_strokes} stroke(s), ${it.seconds.toFixed(2)} s`;
    li.addEventListener("click", () => showFrame(it.frames[0]));
    ol.append(li);
  });
  ol.scrollTop = ol.scrollHeight; // the latest in view, without scrolling the page
  $("undo").disabled = S.info.interactions.length === 0 && S.pending.length === 0;
}

async function applySession(info) {
  const first = S.info === null;
  S.info = info;
  document.body.dataset.version = String(info.version);
  $("video-name").textContent =
    `${info.video} — ${info.n_frames} frames, ${info.frame_size[1]}×${info.frame_size[0]}` +
    ` (shown at ${info.work_size[1]}×${info.work_size[0]})`;
  $("method").textContent = `method: ${info.method_reason || info.method}`;
  if (first) {
    const c = $("canvas");
    c.width = info.work_size[1];
    c.height = info.work_size[0];
    $("slider").max = String(info.n_frames - 1);
    fitCanvas();
    layoutStrip();
  }
  for (const k of [...S.hidden]) if (k > info.n_objects) S.hidden.delete(k);
  renderObjects();
  renderTool();
  renderPending();
  renderHistory();
  renderStrip();
  await showFrame(S.frame);
}

// ------------------------------------------------------------------ actions
function wire(s) {
  const out = { frame: s.frame, object_id: s.object_id, path: s.path };
  if (s.kind !== "scribble") out.kind = s.kind;
  if (s.radius) out.radius = s.radius;
  return out;
}

function submit() {
  if (!S.pending.length) { status("nothing to submit: draw a stroke first", true); return; }
  const n = S.info.n_frames;
  return guarded(async () => {
    const sent = S.pending.slice(); // strokes drawn while this runs stay pending
    if (!sent.length) return; // an earlier queued Submit took them
    status(`updating all ${n} frames…`);
    const t0 = performance.now();
    const res = await api("POST", "/api/interactions", { strokes: sent.map(wire) });
    const rtt = (performance.now() - t0) / 1000;
    S.pending = S.pending.filter((s) => !sent.includes(s));
    await applySession(res.session);
    status(`masks of all ${res.session.n_frames} frames updated in ${res.seconds.toFixed(2)} s` +
           ` (${rtt.toFixed(2)} s with the request)`);
  }, `updating all ${n} frames (${S.info.method})…`);
}

function change(url, body, label, method = "POST") {
  return guarded(async () => {
    const res = await api(method, url, body);
    await applySession(res.session);
    const sec = typeof res.seconds === "number" ? ` in ${res.seconds.toFixed(2)} s` : "";
    status(`${label}${sec}`);
  }, `${label}…`);
}

function undo() {
  if (S.pending.length) { S.pending.pop(); renderPending(); redraw(); return; }
  return change("/api/undo", {}, "undid the last interaction");
}

function updateObject(id, meta) {
  return guarded(async () => {
    const res = await api("PATCH", `/api/objects/${id}`, meta);
    await applySession(res.session);
    status(`object ${id}: ${objMeta(id).name}`);
  });
}

function deleteObject(k) {
  if (k < 1 || !confirm(`Delete ${objMeta(k).name} and all its strokes?`)) return;
  return guarded(async () => {
    const res = await api("DELETE", `/api/objects/${k}`);
    S.pending = S.pending.filter((s) => s.object_id !== k)
      .map((s) => ({ ...s, object_id: s.object_id > k ? s.object_id - 1 : s.object_id }));
    S.hidden = new Set([...S.hidden].filter((h) => h !== k).map((h) => (h > k ? h - 1 : h)));
    if (S.obj === k) S.obj = Math.min(k, res.session.n_objects);
    else if (S.obj > k) S.obj -= 1;
    await applySession(res.session);
    status(`deleted object ${k}`);
  }, "deleting the object…");
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
  }, "exporting…");
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
function startStroke(ev) {
  let kind = S.tool === "click" ? "scribble" : S.tool;
  let oid = S.tool === "erase" ? 0 : S.obj;
  if (S.tool === "click" && (ev.button === 2 || ev.shiftKey)) oid = 0; // a negative click
  if (kind === "mask" && oid === 0) { kind = "erase"; }
  S.drawing = { id: S.nextId++, frame: S.frame, object_id: oid, path: [toNorm(ev)], kind,
                radius: S.tool === "click" ? Math.max(S.radius, 3) : S.radius };
}

function finishStroke() {
  if (!S.drawing) return;
  if (S.tool === "click") S.drawing.path = [S.drawing.path[0]]; // a click = a short stroke
  S.pending.push(S.drawing);
  S.drawing = null;
  renderPending();
  renderHistory();
  redraw();
}

function isTextInput(el) {
  if (el instanceof HTMLTextAreaElement || (el && el.isContentEditable)) return true;
  return el instanceof HTMLInputElement && !["checkbox", "radio", "range", "button",
                                               "color"].includes(el.type);
}

function onKey(ev) {
  // everywhere except text fields; Enter on a focused button clicks that button
  if (isTextInput(ev.target)) return;
  if (ev.target instanceof HTMLButtonElement && (ev.key === "Enter" || ev.key === " ")) return;
  const k = ev.key;
  const lower = k.length === 1 ? k.toLowerCase() : k;
  let handled = true;
  if (k === "ArrowLeft") showFrame(S.frame - 1);
  else if (k === "ArrowRight") showFrame(S.frame + 1);
  else if (k === "Enter") submit();
  else if (k === "Escape") { S.pending = []; renderPending(); redraw(); }
  else if ((ev.ctrlKey || ev.metaKey) && lower === "z") undo();
  else if (ev.ctrlKey || ev.metaKey || ev.altKey) handled = false;
  else if (lower === "b" || k === "0") selectObject(0);
  else if (/^[1-9]$/.test(k)) selectObject(Number(k));
  else if (lower in TOOL_KEYS) selectTool(TOOL_KEYS[lower]);
  else if (k === "[") setRadius(S.radius - 1);
  else if (k === "]") setRadius(S.radius + 1);
  else if (k === "+" || k === "=") zoomCentre(1.25);
  else if (k === "-" || k === "_") zoomCentre(0.8);
  else if (lower === "f") zoomAt(1 / S.view.s, 0, 0);
  else if (lower === "h") toggleHidden(S.obj);
  else if (k === " ") S.space = true;
  else handled = false;
  if (handled) ev.preventDefault();
}

function bind() {
  const c = $("canvas");
  const stage = $("stage");
  window.addEventListener("resize", () => { if (S.info) { fitCanvas(); renderStrip(); } });
  c.addEventListener("contextmenu", (ev) => ev.preventDefault());
  c.addEventListener("pointerdown", (ev) => {
    if (!S.info) return;
    c.setPointerCapture(ev.pointerId);
    if (ev.button === 1 || (ev.button === 0 && S.space)) { // pan
      S.pan = { x: ev.clientX, y: ev.clientY, vx: S.view.x, vy: S.view.y };
      ev.preventDefault();
      return;
    }
    if (ev.button !== 0 && !(ev.button === 2 && S.tool === "click")) return;
    startStroke(ev);
    redrawSoon();
  });
  c.addEventListener("pointermove", (ev) => {
    updateCursor(ev);
    if (S.pan) {
      S.view.x = S.pan.vx + ev.clientX - S.pan.x;
      S.view.y = S.pan.vy + ev.clientY - S.pan.y;
      applyView();
      return;
    }
    if (!S.drawing || S.tool === "click") return;
    const p = toNorm(ev);
    const last = S.drawing.path[S.drawing.path.length - 1];
    if (p[0] !== last[0] || p[1] !== last[1]) S.drawing.path.push(p);
    redrawSoon();
  });
  const finish = () => { S.pan = null; finishStroke(); };
  c.addEventListener("pointerup", finish);
  c.addEventListener("pointercancel", finish);
  c.addEventListener("pointerleave", () => { $("cursor").hidden = true; });
  stage.addEventListener("wheel", (ev) => {
    if (!S.info) return;
    ev.preventDefault();
    const r = stage.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - r.left, ev.clientY - r.top);
    updateCursor(ev);
  }, { passive: false });

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
    S.obj = res.object_id;
    await applySession(res.session);
    status(`added object ${res.object_id}`);
  }));
  document.querySelectorAll("#tool-buttons button").forEach((b) =>
    b.addEventListener("click", () => selectTool(b.dataset.tool)));
  $("brush").addEventListener("input", (ev) => setRadius(Number(ev.target.value)));
  $("zoom-in").addEventListener("click", () => zoomCentre(1.25));
  $("zoom-out").addEventListener("click", () => zoomCentre(0.8));
  $("zoom-fit").addEventListener("click", () => zoomAt(1 / S.view.s, 0, 0));
  $("show-overlay").addEventListener("change", () => { renderStrip(); showFrame(S.frame); });
  $("show-strokes").addEventListener("change", redraw);
  $("export").addEventListener("click", exportMasks);
  $("strip").addEventListener("scroll", renderStrip, { passive: true });

  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", (ev) => { if (ev.key === " ") S.space = false; });
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

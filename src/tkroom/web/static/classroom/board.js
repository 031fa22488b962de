// The board in the middle of the class: the page shown (a courseware page image or a blank
// page) with two canvases over it: the saved shapes, and what is being drawn right now (this
// user's stroke, others' strokes as their segments arrive, laser pointers). The model lives
// in the SDK (room.board, docs/board.md); this file draws it and turns pointer input into it.

import { el } from "/classroom/dom.js";
import { drawShape, pageImageOf } from "/classroom/shapes.js";

const TOOLS = ["pen", "highlighter", "line", "arrow", "rectangle", "ellipse", "text", "eraser", "laser"];
const CLASS_OF = { line: "Line", arrow: "Arrow", rectangle: "Rectangle", ellipse: "Ellipse" };
const ICONS = { pen: "✎", highlighter: "▮", line: "╱", arrow: "➚", rectangle: "▭", ellipse: "◯", text: "T", eraser: "⌫", laser: "◉" };
const COLORS = ["#1b1f24", "#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa"];
const WIDTHS = [0.002, 0.004, 0.008, 0.016]; // fractions of the page's width
const TEXT_SIZES = [0.02, 0.03, 0.045, 0.065];
const BLANK_ASPECT = 4 / 3;
const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3];
const LASER_MS = 3000; // a pointer nobody moves fades away

/**
 * Builds the board into the page's #board section. `ctx`: {room, t() (the current
 * translator), button(key, fn, opts), showError(err, ns), showInfo(text), files() (the room's
 * courseware list)}.
 */
export function createBoard(ctx) {
  const { room } = ctx;
  const board = room.board;
  const $ = (id) => document.getElementById(id);
  const view = $("board-viewport");
  const sheet = $("board-page");
  const img = $("board-image");
  const base = $("board-canvas");
  const live = $("board-live");
  const state = {
    tool: "pen",
    color: COLORS[1],
    widthIx: 1,
    zoom: 1,
    aspect: BLANK_ASPECT,
    imageUrl: "",
    stroke: null, // this user's freehand stroke in progress: {stroke, points}
    drag: null, // a line/arrow/rectangle/ellipse being dragged: {className, x1, y1, x2, y2}
    erasing: null, // the shape ids erased during this drag
    pointer: null, // the pointerId drawing now
    lasers: new Map(), // fromID -> {x, y, ts}
    mayDraw: null,
    rendered: { key: "", count: 0, at: 0 },
    lastSeq: 0, // the highest seq drawn on the base canvas
    renders: [], // the last few renders {key, count, at} (the late-joiner benchmark reads them)
  };
  const api = { state };
  let baseQueued = false;
  let baseDirty = false;
  let liveQueued = false;

  // ---- drawing shapes (shapes.js draws one) --------------------------------------------------

  function context(canvas) {
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    return g;
  }

  function renderBase() {
    baseDirty = false;
    const g = context(base);
    const key = board.currentPage().key;
    const shapes = board.getShapes(key);
    for (const s of shapes) drawShape(g, base.width, base.height, s);
    state.lastSeq = shapes.length ? shapes[shapes.length - 1].seq : 0;
    noteRender(key, shapes.length);
  }

  /**
   * A new shape on top of the others: drawn onto the base canvas as it is, without redrawing
   * the page (thousands of shapes on a long class's page). False when a full redraw is needed.
   */
  function appendShape({ page, shape, replaced }) {
    const key = board.currentPage().key;
    if (page !== key) return true; // another page: nothing on screen changes
    if (replaced || baseDirty || state.rendered.key !== key || shape.seq <= state.lastSeq) return false;
    drawShape(base.getContext("2d"), base.width, base.height, shape);
    state.lastSeq = shape.seq;
    noteRender(key, state.rendered.count + 1);
    return true;
  }

  function noteRender(key, count) {
    state.rendered = { key, count, at: performance.now() };
    state.renders.push(state.rendered);
    if (state.renders.length > 20) state.renders.shift();
    sheet.dataset.shapes = String(count);
    sheet.dataset.page = key;
  }

  function renderLive() {
    liveQueued = false;
    const g = context(live);
    const { width: w, height: h } = live;
    const key = board.currentPage().key;
    for (const s of board.getDrawing(key)) drawShape(g, w, h, s);
    if (state.stroke) drawShape(g, w, h, { className: state.stroke.className, data: { ...state.stroke.style, points: state.stroke.points } });
    if (state.drag) drawShape(g, w, h, { className: state.drag.className, data: { ...state.drag, color: state.color, width: WIDTHS[state.widthIx] } });
    const now = Date.now();
    for (const [who, l] of state.lasers) {
      if (l.key !== key || now - l.ts > LASER_MS) {
        state.lasers.delete(who);
        continue;
      }
      g.save();
      g.fillStyle = "rgba(229, 57, 53, 0.85)";
      g.shadowColor = "#ff5252";
      g.shadowBlur = 12;
      g.beginPath();
      g.arc(l.x * w, l.y * h, Math.max(5, w * 0.008), 0, Math.PI * 2);
      g.fill();
      g.restore();
    }
    if (state.lasers.size) setTimeout(queueLive, 500);
  }

  function queueBase() {
    baseDirty = true;
    if (baseQueued) return;
    baseQueued = true;
    requestAnimationFrame(() => {
      baseQueued = false;
      if (baseDirty) renderBase(); // unless a layout drew it meanwhile
    });
  }

  function queueLive() {
    if (liveQueued) return;
    liveQueued = true;
    requestAnimationFrame(renderLive);
  }

  // ---- the page: image, size, zoom -------------------------------------------------------

  function fileOf(fileid) {
    return ctx.files().find((f) => Number(f.fileid) === Number(fileid));
  }

  /** The page's image URL ("" for the blank board or a file without page images). */
  function pageImage(page) {
    if (!page.fileid) return "";
    return pageImageOf(fileOf(page.fileid), page.currpage);
  }

  /** Sizes the page to the viewport and zoom; redraws when the size changed (or `force`). */
  function layout(force = false) {
    const avail = view.clientWidth || 320;
    const maxH = Math.max(240, window.innerHeight * 0.72);
    const fit = Math.min(avail, maxH * state.aspect);
    const w = Math.round(fit * state.zoom);
    const h = Math.round(w / state.aspect);
    sheet.style.width = `${w}px`;
    sheet.style.height = `${h}px`;
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    let changed = force;
    for (const c of [base, live]) {
      const cw = Math.round(w * dpr);
      const ch = Math.round(h * dpr);
      if (c.width !== cw || c.height !== ch) {
        c.width = cw;
        c.height = ch;
        changed = true;
      }
    }
    if (changed) {
      renderBase();
      renderLive();
    }
  }

  function showPageImage() {
    const page = board.currentPage();
    const url = pageImage(page);
    const f = page.fileid ? fileOf(page.fileid) : null;
    // A file without page images says so (one not in the list yet is just a blank page until it is).
    $("board-missing").hidden = !(f && !url);
    if (f && !url) $("board-missing").textContent = ctx.t()("board.noImages", { name: f.filename || f.fileid });
    if (url === state.imageUrl) return;
    state.imageUrl = url;
    if (!url) {
      img.hidden = true;
      img.removeAttribute("src");
      state.aspect = BLANK_ASPECT;
      layout();
      return;
    }
    img.hidden = false;
    img.alt = ctx.t()("board.pageAlt", { name: (f && f.filename) || "", n: page.currpage });
    img.onload = () => {
      if (img.naturalWidth && img.naturalHeight) state.aspect = img.naturalWidth / img.naturalHeight;
      layout();
    };
    img.src = url;
  }

  function setZoom(z) {
    state.zoom = z;
    layout();
    renderNav();
  }

  // ---- pointer input -------------------------------------------------------------------------

  function at(ev) {
    const r = live.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height))];
  }

  const fail = (err) => ctx.showError(err, "board");

  function refused() {
    ctx.showNotice("warn", 4108, "board");
  }

  function onDown(ev) {
    if (ev.button !== undefined && ev.button > 0) return;
    if (state.pointer !== null) return; // one finger (or pen, or mouse) draws at a time
    if (!board.canDraw()) {
      if (room.getMySelf() && room.getMySelf().properties.role === 2) refused();
      return;
    }
    ev.preventDefault();
    live.setPointerCapture(ev.pointerId);
    state.pointer = ev.pointerId;
    const [x, y] = at(ev);
    const tool = state.tool;
    if (tool === "pen" || tool === "highlighter") {
      const className = tool === "pen" ? "Pen" : "Highlighter";
      const style = { color: state.color, width: WIDTHS[state.widthIx] * (tool === "highlighter" ? 3 : 1) };
      state.stroke = { stroke: board.beginStroke(className, style), className, style, points: [] };
      addPoint(x, y);
    } else if (CLASS_OF[tool]) {
      state.drag = { className: CLASS_OF[tool], x1: x, y1: y, x2: x, y2: y };
    } else if (tool === "eraser") {
      state.erasing = new Set();
      eraseAt(x, y);
    } else if (tool === "laser") {
      pointAt(x, y);
    } else if (tool === "text") {
      openTextBox(x, y);
    }
    queueLive();
  }

  function addPoint(x, y) {
    const s = state.stroke;
    s.stroke.add(x, y);
    s.points.push(x, y);
  }

  function onMove(ev) {
    if (state.tool === "laser" && board.canDraw() && (ev.pointerType === "mouse" || ev.buttons)) {
      const [x, y] = at(ev);
      pointAt(x, y);
      return;
    }
    if (ev.pointerId !== state.pointer || (!state.stroke && !state.drag && !state.erasing)) return;
    const events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) {
      const [x, y] = at(e);
      if (state.stroke) addPoint(x, y);
      else if (state.drag) Object.assign(state.drag, { x2: x, y2: y });
      else eraseAt(x, y);
    }
    queueLive();
  }

  function onUp(ev) {
    if (ev.pointerId !== state.pointer) return;
    state.pointer = null;
    if (state.stroke) {
      const { stroke } = state.stroke;
      stroke.end().then(() => {
        if (state.stroke && state.stroke.stroke === stroke) state.stroke = null;
        queueLive();
      }, (err) => {
        state.stroke = null;
        queueLive();
        fail(err);
      });
    } else if (state.drag) {
      const d = state.drag;
      state.drag = null;
      if (Math.abs(d.x2 - d.x1) + Math.abs(d.y2 - d.y1) > 0.004) {
        const { className, ...coords } = d;
        board.draw(className, { ...coords, color: state.color, width: WIDTHS[state.widthIx] }).catch(fail);
      }
    } else if (state.erasing) {
      state.erasing = null;
    } else if (state.tool === "laser" && board.canDraw()) {
      hideLaser();
    }
    queueLive();
  }

  function onLeave(ev) {
    if (state.tool === "laser" && board.canDraw() && ev.pointerType === "mouse") hideLaser();
  }

  /** The own laser dot: sent to the others, and drawn here too (the cursor is hidden). */
  function pointAt(x, y) {
    board.laser(x, y, true);
    state.lasers.set("", { x, y, key: board.currentPage().key, ts: Date.now() });
    queueLive();
  }

  function hideLaser() {
    board.laser(0, 0, false);
    state.lasers.delete("");
    queueLive();
  }

  /** The topmost shape under (x, y) that this user may erase. */
  function eraseAt(x, y) {
    const key = board.currentPage().key;
    const me = room.getMySelf().id;
    const shapes = board.getShapes(key);
    const aspect = state.aspect;
    for (let i = shapes.length - 1; i >= 0; i--) {
      const s = shapes[i];
      if (state.erasing.has(s.shapeId) || (!board.isPresenter() && s.fromID !== me)) continue;
      if (!hits(s, x, y, aspect)) continue;
      state.erasing.add(s.shapeId);
      board.erase(s.shapeId, key).catch(fail);
      return;
    }
  }

  // ---- text ------------------------------------------------------------------------------------

  function openTextBox(x, y) {
    closeTextBox();
    const input = el("input", { id: "board-text", class: "board-text", maxlength: 500, "aria-label": ctx.t()("board.textLabel") });
    input.style.left = `${x * 100}%`;
    input.style.top = `${y * 100}%`;
    input.style.color = state.color;
    const size = TEXT_SIZES[state.widthIx];
    input.style.fontSize = `${Math.max(12, size * sheet.clientWidth)}px`;
    let done = false;
    const commit = () => {
      if (done) return;
      done = true;
      const text = input.value.trim();
      input.remove();
      if (text) board.draw("Text", { x, y, text, color: state.color, size }).catch(fail);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) commit(); // not the Enter that picks a Chinese word
      if (e.key === "Escape") {
        done = true;
        input.remove();
      }
    });
    input.addEventListener("blur", commit);
    sheet.append(input);
    setTimeout(() => input.focus(), 0);
  }

  function closeTextBox() {
    const old = $("board-text");
    if (old) old.blur();
  }

  // ---- toolbar, status and navigation --------------------------------------------------------

  function toolButton(tool) {
    const label = ctx.t()(`board.tool.${tool}`);
    return el("button", {
      type: "button",
      class: "tool",
      "data-tool": tool,
      "aria-pressed": String(state.tool === tool),
      "aria-label": label,
      title: label,
      text: ICONS[tool],
      onclick: () => {
        closeTextBox();
        state.tool = tool;
        live.dataset.tool = tool;
        renderTools();
      },
    });
  }

  function renderTools() {
    const t = ctx.t();
    const box = $("board-tools");
    const may = board.canDraw();
    live.classList.toggle("drawing", may);
    live.dataset.tool = state.tool;
    if (!may) {
      box.replaceChildren();
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const tools = el("div", { class: "tool-row", role: "group", "aria-label": t("board.tools") }, ...TOOLS.map(toolButton));
    const colors = el("div", { class: "tool-row", role: "group", "aria-label": t("board.color") });
    for (const c of COLORS) {
      const swatch = el("button", {
          type: "button",
          class: "swatch",
          "data-color": c,
          "aria-pressed": String(state.color === c),
          "aria-label": `${t("board.color")} ${t(`board.colors.${c}`)}`,
          title: t(`board.colors.${c}`),
          onclick: () => {
            state.color = c;
            renderTools();
          },
        });
      swatch.style.setProperty("--swatch", c); // a property, not a style attribute: the page's CSP allows it
      colors.append(swatch);
    }
    const width = el("select", { id: "board-width", "aria-label": t("board.width") });
    WIDTHS.forEach((w, i) => width.append(el("option", { value: String(i), text: t(`board.widths.${i}`), selected: i === state.widthIx })));
    width.addEventListener("change", () => (state.widthIx = Number(width.value)));
    const key = board.currentPage().key;
    const acts = [
      ctx.button("board.undo", () => board.undo(), { action: "board-undo", disabled: !board.canUndo(key) }),
      ctx.button("board.redo", () => board.redo(), { action: "board-redo", disabled: !board.canRedo(key) }),
    ];
    if (board.isPresenter()) acts.push(ctx.button("board.clear", () => board.clear(), { action: "board-clear", class: "danger" }));
    colors.append(width);
    box.replaceChildren(tools, colors, el("div", { class: "tool-row", role: "group", "aria-label": t("board.edit") }, ...acts));
  }

  function renderStatus() {
    const t = ctx.t();
    const me = room.getMySelf();
    if (!me) return;
    const role = me.properties.role;
    const may = board.canDraw();
    const status = $("board-status");
    status.hidden = role !== 2;
    status.dataset.candraw = may ? "1" : "0";
    status.textContent = may ? t("board.youMayDraw") : t("board.noDraw");
    if (state.mayDraw !== null && state.mayDraw !== may && role === 2) ctx.showInfo(may ? t("board.nowMayDraw") : t("board.nowNoDraw"));
    state.mayDraw = may;
  }

  function renderNav() {
    const t = ctx.t();
    const page = board.currentPage();
    const presenter = board.isPresenter();
    const f = page.fileid ? fileOf(page.fileid) : null;
    const name = page.fileid ? (f && f.filename) || page.filename || String(page.fileid) : t("board.blank");
    $("board-title").textContent = name;
    const nav = $("board-nav");
    const items = [];
    const go = (n) => board.showPage(page.fileid, n, { pagenum: page.pagenum, filename: page.filename || (f && f.filename) || "", filetype: page.filetype || (f && f.filetype) || "" });
    if (presenter) items.push(ctx.button("board.prev", () => go(page.currpage - 1), { action: "page-prev", disabled: page.currpage <= 1 }));
    items.push(el("span", { class: "page-no", id: "board-pageno", "aria-live": "polite", text: t("board.pageOf", { n: page.currpage, total: page.pagenum }) }));
    if (presenter) {
      items.push(ctx.button("board.next", () => go(page.currpage + 1), { action: "page-next", disabled: page.currpage >= page.pagenum }));
      if (!page.fileid) {
        items.push(
          ctx.button("board.addPage", async () => {
            const n = board.blankPages + 1;
            await board.setBlankPageCount(n);
            await board.showPage(0, n, { pagenum: n });
          }, { action: "page-add", disabled: board.blankPages >= 1000 }),
        );
      } else {
        items.push(ctx.button("board.toBlank", () => board.showPage(0, 1, { pagenum: board.blankPages }), { action: "page-blank" }));
      }
    }
    const zi = ZOOMS.indexOf(state.zoom);
    items.push(
      ctx.button("board.zoomOut", () => setZoom(ZOOMS[Math.max(0, zi - 1)]), { action: "zoom-out", disabled: zi <= 0 }),
      ctx.button("board.fit", () => setZoom(1), { action: "zoom-fit", pressed: state.zoom === 1 }),
      ctx.button("board.zoomIn", () => setZoom(ZOOMS[Math.min(ZOOMS.length - 1, zi + 1)]), { action: "zoom-in", disabled: zi >= ZOOMS.length - 1 }),
      el("span", { class: "muted zoom-no", text: `${Math.round(state.zoom * 100)}%` }),
    );
    nav.replaceChildren(...items);
    renderThumbs(page, f, presenter, go);
  }

  function renderThumbs(page, f, presenter, go) {
    const box = $("board-thumbs");
    const t = ctx.t();
    const thumbs = f && Array.isArray(f.thumbnails) ? f.thumbnails : [];
    const count = page.fileid ? thumbs.length : page.pagenum;
    if (!presenter || count < 2) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    const want = `${page.key}:${count}:${t.lang}`;
    if (box.dataset.key === want) return;
    box.dataset.key = want;
    const items = [];
    for (let n = 1; n <= Math.min(count, 1000); n++) {
      const label = t("board.goPage", { n });
      const b = el("button", { type: "button", class: "thumb", "data-page": String(n), "aria-label": label, title: label, "aria-current": n === page.currpage ? "page" : undefined, onclick: () => go(n).catch(fail) });
      if (page.fileid) b.append(el("img", { src: thumbs[n - 1], alt: "", loading: "lazy" }));
      b.append(el("span", { text: String(n) }));
      items.push(b);
    }
    box.replaceChildren(...items);
  }

  // ---- events ----------------------------------------------------------------------------------

  live.addEventListener("pointerdown", onDown);
  live.addEventListener("pointermove", onMove);
  live.addEventListener("pointerup", onUp);
  live.addEventListener("pointercancel", onUp);
  live.addEventListener("lostpointercapture", onUp);
  live.addEventListener("pointerleave", onLeave);
  new ResizeObserver(() => {
    if (view.clientWidth !== state.viewWidth) {
      state.viewWidth = view.clientWidth;
      layout();
    }
  }).observe(view);
  window.addEventListener("resize", () => layout()); // the page's height follows the window's
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || /INPUT|TEXTAREA|SELECT/.test(document.activeElement && document.activeElement.tagName)) return;
    if (!board.canDraw()) return;
    const k = e.key.toLowerCase();
    if (k === "z" && !e.shiftKey) board.undo().catch(fail);
    else if (k === "y" || (k === "z" && e.shiftKey)) board.redo().catch(fail);
    else return;
    e.preventDefault();
  });

  room.on("board-changed", (ev) => {
    if (ev.reason === "page" || ev.reason === "reset") {
      closeTextBox();
      showPageImage();
      renderNav();
      if (board.canDraw()) renderTools(); // undo and redo are per page
    }
    if (ev.reason !== "shape") queueBase(); // shapes: board-shape-added / -removed below
    queueLive();
  });
  room.on("board-shape-added", (ev) => appendShape(ev) || queueBase());
  room.on("board-shape-removed", (ev) => ev.page === board.currentPage().key && queueBase());
  room.on("board-drawing", queueLive);
  room.on("board-history", () => board.canDraw() && renderTools());
  room.on("board-laser", (ev) => {
    if (ev.visible) state.lasers.set(ev.fromID, { x: ev.x, y: ev.y, key: ev.page, ts: Date.now() });
    else state.lasers.delete(ev.fromID);
    queueLive();
  });
  room.on("board-error", (ev) => fail(ev.error));
  room.on("room-userproperty-changed", (ev) => {
    const me = room.getMySelf();
    if (me && ev.user && ev.user.id === me.id && "candraw" in (ev.message || {})) {
      renderTools();
      renderStatus();
    }
  });

  /** Everything again (joined, reconnected, language changed, the file list changed). */
  api.render = () => {
    if (!room.getMySelf()) return;
    showPageImage();
    renderTools();
    renderStatus();
    renderNav();
    layout(true);
  };
  /** Called when the page joined: the first status is not announced as a change. */
  api.joined = () => {
    state.mayDraw = null;
    api.render();
  };
  return api;
}

/** Is (x, y) (page fractions) on shape `s`? A few pixels' slack, for fingers too. */
function hits(s, x, y, aspect) {
  const d = s.data || {};
  const slack = 0.012 + (Number(d.width) || 0) / 2;
  // Distances in units of the page width: y scaled by the page's height / width.
  const k = 1 / aspect;
  const near = (ax, ay, bx, by) => segDist(x, y * k, ax, ay * k, bx, by * k) <= slack;
  switch (s.className) {
    case "Pen":
    case "Highlighter": {
      const p = d.points || [];
      for (let i = 0; i + 3 < p.length; i += 2) if (near(p[i], p[i + 1], p[i + 2], p[i + 3])) return true;
      return p.length >= 2 && near(p[0], p[1], p[0], p[1]);
    }
    case "Line":
    case "Arrow":
      return near(d.x1, d.y1, d.x2, d.y2);
    case "Rectangle":
    case "Ellipse":
      return x >= Math.min(d.x1, d.x2) - slack && x <= Math.max(d.x1, d.x2) + slack && y >= Math.min(d.y1, d.y2) - slack && y <= Math.max(d.y1, d.y2) + slack;
    case "Text": {
      const lines = String(d.text || "").split("\n");
      const size = Number(d.size) || 0.03;
      const w = Math.max(...lines.map((l) => l.length)) * size * 0.6;
      return x >= d.x - slack && x <= d.x + w + slack && y * k >= d.y * k - slack && y * k <= d.y * k + lines.length * size * 1.2 + slack;
    }
    default:
      return false;
  }
}

function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len = dx * dx + dy * dy;
  const u = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  return Math.hypot(px - (ax + u * dx), py - (ay + u * dy));
}

// The classroom tools on the page (docs/tools.md, docs/classroom.md): the teacher's controls
// in the toolbar (answer card, buzzer, countdown timer, random pick) and trophies from a
// student's tile or the participant list; every viewer's panel above the board. The state
// lives in the SDK (room.tools); this file only draws it and turns clicks into it, so a
// reload or a late joiner sees the same tools. Students answer and buzz; live viewers see
// results; inspectors see everything and act on nothing.

import { el } from "/classroom/dom.js";

const LETTERS = "ABCDEFGH";
const MIN_OPTIONS = 2;
const MAX_OPTIONS = 8;
const TICK_MS = 250;

const mmss = (ms) => {
  const s = Math.ceil(Math.max(0, ms) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const letters = (ix) => ix.map((i) => LETTERS[i] || "?").join(", ");

/**
 * `ctx`: {room, t() (the current translator), button(key, fn, opts), showError(err, ns),
 * showInfo(text), refresh() (re-renders the toolbar and lists), saved(), save(patch)}.
 */
export function createTools(ctx) {
  const { room } = ctx;
  const tools = room.tools;
  const $ = (id) => document.getElementById(id);
  const ui = {
    composing: false, // the teacher's "new card" form is open
    timerOpen: false, // the teacher's timer controls are open without a timer yet
    chosen: new Map(), // qid -> Set of the options a student has ticked (not yet sent)
    sending: false,
    pressing: false,
  };
  const api = { ui };

  const role = () => {
    const me = room.getMySelf();
    return me ? me.properties.role : null;
  };
  const isSuper = () => role() === 0 || role() === 1;
  const isStudent = () => role() === 2;
  const nameOf = (id) => {
    const u = room.getUser(id);
    return (u && u.properties.nickname) || id || "";
  };
  const fail = (err) => ctx.showError(err, "tools");

  /** Replaces a card's contents, keeping the keyboard focus on the same control. */
  function swap(box, kids) {
    const had = box.contains(document.activeElement) ? document.activeElement : null;
    const action = had && had.dataset.action;
    const li = had && had.closest("li[data-index]");
    box.replaceChildren(...kids);
    if (!action) return;
    const sel = `${li ? `li[data-index="${li.dataset.index}"] ` : ""}[data-action="${action}"]`;
    const again = box.querySelector(sel);
    if (again) again.focus();
  }
  const act = (fn) => () => Promise.resolve(fn()).catch(fail);

  // ---- the toolbar (teacher, assistant) -----------------------------------------------------

  /** The toolbar's buttons for the tools (none but for the teacher and assistants). */
  function controls() {
    if (!isSuper()) return [];
    const b = tools.buzzerState();
    return [
      ctx.button("tools.quiz", () => toggleCompose(), { action: "quiz-new", pressed: ui.composing }),
      ctx.button(b.armed ? "tools.buzzerAgain" : "tools.buzzer", act(() => tools.arm()), { action: "buzzer-arm" }),
      ctx.button("tools.timer", () => toggleTimer(), { action: "timer-open", pressed: ui.timerOpen || tools.timerState().state !== "none" }),
      ctx.button("tools.dial", act(() => tools.dial()), { action: "dial" }),
    ];
  }

  function toggleCompose() {
    ui.composing = !ui.composing;
    renderCompose();
    ctx.refresh();
    if (ui.composing) $("quiz-compose").querySelector("input").focus();
  }

  function toggleTimer() {
    if (tools.timerState().state !== "none") {
      ui.timerOpen = false;
      return tools.timerRemove().then(render, fail);
    }
    ui.timerOpen = !ui.timerOpen;
    render();
    ctx.refresh();
    if (ui.timerOpen) $("timer-min").focus();
  }

  // ---- trophies --------------------------------------------------------------------------------

  function giveTrophy(userId) {
    return tools.sendGift([userId]).catch(fail);
  }

  /** A "give a trophy" button for a student's row or tile (teacher, assistant), or null. */
  function trophyButton(u) {
    if (!isSuper() || u.properties.role !== 2) return null;
    const b = ctx.button("tools.give", () => giveTrophy(u.id), { action: "trophy", class: "trophy-give" });
    b.textContent = `★ ${ctx.t()("tools.give")}`;
    b.setAttribute("aria-label", `${ctx.t()("tools.give")}: ${u.properties.nickname || u.id}`);
    return b;
  }

  /** The trophy count of a user as a short label ("★ 3"), or "" when none. */
  function trophyLabel(u) {
    const n = Number(u.properties.giftnumber) || 0;
    return n > 0 ? `★ ${n}` : "";
  }

  /** Puts the trophy count (and the give button) on a stage tile. */
  function decorateTile(tile, u) {
    let badge = tile.querySelector(".trophies");
    const n = Number(u.properties.giftnumber) || 0;
    if (n > 0) {
      if (!badge) {
        badge = el("span", { class: "trophies" });
        tile.append(badge);
      }
      badge.replaceChildren(el("span", { "aria-hidden": "true", text: `★ ${n}` }), el("span", { class: "visually-hidden", text: ctx.t()("tools.trophies", { n }) }));
      badge.dataset.count = String(n);
    } else if (badge) badge.remove();
    const give = tile.querySelector("button.trophy-give");
    if (give) give.remove();
    const b = trophyButton(u);
    if (b) tile.append(b);
  }

  // ---- the panel -----------------------------------------------------------------------------

  function render() {
    if (!room.getMySelf()) return;
    renderTimer();
    renderQuiz();
    renderBuzzer();
    renderPick();
    showArea();
  }

  /** The tools' area takes room only when one of its cards is showing. */
  function showArea() {
    const area = $("tools-area");
    area.hidden = [...area.querySelectorAll(":scope > .tool-card")].every((c) => c.hidden);
  }

  // ---- timer ---------------------------------------------------------------------------------

  function renderTimer() {
    const t = ctx.t();
    const box = $("tool-timer");
    const s = tools.timerState();
    box.hidden = s.state === "none" && !(isSuper() && ui.timerOpen);
    if (box.hidden) return;
    // Rebuilt only when its state changes: the teacher's typing survives other tools' events.
    const key = `${s.state}|${isSuper()}|${t.lang}|${s.duration_ms}`;
    if (box.dataset.key === key && $("timer-face")) {
      $("timer-face").textContent = mmss(s.state === "none" ? 0 : s.remaining_ms);
      return;
    }
    box.dataset.key = key;
    box.dataset.state = s.state;
    const face = el("p", { class: "timer-face", id: "timer-face", role: "timer", "aria-live": "off", text: mmss(s.state === "none" ? 0 : s.remaining_ms) });
    const note = el("p", { class: "timer-note", id: "timer-note", role: "status", text: s.state === "none" ? "" : t(`tools.timer.${s.state}`) });
    const head = el("h3", { text: t("tools.timer") });
    const kids = [head, face, note];
    if (isSuper()) {
      const row = el("div", { class: "tool-actions" });
      if (s.state === "none" || s.state === "stopped" || s.state === "ended") {
        const mins = el("input", { type: "number", id: "timer-min", min: "0", max: "1440", value: String(Math.floor((s.duration_ms || 60000) / 60000)), inputMode: "numeric" });
        const secs = el("input", { type: "number", id: "timer-sec", min: "0", max: "59", value: String(Math.floor((s.duration_ms || 60000) / 1000) % 60), inputMode: "numeric" });
        row.append(
          el("label", { for: "timer-min", text: t("tools.timer.min") }),
          mins,
          el("label", { for: "timer-sec", text: t("tools.timer.sec") }),
          secs,
          ctx.button("tools.timer.start", act(() => tools.timerStart((Number(mins.value) || 0) * 60 + (Number(secs.value) || 0))), { action: "timer-start", class: "primary" }),
        );
      }
      if (s.state === "running") row.append(ctx.button("tools.timer.pause", act(() => tools.timerPause()), { action: "timer-pause" }));
      if (s.state === "paused") row.append(ctx.button("tools.timer.resume", act(() => tools.timerResume()), { action: "timer-resume", class: "primary" }));
      if (s.state === "running" || s.state === "paused" || s.state === "ended") row.append(ctx.button("tools.timer.reset", act(() => tools.timerReset()), { action: "timer-reset" }));
      kids.push(row);
    }
    swap(box, kids);
  }

  /** Every quarter second: the timer's face and a card's time left, from the server's clock. */
  function tick() {
    const face = $("timer-face");
    if (face && !$("tool-timer").hidden) {
      const s = tools.timerState();
      face.textContent = mmss(s.state === "none" ? 0 : s.remaining_ms);
      if ($("tool-timer").dataset.state !== s.state) renderTimer();
    }
    const left = $("quiz-left");
    if (left) {
      const card = tools.currentCard();
      if (card && card.closesAt) {
        const ms = card.closesAt - tools.now();
        left.textContent = ms > 0 ? ctx.t()("tools.quiz.left", { time: mmss(ms) }) : ctx.t()("tools.quiz.closed");
        if (ms <= 0 && left.dataset.open === "1") renderQuiz();
      }
    }
  }
  setInterval(tick, TICK_MS);

  // ---- answer card ---------------------------------------------------------------------------

  function renderCompose() {
    const form = $("quiz-compose");
    form.hidden = !(isSuper() && ui.composing);
    showArea();
    if (form.hidden) {
      form.replaceChildren();
      return;
    }
    if (form.childElementCount) return; // open: keep what the teacher is typing
    const t = ctx.t();
    const rows = el("div", { class: "quiz-options", id: "quiz-options" });
    const addRow = () => {
      const i = rows.childElementCount;
      if (i >= MAX_OPTIONS) return;
      const right = el("input", { type: "checkbox", class: "opt-right", "aria-label": t("tools.quiz.rightOf", { l: LETTERS[i] }) });
      const label = el("input", { class: "opt-label", maxLength: 64, value: LETTERS[i], "aria-label": t("tools.quiz.optionOf", { l: LETTERS[i] }) });
      rows.append(el("div", { class: "opt-row" }, el("span", { class: "letter", "aria-hidden": "true", text: LETTERS[i] }), label, el("label", { class: "right-tick" }, right, el("span", { text: t("tools.quiz.right") }))));
    };
    for (let i = 0; i < 4; i++) addRow();
    const kind = el("fieldset", { class: "quiz-kind" });
    kind.append(
      el("legend", { text: t("tools.quiz.kind") }),
      el("label", {}, el("input", { type: "radio", name: "quiz-kind", value: "single", checked: true }), el("span", { text: t("tools.quiz.single") })),
      el("label", {}, el("input", { type: "radio", name: "quiz-kind", value: "multiple" }), el("span", { text: t("tools.quiz.multiple") })),
    );
    const status = el("p", { class: "form-status", role: "status", "aria-live": "polite" });
    const more = ctx.button("tools.quiz.addOption", () => addRow(), { action: "quiz-add-option" });
    const less = ctx.button("tools.quiz.removeOption", () => rows.childElementCount > MIN_OPTIONS && rows.lastElementChild.remove(), { action: "quiz-remove-option" });
    form.replaceChildren(
      el("h3", { text: t("tools.quiz.new") }),
      el("label", { for: "quiz-title", text: t("tools.quiz.title") }),
      el("input", { id: "quiz-title", maxLength: 512 }),
      kind,
      el("p", { class: "muted", text: t("tools.quiz.optionsHelp") }),
      rows,
      el("div", { class: "tool-actions" }, more, less),
      el("label", { for: "quiz-limit", text: t("tools.quiz.limit") }),
      el("input", { id: "quiz-limit", type: "number", min: "1", max: "3600", inputMode: "numeric" }),
      el("div", { class: "tool-actions" }, el("button", { type: "submit", class: "primary", "data-action": "quiz-ask", text: t("tools.quiz.ask") }), ctx.button("tools.cancel", () => toggleCompose(), { action: "quiz-cancel" })),
      status,
    );
  }

  async function submitCompose(ev) {
    ev.preventDefault();
    const t = ctx.t();
    const form = $("quiz-compose");
    const status = form.querySelector(".form-status");
    const options = [...form.querySelectorAll(".opt-label")].map((i, ix) => i.value.trim() || LETTERS[ix]);
    const right = [...form.querySelectorAll(".opt-right")].map((c, ix) => (c.checked ? ix : -1)).filter((ix) => ix >= 0);
    const multiple = form.querySelector('input[name="quiz-kind"]:checked').value === "multiple";
    const limit = Number($("quiz-limit").value) || 0;
    if (!multiple && right.length > 1) {
      status.textContent = t("tools.quiz.oneRight");
      return;
    }
    if (limit && (limit < 1 || limit > 3600)) {
      status.textContent = t("tools.quiz.badLimit");
      return;
    }
    try {
      await tools.ask({ title: $("quiz-title").value.trim(), options, multiple, right, limit_s: limit || undefined });
      ui.composing = false;
      renderCompose();
      ctx.refresh();
      render();
    } catch (err) {
      fail(err);
    }
  }
  $("quiz-compose").addEventListener("submit", submitCompose);

  function chosenFor(card) {
    if (!ui.chosen.has(card.qid)) ui.chosen.set(card.qid, new Set(tools.myAnswer(card.qid) || []));
    return ui.chosen.get(card.qid);
  }

  function renderQuiz() {
    const t = ctx.t();
    const box = $("tool-quiz");
    const card = tools.currentCard();
    box.hidden = !card;
    if (!card) return;
    const q = card.question;
    const options = Array.isArray(q.options) ? q.options : [];
    const result = card.result;
    const right = new Set((result && result.right) || (isSuper() && (card.right || q.right)) || []);
    const counts = card.counts || [];
    const answered = card.answered || 0;
    const mine = tools.myAnswer(card.qid);
    const studentOpen = isStudent() && card.open;
    box.dataset.qid = card.qid;
    box.dataset.open = card.open ? "1" : "0";
    box.dataset.result = result ? "1" : "0";
    const kids = [el("h3", { text: t("tools.quiz") })];
    if (q.title) kids.push(el("p", { class: "quiz-title", text: q.title }));
    const state = card.open ? t(q.multiple ? "tools.quiz.openMultiple" : "tools.quiz.openSingle") : result ? t("tools.quiz.result") : t("tools.quiz.closed");
    kids.push(el("p", { class: "muted quiz-state", text: state }));
    if (card.open && card.closesAt) kids.push(el("p", { class: "quiz-left", id: "quiz-left", "data-open": "1", role: "timer", "aria-live": "off" }));
    const showCounts = Boolean(result) || (card.counts && !isStudent());
    const list = el("ul", { class: "quiz-choices", role: studentOpen ? "group" : undefined, "aria-label": t("tools.quiz.options") });
    const chosen = studentOpen ? chosenFor(card) : null;
    options.forEach((label, i) => {
      const li = el("li", { class: "choice", "data-index": String(i) });
      if (right.has(i)) li.dataset.right = "1";
      if (mine && mine.includes(i)) li.dataset.mine = "1";
      const text = `${LETTERS[i]}. ${label}`;
      if (studentOpen) {
        const pick = el("button", {
          type: "button",
          class: "choice-button",
          "data-action": "quiz-choose",
          "aria-pressed": String(chosen.has(i)),
          text,
          onclick: () => {
            if (!q.multiple) chosen.clear();
            if (chosen.has(i)) chosen.delete(i);
            else chosen.add(i);
            renderQuiz();
          },
        });
        li.append(pick);
      } else {
        li.append(el("span", { class: "choice-label", text: `${right.has(i) ? "✓ " : ""}${text}` }));
      }
      if (showCounts) {
        const n = Number(counts[i]) || 0;
        li.append(el("meter", { min: 0, max: Math.max(1, answered), value: n, "aria-hidden": "true" }), el("span", { class: "count", "data-count": String(n), text: t("tools.quiz.count", { n }) }));
      }
      list.append(li);
    });
    kids.push(list);
    if (showCounts) kids.push(el("p", { class: "quiz-answered", "data-answered": String(answered), text: t("tools.quiz.answered", { n: answered }) }));
    if (studentOpen) {
      const send = ctx.button(mine ? "tools.quiz.change" : "tools.quiz.send", () => sendAnswer(card.qid), { action: "quiz-send", class: "primary", disabled: chosen.size === 0 || ui.sending });
      kids.push(el("div", { class: "tool-actions" }, send));
      kids.push(el("p", { class: "quiz-mine", role: "status", text: mine ? t("tools.quiz.sent", { a: letters(mine) }) : t("tools.quiz.pick") }));
    } else if (isStudent() || (result && mine)) {
      kids.push(el("p", { class: "quiz-mine", text: mine ? t("tools.quiz.yours", { a: letters(mine) }) : t("tools.quiz.noAnswer") }));
    }
    if (result && isStudent()) {
      const ok = tools.isCorrect(card.qid);
      if (ok !== null) {
        kids.push(el("p", { class: `quiz-verdict ${ok ? "right" : "wrong"}`, "data-verdict": ok ? "right" : "wrong", role: "status", text: ok ? t("tools.quiz.isRight") : t("tools.quiz.isWrong", { a: letters([...right].sort()) }) }));
      } else if (right.size) kids.push(el("p", { class: "quiz-verdict", text: t("tools.quiz.rightWas", { a: letters([...right].sort()) }) }));
    } else if (result && right.size && !isSuper()) kids.push(el("p", { class: "quiz-verdict", text: t("tools.quiz.rightWas", { a: letters([...right].sort()) }) }));
    if (!card.open && !result && !isSuper()) kids.push(el("p", { class: "muted", text: t("tools.quiz.waiting") }));
    if (isSuper()) {
      const row = el("div", { class: "tool-actions" });
      if (!result) row.append(ctx.button("tools.quiz.publish", act(() => tools.publishResult(card.qid)), { action: "quiz-publish", class: "primary" }));
      row.append(ctx.button("tools.quiz.remove", act(() => tools.removeCard(card.qid)), { action: "quiz-remove" }));
      kids.push(row);
    }
    swap(box, kids);
    tick();
  }

  async function sendAnswer(qid) {
    const chosen = ui.chosen.get(qid);
    if (!chosen || !chosen.size) return;
    ui.sending = true;
    try {
      await tools.answer(qid, [...chosen].sort((a, b) => a - b));
    } catch (err) {
      fail(err);
    } finally {
      ui.sending = false;
      renderQuiz();
    }
  }

  // Answers survive a reload of the tab (the server keeps them, but tells nobody but the teacher).
  room.on("tools-answered", (ev) => {
    const s = ctx.saved() || {};
    const answers = { ...(s.answers || {}) };
    answers[ev.qid] = ev.answer;
    for (const qid of Object.keys(answers)) if (!tools.card(qid)) delete answers[qid];
    ctx.save({ answers });
  });

  // ---- buzzer --------------------------------------------------------------------------------

  function renderBuzzer() {
    const t = ctx.t();
    const box = $("tool-buzzer");
    const b = tools.buzzerState();
    box.hidden = !b.armed;
    if (!b.armed) return;
    const me = room.getMySelf();
    box.dataset.round = String(b.round);
    box.dataset.winner = b.winnerId || "";
    const kids = [el("h3", { text: t("tools.buzzer") })];
    let text;
    if (b.winnerId) text = b.winnerId === me.id ? t("tools.buzzer.youWon") : t("tools.buzzer.won", { name: nameOf(b.winnerId) });
    else text = isStudent() ? t("tools.buzzer.go") : t("tools.buzzer.armed");
    kids.push(el("p", { class: `buzzer-state${b.winnerId ? " won" : ""}`, id: "buzzer-state", role: "status", text }));
    if (isStudent() && !b.winnerId) {
      kids.push(el("button", { type: "button", class: "buzz primary", "data-action": "buzz", text: t("tools.buzzer.press"), disabled: ui.pressing, onclick: press }));
    }
    if (isSuper()) {
      kids.push(
        el(
          "div",
          { class: "tool-actions" },
          ctx.button("tools.buzzerAgain", act(() => tools.arm()), { action: "buzzer-again" }),
          ctx.button("tools.buzzer.off", act(() => tools.disarm()), { action: "buzzer-off" }),
        ),
      );
    }
    swap(box, kids);
  }

  /** One press at a time; being second is news, not an error. */
  async function press() {
    if (ui.pressing) return;
    ui.pressing = true;
    renderBuzzer();
    try {
      await tools.press();
    } catch (err) {
      if (err.code === 2602) ctx.showInfo(ctx.t().code("tools", 2602));
      else fail(err);
    } finally {
      ui.pressing = false;
      renderBuzzer();
    }
  }

  // ---- random pick ---------------------------------------------------------------------------

  function renderPick() {
    const t = ctx.t();
    const box = $("tool-pick");
    const p = tools.lastPick();
    box.hidden = !p;
    if (!p) return;
    const me = room.getMySelf();
    box.dataset.userid = p.userId;
    const kids = [
      el("h3", { text: t("tools.dial") }),
      el("p", { class: "pick-name", id: "pick-name", text: p.userId === me.id ? t("tools.dial.you") : t("tools.dial.picked", { name: p.nickname || nameOf(p.userId) }) }),
    ];
    if (isSuper()) {
      kids.push(
        el(
          "div",
          { class: "tool-actions" },
          ctx.button("tools.dial.again", act(() => tools.dial()), { action: "dial-again" }),
          ctx.button("tools.dial.clear", act(() => room.delMsg({ name: "dial", id: "dial", toID: "__all" })), { action: "dial-clear" }),
        ),
      );
    }
    swap(box, kids);
  }

  // ---- announcements -------------------------------------------------------------------------

  room.on("tools-changed", () => {
    render();
    renderCompose();
  });
  room.on("tools-dial", (ev) => {
    const me = room.getMySelf();
    ctx.showInfo(me && ev.userId === me.id ? ctx.t()("tools.dial.you") : ctx.t()("tools.dial.picked", { name: ev.nickname || nameOf(ev.userId) }));
  });
  room.on("tools-gift", (ev) => {
    const t = ctx.t();
    const me = room.getMySelf();
    for (const id of ev.receivers || []) {
      const n = (ev.totals || {})[id] ?? tools.trophies(id);
      ctx.showInfo(me && id === me.id ? t("tools.gift.you", { n }) : t("tools.gift.got", { name: nameOf(id), n }));
    }
    ctx.refresh();
  });
  room.on("tools-winner", (ev) => {
    const me = room.getMySelf();
    if (!me || ev.userId === me.id) return;
    if (isStudent()) ctx.showInfo(ctx.t()("tools.buzzer.won", { name: nameOf(ev.userId) }));
  });
  room.on("tools-timer-ended", () => {
    renderTimer();
    ctx.showInfo(ctx.t()("tools.timer.ended"));
  });
  room.on("tools-result", (ev) => {
    ui.chosen.delete(ev.qid);
  });

  /** After joining (or rejoining): this tab's earlier answers, and the panel. */
  api.joined = () => {
    const s = ctx.saved() || {};
    for (const [qid, answer] of Object.entries(s.answers || {})) tools.rememberAnswer(qid, answer);
    ui.chosen.clear();
    render();
    renderCompose();
  };
  api.render = () => {
    render();
    if (ui.composing) {
      // The language changed: the form is rebuilt in it (what was typed is lost).
      $("quiz-compose").replaceChildren();
    }
    renderCompose();
  };
  api.controls = controls;
  api.trophyButton = trophyButton;
  api.trophyLabel = trophyLabel;
  api.decorateTile = decorateTile;
  return api;
}

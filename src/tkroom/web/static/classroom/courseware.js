// The room's courseware in the side panel: the list (ClientAPI getroomfile), and for the
// teacher uploading (ClientAPI uploadfile with the join ticket), the conversion's progress
// (getroomfile polled while a file converts), showing a file on the board and deleting it.
// Every change is announced with DocumentChange so the students' lists follow.

import { el } from "/classroom/dom.js";

const POLL_MS = 1500;
const POLL_FOR_MS = 30 * 60 * 1000; // a conversion the server still reports after this is left alone
const DONE = 1;
const FAILED = 2;

/** `ctx`: {room, t(), button(key, fn, opts), showError(err), showInfo(text), isSuper(), changed()}. */
export function createCourseware(ctx) {
  const { room } = ctx;
  const $ = (id) => document.getElementById(id);
  const api = { files: [] };
  let pollTimer = null;
  let pollSince = 0;
  const converting = new Set(); // fileids this page saw converting

  const statusOf = (f) => (typeof f.status === "number" ? f.status : DONE);

  async function load() {
    try {
      api.files = await room.getFileList();
    } catch (err) {
      api.files = [];
      if (err.code !== 4105) ctx.showError(err);
    }
    const busy = api.files.filter((f) => ![DONE, FAILED].includes(statusOf(f)));
    for (const f of api.files) {
      if (!converting.has(f.fileid) || statusOf(f) === 0 || statusOf(f) === 3) continue;
      converting.delete(f.fileid);
      // Ready (or failed): tell the students' pages to fetch the list again.
      if (ctx.isSuper()) room.board.documentChanged("add", f.fileid).catch(ctx.showError);
    }
    for (const f of busy) converting.add(f.fileid);
    render();
    ctx.changed();
    schedulePoll(busy.length > 0);
  }

  function schedulePoll(busy) {
    clearTimeout(pollTimer);
    pollTimer = null;
    if (!busy) {
      pollSince = 0;
      return;
    }
    if (!pollSince) pollSince = Date.now();
    if (Date.now() - pollSince > POLL_FOR_MS) return;
    pollTimer = setTimeout(load, POLL_MS);
  }

  function state(f) {
    const t = ctx.t();
    const s = statusOf(f);
    if (s === DONE) return f.pagenum > 1 ? t("files.pages", { n: f.pagenum }) : "";
    if (s === FAILED) return t("files.failed", { why: f.statusmsg || "" });
    if (s === 0) return t("files.queued");
    return t("files.converting", { p: Math.round(f.progress || 0) });
  }

  function render() {
    const t = ctx.t();
    const list = $("files");
    $("files-empty").hidden = api.files.length > 0;
    $("upload-form").hidden = !ctx.isSuper();
    list.replaceChildren(
      ...api.files.map((f) => {
        const s = statusOf(f);
        const name = f.filename || String(f.fileid);
        const li = el("li", { "data-fileid": String(f.fileid), "data-status": String(s) });
        const head = el("div", { class: "file-head" });
        head.append(el("a", { href: f.pdfpath || f.downloadpath || "#", target: "_blank", rel: "noopener", text: name }));
        if (ctx.isSuper()) {
          const show = ctx.button("files.show", () => room.board.showPage(f.fileid, 1, { pagenum: f.pagenum || 1, filename: f.filename, filetype: f.filetype }), {
            action: "file-show",
            disabled: s !== DONE,
          });
          show.setAttribute("aria-label", `${t("files.show")}: ${name}`);
          const del = ctx.button("files.delete", () => remove(f), { action: "file-delete" });
          del.setAttribute("aria-label", `${t("files.delete")}: ${name}`);
          head.append(el("span", { class: "file-actions" }, show, del));
        }
        li.append(head);
        const words = state(f);
        if (words) {
          const line = el("div", { class: `file-state${s === FAILED ? " failed" : ""}`, role: "status", text: words });
          if (s === 0 || s === 3) line.append(el("progress", { max: 100, value: Math.round(f.progress || 0), "aria-label": words }));
          li.append(line);
        }
        return li;
      }),
    );
  }

  async function remove(f) {
    await room.deleteFile(f.fileid);
    await room.board.documentChanged("delete", f.fileid);
    if (room.board.currentPage().fileid === f.fileid) await room.board.showPage(0, 1, { pagenum: room.board.blankPages });
    await load();
  }

  async function upload(fileList) {
    const t = ctx.t();
    for (const file of fileList) {
      $("upload-status").textContent = t("files.uploading", { name: file.name });
      try {
        const fileid = await room.uploadFile(file, { conversion: 1 });
        converting.add(fileid);
        await room.board.documentChanged("add", fileid);
      } catch (err) {
        ctx.showError(err);
      }
    }
    $("upload-status").textContent = "";
    await load();
  }

  $("upload-input").addEventListener("change", (ev) => {
    const chosen = [...ev.target.files];
    ev.target.value = "";
    if (chosen.length) upload(chosen);
  });
  room.on("room-pubmsg", (ev) => {
    if (ev.message.name === "DocumentChange") load();
  });

  api.load = load;
  api.render = render;
  return api;
}

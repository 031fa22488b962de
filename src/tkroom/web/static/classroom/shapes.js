// Drawing one saved board shape (docs/board.md) onto a 2D canvas: the classroom's board and
// the playback page both draw with it, so a lesson watched again looks as it did live.

/** Draws shape `s` ({className, data}) on context `g` of a page `w` x `h` pixels (coordinates are page fractions). */
export function drawShape(g, w, h, s) {
  const d = s.data || {};
  g.save();
  g.strokeStyle = g.fillStyle = /^#[0-9a-fA-F]{6}$/.test(d.color) ? d.color : "#000000";
  g.lineWidth = Math.max(1, (Number(d.width) || 0.004) * w);
  g.lineCap = "round";
  g.lineJoin = "round";
  switch (s.className) {
    case "Highlighter":
      g.globalAlpha = 0.4;
    // falls through: drawn as a pen
    case "Pen": {
      const p = d.points || [];
      if (p.length < 2) break;
      g.beginPath();
      g.moveTo(p[0] * w, p[1] * h);
      if (p.length === 2) g.lineTo(p[0] * w, p[1] * h);
      for (let i = 2; i < p.length; i += 2) g.lineTo(p[i] * w, p[i + 1] * h);
      g.stroke();
      break;
    }
    case "Line":
    case "Arrow": {
      const [x1, y1, x2, y2] = [d.x1 * w, d.y1 * h, d.x2 * w, d.y2 * h];
      g.beginPath();
      g.moveTo(x1, y1);
      g.lineTo(x2, y2);
      if (s.className === "Arrow") {
        const a = Math.atan2(y2 - y1, x2 - x1);
        const head = Math.max(10, g.lineWidth * 4);
        for (const side of [-1, 1]) {
          g.moveTo(x2, y2);
          g.lineTo(x2 - head * Math.cos(a + side * 0.45), y2 - head * Math.sin(a + side * 0.45));
        }
      }
      g.stroke();
      break;
    }
    case "Rectangle":
      g.strokeRect(Math.min(d.x1, d.x2) * w, Math.min(d.y1, d.y2) * h, Math.abs(d.x2 - d.x1) * w, Math.abs(d.y2 - d.y1) * h);
      break;
    case "Ellipse":
      g.beginPath();
      g.ellipse(((d.x1 + d.x2) / 2) * w, ((d.y1 + d.y2) / 2) * h, (Math.abs(d.x2 - d.x1) / 2) * w, (Math.abs(d.y2 - d.y1) / 2) * h, 0, 0, Math.PI * 2);
      g.stroke();
      break;
    case "Text": {
      const size = Math.max(6, (Number(d.size) || 0.03) * w);
      g.font = `${size}px system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif`;
      g.textBaseline = "top";
      String(d.text || "")
        .split("\n")
        .forEach((line, i) => g.fillText(line, d.x * w, d.y * h + i * size * 1.2));
      break;
    }
    default:
      break;
  }
  g.restore();
}

/** The image URL of page `n` of courseware file `f` (a getroomfile entry), or "" when it has none. */
export function pageImageOf(f, n) {
  if (!f) return "";
  if (Array.isArray(f.pageimages) && f.pageimages[n - 1]) return f.pageimages[n - 1];
  const type = String(f.filetype || f.filename || "").toLowerCase();
  return /(png|jpe?g|gif|webp|bmp)$/.test(type) ? f.downloadpath || "" : "";
}

// The ClientAPI calls the SDK makes before it opens the socket (checkroom, getconfig) and the
// room's courseware list. Form-encoded POSTs answering {"result": code, ...}.

import { TKError } from "./errors.js";

/** The node's base URL: the page's own origin unless a host is given, as in joinroom(host, port, ...). */
export function baseUrl(host, port) {
  if (!host) return "";
  const proto = typeof location !== "undefined" && location.protocol === "https:" ? "https:" : "http:";
  return port ? `${proto}//${host}:${port}` : `${proto}//${host}`;
}

export function clientApi(base, method, fields) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(`${k}[]`, String(x)));
    else body.append(k, String(v));
  }
  return post(base, method, body);
}

/** The same as a multipart form, for uploads: File/Blob values are sent as files. */
export function clientApiForm(base, method, fields) {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    if (typeof Blob !== "undefined" && v instanceof Blob) body.append(k, v, v.name || "file");
    else body.append(k, String(v));
  }
  return post(base, method, body);
}

async function post(base, method, body) {
  let res;
  try {
    res = await fetch(`${base}/ClientAPI/${method}?ts=${Date.now()}`, { method: "POST", body });
  } catch (err) {
    throw new TKError(111, `The web interface request failed: ${err.message}`);
  }
  let json;
  try {
    json = await res.json();
  } catch {
    throw new TKError(111, `The web interface request failed: HTTP ${res.status}`);
  }
  if (json.result !== 0) throw new TKError(json.result, json.msg || json.message, { response: json });
  return json;
}

/** Turns the signal URL from getconfig into an absolute ws:// URL (it may be relative). */
export function signalUrl(base, config) {
  let url = (config.signal && config.signal.url) || config.signalurl || "/signal";
  if (/^wss?:\/\//.test(url)) return url;
  const origin = base || (typeof location !== "undefined" ? location.origin : "http://127.0.0.1");
  const u = new URL(url, origin);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

/** Every node's signal URL getconfig lists (signal.urls), absolute: where to fail over to. */
export function signalUrls(base, config) {
  const urls = (config.signal && Array.isArray(config.signal.urls) && config.signal.urls) || [];
  return urls.filter((u) => typeof u === "string" && u).map((u) => signalUrl(base, { signal: { url: u } }));
}

// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML:
// job names, settings and logs come from users and workers.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key === "value" || key === "checked" || key === "disabled" || key === "hidden") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(el, ...children) {
  el.textContent = "";
  append(el, children);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  seconds = Math.max(0, Math.round(seconds));
  const d = Math.floor(seconds / 86400);
  const hrs = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

export function formatAgo(iso, serverOffsetMs = 0) {
  if (!iso) return "never";
  const seconds = (Date.now() + serverOffsetMs - Date.parse(iso)) / 1000;
  if (seconds < 5) return "just now";
  return `${formatDuration(seconds)} ago`;
}

export function formatDate(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString();
}

export function formatNumber(n) {
  return (n ?? 0).toLocaleString();
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

export function progressBar(fraction, label) {
  const pct = Math.round((fraction || 0) * 1000) / 10;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100, dataset: { progress: String(pct) } },
    h("div", { class: "progress-fill", style: { width: `${pct}%` } }),
    h("span", { class: "progress-label" }, label ?? `${pct}%`),
  );
}

// Calls fn at most once per `ms`, the last call of a burst always running.
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return function throttled() {
    const wait = last + ms - Date.now();
    if (wait <= 0 && !timer) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, Math.max(wait, 0));
    }
  };
}

// Collects keys over `ms` and hands them to fn as one Set: a burst of events becomes one fetch.
export function batcher(fn, ms = 250) {
  let pending = new Set();
  let timer = null;
  return function add(key) {
    pending.add(key);
    if (!timer) {
      timer = setTimeout(() => {
        const keys = pending;
        pending = new Set();
        timer = null;
        fn(keys);
      }, ms);
    }
  };
}

// The jobs table: paged and sorted by the server; rows update live one job at a time.

import { get } from "./api.js";
import {
  batcher,
  formatAgo,
  formatDate,
  formatDuration,
  formatNumber,
  h,
  progressBar,
  replaceChildren,
  statusBadge,
} from "./dom.js";
import { subscribe } from "./live.js";

export const STATUS_FILTERS = [
  ["", "All jobs"],
  ["active,queued,pause-requested,cancel-requested,requeueing", "Running & queued"],
  ["active", "Active"],
  ["queued", "Queued"],
  ["paused", "Paused"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["canceled", "Canceled"],
];

const COLUMNS = [
  { key: "name", label: "Name", sort: "name" },
  { key: "type", label: "Type", sort: "type" },
  { key: "status", label: "Status", sort: "status" },
  { key: "priority", label: "Priority", sort: "priority", num: true },
  { key: "progress", label: "Progress", sort: "progress" },
  { key: "frames", label: "Frames", num: true },
  { key: "created", label: "Submitted", sort: "created" },
  { key: "elapsed", label: "Elapsed", num: true },
  { key: "remaining", label: "Remaining", num: true },
  { key: "activity", label: "Activity" },
];

const PAGE_SIZES = [25, 50, 100, 200];

// Elapsed time of an unfinished job keeps running between updates of its row.
export function elapsedNow(job) {
  if (job.finished || job._fetchedAt === undefined) return job.elapsed_seconds;
  return job.elapsed_seconds + (Date.now() - job._fetchedAt) / 1000;
}

function sortValue(job, key) {
  if (key === "type") return job.type;
  return job[key];
}

// Whether job a comes before job b in the given order ("-created", "name", ...).
function before(a, b, order) {
  const desc = order.startsWith("-");
  const key = order.replace(/^-/, "");
  const va = sortValue(a, key);
  const vb = sortValue(b, key);
  if (va === vb) return desc ? a.id > b.id : a.id < b.id;
  return desc ? va > vb : va < vb;
}

// Failures stay visible next to the progress: a job whose tasks keep failing looks stuck.
function troubleText(job) {
  const t = job.tasks;
  const parts = [];
  if (t.failed) parts.push(`${formatNumber(t.failed)} failed`);
  if (t.soft_failed) parts.push(`${formatNumber(t.soft_failed)} soft-failed`);
  if (job.blocked_workers) parts.push(`${formatNumber(job.blocked_workers)} worker(s) blocked`);
  return parts.join(" · ");
}

function jobCells(job) {
  const trouble = troubleText(job);
  return {
    name: h("a", { href: `#/jobs/${job.id}`, class: "job-link", title: job.name }, job.name),
    type: job.type,
    status: statusBadge(job.status),
    priority: String(job.priority),
    progress: trouble ? [progressBar(job.progress), h("div", { class: "job-trouble" }, trouble)] : progressBar(job.progress),
    frames: `${formatNumber(job.frames_done)} / ${formatNumber(job.frames_total)}`,
    created: h("span", { title: formatDate(job.created) }, formatAgo(job.created)),
    elapsed: formatDuration(elapsedNow(job)),
    remaining: job.remaining_seconds === null ? "—" : formatDuration(job.remaining_seconds),
    activity: h("span", { title: job.activity }, job.activity || "—"),
  };
}

function jobRow(job) {
  const cells = jobCells(job);
  return h(
    "tr",
    { dataset: { jobId: job.id, status: job.status } },
    COLUMNS.map((c) => h("td", { class: `col-${c.key}${c.num ? " num" : ""}` }, cells[c.key])),
  );
}

export function parseState(params) {
  return {
    offset: Math.max(0, parseInt(params.get("offset") || "0", 10) || 0),
    limit: PAGE_SIZES.includes(parseInt(params.get("limit"), 10)) ? parseInt(params.get("limit"), 10) : 50,
    order: params.get("order") || "-created",
    status: params.get("status") || "",
  };
}

function stateHash(state) {
  const p = new URLSearchParams();
  if (state.offset) p.set("offset", state.offset);
  if (state.limit !== 50) p.set("limit", state.limit);
  if (state.order !== "-created") p.set("order", state.order);
  if (state.status) p.set("status", state.status);
  const q = p.toString();
  return `#/jobs${q ? `?${q}` : ""}`;
}

export function mountJobs(root, params) {
  const state = parseState(params);
  let rows = new Map(); // job id → { job, tr }
  let total = 0;

  const tbody = h("tbody");
  const info = h("span", { class: "pager-info" });
  const prev = h("button", { class: "btn", onclick: () => go({ offset: Math.max(0, state.offset - state.limit) }) }, "‹ Previous");
  const next = h("button", { class: "btn", onclick: () => go({ offset: state.offset + state.limit }) }, "Next ›");
  const statusSelect = h(
    "select",
    { "aria-label": "Filter by status", onchange: (e) => go({ status: e.target.value, offset: 0 }) },
    STATUS_FILTERS.map(([value, label]) => h("option", { value, selected: value === state.status }, label)),
  );
  const sizeSelect = h(
    "select",
    { "aria-label": "Jobs per page", onchange: (e) => go({ limit: parseInt(e.target.value, 10), offset: 0 }) },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} per page`)),
  );
  const headRow = h(
    "tr",
    {},
    COLUMNS.map((c) => {
      if (!c.sort) return h("th", { class: c.num ? "num" : "" }, c.label);
      const active = state.order.replace(/^-/, "") === c.sort;
      const desc = state.order.startsWith("-");
      const nextOrder = active && !desc ? `-${c.sort}` : c.sort;
      return h(
        "th",
        { class: `sortable${c.num ? " num" : ""}`, "aria-sort": active ? (desc ? "descending" : "ascending") : "none" },
        h("button", { class: "th-sort", dataset: { sort: c.sort }, onclick: () => go({ order: nextOrder, offset: 0 }) }, c.label, active ? (desc ? " ▼" : " ▲") : ""),
      );
    }),
  );

  replaceChildren(
    root,
    h(
      "section",
      { class: "panel", id: "jobs-view" },
      h("div", { class: "panel-head" }, h("h1", {}, "Jobs"), h("div", { class: "toolbar" }, statusSelect, sizeSelect)),
      h("div", { class: "table-wrap" }, h("table", { class: "table", id: "jobs-table" }, h("thead", {}, headRow), tbody)),
      h("div", { class: "pager" }, prev, info, next),
    ),
  );

  function go(change) {
    location.hash = stateHash({ ...state, ...change });
  }

  function renderPager() {
    const first = total ? state.offset + 1 : 0;
    const last = Math.min(state.offset + state.limit, total);
    info.textContent = `${formatNumber(first)}–${formatNumber(last)} of ${formatNumber(total)}`;
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + state.limit >= total;
  }

  async function loadPage() {
    const p = new URLSearchParams({ offset: state.offset, limit: state.limit, order_by: state.order });
    if (state.status) p.set("status", state.status);
    const data = await get(`/api/farmhand/jobs?${p}`);
    const fetchedAt = Date.now();
    total = data.total;
    rows = new Map();
    replaceChildren(tbody);
    for (const job of data.jobs) {
      job._fetchedAt = fetchedAt;
      const tr = jobRow(job);
      rows.set(job.id, { job, tr });
      tbody.append(tr);
    }
    if (!data.jobs.length) {
      tbody.append(h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, total ? "No jobs on this page." : "No jobs yet. Submit one from Blender.")));
    }
    renderPager();
  }

  let reloadTimer = null;
  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => loadPage().catch(() => {}), 400);
  }

  function fitsPage(job) {
    if (state.status && !state.status.split(",").includes(job.status)) return false;
    const shown = [...rows.values()].map((r) => r.job);
    if (shown.length < state.limit) return true;
    return before(job, shown[shown.length - 1], state.order);
  }

  // Jobs whose rows changed, and jobs not shown that may belong on this page (new ones).
  const refresh = batcher(async (ids) => {
    const data = await get(`/api/farmhand/jobs?ids=${[...ids].join(",")}`).catch(() => null);
    if (!data) return;
    const fetchedAt = Date.now();
    let reload = data.missing.some((id) => rows.has(id));
    for (const job of data.jobs) {
      job._fetchedAt = fetchedAt;
      const shown = rows.get(job.id);
      if (shown) {
        const tr = jobRow(job);
        shown.tr.replaceWith(tr);
        rows.set(job.id, { job, tr });
      } else if (fitsPage(job)) {
        reload = true;
      }
    }
    if (reload) reloadSoon();
  }, 300);

  const unsubscribe = subscribe((events) => {
    for (const e of events) {
      if (e.type === "resync") reloadSoon();
      else if (e.type === "job") {
        if (e.was_deleted) {
          if (rows.has(e.id)) reloadSoon();
        } else refresh(e.id);
      } else if (e.type === "task" && rows.has(e.job_id)) refresh(e.job_id);
    }
  });

  const ticker = setInterval(() => {
    for (const { job, tr } of rows.values()) {
      if (job.finished) continue;
      const cell = tr.querySelector(".col-elapsed");
      if (cell) cell.textContent = formatDuration(elapsedNow(job));
    }
  }, 1000);

  loadPage().catch((err) => {
    replaceChildren(tbody, h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, `Cannot load jobs: ${err.message}`)));
  });

  return () => {
    unsubscribe();
    clearInterval(ticker);
    clearTimeout(reloadTimer);
  };
}

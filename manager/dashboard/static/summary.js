// The farm summary at the top of every page: workers, queued work and throughput.

import { get } from "./api.js";
import { formatNumber, h, replaceChildren, throttle } from "./dom.js";
import { subscribe } from "./live.js";

function tile(label, value, detail, name) {
  return h(
    "div",
    { class: "tile", dataset: { tile: name } },
    h("div", { class: "tile-label" }, label),
    h("div", { class: "tile-value" }, value),
    detail ? h("div", { class: "tile-detail" }, detail) : null,
  );
}

function render(el, s) {
  const w = s.workers;
  const jobs = s.jobs || {};
  const running = (jobs.active || 0) + (jobs.queued || 0);
  replaceChildren(
    el,
    tile("Farm", h("span", { class: `status status-${s.farm_status}` }, s.farm_status), `${formatNumber(w.total)} workers`, "farm"),
    tile("Busy", formatNumber(w.busy), "rendering now", "busy"),
    tile("Idle", formatNumber(w.idle), "awake, waiting", "idle"),
    tile("Asleep", formatNumber(w.asleep), null, "asleep"),
    tile("Offline", formatNumber(w.offline), w.other ? `${w.other} starting/other` : null, "offline"),
    tile("Jobs", formatNumber(running), `${formatNumber(jobs.active || 0)} active, ${formatNumber(jobs.paused || 0)} paused`, "jobs"),
    tile("Queued frames", formatNumber(s.queued_frames), `${formatNumber(s.queued_tasks)} tasks`, "queued"),
    tile("Throughput", `${formatNumber(s.frames_per_hour)}/h`, `frames; ${formatNumber(s.tasks_per_hour)} tasks in the last hour`, "throughput"),
  );
}

export function mountSummary(el) {
  let again = null;
  const refresh = throttle(async () => {
    try {
      const s = await get("/api/farmhand/summary");
      render(el, s);
      // The manager sums the farm at most every few seconds; a summary older than the last
      // change says when a newer one can be had, since no further change may come to say it.
      clearTimeout(again);
      if (s.refresh_in != null) again = setTimeout(refresh, s.refresh_in * 1000 + 100);
    } catch (_err) {
      // the summary is a convenience; the views report errors
    }
  }, 2000);
  refresh();
  subscribe((events) => {
    if (events.some((e) => e.type !== "tasklog" && e.type !== "last-rendered")) refresh();
  });
}

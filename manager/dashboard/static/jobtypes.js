// Job types: each preset with the task types it needs, marked where no connected worker runs
// one of them. Which workers count is the manager's rule (/api/farmhand/job-types, as the
// add-on and `farmhand types` show it); this panel only shows the answer.

import { get } from "./api.js";
import { h, replaceChildren } from "./dom.js";

const COLUMNS = ["Job type", "Task types", "Runs now"];

function typeRow(type) {
  const unrun = type.unrun_task_types;
  return h(
    "tr",
    { dataset: { jobType: type.name }, class: unrun.length ? "unrun" : null },
    h("td", { title: type.description || "" }, type.label, " ", h("span", { class: "muted" }, type.name)),
    h("td", {}, type.task_types.map((t) => h("span", { class: unrun.includes(t) ? "chip chip-warn" : "chip" }, t))),
    h("td", { class: "col-runs" }, unrun.length ? `no connected worker runs ${unrun.join(", ")} tasks` : "yes"),
  );
}

// The panel and the function that fills it again (when workers come and go).
export function jobTypesPanel() {
  const body = h("tbody");
  const panel = h(
    "section",
    { class: "panel", id: "job-types" },
    h("h2", {}, "Job types"),
    h("p", { class: "muted" }, "Jobs of a type whose task types no connected worker runs wait until such a worker connects."),
    h("div", { class: "table-wrap" }, h("table", { class: "table", id: "job-types-table" }, h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", {}, c)))), body)),
  );
  async function load() {
    const data = await get("/api/farmhand/job-types");
    replaceChildren(body, data.job_types.map(typeRow));
    if (!data.job_types.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, "The manager has no job types.")));
  }
  return { panel, load };
}

// Workers: the table, the selected worker's controls (sleep, wake, shut down, tags, sleep
// schedule, delete), the blocklist of jobs and the job types the connected workers can run.

import { act, confirmAction, del, get, post, toast } from "./api.js";
import { batcher, formatAgo, formatDate, formatNumber, h, replaceChildren, statusBadge, throttle } from "./dom.js";
import { jobTypesPanel } from "./jobtypes.js";
import { subscribe } from "./live.js";

const COLUMNS = ["Name", "Status", "Platform", "Runs", "Tags", "Current task", "Last seen", "Frames rendered"];

// The render devices a worker reported at sign-on, one line: "NVIDIA RTX 4090 (OPTIX, 24 GiB)".
function devicesText(worker) {
  const hardware = worker.hardware;
  if (!hardware) return "—";
  const gpus = hardware.gpus || [];
  if (!gpus.length) return hardware.render_device === "CPU" ? "CPU" : "as each file says";
  const text = gpus.map((d) => `${d.name} (${d.type}${d.memory_mb ? `, ${Math.round(d.memory_mb / 1024)} GiB` : ""})`).join(", ");
  return hardware.gpus_enabled ? text : `${text}: not enabled by Cycles`;
}

function requested(worker) {
  const change = worker.status_change;
  if (!change) return null;
  return h("span", { class: "requested" }, ` → ${change.status}${change.is_lazy ? " after task" : ""}`);
}

function workerRow(worker, selected) {
  const task = worker.task;
  return h(
    "tr",
    { dataset: { workerId: worker.id, status: worker.status }, class: selected ? "selected" : "", tabindex: 0 },
    h("td", { class: "col-name" }, worker.name, worker.protocol !== "Flamenco API" ? h("span", { class: "chip muted", title: "connected through" }, worker.protocol) : null),
    h("td", {}, statusBadge(worker.status), requested(worker)),
    h("td", {}, worker.platform || "—"),
    // The Blender version decides which jobs a worker can open; nodes that do not report one
    // say what they run instead.
    h("td", { class: "col-blender", title: worker.software || "" }, worker.blender_version ? `Blender ${worker.blender_version}` : worker.software || "—"),
    h("td", {}, worker.tags.length ? worker.tags.map((t) => h("span", { class: "chip" }, t.name)) : h("span", { class: "muted" }, "—")),
    h("td", { class: "col-task" }, task ? h("a", { href: `#/jobs/${task.job_id}`, title: task.job_name }, `${task.name} (${task.job_name})`) : "—"),
    h("td", { title: formatDate(worker.last_seen) }, formatAgo(worker.last_seen)),
    h("td", { class: "num" }, formatNumber(worker.frames_rendered)),
  );
}

export function mountWorkers(root, selectedId) {
  let workers = new Map(); // id → { worker, tr }
  let tags = [];
  let selected = selectedId || null;

  const tbody = h("tbody");
  const detail = h("section", { class: "panel worker-detail", id: "worker-detail" });
  const blockBody = h("tbody");
  const jobTypes = jobTypesPanel();

  replaceChildren(
    root,
    h(
      "div",
      { class: "workers-page", id: "workers-view" },
      h(
        "section",
        { class: "panel" },
        h("div", { class: "panel-head" }, h("h1", {}, "Workers")),
        h("div", { class: "table-wrap" }, h("table", { class: "table", id: "workers-table" }, h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", {}, c)))), tbody)),
      ),
      detail,
      h(
        "section",
        { class: "panel" },
        h("h2", {}, "Blocklist"),
        h("p", { class: "muted" }, "Workers that failed too many tasks of a job are kept off that job's task type until removed here."),
        h("div", { class: "table-wrap" }, h("table", { class: "table", id: "blocklist-table" }, h("thead", {}, h("tr", {}, ["Job", "Worker", "Task type", "Since", ""].map((c) => h("th", {}, c)))), blockBody)),
      ),
      jobTypes.panel,
    ),
  );

  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-worker-id]");
    if (tr && !e.target.closest("a")) select(tr.dataset.workerId);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-worker-id]");
    if (tr && e.key === "Enter") select(tr.dataset.workerId);
  });

  function select(id) {
    selected = id;
    history.replaceState(null, "", `#/workers/${id}`);
    for (const { worker, tr } of workers.values()) tr.classList.toggle("selected", worker.id === id);
    renderDetail();
  }

  function putRow(worker) {
    const shown = workers.get(worker.id);
    const tr = workerRow(worker, worker.id === selected);
    if (shown) shown.tr.replaceWith(tr);
    else tbody.append(tr);
    workers.set(worker.id, { worker, tr });
  }

  async function loadWorkers() {
    const data = await get("/api/farmhand/workers");
    workers = new Map();
    replaceChildren(tbody);
    for (const w of data.workers) putRow(w);
    if (!data.workers.length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, "No workers have registered yet.")));
    renderDetail();
  }

  async function loadTags() {
    tags = (await get("/api/v3/worker-mgt/tags")).tags;
  }

  // The selected worker's controls --------------------------------------------------------------

  function requestStatus(worker, status, isLazy) {
    return act(`Worker ${worker.name}`, () => post(`/api/v3/worker-mgt/workers/${worker.id}/setstatus`, { status, is_lazy: isLazy }));
  }

  const detailHead = h("div");
  const detailForms = h("div", { class: "detail-grid" });
  let formsFor = null;
  const lazyBox = h("input", { type: "checkbox", id: "lazy", checked: true });

  // The head (state, actions) follows every change; the forms are rebuilt only when another
  // worker is selected or the tags change, so a live update never wipes what the user types.
  function renderDetail({ forms = false } = {}) {
    const shown = selected && workers.get(selected);
    if (!shown) {
      formsFor = null;
      replaceChildren(detail, h("p", { class: "muted" }, "Select a worker to control it."));
      return;
    }
    const w = shown.worker;
    if (!detail.contains(detailHead)) replaceChildren(detail, detailHead, detailForms);
    renderDetailHead(w);
    if (forms || formsFor !== w.id) {
      formsFor = w.id;
      renderForms(w);
    }
  }

  function renderDetailHead(w) {
    replaceChildren(
      detailHead,
      h("div", { class: "panel-head" }, h("h2", {}, w.name, " ", statusBadge(w.status), requested(w))),
      h(
        "dl",
        { class: "stats" },
        [
          ["Address", w.ip_address || "—"],
          ["Platform", w.platform || "—"],
          ["Version", w.software || "—"],
          ["Blender", w.blender_version || "—"],
          ["Renders on", devicesText(w)],
          ["Connected through", w.protocol],
          ["Task types", (w.supported_task_types || []).join(", ") || "—"],
          ...(w.metrics || []),
          ["Tasks completed", formatNumber(w.tasks_completed)],
          ["Frames rendered", formatNumber(w.frames_rendered)],
          ["Last seen", formatAgo(w.last_seen)],
        ].map(([k, v]) => h("div", { class: "stat" }, h("dt", {}, k), h("dd", {}, v))),
      ),
      h(
        "div",
        { class: "actions", id: "worker-actions" },
        h("button", { class: "btn", disabled: w.status === "awake" && !w.status_change, onclick: () => requestStatus(w, "awake", false) }, "Wake"),
        h("label", { class: "check lazy" }, lazyBox, "after the current task:"),
        h("button", { class: "btn", onclick: () => requestStatus(w, "asleep", lazyBox.checked) }, "Sleep"),
        h("button", {
          class: "btn btn-danger",
          onclick: async () => {
            const when = lazyBox.checked ? "after its current task" : "now, requeueing its current task";
            if (await confirmAction(`Shut down worker “${w.name}” ${when}?`, "Shut down")) requestStatus(w, "offline", lazyBox.checked);
          },
        }, "Shut down"),
        h("button", {
          class: "btn btn-danger",
          onclick: async () => {
            if (!(await confirmAction(`Delete worker “${w.name}”? Its task goes back to the queue; the worker must register again.`, "Delete worker"))) return;
            if (await act("Delete worker", () => del(`/api/v3/worker-mgt/workers/${w.id}`))) toast(`Deleted worker “${w.name}”`);
          },
        }, "Delete"),
      ),
    );
  }

  function renderForms(w) {
    const schedule = w.sleep_schedule || { is_active: false, days_of_week: "", start_time: "22:00", end_time: "08:00" };
    const schedActive = h("input", { type: "checkbox", checked: schedule.is_active, name: "is_active" });
    const schedDays = h("input", { type: "text", value: schedule.days_of_week, name: "days_of_week", placeholder: "mo tu we th fr (empty: every day)" });
    const schedStart = h("input", { type: "time", value: schedule.start_time, name: "start_time", required: true });
    const schedEnd = h("input", { type: "time", value: schedule.end_time, name: "end_time", required: true });
    const tagBoxes = tags.map((t) => h("label", { class: "check" }, h("input", { type: "checkbox", value: t.id, checked: w.tags.some((x) => x.id === t.id) }), t.name));
    const newTag = h("input", { type: "text", placeholder: "new tag", "aria-label": "New tag name" });
    replaceChildren(
      detailForms,
      h(
        "form",
        {
          class: "box",
          id: "tags-form",
          onsubmit: async (e) => {
            e.preventDefault();
            const ids = tagBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
            const name = newTag.value.trim();
            const ok = await act("Tags", async () => {
              if (name) {
                const created = await post("/api/v3/worker-mgt/tags", { name });
                ids.push(created.id);
                await loadTags();
              }
              await post(`/api/v3/worker-mgt/workers/${w.id}/settags`, { tag_ids: ids });
            });
            if (!ok) return;
            toast("Tags saved");
            const fresh = await get(`/api/farmhand/workers?ids=${w.id}`).catch(() => null);
            if (fresh && fresh.workers.length) putRow(fresh.workers[0]);
            renderDetail({ forms: true });
          },
        },
        h("h3", {}, "Tags"),
        h("div", { class: "checks" }, tagBoxes.length ? tagBoxes : h("span", { class: "muted" }, "No tags yet.")),
        h("div", { class: "inline-form" }, newTag, h("button", { class: "btn", type: "submit" }, "Save tags")),
      ),
      h(
        "form",
        {
          class: "box",
          id: "schedule-form",
          onsubmit: async (e) => {
            e.preventDefault();
            const body = { is_active: schedActive.checked, days_of_week: schedDays.value.trim(), start_time: schedStart.value, end_time: schedEnd.value };
            if (await act("Sleep schedule", () => post(`/api/v3/worker-mgt/workers/${w.id}/sleep-schedule`, body))) toast("Sleep schedule saved");
          },
        },
        h("h3", {}, "Sleep schedule"),
        h("label", { class: "check" }, schedActive, "active"),
        h("label", {}, "Days ", schedDays),
        h("div", { class: "inline-form" }, h("label", {}, "Sleep from ", schedStart), h("label", {}, " until ", schedEnd)),
        h("button", { class: "btn", type: "submit" }, "Save schedule"),
      ),
    );
  }

  // Blocklist ----------------------------------------------------------------------------------

  async function loadBlocklist() {
    const data = await get("/api/farmhand/blocklist").catch(() => null);
    if (!data) return;
    replaceChildren(blockBody);
    for (const e of data.entries) {
      blockBody.append(
        h(
          "tr",
          { dataset: { jobId: e.job_id, workerId: e.worker_id } },
          h("td", {}, h("a", { href: `#/jobs/${e.job_id}` }, e.job_name)),
          h("td", {}, e.worker_name),
          h("td", {}, e.task_type),
          h("td", { title: formatDate(e.created) }, formatAgo(e.created)),
          h(
            "td",
            {},
            h("button", {
              class: "btn",
              onclick: () => act("Blocklist", () => del(`/api/v3/jobs/${e.job_id}/blocklist`, [{ worker_id: e.worker_id, task_type: e.task_type }])),
            }, "Remove"),
          ),
        ),
      );
    }
    if (!data.entries.length) blockBody.append(h("tr", { class: "empty" }, h("td", { colspan: 5 }, "No worker is blocked from any job.")));
  }

  // Live updates -------------------------------------------------------------------------------

  const refreshWorkers = batcher(async (ids) => {
    const data = await get(`/api/farmhand/workers?ids=${[...ids].join(",")}`).catch(() => null);
    if (!data) return;
    tbody.querySelector("tr.empty")?.remove();
    for (const w of data.workers) putRow(w);
    for (const id of data.missing) {
      workers.get(id)?.tr.remove();
      workers.delete(id);
    }
    if (ids.has(selected)) renderDetail();
  }, 300);
  const refreshBlocklist = throttle(loadBlocklist, 3000);
  // A worker that connects, leaves or changes what it runs changes which types can run.
  const refreshJobTypes = throttle(() => jobTypes.load().catch(() => {}), 1000);
  const refreshTags = throttle(async () => {
    await loadTags().catch(() => {});
    if (!detailForms.contains(document.activeElement)) renderDetail({ forms: true });
  }, 1000);

  const unsubscribe = subscribe((events) => {
    for (const e of events) {
      if (e.type === "resync") {
        loadWorkers().catch(() => {});
        refreshBlocklist();
        refreshJobTypes();
      } else if (e.type === "worker") {
        refreshWorkers(e.id);
        refreshJobTypes();
      }
      else if (e.type === "task") {
        // The task's worker (its current task or frame count changed).
        if (e.worker_id) refreshWorkers(e.worker_id);
        for (const { worker } of workers.values()) if (worker.task && worker.task.id === e.id) refreshWorkers(worker.id);
        refreshBlocklist();
      } else if (e.type === "job") refreshBlocklist();
      else if (e.type === "tag") refreshTags();
    }
  });

  const ticker = setInterval(() => {
    for (const { worker, tr } of workers.values()) {
      const cell = tr.children[6];
      if (cell) cell.textContent = formatAgo(worker.last_seen);
    }
  }, 5000);

  Promise.all([loadTags(), loadWorkers(), loadBlocklist(), jobTypes.load()]).catch((err) => toast(`Workers: ${err.message}`, "error"));

  return () => {
    unsubscribe();
    clearInterval(ticker);
  };
}

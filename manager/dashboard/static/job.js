// One job: its state and actions, settings, metadata, the last rendered frame, its tasks and
// the live log of a selected task.

import { act, ApiError, confirmAction, del, get, post, toast } from "./api.js";
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
  throttle,
} from "./dom.js";
import { elapsedNow } from "./jobs.js";
import { subscribe } from "./live.js";

const TASK_PAGE = 200;
const LOG_MAX_CHARS = 200_000;
const PAUSABLE = ["queued", "active"];
const RESUMABLE = ["paused", "pause-requested"];
const FINAL = ["completed", "canceled", "failed"];
const REQUEUEABLE = ["completed", "failed", "canceled", "paused"];
const MISSING_REQUEUEABLE = ["queued", "active", "paused", "completed", "failed", "canceled"];
const TASK_FILTERS = [
  ["", "All tasks"],
  ["active", "Active"],
  ["queued,soft-failed", "Queued"],
  ["failed", "Failed"],
  ["soft-failed", "Soft-failed"],
  ["completed", "Completed"],
  ["canceled", "Canceled"],
  ["paused", "Paused"],
];
const TASK_COLUMNS = [["#", true], ["Task"], ["Status"], ["Worker"], ["Steps", true], ["Updated"], ["Retries", true], ["Activity"]];

function keyValueTable(obj, emptyText) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h("p", { class: "muted" }, emptyText);
  return h(
    "table",
    { class: "kv" },
    h(
      "tbody",
      {},
      entries.map(([k, v]) =>
        h("tr", {}, h("th", {}, k), h("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v))),
      ),
    ),
  );
}

function taskRow(task, selected) {
  return h(
    "tr",
    { dataset: { taskId: task.id, status: task.status }, class: selected ? "selected" : "", tabindex: 0 },
    h("td", { class: "num" }, String(task.index_in_job)),
    h("td", { class: "col-name" }, task.name),
    h("td", {}, statusBadge(task.status)),
    h("td", {}, task.worker ? h("a", { href: `#/workers/${task.worker.id}` }, task.worker.name) : "—"),
    h("td", { class: "num" }, `${task.steps_completed}/${task.steps_total}`),
    h("td", { title: formatDate(task.updated) }, formatAgo(task.updated)),
    h("td", { class: "num col-retries" }, String(task.retries)),
    h("td", { class: "col-activity", title: task.activity }, task.activity),
  );
}

export function mountJob(root, jobId) {
  let job = null;
  let tasks = new Map(); // id → { task, tr }
  let taskOffset = 0;
  let taskTotal = 0;
  let taskFilter = "";
  let selectedTask = null;
  let logText = "";
  let deleted = false;

  const title = h("h1", { class: "job-title" }, "Loading…");
  const statusEl = h("span", { class: "job-status" });
  const progressEl = h("div", { class: "job-progress" });
  const statsEl = h("dl", { class: "stats" });
  const actionsEl = h("div", { class: "actions", id: "job-actions" });
  const settingsEl = h("div");
  const metadataEl = h("div");
  const previewEl = h("div", { class: "preview" }, h("p", { class: "muted" }, "No frame rendered yet."));
  const taskBody = h("tbody");
  const taskInfo = h("span", { class: "pager-info" });
  const taskPrev = h("button", { class: "btn", onclick: () => loadTasks(Math.max(0, taskOffset - TASK_PAGE)) }, "‹");
  const taskNext = h("button", { class: "btn", onclick: () => loadTasks(taskOffset + TASK_PAGE) }, "›");
  const logHead = h("div", { class: "log-head" }, h("p", { class: "muted" }, "Select a task to see its log."));
  const logEl = h("pre", { class: "log", id: "task-log", "aria-live": "polite" });
  const taskFilterSelect = h(
    "select",
    { "aria-label": "Filter tasks by status", onchange: (e) => { taskFilter = e.target.value; loadTasks(0); } },
    TASK_FILTERS.map(([value, label]) => h("option", { value }, label)),
  );

  replaceChildren(
    root,
    h(
      "div",
      { class: "job-page", id: "job-view", dataset: { jobId } },
      h(
        "section",
        { class: "panel job-head" },
        h("div", { class: "crumbs" }, h("a", { href: "#/jobs" }, "‹ Jobs")),
        h("div", { class: "panel-head" }, h("div", { class: "title-line" }, title, statusEl), actionsEl),
        progressEl,
        statsEl,
      ),
      h(
        "div",
        { class: "job-grid" },
        h(
          "section",
          { class: "panel tasks-panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Tasks"), h("div", { class: "toolbar" }, taskFilterSelect, taskPrev, taskInfo, taskNext)),
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "table", id: "tasks-table" },
              h("thead", {}, h("tr", {}, TASK_COLUMNS.map(([label, num]) => h("th", { class: num ? "num" : "" }, label)))),
              taskBody,
            ),
          ),
        ),
        h(
          "div",
          { class: "side" },
          h("section", { class: "panel" }, h("h2", {}, "Last rendered"), previewEl),
          h("section", { class: "panel log-panel" }, h("h2", {}, "Task log"), logHead, logEl),
          h("section", { class: "panel" }, h("h2", {}, "Settings"), settingsEl),
          h("section", { class: "panel" }, h("h2", {}, "Metadata"), metadataEl),
        ),
      ),
    ),
  );

  taskBody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-task-id]");
    if (tr && !e.target.closest("a")) selectTask(tr.dataset.taskId);
  });
  taskBody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-task-id]");
    if (tr && e.key === "Enter") selectTask(tr.dataset.taskId);
  });

  // Job state and actions ---------------------------------------------------------------------

  function renderJob() {
    title.textContent = job.name;
    document.title = `${job.name} · Farmhand`;
    replaceChildren(statusEl, statusBadge(job.status));
    replaceChildren(progressEl, progressBar(job.progress, `${Math.round(job.progress * 1000) / 10}% · ${formatNumber(job.tasks.completed)} of ${formatNumber(job.tasks.total)} tasks`));
    const t = job.tasks;
    replaceChildren(
      statsEl,
      [
        ["Type", job.type],
        ["Priority", String(job.priority)],
        ["Frames", `${formatNumber(job.frames_done)} / ${formatNumber(job.frames_total)}`],
        ["Tasks", `${t.active} active · ${t.queued} queued · ${t.soft_failed} soft-failed · ${t.failed} failed · ${t.canceled} canceled`],
        ["Blocked workers", String(job.blocked_workers)],
        ["Submitted", h("span", { title: formatDate(job.created) }, formatAgo(job.created))],
        ["Elapsed", h("span", { class: "elapsed" }, formatDuration(elapsedNow(job)))],
        ["Remaining", job.remaining_seconds === null ? "—" : formatDuration(job.remaining_seconds)],
        ["Worker tag", job.worker_tag_name || "any worker"],
        ["Activity", job.activity || "—"],
      ].map(([k, v]) => h("div", { class: "stat" }, h("dt", {}, k), h("dd", {}, v))),
    );
    renderActions();
    replaceChildren(settingsEl, keyValueTable(job.settings, "No settings."));
    replaceChildren(metadataEl, keyValueTable(job.metadata, "No metadata."));
  }

  const outputs = h("a", { class: "btn", "aria-disabled": "true", title: "Checking for outputs…" }, "Download outputs");

  // Made once, so a row update while the user types a priority does not wipe the input.
  const priority = h("input", { type: "number", min: 0, max: 100, class: "priority-input", "aria-label": "Priority" });
  const priorityForm = h(
    "form",
    {
      class: "inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const value = parseInt(priority.value, 10);
        await act("Priority", () => post(`/api/v3/jobs/${jobId}/setpriority`, { priority: value }));
      },
    },
    priority,
    h("button", { class: "btn", type: "submit" }, "Set priority"),
  );

  function renderActions() {
    const s = job.status;
    if (document.activeElement !== priority) priority.value = job.priority;
    replaceChildren(
      actionsEl,
      h("button", { class: "btn", disabled: !PAUSABLE.includes(s), onclick: () => setStatus("paused", "paused from the dashboard") }, "Pause"),
      h("button", { class: "btn", disabled: !RESUMABLE.includes(s), onclick: () => setStatus("queued", "resumed from the dashboard") }, "Resume"),
      h("button", {
        class: "btn btn-danger",
        disabled: FINAL.includes(s) || s === "cancel-requested",
        onclick: async () => {
          if (await confirmAction(`Cancel job “${job.name}”? Its running tasks are stopped.`, "Cancel job")) setStatus("canceled", "canceled from the dashboard");
        },
      }, "Cancel"),
      h("button", {
        class: "btn",
        disabled: !REQUEUEABLE.includes(s),
        onclick: async () => {
          const what = s === "completed" ? "all its tasks are rendered again" : "its unfinished tasks are queued again";
          if (await confirmAction(`Requeue job “${job.name}”? ${what}.`, "Requeue job")) setStatus("requeueing", "requeued from the dashboard");
        },
      }, "Requeue job"),
      h("button", { class: "btn", disabled: !job.tasks.failed, onclick: requeueFailedTasks }, `Requeue failed tasks (${job.tasks.failed})`),
      h("button", {
        class: "btn",
        disabled: !MISSING_REQUEUEABLE.includes(s),
        title: "Render again the failed and canceled tasks, and the frames the manager does not have",
        onclick: requeueMissing,
      }, "Requeue missing frames"),
      priorityForm,
      outputs,
      h("button", {
        class: "btn btn-danger",
        onclick: async () => {
          if (!(await confirmAction(`Delete job “${job.name}” with all its tasks and logs? This cannot be undone.`, "Delete job"))) return;
          if (await act("Delete", () => del(`/api/v3/jobs/${jobId}`))) {
            toast(`Deleted job “${job.name}”`);
            location.hash = "#/jobs";
          }
        },
      }, "Delete"),
    );
  }

  async function checkOutputs() {
    const url = `/api/farmhand/jobs/${jobId}/outputs.zip`;
    let available = false;
    try {
      let r = await fetch(url, { method: "HEAD", credentials: "same-origin" });
      if (r.status === 405) {
        const ctrl = new AbortController();
        r = await fetch(url, { credentials: "same-origin", signal: ctrl.signal });
        ctrl.abort();
      }
      available = r.ok;
    } catch (_ignored) {
      available = false;
    }
    if (available) {
      outputs.href = url;
      outputs.setAttribute("download", "");
      outputs.removeAttribute("aria-disabled");
      outputs.title = "Download the job's rendered outputs as a zip file";
    } else {
      outputs.removeAttribute("href");
      outputs.title = "No outputs to download (yet)";
    }
  }

  async function setStatus(status, reason) {
    await act(`Set status ${status}`, () => post(`/api/v3/jobs/${jobId}/setstatus`, { status, reason }));
  }

  async function requeueFailedTasks() {
    // A task that fails for good fails its job, and the job's other unfinished tasks are
    // canceled with it; requeueing the job brings back exactly those and keeps every
    // completed frame.
    const count = job.tasks.failed;
    if (!(await confirmAction(`Requeue the ${count} failed task(s) of “${job.name}” and the tasks canceled with them? Completed frames are kept.`, "Requeue failed tasks"))) return;
    await setStatus("requeueing", "failed tasks requeued from the dashboard");
  }

  async function requeueMissing() {
    if (!(await confirmAction(`Requeue the failed and canceled tasks of “${job.name}” and the tasks whose frames are missing from its outputs? Frames that are there are kept.`, "Requeue missing frames"))) return;
    let done = null;
    const ok = await act("Requeue missing frames", async () => {
      done = await post(`/api/farmhand/jobs/${jobId}/requeue-missing`, { reason: "missing frames requeued from the dashboard" });
    });
    if (!ok) return;
    const frames = done.missing_frames.length ? ` (missing frames: ${done.missing_frames.join(", ")})` : "";
    const unchecked = done.frames_checked ? "" : "; frames on shared storage were not checked";
    toast(done.requeued.length ? `Requeued ${done.requeued.length} task(s)${frames}${unchecked}` : `Nothing to requeue${unchecked}`);
  }

  async function loadJob() {
    try {
      const data = await get(`/api/farmhand/jobs/${jobId}`);
      data._fetchedAt = Date.now();
      job = data;
      renderJob();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) showDeleted();
      else toast(`Job: ${err.message}`, "error");
    }
  }

  function showDeleted() {
    deleted = true;
    title.textContent = job ? job.name : "Job not found";
    replaceChildren(statusEl, h("span", { class: "status status-deleted" }, "deleted"));
    replaceChildren(actionsEl, h("a", { class: "btn", href: "#/jobs" }, "Back to jobs"));
  }

  // Last rendered frame -----------------------------------------------------------------------

  async function loadPreview() {
    try {
      const info = await get(`/api/v3/jobs/${jobId}/last-rendered`);
      if (!info) return;
      const name = info.suffixes.find((s) => s.includes("small")) || info.suffixes[0];
      const full = `${info.base}/${info.suffixes[0]}?t=${Date.now()}`;
      replaceChildren(
        previewEl,
        h("a", { href: full, target: "_blank", rel: "noopener" }, h("img", { src: `${info.base}/${name}?t=${Date.now()}`, alt: `Last rendered frame of ${job ? job.name : "the job"}`, id: "last-rendered" })),
      );
    } catch (_err) {
      // no preview is fine
    }
  }

  // Tasks ------------------------------------------------------------------------------------

  async function loadTasks(offset = taskOffset) {
    const p = new URLSearchParams({ offset, limit: TASK_PAGE });
    if (taskFilter) p.set("status", taskFilter);
    const data = await get(`/api/farmhand/jobs/${jobId}/tasks?${p}`).catch((err) => {
      toast(`Tasks: ${err.message}`, "error");
      return null;
    });
    if (!data) return;
    taskOffset = data.offset;
    taskTotal = data.total;
    tasks = new Map();
    replaceChildren(taskBody);
    for (const task of data.tasks) {
      const tr = taskRow(task, task.id === selectedTask);
      tasks.set(task.id, { task, tr });
      taskBody.append(tr);
    }
    if (!data.tasks.length) taskBody.append(h("tr", { class: "empty" }, h("td", { colspan: 8 }, "No tasks match.")));
    const last = Math.min(taskOffset + TASK_PAGE, taskTotal);
    taskInfo.textContent = `${formatNumber(taskTotal ? taskOffset + 1 : 0)}–${formatNumber(last)} of ${formatNumber(taskTotal)}`;
    taskPrev.disabled = taskOffset === 0;
    taskNext.disabled = last >= taskTotal;
  }

  const refreshTasks = batcher(async (ids) => {
    const data = await get(`/api/farmhand/jobs/${jobId}/tasks?ids=${[...ids].join(",")}`).catch(() => null);
    if (!data) return;
    for (const task of data.tasks) {
      const shown = tasks.get(task.id);
      if (!shown) continue;
      const tr = taskRow(task, task.id === selectedTask);
      shown.tr.replaceWith(tr);
      tasks.set(task.id, { task, tr });
      if (task.id === selectedTask) renderLogHead(task);
    }
  }, 300);

  async function selectTask(taskId) {
    selectedTask = taskId;
    for (const { task, tr } of tasks.values()) tr.classList.toggle("selected", task.id === taskId);
    logText = "";
    logEl.textContent = "Loading…";
    try {
      const [detail, tail] = await Promise.all([get(`/api/v3/tasks/${taskId}`), get(`/api/v3/tasks/${taskId}/logtail`)]);
      if (selectedTask !== taskId) return;
      renderLogHead(detail);
      logText = tail || "";
      logEl.textContent = logText || "(no log lines yet)";
      logEl.scrollTop = logEl.scrollHeight;
    } catch (err) {
      logEl.textContent = `Cannot load the log: ${err.message}`;
    }
  }

  function renderLogHead(task) {
    const failedBy = task.failed_by_workers;
    replaceChildren(
      logHead,
      h("div", { class: "log-title" }, h("strong", {}, task.name), " ", statusBadge(task.status), task.worker ? ` on ${task.worker.name}` : ""),
      failedBy && failedBy.length ? h("div", { class: "muted" }, `Failed by: ${failedBy.map((w) => w.name).join(", ")}`) : null,
      h("div", { class: "log-links" }, h("a", { href: `/api/v3/tasks/${task.id}/log`, onclick: openFullLog(task.id) }, "Full log")),
    );
  }

  function openFullLog(taskId) {
    return async (e) => {
      e.preventDefault();
      const info = await get(`/api/v3/tasks/${taskId}/log`).catch(() => null);
      if (info && info.url) window.open(info.url, "_blank", "noopener");
      else toast("This task has no log yet");
    };
  }

  function appendLog(text) {
    const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 20;
    logText = (logText + (logText.endsWith("\n") || !logText ? "" : "\n") + text).slice(-LOG_MAX_CHARS);
    logEl.textContent = logText;
    if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  }

  // Live updates -----------------------------------------------------------------------------

  const refreshJob = throttle(() => loadJob(), 500);
  let taskReloadTimer = null;
  const reloadTasksSoon = () => {
    clearTimeout(taskReloadTimer);
    taskReloadTimer = setTimeout(() => loadTasks(), 400);
  };

  const unsubscribe = subscribe((events) => {
    if (deleted) return;
    for (const e of events) {
      if (e.type === "resync") {
        refreshJob();
        reloadTasksSoon();
      } else if (e.type === "job" && e.id === jobId) {
        if (e.was_deleted) showDeleted();
        else refreshJob();
        if (e.refresh_tasks) reloadTasksSoon();
      } else if (e.type === "task" && e.job_id === jobId) {
        refreshJob();
        if (tasks.has(e.id)) refreshTasks(e.id);
        else if (taskFilter) reloadTasksSoon();
      } else if (e.type === "tasklog" && e.task_id === selectedTask) {
        appendLog(e.log);
      } else if (e.type === "last-rendered" && e.job_id === jobId) {
        loadPreview();
      }
    }
  });

  const ticker = setInterval(() => {
    if (!job || job.finished) return;
    const el = statsEl.querySelector(".elapsed");
    if (el) el.textContent = formatDuration(elapsedNow(job));
  }, 1000);

  loadJob().then(() => {
    if (!deleted) {
      loadTasks(0);
      loadPreview();
      checkOutputs();
    }
  });

  return () => {
    unsubscribe();
    clearInterval(ticker);
    clearTimeout(taskReloadTimer);
  };
}

// The dashboard's entry point: sign-in, the hash router (#/jobs, #/jobs/<id>, #/workers)
// and the live connection.

import { del, onUnauthorized, post, toast } from "./api.js";
import { replaceChildren } from "./dom.js";
import { mountJob } from "./job.js";
import { mountJobs } from "./jobs.js";
import * as live from "./live.js";
import { mountSummary } from "./summary.js";
import { mountWorkers } from "./workers.js";

const view = document.getElementById("view");
const login = document.getElementById("login");
const signOut = document.getElementById("sign-out");
let unmount = null;
let started = false;

function route() {
  if (!started) return;
  if (unmount) unmount();
  unmount = null;
  const hash = location.hash || "#/jobs";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === (parts[0] || "jobs"));
  }
  document.title = "Farmhand";
  if (parts[0] === "workers") {
    unmount = mountWorkers(view, parts[1]);
  } else if (parts[0] === "jobs" && parts[1]) {
    unmount = mountJob(view, parts[1]);
  } else {
    unmount = mountJobs(view, params);
  }
}

function showLogin(message) {
  started = false;
  live.stop();
  if (unmount) unmount();
  unmount = null;
  replaceChildren(view);
  document.body.classList.add("signed-out");
  document.getElementById("summary").hidden = true;
  login.hidden = false;
  const error = login.querySelector(".login-error");
  error.textContent = message || "";
  login.querySelector("input").focus();
}

function startDashboard(tokenRequired) {
  document.body.classList.remove("signed-out");
  login.hidden = true;
  signOut.hidden = !tokenRequired;
  document.getElementById("summary").hidden = false;
  if (!started) {
    started = true;
    live.start(() => showLogin("Your session ended; enter the access token again."));
    mountSummary(document.getElementById("summary"));
  }
  route();
}

login.querySelector("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = login.querySelector("input");
  try {
    await post("/api/farmhand/session", { token: input.value });
  } catch (err) {
    login.querySelector(".login-error").textContent = err.message;
    return;
  }
  input.value = "";
  startDashboard(true);
});

signOut.addEventListener("click", async () => {
  await del("/api/farmhand/session").catch(() => {});
  showLogin("Signed out.");
});

onUnauthorized(() => {
  if (started) showLogin("The manager asks for its access token.");
});

window.addEventListener("hashchange", route);

async function boot() {
  let info;
  try {
    info = await (await fetch("/api/farmhand/session", { credentials: "same-origin" })).json();
  } catch (err) {
    toast(`Cannot reach the manager: ${err.message}`, "error");
    setTimeout(boot, 3000);
    return;
  }
  if (info.token_required && !info.signed_in) showLogin();
  else startDashboard(info.token_required);
}

boot();

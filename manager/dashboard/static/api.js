// Talking to the manager: JSON requests, errors shown to the user, the sign-in state.
// Every change of farm state is a call to the manager's API (/api/v3, and Farmhand's own
// controls under /api/farmhand that the farmhand command uses too), as any other client makes.

import { h } from "./dom.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const unauthorizedListeners = [];

export function onUnauthorized(fn) {
  unauthorizedListeners.push(fn);
}

export async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(0, `cannot reach the manager (${err.message})`);
  }
  if (response.status === 401) {
    unauthorizedListeners.forEach((fn) => fn());
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      if (data && data.message) message = data.message;
    } catch (_ignored) {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const del = (path, body) => api("DELETE", path, body);

// Runs an action, showing its error (if any) as a toast; returns whether it succeeded.
export async function act(label, fn) {
  try {
    await fn();
    return true;
  } catch (err) {
    toast(`${label}: ${err.message}`, "error");
    return false;
  }
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// A modal "are you sure" for destructive actions; resolves true when confirmed.
export function confirmAction(message, confirmLabel = "Confirm") {
  const dialog = document.getElementById("confirm");
  dialog.querySelector(".confirm-message").textContent = message;
  const ok = dialog.querySelector(".confirm-ok");
  ok.textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

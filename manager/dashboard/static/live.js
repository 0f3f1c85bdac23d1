// Live farm changes over server-sent events. The server ends each stream after a while and
// the browser reconnects with the same client id, which keeps its place in the event queue.
// Views subscribe to event batches; they re-fetch only the rows that changed.

const listeners = new Set();
let source = null;
let stopped = true;
let retryTimer = null;
let wasOpen = false;

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // works on plain http too, unlike crypto.randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const clientId = randomId();

function setIndicator(state, title) {
  const el = document.getElementById("live");
  if (!el) return;
  el.dataset.state = state;
  el.title = title;
  el.querySelector(".live-text").textContent = state === "on" ? "live" : state === "connecting" ? "connecting" : "offline";
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function dispatch(events) {
  for (const fn of [...listeners]) {
    try {
      fn(events);
    } catch (err) {
      console.error("live update failed", err);
    }
  }
}

export function start(onAuthLost) {
  stopped = false;
  if (source) return;
  setIndicator("connecting", "Connecting to the manager's live updates");
  source = new EventSource(`/api/farmhand/events?client=${clientId}`);
  source.addEventListener("hello", (msg) => {
    setIndicator("on", "Live updates");
    // A new queue after an outage (manager restarted, or away too long): events were lost.
    const hello = JSON.parse(msg.data);
    if (wasOpen && !hello.resumed) dispatch([{ type: "resync" }]);
    wasOpen = true;
  });
  source.onmessage = (msg) => {
    let events;
    try {
      events = JSON.parse(msg.data);
    } catch (_ignored) {
      return;
    }
    dispatch(events);
  };
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) {
      setIndicator("connecting", "Reconnecting…");
      return;
    }
    // The server refused the stream (401, or it is down): find out which, then retry.
    source = null;
    setIndicator("off", "No live updates; retrying");
    try {
      const r = await fetch("/api/farmhand/session", { credentials: "same-origin" });
      const info = await r.json();
      if (info.token_required && !info.signed_in) {
        stopped = true;
        onAuthLost();
        return;
      }
    } catch (_ignored) {
      // manager unreachable: retry below
    }
    if (!stopped) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => start(onAuthLost), 3000);
    }
  };
}

export function stop() {
  stopped = true;
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setIndicator("off", "Not connected");
}

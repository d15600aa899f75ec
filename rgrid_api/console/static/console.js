// The console's only script: local times, an execution's log and a batch's progress live.
// Text from the server is only ever set as textContent, never parsed as HTML.
"use strict";

function showLocalTimes(root) {
  const format = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "medium"});
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.title = el.textContent;
      el.textContent = format.format(when);
    }
  }
}

const SYMBOLS = {queued: "○", running: "▶", succeeded: "✓", failed: "✗", cancelled: "⊘",
                 timed_out: "⧖", finished: "■"};

function statusBadge(status) {
  const badge = document.createElement("span");
  badge.className = "status status-" + status;
  const symbol = document.createElement("span");
  symbol.setAttribute("aria-hidden", "true");
  symbol.textContent = SYMBOLS[status] || "•";
  badge.append(symbol, " " + status);
  return badge;
}

function showStatus(status) {
  const holder = document.getElementById("status");
  if (holder) holder.replaceChildren(statusBadge(status));
}

// A stream of this site's API over a WebSocket (the session cookie signs it in),
// reopened with a growing wait when the connection drops; ``handle`` returns true on the
// last message.
function followStream(pathNow, handle, say) {
  let attempt = 0;
  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${pathNow()}`);
    let ended = false;
    socket.onopen = () => { attempt = 0; say("Live: changes appear as they happen."); };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "error") {
        ended = true;
        say(message.message + " " + (message.hint || ""));
      } else if (handle(message)) {
        ended = true;
      }
    };
    socket.onclose = () => {
      if (ended) return;
      attempt += 1;
      const wait = Math.min(5000, 250 * 2 ** attempt);
      say(`Connection lost. Reconnecting (attempt ${attempt})…`);
      setTimeout(open, wait);
    };
  }
  open();
}

function sayIn(element) {
  return (text) => { if (element) element.textContent = text; };
}

function followLog(log) {
  const say = sayIn(document.getElementById("live-state"));
  let nextSeq = Number(log.dataset.nextSeq);
  const path = () => `/api/v1/executions/${encodeURIComponent(log.dataset.execution)}` +
                     `/stream?from_seq=${nextSeq}`;
  followStream(path, (message) => {
    if (message.type === "log" && message.seq >= nextSeq) {
      const line = document.createElement("span");
      line.className = message.stream === "stderr" ? "stderr" : "stdout";
      line.textContent = message.data;
      log.append(line);
      nextSeq = message.seq + 1;
      log.dataset.nextSeq = String(nextSeq);
    } else if (message.type === "status") {
      showStatus(message.status);
    } else if (message.type === "end") {
      showStatus(message.status);
      say("Finished: " + message.status + ". Reload the page for its outputs and cost.");
      return true;
    }
    return false;
  }, say);
}

function showCounts(counts, total) {
  let ended = 0;
  for (const [status, n] of Object.entries(counts)) {
    if (status !== "queued" && status !== "running") ended += n;
    const cell = document.querySelector(`#batch-counts li[data-status="${status}"] .count`);
    if (cell) cell.textContent = String(n);
  }
  document.getElementById("batch-progress").value = ended;
  document.getElementById("batch-ended").textContent = `${ended} of ${total} ended`;
}

function showItem(item) {
  const row = document.querySelector(`#items tr[data-item="${CSS.escape(item.id)}"]`);
  if (row) {
    row.querySelector(".item-status").replaceChildren(statusBadge(item.status));
    row.querySelector(".item-worker").textContent = item.worker || "";
  }
  const failed = ["failed", "timed_out", "cancelled"].includes(item.status);
  const failures = document.querySelector("#failures tbody");
  if (!failed || !failures || failures.querySelector(`tr[data-item="${CSS.escape(item.id)}"]`)) return;
  const line = document.createElement("tr");
  line.dataset.item = item.id;
  const index = document.createElement("td");
  index.textContent = String(item.batch_index);
  const link = document.createElement("a");
  link.href = "/console/executions/" + encodeURIComponent(item.id);
  link.textContent = item.id;
  const id = document.createElement("td");
  id.append(link);
  const error = document.createElement("td");
  error.textContent = item.error || "";
  const status = document.createElement("td");
  status.append(statusBadge(item.status));
  line.append(index, id, status, error);
  failures.prepend(line);
  document.getElementById("no-failures")?.remove();
}

function followBatch(state) {
  const say = sayIn(state);
  const path = () => `/api/v1/batches/${encodeURIComponent(state.dataset.batch)}/stream`;
  followStream(path, (message) => {
    if (message.type === "progress") {
      showCounts(message.counts, message.total);
      showStatus(message.status);
    } else if (message.type === "item") {
      showItem(message);
    } else if (message.type === "batch_end") {
      showCounts(message.counts, Number(document.getElementById("batch-progress").max));
      showStatus(message.status);
      say("Finished: " + message.status + ". Reload the page for its cost and to retry failures.");
      return true;
    }
    return false;
  }, say);
}

document.addEventListener("DOMContentLoaded", () => {
  showLocalTimes(document);
  const log = document.getElementById("log");
  if (log && log.dataset.live === "yes") followLog(log);
  const batch = document.querySelector("[data-batch]");
  if (batch && batch.dataset.live === "yes") followBatch(batch);
});

// The console's only script: local times, and an execution's log live while it runs.
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
                 timed_out: "⧖"};

function showStatus(status) {
  const holder = document.getElementById("status");
  if (!holder) return;
  const badge = document.createElement("span");
  badge.className = "status status-" + status;
  const symbol = document.createElement("span");
  symbol.setAttribute("aria-hidden", "true");
  symbol.textContent = SYMBOLS[status] || "•";
  badge.append(symbol, " " + status);
  holder.replaceChildren(badge);
}

function followLog(log) {
  const state = document.getElementById("live-state");
  let nextSeq = Number(log.dataset.nextSeq);
  let attempt = 0;
  const say = (text) => { if (state) state.textContent = text; };

  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/executions/` +
                `${encodeURIComponent(log.dataset.execution)}/stream?from_seq=${nextSeq}`;
    const socket = new WebSocket(url);
    let ended = false;
    socket.onopen = () => { attempt = 0; say("Live: new lines appear as they are printed."); };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
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
        ended = true;
        showStatus(message.status);
        say("Finished: " + message.status + ". Reload the page for its outputs and cost.");
      } else if (message.type === "error") {
        ended = true;
        say(message.message + " " + (message.hint || ""));
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

document.addEventListener("DOMContentLoaded", () => {
  showLocalTimes(document);
  const log = document.getElementById("log");
  if (log && log.dataset.live === "yes") followLog(log);
});

// MedAssist audit section (hand-written, no dependencies): after each run,
// fetch the broker's audit events for it and show the hash chain check.
(function () {
  "use strict";
  var status = document.getElementById("audit-status");
  var table = document.getElementById("audit-events");
  var trace = document.getElementById("trace");
  if (!status || !table || !trace) { return; }

  function cell(row, text, tag) {
    var td = document.createElement(tag || "td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
  }

  function show(view) {
    table.innerHTML = "";
    status.innerHTML = "";
    var badge = document.createElement("span");
    // The server decides the state ("intact", "broken" or "none").
    var chain = view.state || "none";
    if (chain === "broken") {
      badge.className = "badge deny";
      badge.textContent = "hash chain BROKEN at " + view.chain.broken.id + ": " + view.chain.broken.reason;
    } else if (chain === "intact") {
      badge.className = "badge ok";
      badge.textContent = "hash chain intact: " + view.chain.checked + " events checked";
    } else {
      badge.textContent = view.note || "audit trail unavailable";
    }
    status.setAttribute("data-chain", chain);
    status.appendChild(badge);
    var more = document.createElement("span");
    more.textContent = " " + view.events.length + " events for " + (view.run || "this session") + " ";
    status.appendChild(more);
    var link = document.createElement("a");
    link.href = "/audit" + (view.run ? "?run=" + encodeURIComponent(view.run) : "");
    link.textContent = "open the audit tab";
    status.appendChild(link);
    var head = document.createElement("tr");
    ["id", "event", "outcome", "task", "detail", "hash"].forEach(function (h) { cell(head, h, "th"); });
    table.appendChild(head);
    view.events.forEach(function (e) {
      var row = document.createElement("tr");
      cell(row, e.id); cell(row, e.event_type); cell(row, e.outcome);
      cell(row, e.task_id); cell(row, e.detail); cell(row, (e.hash || "").slice(0, 12));
      table.appendChild(row);
    });
  }

  document.addEventListener("demo:run-finished", function () {
    var run = trace.getAttribute("data-run") || "";
    status.setAttribute("data-chain", "loading");
    fetch("/api/audit?run=" + encodeURIComponent(run))
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function (error) {
        status.setAttribute("data-chain", "none");
        status.textContent = "could not read the audit trail: " + error.message;
      });
  });
})();

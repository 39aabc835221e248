// AgentWrit demo page script (hand-written, no dependencies).
// Contract: see PageShell in src/web.rs.
(function () {
  "use strict";
  var form = document.getElementById("run-form");
  var text = document.getElementById("run-text");
  var trace = document.getElementById("trace");
  var status = document.getElementById("run-status");
  var answer = document.getElementById("answer");
  var button = document.getElementById("run-button");
  if (!form || !trace) { return; }
  var scenario = "free-text";
  var source = null;

  function setOptions(options) {
    var inputs = form.querySelectorAll("[data-option]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var value = Object.prototype.hasOwnProperty.call(options, input.name) ? options[input.name] : null;
      if (input.type === "checkbox") { input.checked = value === true; }
      else if (value !== null) { input.value = String(value); }
    }
  }

  function readOptions() {
    var options = {};
    var inputs = form.querySelectorAll("[data-option]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      options[input.name] = input.type === "checkbox" ? input.checked : input.value;
    }
    return options;
  }

  function pick(btn) {
    scenario = btn.getAttribute("data-scenario");
    text.value = btn.getAttribute("data-text");
    var options = {};
    try { options = JSON.parse(btn.getAttribute("data-options") || "{}"); } catch (e) { options = {}; }
    setOptions(options);
    var all = document.querySelectorAll("[data-scenario]");
    for (var i = 0; i < all.length; i++) { all[i].classList.toggle("picked", all[i] === btn); }
  }

  var usage = document.getElementById("usage");

  function chip(text, cls, title) {
    var span = document.createElement("span");
    span.className = "chip " + cls;
    span.textContent = text;
    if (title) { span.title = title; }
    return span;
  }

  // The run's scope usage, one row per agent: every granted scope as a
  // chip (green with its count when used, struck through when not), and
  // the denied scopes in red.
  function renderUsage(agents) {
    if (!usage) { return; }
    usage.innerHTML = "";
    var table = document.createElement("table");
    table.id = "usage-panel";
    var head = document.createElement("tr");
    ["agent", "granted (green: used, struck out: never needed)", "used", "denied"].forEach(function (h) {
      var th = document.createElement("th");
      th.textContent = h;
      head.appendChild(th);
    });
    table.appendChild(head);
    agents.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-role", a.role);
      var who = document.createElement("td");
      var role = document.createElement("strong");
      role.textContent = a.role;
      var id = document.createElement("div");
      id.className = "agent-id";
      id.textContent = a.agent_id;
      who.appendChild(role); who.appendChild(id);
      var granted = document.createElement("td");
      var counts = {};
      a.used.forEach(function (u) { counts[u.scope] = u.count; });
      a.granted.forEach(function (g) {
        var unused = a.unused.indexOf(g) >= 0;
        granted.appendChild(chip(g, unused ? "unused" : "used", unused ? "granted, never needed" : "granted and used"));
      });
      var used = document.createElement("td");
      a.used.forEach(function (u) { used.appendChild(chip(u.scope + " \u00d7" + u.count, "used")); });
      if (!a.used.length) { used.textContent = "\u2013"; }
      var denied = document.createElement("td");
      a.denied.forEach(function (d) { denied.appendChild(chip(d.scope + " \u00d7" + d.count, "denied", "needed, not granted: refused")); });
      if (!a.denied.length) { denied.textContent = "\u2013"; }
      tr.appendChild(who); tr.appendChild(granted); tr.appendChild(used); tr.appendChild(denied);
      tr.setAttribute("data-used", String(a.used.length));
      tr.setAttribute("data-unused", String(a.unused.length));
      tr.setAttribute("data-denied", String(a.denied.length));
      table.appendChild(tr);
    });
    usage.appendChild(table);
  }

  function addLine(env) {
    var li = document.createElement("li");
    li.className = "ev " + env.level + " k-" + env.kind;
    li.setAttribute("data-seq", String(env.seq));
    li.setAttribute("data-kind", env.kind);
    var time = document.createElement("span");
    time.className = "t";
    time.textContent = (env.at_ms / 1000).toFixed(2) + "s";
    var kind = document.createElement("span");
    kind.className = "k";
    kind.textContent = env.kind;
    var line = document.createElement("span");
    line.className = "l";
    line.textContent = env.line;
    li.appendChild(time); li.appendChild(kind); li.appendChild(line);
    trace.appendChild(li);
    if (env.kind === "usage" && env.event && env.event.agents) {
      renderUsage(env.event.agents);
    }
    if (env.kind === "planner_answer" && env.event && env.event.text) {
      answer.textContent = env.event.text;
    }
  }

  function follow(run) {
    var lastSeq = -1;
    trace.setAttribute("data-run", run.run_id);
    source = new EventSource(run.events_url);
    source.onmessage = function (message) {
      var env;
      try { env = JSON.parse(message.data); } catch (e) { return; }
      if (env.seq <= lastSeq) { return; } // replay after a reconnect
      lastSeq = env.seq;
      addLine(env);
      if (env.kind === "run_finished") {
        source.close();
        trace.setAttribute("data-state", "finished");
        status.textContent = "finished";
        button.disabled = false;
        document.dispatchEvent(new CustomEvent("demo:run-finished", { detail: env }));
      }
    };
    source.onerror = function () {
      if (trace.getAttribute("data-state") !== "finished") { status.textContent = "reconnecting..."; }
    };
  }

  function start() {
    if (source) { source.close(); source = null; }
    trace.innerHTML = "";
    answer.textContent = "";
    if (usage) { usage.innerHTML = ""; }
    trace.setAttribute("data-state", "running");
    status.textContent = "running";
    button.disabled = true;
    var body = JSON.stringify({ scenario: scenario, text: text.value, options: readOptions() });
    fetch(form.getAttribute("action"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body
    }).then(function (response) {
      if (response.ok) { return response.json(); }
      // Every refusal is application/problem+json: show its detail.
      return response.json().catch(function () { return {}; }).then(function (problem) {
        throw new Error(problem.detail || ("HTTP " + response.status));
      });
    }).then(follow).catch(function (error) {
      trace.setAttribute("data-state", "error");
      status.textContent = "could not start: " + error.message;
      button.disabled = false;
    });
  }

  var buttons = document.querySelectorAll("[data-scenario]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (e) { pick(e.currentTarget); });
  }
  text.addEventListener("input", function () { scenario = "free-text"; });
  form.addEventListener("submit", function (e) { e.preventDefault(); start(); });

  var params = new URLSearchParams(window.location.search);
  var wanted = params.get("scenario");
  if (wanted) {
    for (var j = 0; j < buttons.length; j++) {
      if (buttons[j].getAttribute("data-scenario") === wanted) { pick(buttons[j]); }
    }
    if (params.get("autorun") === "1") { start(); }
  }
})();

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

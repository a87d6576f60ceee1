// taskdeck dashboard script. Everything works without it; it adds confirm dialogs, select-all,
// the trigger-kind switch in the task form, and live refresh over server-sent events.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Confirm before destructive actions: on the form, or on the button that submits it.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var btn = ev.submitter;
    var question = (btn && btn.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!question) return;
    if (!window.confirm(question)) {
      ev.preventDefault();
      return;
    }
    var yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "confirm";
    yes.value = "yes";
    form.appendChild(yes);
  });

  // Select-all checkboxes.
  document.addEventListener("change", function (ev) {
    var box = ev.target;
    var name = box.getAttribute && box.getAttribute("data-select-all");
    if (!name) return;
    document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (b) {
      b.checked = box.checked;
    });
  });

  // Show only the fields of the chosen trigger kind.
  function syncKind() {
    var sel = document.querySelector("[data-trigger-kind]");
    if (!sel) return;
    document.querySelectorAll(".trigger-group").forEach(function (g) {
      g.hidden = g.getAttribute("data-kind") !== sel.value;
    });
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.hasAttribute && ev.target.hasAttribute("data-trigger-kind")) syncKind();
  });

  // Live refresh: on any event, fetch this page's main fragment and swap it in, unless the
  // user is in the middle of something (a focused field, ticked boxes).
  var pending = null;
  function busy() {
    var a = document.activeElement;
    if (a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)) return true;
    return document.querySelector('main input[type=checkbox]:checked') !== null;
  }
  function refresh() {
    pending = null;
    if (busy() || document.querySelector(".task-form, .confirm")) return;
    fetch(window.location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) {
        var to = r.headers.get("HX-Redirect");
        if (to) { window.location.assign(to); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || busy()) return;
        var main = document.getElementById("main");
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        var fresh = tpl.content.getElementById("main");
        if (main && fresh) main.replaceWith(fresh);
      })
      .catch(function () { /* offline for a moment: the next event retries */ });
  }
  function schedule() {
    if (pending === null) pending = window.setTimeout(refresh, 400);
  }
  function live() {
    var url = document.body && document.body.getAttribute("data-events");
    if (!url || !window.EventSource || !document.getElementById("main")) return;
    var es = new EventSource(url);
    ["task_added", "task_updated", "task_removed", "task_paused", "task_resumed",
     "run_started", "run_finished", "scheduler_paused", "scheduler_resumed", "lagged"]
      .forEach(function (name) { es.addEventListener(name, schedule); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncKind();
    live();
  });
})();

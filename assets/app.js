// taskdeck dashboard script. Everything works without it; it adds confirm dialogs, select-all,
// the trigger-kind switch in the task form, the time zone and theme switches, keyboard
// shortcuts, and live refresh over server-sent events.
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

  // The task form's trigger preview: the next fires, as you type (POST /api/preview).
  var previewTimer = null;
  var previewSeq = 0;
  function previewNow() {
    var box = document.getElementById("trigger-preview");
    if (!box) return;
    var form = box.closest("form");
    // Nothing to ask while the kind's required field is empty.
    var needs = { interval: "every", cron: "expr", date: "at" }[form.elements.kind && form.elements.kind.value];
    if (needs && form.elements[needs] && !form.elements[needs].value.trim()) {
      box.textContent = "";
      return;
    }
    var body = new URLSearchParams();
    ["kind", "every", "start", "end", "expr", "timezone", "at"].forEach(function (n) {
      var el = form.elements[n];
      if (el) body.append(n, el.value);
    });
    body.append("n", "5");
    var headers = { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" };
    if (form.elements.csrf) headers["X-CSRF-Token"] = form.elements.csrf.value;
    var seq = ++previewSeq;
    fetch(box.getAttribute("data-preview"), { method: "POST", headers: headers, body: body.toString(), credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (seq !== previewSeq) return; // a later keystroke's answer wins
        box.textContent = "";
        if (!res.ok || res.j.valid === false) {
          var err = document.createElement("p");
          err.className = "field-error";
          err.textContent = res.j.message || "This trigger cannot fire.";
          box.appendChild(err);
          return;
        }
        var text = document.createElement("p");
        text.className = "muted";
        text.textContent = res.j.text;
        box.appendChild(text);
        var list = res.j.fires_text || [];
        if (!list.length) {
          var none = document.createElement("p");
          none.textContent = "It will not fire again.";
          box.appendChild(none);
          return;
        }
        var h = document.createElement("h3");
        h.textContent = "Next " + list.length + " fires";
        box.appendChild(h);
        var ol = document.createElement("ol");
        ol.className = "fires";
        list.forEach(function (text, i) {
          var li = document.createElement("li");
          var time = document.createElement("time");
          time.setAttribute("datetime", res.j.fires[i]);
          time.setAttribute("data-abs", "");
          time.textContent = text;
          li.appendChild(time);
          // What else fires then (the timeline's count), flagged on a pile-up.
          var load = (res.j.load || [])[i];
          if (load) {
            var note = document.createElement("span");
            note.className = "load" + (load.crowded ? " crowded" : "");
            note.textContent = " · " + load.text;
            li.appendChild(note);
          }
          ol.appendChild(li);
        });
        box.appendChild(ol);
        if (res.j.advice) {
          var advice = document.createElement("p");
          advice.className = "flash flash-err advice";
          advice.setAttribute("role", "status");
          advice.textContent = res.j.advice;
          box.appendChild(advice);
        }
        applyZone();
      })
      .catch(function () { /* offline for a moment: the next keystroke retries */ });
  }
  function previewSoon(ev) {
    var t = ev.target;
    if (!t.closest || !t.closest(".task-form") || !document.getElementById("trigger-preview")) return;
    if (["kind", "every", "start", "end", "expr", "timezone", "at"].indexOf(t.name) < 0) return;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(previewNow, 250);
  }
  document.addEventListener("input", previewSoon);
  document.addEventListener("change", previewSoon);

  // Times in the viewer's zone, on request (remembered). Absolute times are
  // <time datetime data-abs>, relative ones carry the absolute time in their title, log lines
  // are <time datetime data-clock>; without the script all stay in the scheduler's zone.
  var KEY = "taskdeck.zone";
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = "0" + n; return n; }
  function zoneName(d) {
    try {
      var part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d)
        .filter(function (p) { return p.type === "timeZoneName"; })[0];
      return part ? part.value : "";
    } catch (e) { return ""; }
  }
  function localText(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zoneName(d);
  }
  function wantsLocal() {
    try { return localStorage.getItem(KEY) === "local"; } catch (e) { return false; }
  }
  function applyZone() {
    var local = wantsLocal();
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      var attr = t.hasAttribute("data-abs") ? "text" : t.hasAttribute("data-clock") ? "clock"
        : t.hasAttribute("data-short") ? "short" : t.title ? "title" : null;
      if (!attr) return;
      var key = "data-server-" + attr;
      if (!t.hasAttribute(key)) t.setAttribute(key, attr === "title" ? t.title : t.textContent);
      var server = t.getAttribute(key);
      if (attr === "text") t.textContent = local ? localText(d) : server;
      else if (attr === "short") t.textContent = local ? localText(d).replace(/:\d\d (\S*)$/, " $1") : server;
      // A heat map cell: the time, then what fires then (data-suffix).
      else if (attr === "title") t.title = local ? localText(d) + (t.getAttribute("data-suffix") || "") : server;
      else t.textContent = local
        ? pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3)
        : server;
    });
    var zone = document.querySelector(".tz[data-zone]");
    if (zone) zone.textContent = local ? (Intl.DateTimeFormat().resolvedOptions().timeZone || zoneName(new Date())) : zone.getAttribute("data-zone");
    var btn = document.querySelector(".tz-toggle");
    if (btn) {
      btn.hidden = false;
      btn.setAttribute("aria-pressed", local ? "true" : "false");
      btn.textContent = local ? "Show the scheduler's zone" : "Show my time zone";
    }
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest(".tz-toggle");
    if (!btn) return;
    try {
      localStorage.setItem(KEY, wantsLocal() ? "server" : "local");
    } catch (e) { /* storage off: nothing to remember */ }
    applyZone();
  });

  // The theme switch: system, light, dark, in turn. The choice goes into a cookie the server
  // reads (so the next page is drawn in it from its first frame) and onto this page at once.
  var THEMES = ["system", "light", "dark"];
  function currentTheme() {
    return document.documentElement.getAttribute("data-theme") || "system";
  }
  function showTheme() {
    var btn = document.querySelector(".theme-toggle");
    if (!btn) return;
    btn.hidden = false;
    var label = btn.querySelector(".theme-label");
    if (label) label.textContent = "Theme: " + currentTheme();
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest(".theme-toggle");
    if (!btn) return;
    var next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
    var root = document.documentElement;
    if (next === "system") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", next);
    var meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) meta.setAttribute("content", next === "system" ? "light dark" : next);
    var cookie = btn.getAttribute("data-theme-cookie") + "=" + next +
      "; Path=" + btn.getAttribute("data-theme-path") + "; SameSite=Lax" +
      (next === "system" ? "; Max-Age=0" : "; Max-Age=31536000") +
      (location.protocol === "https:" ? "; Secure" : "");
    document.cookie = cookie;
    showTheme();
  });

  // Keyboard shortcuts: "/" searches, "g" then o, t, r or j goes to a page, "?" lists them.
  // Not while typing in a field, nor with a modifier held.
  var SHORTCUTS = [
    ["/", "Search (the tasks or runs on this page, else the tasks)"],
    ["g o", "Go to the overview"], ["g t", "Go to the tasks"],
    ["g r", "Go to the runs"], ["g j", "Go to the jobs"],
    ["?", "Show these shortcuts"]
  ];
  var GO = { o: "/", t: "/tasks", r: "/runs", j: "/jobs" };
  var pendingG = 0;
  function base() {
    var brand = document.querySelector("a.brand");
    return brand ? brand.getAttribute("href").replace(/\/$/, "") : null;
  }
  function typing(t) {
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  function shortcutsDialog() {
    var d = document.getElementById("shortcuts");
    if (d) return d;
    d = document.createElement("dialog");
    d.id = "shortcuts";
    d.setAttribute("aria-labelledby", "shortcuts-title");
    var h = document.createElement("h2");
    h.id = "shortcuts-title";
    h.textContent = "Keyboard shortcuts";
    d.appendChild(h);
    var dl = document.createElement("dl");
    dl.className = "kv";
    SHORTCUTS.forEach(function (s) {
      var dt = document.createElement("dt");
      s[0].split(" ").forEach(function (k, i) {
        if (i > 0) dt.appendChild(document.createTextNode(" then "));
        var kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.appendChild(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = s[1];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    d.appendChild(dl);
    var form = document.createElement("form");
    form.method = "dialog";
    var close = document.createElement("button");
    close.className = "btn";
    close.textContent = "Close";
    form.appendChild(close);
    d.appendChild(form);
    document.body.appendChild(d);
    return d;
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var root = base();
    if (root === null) return;
    if (pendingG && Date.now() - pendingG < 1500 && GO[ev.key]) {
      pendingG = 0;
      ev.preventDefault();
      window.location.assign(root + GO[ev.key]);
      return;
    }
    pendingG = 0;
    if (ev.key === "g") {
      pendingG = Date.now();
    } else if (ev.key === "/") {
      ev.preventDefault();
      var q = document.querySelector('main input[name="q"]');
      if (q) q.focus();
      else window.location.assign(root + "/tasks#search");
    } else if (ev.key === "?") {
      ev.preventDefault();
      var d = shortcutsDialog();
      if (!d.open) d.showModal();
    }
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
        if (main && fresh) {
          main.replaceWith(fresh);
          applyZone();
        }
      })
      .catch(function () { /* offline for a moment: the next event retries */ });
  }
  function schedule() {
    if (pending === null) pending = window.setTimeout(refresh, 400);
  }
  // A running run's page: lines a run_log event brings are appended when they follow those
  // shown (data-seq); otherwise (another replica's run, a gap) the page's main part is
  // fetched again.
  function levelName(l) { return l === "warn" || l === "error" || l === "debug" ? l : "info"; }
  function clock(d) {
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }
  // HH:MM:SS.mmm in the scheduler's zone, as the server writes log times.
  function clockIn(zone) {
    try {
      var f = new Intl.DateTimeFormat("en-GB", { timeZone: zone || "UTC", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
      return function (d) { return f.format(d) + "." + pad(d.getMilliseconds(), 3); };
    } catch (e) {
      return function (d) { return d.toISOString().slice(11, 23); };
    }
  }
  function onRunLog(ev) {
    var list = document.querySelector("ol.log[data-live-run]");
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    if (!list || String(data.run_id) !== list.getAttribute("data-live-run")) return;
    var shown = list.hasAttribute("data-seq") ? Number(list.getAttribute("data-seq")) : null;
    var lines = data.lines || [];
    var first = data.seq - lines.length;
    // Already shown (the page was drawn after this event was sent): nothing to do.
    if (shown !== null && data.seq <= shown) return;
    if (!lines.length || shown === null || first > shown || busy()) { schedule(); return; }
    var local = wantsLocal();
    var zone = document.querySelector(".tz[data-zone]");
    var serverClock = clockIn(zone && zone.getAttribute("data-zone"));
    lines.slice(shown - first).forEach(function (l) {
      var li = document.createElement("li");
      li.className = "lvl-" + levelName(l.level);
      var t = document.createElement("time");
      var d = new Date(l.at);
      t.setAttribute("datetime", l.at);
      t.setAttribute("data-clock", "");
      t.textContent = local ? clock(d) : serverClock(d);
      li.appendChild(t);
      var lvl = document.createElement("span");
      lvl.className = "lvl";
      lvl.textContent = levelName(l.level);
      li.appendChild(lvl);
      var msg = document.createElement("span");
      msg.className = "msg";
      msg.textContent = l.message;
      li.appendChild(msg);
      list.appendChild(li);
    });
    // Only the newest lines are kept: so too on the page.
    while (list.children.length > 200) list.removeChild(list.firstElementChild);
    list.setAttribute("data-seq", String(data.seq));
    var none = list.parentNode && list.parentNode.querySelector(".empty");
    if (none) none.remove();
  }
  // Progress shows on a run's page, the tasks list and the jobs page: fetched again (at
  // most every 400 ms) when it moves.
  function onRunProgress(ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    var run = document.querySelector("ol.log[data-live-run]");
    if (run) {
      if (String(data.run_id) === run.getAttribute("data-live-run")) schedule();
      return;
    }
    // The tasks list: only when the task's row is on it. The jobs page lists every job.
    var shown = Array.prototype.some.call(document.querySelectorAll("[data-live=tasks] a.task-name"), function (a) {
      try { return decodeURIComponent(a.pathname.split("/").pop()) === data.task_id; } catch (e) { return false; }
    });
    if (shown || document.querySelector("table.jobs")) schedule();
  }
  function live() {
    var url = document.body && document.body.getAttribute("data-events");
    if (!url || !window.EventSource || !document.getElementById("main")) return;
    var es = new EventSource(url);
    ["task_added", "task_updated", "task_removed", "task_paused", "task_resumed",
     "run_started", "run_finished", "scheduler_paused", "scheduler_resumed",
     "alert_raised", "alert_resolved", "lagged"]
      .forEach(function (name) { es.addEventListener(name, schedule); });
    es.addEventListener("run_log", onRunLog);
    es.addEventListener("run_progress", onRunProgress);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.getElementById("trigger-preview")) previewNow();
    if (window.location.hash === "#search") {
      var q = document.querySelector('main input[name="q"]');
      if (q) q.focus();
    }
    showTheme();
    applyZone();
    syncKind();
    live();
  });
})();

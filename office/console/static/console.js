/* The staff console's few lines of script: live panels, forms sent without leaving the page,
   keyboard shortcuts. Every page works without it too (forms post, pages reload). */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var me = body.getAttribute("data-me") || "";
  var role = body.getAttribute("data-role") || "";
  var screen = body.getAttribute("data-screen") || "";
  var said = document.getElementById("said");
  var lost = document.getElementById("lost");
  var version = +(body.getAttribute("data-version") || 0);
  var pending = {};

  function newId() {
    var a = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function say(text, ok) {
    if (!said) return;
    said.textContent = text;
    said.className = "said " + (ok ? "ok" : "refused");
  }

  /* A case held by someone else offers its holder's buttons only to the floor. */
  function mineOnly(root) {
    var boss = role === "floor" || role === "admin";
    var forms = root.querySelectorAll("form[data-holder]");
    for (var i = 0; i < forms.length; i++) {
      var f = forms[i];
      f.hidden = !boss && f.getAttribute("data-holder") !== me;
    }
  }

  function filterTickets() {
    var find = document.getElementById("find");
    if (!find) return;
    var q = find.value.replace(/\D/g, "");
    var rows = document.querySelectorAll("tr[data-number]");
    for (var i = 0; i < rows.length; i++) {
      rows[i].hidden = q !== "" && rows[i].getAttribute("data-number").indexOf(q) !== 0;
    }
  }

  function focusKey(el) {
    var b = el && el.closest ? el.closest("[data-act]") : null;
    return b ? b.getAttribute("data-act") : null;
  }

  function swap(name, html) {
    var el = document.getElementById("p-" + name);
    if (!el) return;
    var active = document.activeElement;
    if (active && el.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      pending[name] = html; /* never pull a field from under the fingers typing in it */
      return;
    }
    var key = active && el.contains(active) ? focusKey(active) : null;
    el.innerHTML = html.split("__CSRF__").join(csrf).split("__RID__").join("");
    mineOnly(el);
    if (key) {
      var again = el.querySelector('[data-act="' + key.replace(/"/g, "") + '"]');
      (again || el).focus();
    }
    if (name === "tickets") filterTickets();
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      for (var name in pending) {
        var el = document.getElementById("p-" + name);
        if (el && !el.contains(document.activeElement)) {
          var html = pending[name];
          delete pending[name];
          swap(name, html);
        }
      }
    }, 0);
  });

  function apply(data) {
    if (!data || typeof data.v !== "number") return;
    version = data.v;
    for (var name in data.panels) swap(name, data.panels[name]);
  }

  /* Live: server-sent events; polling when the stream cannot be kept open. */
  var query = "screen=" + encodeURIComponent(screen) + "&case=" + encodeURIComponent(body.getAttribute("data-case") || "");
  var timer = null, es = null, failures = 0;
  function poll() {
    fetch("/panels?" + query, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { location.href = "/signin"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (d) { if (d) { lost.hidden = true; apply(d); } })
      .catch(function () { lost.hidden = false; });
  }
  function startPolling() {
    if (es) { es.close(); es = null; }
    if (!timer) timer = setInterval(poll, 3000);
  }
  if (screen && window.EventSource) {
    es = new EventSource("/events?" + query);
    es.addEventListener("panels", function (e) {
      failures = 0;
      lost.hidden = true;
      try { apply(JSON.parse(e.data)); } catch (x) { /* a broken message: the next one repairs */ }
    });
    es.onopen = function () { failures = 0; lost.hidden = true; };
    es.onerror = function () {
      failures += 1;
      if (failures >= 2) lost.hidden = false;
      if (es && es.readyState === 2) startPolling(); /* closed for good: poll */
      if (failures >= 5) startPolling();
    };
  } else if (screen) {
    startPolling();
  }

  /* Forms: sent in the background, answered in one sentence; a retry keeps its request id. */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("act")) return;
    e.preventDefault();
    var confirmText = form.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) return;
    if (form.getAttribute("data-busy")) return;
    var rid = form.querySelector('input[name="request_id"]');
    if (!form.getAttribute("data-rid")) form.setAttribute("data-rid", newId());
    if (rid) rid.value = form.getAttribute("data-rid");
    var csrfField = form.querySelector('input[name="csrf"]');
    if (csrfField) csrfField.value = csrf;
    form.setAttribute("data-busy", "1");
    say(body.getAttribute("data-working") || "…", true);
    var data = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf }
    })
      .then(function (r) {
        if (r.status === 401) { location.href = "/signin"; return null; }
        return r.json();
      })
      .then(function (d) {
        form.removeAttribute("data-busy");
        if (!d) return;
        form.removeAttribute("data-rid"); /* answered: the next press is a new request */
        say(d.message, d.ok);
        if (d.ok && form.getAttribute("data-desk")) desk(form, d);
        if (d.ok && form.querySelector('input[name="password"]')) form.reset();
        if (d.ok && form.querySelector('input[name="ref"]')) form.reset();
      })
      .catch(function () {
        form.removeAttribute("data-busy"); /* no answer: pressing again resends the same id */
        say(body.getAttribute("data-slow") || "", false);
      });
  });

  function desk(form, d) {
    var out = document.getElementById("desk-result");
    if (!out) return;
    var p1 = document.createElement("p");
    p1.className = "issued-number";
    p1.textContent = form.getAttribute("data-number").replace("{number}", d.number);
    var p2 = document.createElement("p");
    p2.textContent = d.printed ? form.getAttribute("data-printed")
      : d.why ? form.getAttribute("data-not-printed").replace("{why}", d.why)
      : form.getAttribute("data-write");
    out.textContent = "";
    out.appendChild(p1);
    out.appendChild(p2);
  }

  /* The desk shows the procedures of the chosen purpose only. */
  function deskPurpose() {
    var chosen = document.querySelector('input[name="purpose"]:checked');
    var sets = document.querySelectorAll("fieldset.procedures");
    for (var i = 0; i < sets.length; i++) {
      sets[i].hidden = !chosen || sets[i].getAttribute("data-purpose") !== chosen.value;
    }
  }
  document.addEventListener("change", function (e) {
    if (e.target.name === "purpose") deskPurpose();
  });
  deskPurpose();

  /* Keyboard shortcuts: a letter presses the visible button that carries it. */
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    var key = (e.key || "").toLowerCase();
    if (key === "c" && document.getElementById("call-number")) {
      e.preventDefault();
      document.getElementById("call-number").focus();
      return;
    }
    if (key === "/" && document.getElementById("find")) {
      e.preventDefault();
      document.getElementById("find").focus();
      return;
    }
    if (!/^[a-z]$/.test(key)) return;
    var buttons = document.querySelectorAll('button[data-key="' + key + '"]');
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].offsetParent !== null) {
        e.preventDefault();
        buttons[i].click();
        return;
      }
    }
  });

  var find = document.getElementById("find");
  if (find) find.addEventListener("input", filterTickets);
  mineOnly(document);
})();

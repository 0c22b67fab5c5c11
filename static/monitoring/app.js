// Store monitoring: progressive enhancement only. Every page works without this
// file (plain forms and links, server-rendered tables and charts); with it:
//  - Trigger Report stays on the page and shows a live progress bar, then the result;
//  - a report page that is still running updates itself, then shows its table;
//  - sorting, filtering and paging the table swap in the new rows without a reload.
// The server stays the one place that sorts and filters, so both ways agree.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var POLL_MS = 1000;
  var MAX_POLL_MS = 10000;
  var TYPING_PAUSE_MS = 250;

  function fetchDocument(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      return new DOMParser().parseFromString(html, "text/html");
    });
  }

  function percent(status) {
    return Math.round(status.progress * 100);
  }

  function describe(status) {
    if (status.state === "Pending") return "waiting for a free worker…";
    if (status.state === "Running") {
      var parts = status.shards_total ? " (" + status.shards_done + " of " + status.shards_total + " parts)" : "";
      return percent(status) + " %" + parts;
    }
    if (status.state === "Complete") return "done";
    return status.error || "";
  }

  function showProgress(box, status) {
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-progress-text]");
    bar.value = percent(status);
    bar.textContent = percent(status) + " %";
    var badge = document.createElement("span");
    badge.className = "state state-" + status.state.toLowerCase();
    badge.textContent = status.state;
    text.replaceChildren(badge, document.createTextNode(" " + describe(status)));
  }

  // Poll a report's status until it is Complete or Failed, backing off when the server does not answer.
  function watch(statusUrl, box, onFinal) {
    var delay = POLL_MS;
    function step() {
      fetch(statusUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (status) {
          delay = POLL_MS;
          showProgress(box, status);
          if (status.final) onFinal(status);
          else window.setTimeout(step, delay);
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_POLL_MS);
          box.querySelector("[data-progress-text]").textContent = "Lost contact with the server; trying again…";
          window.setTimeout(step, delay);
        });
    }
    step();
  }

  function alertBox(message) {
    var box = document.createElement("div");
    box.className = "alert error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    return box;
  }

  // --- Index: Trigger Report without leaving the page ---------------------------
  function enhanceTrigger(form) {
    var button = form.querySelector("button[type=submit]");
    var progress = document.querySelector("[data-trigger-progress]");
    var result = document.querySelector("[data-trigger-result]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      form.querySelectorAll(".alert").forEach(function (node) { node.remove(); });
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
      }).then(function (response) {
        // A started report answers 202 with Location: where its progress is followed.
        return response.json().then(function (data) {
          return { ok: response.ok, data: data, statusUrl: response.headers.get("Location") };
        });
      }).then(function (answer) {
        if (!answer.ok) throw new Error(answer.data.error || "The report could not be started.");
        progress.hidden = false;
        result.replaceChildren();
        showProgress(progress, answer.data);
        watch(answer.statusUrl, progress, function (status) { showResult(status, result, progress, button); });
      }).catch(function (error) {
        button.disabled = false;
        form.prepend(alertBox(error.message));
      });
    });
  }

  function showResult(status, result, progress, button) {
    fetchDocument(status.page_url).then(function (page) {
      var heading = document.createElement("h2");
      var link = document.createElement("a");
      link.href = status.page_url;
      link.textContent = "Report " + status.report_id;
      heading.append(link);
      result.replaceChildren(heading, page.getElementById("report-body"));
      progress.hidden = true;
      button.disabled = false;
      refreshRecent();
    }).catch(function () {
      button.disabled = false;
    });
  }

  function refreshRecent() {
    var recent = document.querySelector("[data-recent]");
    if (!recent) return;
    fetchDocument(window.location.href).then(function (page) {
      var fresh = page.querySelector("[data-recent]");
      if (fresh) recent.replaceWith(fresh);
    });
  }

  // --- Report page: follow a running report, then show its result ----------------
  function enhanceReport(body) {
    if (body.dataset.final === "true") return;
    watch(body.dataset.statusUrl, body.querySelector("[data-progress]"), function () {
      fetchDocument(window.location.href).then(function (page) {
        body.replaceWith(page.getElementById("report-body"));
      });
    });
  }

  // --- The report table: sort, filter and page in place (delegated: works on tables added later)
  var tableRequest = 0;

  function loadTable(section, url, focusSort) {
    var region = section.querySelector("[data-table-region]");
    var ticket = ++tableRequest;
    region.setAttribute("aria-busy", "true");
    fetchDocument(url).then(function (page) {
      if (ticket !== tableRequest) return; // a newer request won
      var fresh = page.querySelector("[data-table-region]");
      region.replaceWith(fresh);
      syncSortInputs(section.querySelector("[data-table-form]"), new URL(url, window.location.href));
      if (new URL(url, window.location.href).pathname === window.location.pathname) {
        window.history.replaceState(null, "", url);
      }
      if (focusSort) fresh.querySelector('[data-sort="' + focusSort + '"]').focus();
    }).catch(function () {
      window.location.href = url; // fall back to a plain page load
    });
  }

  function syncSortInputs(form, url) {
    var sort = url.searchParams.get("sort") || "store_id";
    form.elements.sort.value = sort;
    form.elements.order.value = url.searchParams.get("order") || (sort === "store_id" ? "asc" : "desc");
  }

  function formUrl(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value !== "") params.append(key, value); });
    return form.action + "?" + params.toString();
  }

  var typingTimer = null;

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-table-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    var form = link.closest(".report-table").querySelector("[data-table-form]");
    var url = new URL(link.getAttribute("href"), form.action).toString();
    loadTable(link.closest(".report-table"), url, link.dataset.sort);
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest("[data-table-form]");
    if (!form || event.target.type !== "search") return;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(function () { loadTable(form.closest(".report-table"), formUrl(form)); }, TYPING_PAUSE_MS);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest("[data-table-form]");
    if (form && event.target.tagName === "SELECT") loadTable(form.closest(".report-table"), formUrl(form));
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-table-form]");
    if (!form) return;
    event.preventDefault();
    window.clearTimeout(typingTimer);
    loadTable(form.closest(".report-table"), formUrl(form));
  });

  var trigger = document.querySelector("[data-trigger-form]");
  if (trigger) enhanceTrigger(trigger);
  var report = document.getElementById("report-body");
  if (report) enhanceReport(report);
})();

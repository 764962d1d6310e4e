// The builder's small behaviours: trigger sections, the field picker and live previews.
// Every page works without this script; it only saves round trips.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Show each trigger's own settings only while that trigger is chosen.
  function setUpTriggerForm() {
    var form = document.getElementById("trigger-form");
    if (!form) return;
    var select = form.querySelector("select[name=trigger]");
    var sections = form.querySelectorAll("[data-show-for]");
    function update() {
      sections.forEach(function (section) {
        section.hidden = section.getAttribute("data-show-for") !== select.value;
      });
    }
    select.addEventListener("change", update);
    update();
  }

  function showFieldError(input, message) {
    var field = input.closest(".field");
    var error = field.querySelector(".error.live");
    if (!error) {
      error = document.createElement("p");
      error.className = "error live";
      error.setAttribute("role", "alert");
      field.appendChild(error);
    }
    error.textContent = message || "";
    error.hidden = !message;
    field.classList.toggle("has-error", Boolean(message));
  }

  // Preview the next firings of the Schedule trigger as the author types.
  function setUpSchedulePreview() {
    var section = document.getElementById("schedule-settings");
    if (!section) return;
    var cron = section.querySelector("input[name=cron]");
    var zone = section.querySelector("input[name=timezone]");
    var list = section.querySelector(".schedule-preview");
    var timer = null;
    function show(answer) {
      var errors = answer.errors || {};
      showFieldError(cron, errors.cron);
      showFieldError(zone, errors.timezone);
      list.textContent = "";
      if (answer.errors) {
        var note = document.createElement("li");
        note.className = "help";
        note.textContent = "Correct the errors above to see when it fires.";
        list.appendChild(note);
        return;
      }
      (answer.firings || []).forEach(function (firing) {
        var item = document.createElement("li");
        var time = document.createElement("time");
        time.setAttribute("datetime", firing.iso);
        time.textContent = firing.local;
        item.appendChild(time);
        list.appendChild(item);
      });
    }
    function request() {
      var query = "?cron=" + encodeURIComponent(cron.value) +
        "&timezone=" + encodeURIComponent(zone.value);
      fetch(section.dataset.previewUrl + query, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(show)
        .catch(function () { showFieldError(cron, "The preview could not be loaded."); });
    }
    section.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(request, 250);
    });
  }

  function rowOf(element) {
    return element.closest(".mapping-row");
  }

  function showPreview(row, answer) {
    var box = row.querySelector(".preview");
    box.textContent = "";
    row.classList.toggle("has-error", Boolean(answer.error));
    if (answer.error) {
      var error = document.createElement("p");
      error.className = "error preview-error";
      error.textContent = answer.error;
      box.appendChild(error);
    } else if (answer.value !== undefined) {
      var pre = document.createElement("pre");
      pre.className = "preview-value";
      pre.setAttribute("aria-label", "Preview of " + row.dataset.target);
      pre.textContent = answer.value;
      box.appendChild(pre);
    }
  }

  function requestPreview(form, row) {
    // A Transform's new-field rows have no target name to preview yet.
    if (!row.dataset.target) return;
    var kind = row.querySelector("select").value;
    var value = row.querySelector(".mapping-value").value;
    if (!kind) {
      showPreview(row, {});
      return;
    }
    var body = new FormData();
    body.append("target", row.dataset.target);
    body.append("kind", kind);
    body.append("value", value);
    fetch(form.dataset.previewUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrfToken(form) },
      credentials: "same-origin",
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) { showPreview(row, answer); })
      .catch(function () { showPreview(row, { error: "The preview could not be loaded." }); });
  }

  function setUpMappingForm() {
    var form = document.querySelector(".mapping-form");
    if (!form) return;
    var timers = new WeakMap();
    var lastValue = null;
    function schedule(row) {
      clearTimeout(timers.get(row));
      timers.set(row, setTimeout(function () { requestPreview(form, row); }, 250));
    }
    form.addEventListener("input", function (event) {
      if (event.target.classList.contains("mapping-value")) schedule(rowOf(event.target));
    });
    form.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT") schedule(rowOf(event.target));
    });
    form.addEventListener("focusin", function (event) {
      if (event.target.classList.contains("mapping-value")) lastValue = event.target;
    });
    document.querySelectorAll(".picker .pick").forEach(function (button) {
      button.addEventListener("click", function () {
        if (!lastValue) {
          lastValue = form.querySelector(".mapping-value");
        }
        var row = rowOf(lastValue);
        var kind = row.querySelector("select");
        var path = button.dataset.path;
        if (kind.value === "template") {
          var at = lastValue.selectionStart || lastValue.value.length;
          var text = "{{ " + path + " }}";
          lastValue.value = lastValue.value.slice(0, at) + text + lastValue.value.slice(at);
        } else {
          kind.value = "expression";
          lastValue.value = path;
        }
        lastValue.focus();
        requestPreview(form, row);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpTriggerForm();
    setUpSchedulePreview();
    setUpMappingForm();
  });
})();

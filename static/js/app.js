/* SyncPortal: behaviour every page shares. The Content Security Policy allows no inline
   script or style, so pages hand data over in data-* attributes and json_script blocks.
   - <time data-local> shows the browser's local time (the UTC time stays in its title);
   - forms with data-confirm ask before they submit;
   - htmx requests that fail say so where their result would have gone;
   - SyncPortal.format: sizes, rates, durations and counts as the server renders them
     (transfers/formatting.py). */
(function () {
  "use strict";

  // Styles that need scripts (the phone menu) apply only once this file runs.
  document.documentElement.classList.add("js");

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

  function size(value) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
    let amount = Number(value);
    let unit = 0;
    while (Math.abs(amount) >= 1024 && unit < UNITS.length - 1) {
      amount /= 1024;
      unit += 1;
    }
    if (unit === 0) return Math.trunc(amount) + " B";
    return (Math.abs(amount) < 100 ? amount.toFixed(1) : amount.toFixed(0)) + " " + UNITS[unit];
  }

  function rate(value) {
    return value === null || value === undefined ? "—" : size(value) + "/s";
  }

  function duration(value) {
    if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
    let seconds = Math.max(0, Math.round(Number(value)));
    if (seconds < 60) return seconds + " s";
    let minutes = Math.floor(seconds / 60);
    seconds %= 60;
    if (minutes < 60) return minutes + " min " + String(seconds).padStart(2, "0") + " s";
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 24) return hours + " h " + String(minutes).padStart(2, "0") + " min";
    const days = Math.floor(hours / 24);
    hours %= 24;
    return days + " d " + hours + " h";
  }

  function count(value) {
    return value === null || value === undefined ? "?" : Number(value).toLocaleString("en-US");
  }

  function localTime(date) {
    const now = new Date();
    const sameDay = date.toDateString() === now.toDateString();
    const options = { hour: "2-digit", minute: "2-digit" };
    if (!sameDay) {
      options.month = "short";
      options.day = "numeric";
      if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
    }
    return (sameDay ? "today " : "") + date.toLocaleString(undefined, options);
  }

  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (element) {
      const date = new Date(element.getAttribute("datetime"));
      if (!Number.isNaN(date.getTime())) element.textContent = localTime(date);
    });
  }

  function showError(target, text) {
    if (!target) return;
    const alert = document.createElement("p");
    alert.className = "alert alert-error";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    target.replaceChildren(alert);
  }

  function isBackgroundRefresh(event) {
    return event.detail.elt.getAttribute("hx-trigger") === "refresh";
  }

  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // The phone menu: the button shows and hides the navigation; Escape closes it.
  function menu() {
    const button = document.querySelector(".menu-toggle");
    const panel = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!panel) return;
    function set(open) {
      panel.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
    }
    button.addEventListener("click", function () {
      set(!panel.classList.contains("open"));
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && panel.classList.contains("open")) {
        set(false);
        button.focus();
      }
    });
  }

  // A form that came back with errors: focus its summary (which scrolls it into view), and let
  // each of the summary's links put the cursor in its field.
  function errorSummary() {
    const summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.focus();
    summary.addEventListener("click", function (event) {
      const link = event.target.closest("a[href^='#']");
      const field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (field) {
        event.preventDefault();
        field.focus();
        field.scrollIntoView({ block: "center" });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    menu();
    errorSummary();
    document.body.addEventListener("htmx:load", function (event) {
      localTimes(event.detail.elt);
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      if (isBackgroundRefresh(event)) return; // the live page keeps what it shows
      const status = event.detail.xhr.status;
      const text =
        status === 403
          ? "Your role does not allow this."
          : status === 404
            ? "Not found: it may have been deleted."
            : "The server could not do this (" + status + "). Try again, or reload the page.";
      showError(event.detail.target, text);
    });
    document.body.addEventListener("htmx:sendError", function (event) {
      if (isBackgroundRefresh(event)) return;
      showError(event.detail.target, "The portal cannot be reached. Check your connection.");
    });
  });

  window.SyncPortal = Object.assign(window.SyncPortal || {}, {
    format: { size: size, rate: rate, duration: duration, count: count },
    localTimes: localTimes,
    showError: showError,
  });
})();

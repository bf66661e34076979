/* The profile form's picker: "Browse…" beside a side's prefix opens the endpoint browser (the
   same fragment as the endpoint's Browse page) in a dialog; its links load inside the dialog,
   and a "Use" button fills in that side's bucket and prefix. Without this script (or without
   <dialog>) the buttons stay hidden and the fields are typed by hand. */
(function () {
  "use strict";

  function field(side, name) {
    return document.getElementById("id_" + side + "_" + name);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const dialog = document.getElementById("browse-dialog");
    if (!dialog || typeof dialog.showModal !== "function" || !window.htmx || !window.SyncPortal) return;
    const body = dialog.querySelector("[data-browse-body]");
    const title = document.getElementById("browse-dialog-title");
    let side = null;
    let opener = null;

    function load(url) {
      body.setAttribute("aria-busy", "true");
      window.htmx
        .ajax("GET", url, { target: body, swap: "innerHTML" })
        .finally(function () {
          body.removeAttribute("aria-busy");
        });
    }

    function open(button) {
      side = button.dataset.browse;
      opener = button;
      title.textContent = "Choose the " + side + " bucket and prefix";
      body.replaceChildren();
      dialog.showModal();
      const endpoint = field(side, "endpoint");
      if (!endpoint || !endpoint.value) {
        const text = "Choose the " + side + " endpoint first, then browse it.";
        window.SyncPortal.showError(body, text);
        return;
      }
      // Start where the fields point, when they point somewhere.
      const query = new URLSearchParams({ pick: side });
      const bucket = field(side, "bucket").value.trim();
      const prefix = field(side, "prefix").value.trim();
      if (bucket) {
        query.set("bucket", bucket);
        if (prefix) query.set("prefix", prefix);
      }
      const base = dialog.dataset.endpointsUrl + encodeURIComponent(endpoint.value);
      load(base + "/browse/?" + query.toString());
    }

    function pick(button) {
      const bucket = field(side, "bucket");
      const prefix = field(side, "prefix");
      bucket.value = button.dataset.pickBucket;
      prefix.value = button.dataset.pickPrefix;
      [bucket, prefix].forEach(function (input) {
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
      dialog.close();
    }

    document.querySelectorAll("[data-browse-for]").forEach(function (element) {
      element.hidden = false;
    });
    document.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-browse]");
      if (button) open(button);
    });
    body.addEventListener("click", function (event) {
      const link = event.target.closest("a[data-browse-link]");
      if (link) {
        event.preventDefault();
        load(link.getAttribute("href"));
        return;
      }
      const choice = event.target.closest("button[data-pick-bucket]");
      if (choice) pick(choice);
    });
    dialog.querySelector("[data-browse-close]").addEventListener("click", function () {
      dialog.close();
    });
    dialog.addEventListener("close", function () {
      body.replaceChildren();
      if (opener) opener.focus();
    });
  });
})();

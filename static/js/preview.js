/* The profile page's preview: while a worker lists (the #preview fragment carries
   data-socket), follow /ws/previews/<id>/ — objects listed on each side, elapsed — and when a
   message says it ended, fetch the fragment again (htmx), which then shows the plan, the
   error or the cancellation. The fragment is swapped in by the Preview and Cancel buttons
   too, so each new one is followed as it arrives. */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const f = SP.format;
  const LABELS = { queued: "Queued", running: "Listing" };
  const DOING = { queued: "waiting for a worker", running: "listing" };
  let socket = null;
  let followed = null;

  function refresh(root) {
    window.htmx.ajax("GET", root.dataset.refresh, { target: "#preview", swap: "outerHTML" });
  }

  function show(root, message) {
    const set = function (name, value) {
      root.querySelectorAll('[data-preview-field="' + name + '"]').forEach(function (element) {
        element.textContent = value;
      });
    };
    set("source_listed", f.count(message.source_listed));
    if (message.destination_listed !== null) set("destination_listed", f.count(message.destination_listed));
    set("elapsed", f.duration(message.elapsed_seconds));
    if (DOING[message.state]) set("doing", DOING[message.state]);
    root.querySelectorAll('[data-preview-field="state"]').forEach(function (badge) {
      badge.className = "badge badge-" + message.state;
      badge.textContent = LABELS[message.state] || message.state;
    });
  }

  function follow() {
    const root = document.getElementById("preview");
    const id = root ? root.dataset.preview : null;
    if (id === followed) return;
    if (socket) socket.stop("ended");
    socket = null;
    followed = id;
    if (!root || !root.dataset.socket) return;
    const own = new SP.LiveSocket(root.dataset.socket, {
      status: root.querySelector("[data-live-status]"),
      onMessage: function (message) {
        if (String(message.preview) !== id || own.stopped) return;
        show(root, message);
        if (message.final) {
          own.stop("ended");
          refresh(root);
        }
      },
    });
    socket = own;
  }

  document.body.addEventListener("htmx:afterSettle", follow);
  follow();
})();

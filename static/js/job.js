/* The job page: draws the throughput stored so far, then, while the job is active, follows
   /ws/jobs/<id>/ — progress, counters, state — and appends live throughput to the chart.
   When the state changes, the action buttons and the report are fetched again (htmx). */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const root = document.getElementById("job-live");
  if (!root) return;
  const labels = SP.readJson("state-labels") || {};
  const chart = new SP.ThroughputChart(
    document.getElementById("throughput-chart"),
    SP.readJson("throughput-data") || { t: [], bps: [] },
    0
  );
  const status = root.querySelector("[data-live-status]");
  const refresh = SP.debounce(function () {
    ["job-actions", "job-report"].forEach(function (id) {
      const element = document.getElementById(id);
      if (element) window.htmx.trigger(element, "refresh");
    });
  }, 300);
  let state = root.dataset.state;
  let lastPoint = 0;
  let socket = null;

  function onMessage(message) {
    if (message.job !== Number(root.dataset.job)) return;
    SP.applyJob(root, message, labels);
    const at = Date.parse(message.at) / 1000;
    if (message.state === "running" && message.throughput_bps !== null && at - lastPoint >= 1) {
      chart.push(at, message.throughput_bps);
      lastPoint = at;
    }
    if (message.state !== state) {
      state = message.state;
      root.dataset.state = state;
      refresh();
    }
    if (message.final) {
      socket.stop("ended");
      refresh();
    }
  }

  if (root.dataset.live === "1") {
    socket = new SP.LiveSocket(root.dataset.socket, { onMessage: onMessage, status: status });
  }
})();

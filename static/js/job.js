/* The job page: draws the throughput stored so far, then, while the job is active, follows
   /ws/jobs/<id>/ — progress, counters, state — and appends live throughput to the chart.
   When the state changes, the action buttons and the report are fetched again (htmx). When
   the job ends, the page becomes its report without a reload: the live-only tiles, the chart
   (redrawn from the stored samples) and the report with its summary are fetched again, and
   the banners about starting or stopping it, stale by now, go. A sharded job's Shards card
   fetches itself while the job is active; it is fetched here too when the state changes, and
   when a live message counts shards the page does not show yet (`shards`, {state: count}, if
   the worker sends it). */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const root = document.getElementById("job-live");
  if (!root) return;
  const labels = SP.readJson("state-labels") || {};
  const chartElement = document.getElementById("throughput-chart");
  const stored = SP.readJson("throughput-data") || { t: [], bps: [], ops: [], start: null };
  // The x axis counts from the job's start; a job that had not started when the page loaded
  // starts with its first live measurement.
  const chart = new SP.ThroughputChart(chartElement, stored, 0, {
    elapsed: true,
    start: stored.start,
  });
  const kindLabel = document.querySelector("[data-chart-unit]");
  document.querySelectorAll("[data-chart-kind]").forEach(function (button, index, buttons) {
    button.hidden = false;
    button.addEventListener("click", function () {
      chart.setKind(button.dataset.chartKind);
      buttons.forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
      if (kindLabel) kindLabel.textContent = button.dataset.unitText;
    });
  });
  const status = root.querySelector("[data-live-status]");
  let ended = false;
  const refresh = SP.debounce(function () {
    const parts = ["job-actions", "job-report", "job-shards"];
    if (ended) parts.push("job-summary-slot", "job-tiles");
    parts.forEach(function (id) {
      const element = document.getElementById(id);
      if (element) window.htmx.trigger(element, "refresh");
    });
  }, 300);
  let state = root.dataset.state;
  let socket = null;

  function end() {
    ended = true;
    document.querySelectorAll(".messages").forEach(function (banner) {
      banner.remove();
    });
    chartElement.dataset.empty = "No throughput was recorded.";
    root.dataset.live = "0";
  }

  // The report that comes with the end carries the stored series: the chart shows what a
  // reload would.
  document.body.addEventListener("htmx:afterSettle", function () {
    const summary = document.getElementById("job-summary");
    if (ended && summary && summary.dataset.chart) {
      const data = JSON.parse(summary.dataset.chart);
      chart.replace(data, data.start);
    }
  });

  // Shards counted in a live message that the card does not show yet: fetch the card.
  function shardsAppeared(message) {
    if (!message.shards || typeof message.shards !== "object") return false;
    const slot = document.getElementById("job-shards");
    if (!slot) return false;
    let total = 0;
    Object.keys(message.shards).forEach(function (key) {
      total += Number(message.shards[key]) || 0;
    });
    return total > Number(slot.dataset.shards || 0) && slot.hidden;
  }

  function onMessage(message) {
    if (message.job !== Number(root.dataset.job)) return;
    SP.applyJob(root, message, labels);
    if (shardsAppeared(message)) refresh();
    const at = Date.parse(message.at) / 1000;
    if (message.state === "planning" || message.state === "running") chart.setStart(at);
    // Drawn with the counters, from the same message: the chart's last point is the
    // throughput the tile beside it shows.
    if (message.state === "running" && message.throughput_bps !== null) {
      chart.track(at, message.throughput_bps, message.objects_per_second);
    }
    if (message.state !== state) {
      state = message.state;
      root.dataset.state = state;
      refresh();
    }
    if (message.final) {
      socket.stop("ended");
      end();
      refresh();
    }
  }

  if (root.dataset.live === "1") {
    socket = new SP.LiveSocket(root.dataset.socket, { onMessage: onMessage, status: status });
  }
})();

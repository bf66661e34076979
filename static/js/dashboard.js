/* The dashboard: follows /ws/dashboard/ (every job of the user's teams). Rows of running jobs
   update in place; a job that starts or finishes reloads the "Running now" table and the
   totals (htmx, hx-select on this page). The chart sums the latest throughput of the running
   jobs every two seconds over a ten-minute window, after the stored history of that window. */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const f = SP.format;
  const root = document.getElementById("dashboard-live");
  if (!root) return;
  const WINDOW_SECONDS = 600;
  const TICK_MS = 2000;
  const STALE_MS = 10000; // a running job silent this long no longer counts in the sum
  const labels = SP.readJson("state-labels") || {};
  const chart = new SP.ThroughputChart(
    document.getElementById("throughput-chart"),
    SP.readJson("throughput-data") || { t: [], bps: [] },
    WINDOW_SECONDS
  );
  const latest = new Map(); // job id -> {state, bps, bytes, objects, seen}
  let base = { bytes: 0, objects: 0 };

  function row(jobId) {
    return document.querySelector('#running-jobs tr[data-job="' + jobId + '"]');
  }

  /* Totals and known jobs from the page as rendered (again after each refresh). */
  function readPage() {
    const stats = root.querySelector("[data-stat-base-bytes]");
    base = {
      bytes: Number(stats.dataset.statBaseBytes),
      objects: Number(stats.dataset.statBaseObjects),
    };
    const before = new Map(latest);
    latest.clear();
    document.querySelectorAll("#running-jobs tr[data-job]").forEach(function (tr) {
      const id = Number(tr.dataset.job);
      const known = before.get(id);
      // The socket may be ahead of the rendered row: keep the newer of the two.
      latest.set(id, {
        state: known ? known.state : tr.dataset.state,
        bps: known ? known.bps : 0,
        bytes: Math.max(Number(tr.dataset.bytesDone), known ? known.bytes : 0),
        objects: Math.max(Number(tr.dataset.objectsDone), known ? known.objects : 0),
        seen: known ? known.seen : Date.now(),
      });
    });
    showTotals();
  }

  function showTotals() {
    let bytes = base.bytes;
    let objects = base.objects;
    latest.forEach(function (job) {
      bytes += job.bytes;
      objects += job.objects;
    });
    root.querySelector('[data-stat="bytes"]').textContent = f.size(bytes);
    root.querySelector('[data-stat="objects"]').textContent = f.count(objects);
  }

  const refresh = SP.debounce(function () {
    ["running-jobs", "dashboard-stats"].forEach(function (id) {
      window.htmx.trigger(document.getElementById(id), "refresh");
    });
  }, 500);

  function onMessage(message) {
    if (message.job === undefined) return; // a preview's progress (the team's group carries it)
    const known = row(message.job);
    latest.set(message.job, {
      state: message.state,
      bps: message.throughput_bps || 0,
      bytes: message.bytes_done || 0,
      objects: message.objects_done || 0,
      seen: Date.now(),
    });
    if (known) SP.applyJob(known, message, labels);
    if (message.final || !known) refresh();
    else showTotals();
  }

  function tick() {
    const now = Date.now();
    let sum = 0;
    latest.forEach(function (job) {
      if (job.state === "running" && now - job.seen < STALE_MS) sum += job.bps;
    });
    chart.push(now / 1000, sum);
    root.querySelector('[data-stat="throughput"]').textContent = f.rate(sum);
  }

  document.body.addEventListener("htmx:afterSettle", readPage);

  readPage();
  new SP.LiveSocket(root.dataset.socket, {
    onMessage: onMessage,
    // After a drop, jobs may have started or finished unseen: reload what the page lists.
    onOpen: function (again) {
      if (again) refresh();
    },
    status: document.querySelector("[data-live-status]"),
  });
  tick();
  setInterval(tick, TICK_MS);
})();

/* The jobs list: rows of active jobs follow /ws/dashboard/ (every job of the user's teams),
   so their state, percent and counters move without a reload. Rows of other jobs stay as
   rendered; a job that starts after the page loaded appears on the next load. */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const table = document.querySelector(".jobs-table");
  if (!table || !table.querySelector("tr[data-live]")) return;
  const labels = SP.readJson("state-labels") || {};
  const socket = new SP.LiveSocket(table.dataset.socket || "/ws/dashboard/", {
    onMessage: function (message) {
      const row = table.querySelector('tr[data-live][data-job="' + message.job + '"]');
      if (!row) return;
      SP.applyJob(row, message, labels);
      row.dataset.state = message.state;
      if (message.final) {
        delete row.dataset.live;
        if (!table.querySelector("tr[data-live]")) socket.stop("ended");
      }
    },
    status: null,
  });
})();

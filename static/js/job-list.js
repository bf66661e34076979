/* The jobs list: rows of active jobs follow /ws/dashboard/ (every job of the user's teams),
   so their state, percent and counters move without a reload. On the first page, a job that
   starts after the page loaded (a message about a job newer than the newest row) fetches the
   results again with the same filters (htmx), which inserts its row if it matches them; so
   does every (re)connection while rows are active, to catch up with what was missed. */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const results = () => document.getElementById("job-results");
  const table = () => document.querySelector("#job-results .jobs-table");
  if (!results()) return;
  const firstPage = results().dataset.firstPage === "1";
  if (!firstPage && !(table() && table().querySelector("tr[data-live]"))) return;
  const labels = SP.readJson("state-labels") || {};
  // At most one fetch every second or so, however many messages the new job sends meanwhile.
  let pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () {
      window.htmx.trigger(results(), "refresh");
      pending = setTimeout(function () {
        pending = null;
      }, 1000);
    }, 200);
  }
  const socket = new SP.LiveSocket(results().dataset.socket || "/ws/dashboard/", {
    onMessage: function (message) {
      if (message.job === undefined) return;
      const rows = table();
      const row = rows && rows.querySelector('tr[data-live][data-job="' + message.job + '"]');
      if (!row) {
        const newest = Number(results().dataset.newest || 0);
        if (firstPage && message.job > newest) refreshSoon();
        return;
      }
      SP.applyJob(row, message, labels);
      row.dataset.state = message.state;
      if (message.final) {
        delete row.dataset.live;
        if (!firstPage && !rows.querySelector("tr[data-live]")) socket.stop("ended");
      }
    },
    // Once following (tests wait on the mark before starting a job), the rows of active jobs
    // are fetched again: what they did before the socket opened is not sent again.
    onOpen: function () {
      results().dataset.following = "1";
      if (table() && table().querySelector("tr[data-live]")) refreshSoon();
    },
    status: null,
  });
})();

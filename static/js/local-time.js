// Shows <time data-local datetime="..."> in the browser's time zone; UTC stays on hover.
// Without JavaScript the server's UTC text remains, which is correct, only less convenient.
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }
  function localise(element) {
    var when = new Date(element.getAttribute("datetime"));
    if (isNaN(when.getTime())) { return; }
    element.title = when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    element.textContent = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" +
      pad(when.getDate()) + " " + pad(when.getHours()) + ":" + pad(when.getMinutes()) + ":" +
      pad(when.getSeconds());
  }
  document.querySelectorAll("time[data-local]").forEach(localise);
})();

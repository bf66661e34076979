/* Live pages: a WebSocket that keeps itself connected, a throughput chart (uPlot), and
   applying job messages (docs/websockets.md) to the elements of a job.

   Messages carry `seq`, growing per job: an update whose seq is not above the last one seen
   for its job is stale and dropped. A `job.snapshot` (sent on every (re)connection) is the
   job as stored and always applies, which resynchronises the page after a drop. */
(function () {
  "use strict";

  const SP = window.SyncPortal;
  const f = SP.format;
  // The server accepts a socket it refuses, then closes it with one of these
  // (docs/websockets.md); also when access ends while the socket is open. Retrying cannot help.
  const SIGNED_OUT = 4401; // no usable session (signed out, expired, deactivated)
  const NOT_FOUND = 4404; // no such job in your teams, or no longer
  const PHASES = {
    queued: "Queued",
    planning: "Planning",
    copying: "Copying",
    deleting: "Deleting",
    cleaning_up: "Cleaning up",
    verifying: "Verifying",
    awaiting_approval: "Awaiting approval",
    done: "Done",
  };
  const STATUS_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    refused: "Live updates unavailable",
    signed_out: "Signed out.",
    ended: "Finished",
  };

  function setStatus(element, status) {
    if (!element) return;
    element.hidden = false;
    element.dataset.status = status;
    element.textContent = STATUS_TEXT[status] || status;
    if (status === "signed_out" && element.dataset.loginUrl) {
      const link = document.createElement("a");
      const here = window.location.pathname + window.location.search;
      link.href = element.dataset.loginUrl + "?next=" + encodeURIComponent(here);
      link.textContent = "Sign in again";
      element.append(" ", link);
    }
  }

  class LiveSocket {
    constructor(path, options) {
      this.path = path;
      this.onMessage = options.onMessage;
      this.onOpen = options.onOpen || function () {};
      this.statusElement = options.status;
      this.lastSeq = new Map();
      this.failures = 0;
      this.opened = false;
      this.stopped = false;
      this.timer = null;
      const reconnectNow = () => {
        if (!this.stopped && (!this.ws || this.ws.readyState === WebSocket.CLOSED)) {
          clearTimeout(this.timer);
          this.connect();
        }
      };
      window.addEventListener("online", reconnectNow);
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") reconnectNow();
      });
      this.connect();
    }

    url() {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      return scheme + "//" + window.location.host + this.path;
    }

    connect() {
      setStatus(this.statusElement, this.opened ? "reconnecting" : "connecting");
      const ws = new WebSocket(this.url());
      this.ws = ws;
      ws.addEventListener("open", () => {
        const again = this.opened;
        this.opened = true;
        this.failures = 0;
        setStatus(this.statusElement, "live");
        this.onOpen(again);
      });
      ws.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (this.isFresh(message)) this.onMessage(message);
      });
      ws.addEventListener("close", (event) => {
        if (this.stopped || ws !== this.ws) return;
        if (event.code === SIGNED_OUT) {
          this.stop("signed_out");
          return;
        }
        if (event.code === NOT_FOUND) {
          this.stop("refused");
          return;
        }
        this.retry();
      });
    }

    isFresh(message) {
      if (message.job === undefined || typeof message.seq !== "number") return true;
      const last = this.lastSeq.get(message.job);
      if (message.type !== "job.snapshot" && last !== undefined && message.seq <= last) {
        return false;
      }
      this.lastSeq.set(message.job, message.seq);
      return true;
    }

    retry() {
      setStatus(this.statusElement, "reconnecting");
      // 1 s, 2 s, 4 s ... up to 30 s, with jitter so that many pages do not return at once.
      const delay = Math.min(30000, 1000 * 2 ** this.failures) * (0.75 + Math.random() / 2);
      this.failures += 1;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
    }

    stop(status) {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.ws) this.ws.close();
      setStatus(this.statusElement, status || "ended");
    }
  }

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  /* Bytes per second over time. `data` is {t: [epoch seconds], bps: [...]}; `windowSeconds`
     keeps only the most recent points (the dashboard), 0 keeps all (a job). */
  class ThroughputChart {
    constructor(element, data, windowSeconds) {
      this.element = element;
      this.windowSeconds = windowSeconds || 0;
      this.data = [data.t.slice(), data.bps.slice()];
      const accent = cssVar("--accent", "#2f6fed");
      const muted = cssVar("--muted", "#5d6778");
      const grid = cssVar("--border", "#dde1e7");
      const options = {
        width: Math.max(200, element.clientWidth),
        height: element.clientWidth < 500 ? 180 : 240,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          y: {
            range: function (u, min, max) {
              return [0, max > 0 ? max * 1.15 : 1024];
            },
          },
        },
        series: [
          {},
          {
            label: "Throughput",
            stroke: accent,
            width: 2,
            fill: accent + "22",
            points: { show: false },
            value: function (u, v) {
              return f.rate(v);
            },
          },
        ],
        axes: [
          {
            stroke: muted,
            space: 70,
            // Whole seconds and up: sub-second ticks would repeat the same label.
            incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400],
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid },
            values: function (u, ticks) {
              const span = ticks.length > 1 ? ticks[ticks.length - 1] - ticks[0] : 0;
              const options = { hour: "2-digit", minute: "2-digit" };
              if (span < 300) options.second = "2-digit";
              return ticks.map(function (t) {
                return new Date(t * 1000).toLocaleTimeString([], options);
              });
            },
          },
          {
            stroke: muted,
            size: 84,
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid },
            values: function (u, values) {
              return values.map(f.rate);
            },
          },
        ],
      };
      this.plot = new window.uPlot(options, this.data, element);
      this.update();
      if (window.ResizeObserver) {
        new ResizeObserver(() => {
          const width = Math.max(200, this.element.clientWidth);
          if (width !== this.plot.width) {
            this.plot.setSize({ width: width, height: width < 500 ? 180 : 240 });
          }
        }).observe(element);
      }
    }

    push(t, bps) {
      const times = this.data[0];
      if (times.length && t <= times[times.length - 1]) return;
      times.push(t);
      this.data[1].push(bps);
      if (this.windowSeconds) {
        while (times.length && times[0] < t - this.windowSeconds) {
          times.shift();
          this.data[1].shift();
        }
      }
      this.plot.setData(this.data);
      this.update();
    }

    /* Draw `data` ({t, bps}) instead of what the chart shows. */
    replace(data) {
      this.data = [data.t.slice(), data.bps.slice()];
      this.plot.setData(this.data);
      this.update();
    }

    update() {
      // A line needs two points; until then the chart says it is waiting.
      this.element.dataset.points = String(this.data[0].length);
      this.element.classList.toggle("chart-empty", this.data[0].length < 2);
    }
  }

  /* As the server reckons it (transfers.models.progress_percent): the lower of the byte and
     the object percentages, so small objects left after the large ones still show. */
  function percentOf(message) {
    const shares = [];
    if (message.bytes_total) shares.push((100 * message.bytes_done) / message.bytes_total);
    if (message.objects_total) shares.push((100 * message.objects_done) / message.objects_total);
    if (shares.length) return Math.min(100, ...shares);
    if (message.final) return message.state === "succeeded" ? 100 : 0;
    return null;
  }

  /* As the server renders it (the `percent` filter): one decimal below 10 %. */
  function percentText(percent) {
    if (percent === null) return "—";
    return (percent < 10 ? Math.floor(percent * 10) / 10 : Math.floor(percent)) + " %";
  }

  /* Show a job message in `container`: its [data-field] elements (see _progress.html). */
  function applyJob(container, message, labels) {
    const field = function (name) {
      return container.querySelectorAll('[data-field="' + name + '"]');
    };
    const text = function (name, value) {
      field(name).forEach(function (element) {
        element.textContent = value;
      });
    };
    field("state").forEach(function (badge) {
      badge.className = "badge badge-" + message.state;
      badge.textContent = labels[message.state] || message.state;
    });
    text("phase", PHASES[message.phase] || labels[message.state] || message.phase);
    const percent = percentOf(message);
    field("progress").forEach(function (bar) {
      if (percent === null) bar.removeAttribute("value");
      else bar.value = percent;
      bar.textContent = percent === null ? "" : percentText(percent);
    });
    text("percent", percentText(percent));
    text("objects_done", f.count(message.objects_done));
    text("objects_total", f.count(message.objects_total));
    text("bytes_done", f.size(message.bytes_done));
    text("bytes_total", f.size(message.bytes_total));
    text("objects_skipped", f.count(message.objects_skipped));
    text("objects_failed", f.count(message.objects_failed));
    text("objects_deleted", f.count(message.objects_deleted));
    text("throughput", message.final ? "—" : f.rate(message.throughput_bps));
    text("eta", message.final || message.eta_seconds === null ? "—" : f.duration(message.eta_seconds));
    field("objects_failed").forEach(function (element) {
      element.classList.toggle("stat-bad", message.objects_failed > 0);
    });
    field("error").forEach(function (element) {
      element.textContent = message.error || "";
      element.hidden = !message.error || message.state === "succeeded";
    });
  }

  function readJson(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  /* Call `fn` once, `wait` ms after the last of a burst of calls. */
  function debounce(fn, wait) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, wait);
    };
  }

  Object.assign(SP, {
    LiveSocket: LiveSocket,
    ThroughputChart: ThroughputChart,
    applyJob: applyJob,
    percentOf: percentOf,
    percentText: percentText,
    readJson: readJson,
    debounce: debounce,
    setStatus: setStatus,
  });
})();

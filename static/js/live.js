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

  const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  // Steps of the elapsed-time axis, in seconds: whole seconds, minutes, hours.
  const ELAPSED_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];

  /* 1, 2 or 5 times a power of ten: the smallest at or above `raw`. */
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const mantissa = raw / power;
    return (mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10) * power;
  }

  function decimalsOf(step) {
    return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  }

  /* The value axis: a unit (bytes: the binary one the largest value is shown in) and round
     ticks, 1/2/5 x 10^n in that unit, from 0 to at or above `max`. */
  function valueScale(max, kind, count) {
    let factor = 1;
    let unit = kind === "objects" ? "obj/s" : "B/s";
    if (kind !== "objects") {
      let index = 0;
      while (max >= 1024 * factor && index < BINARY.length - 1) {
        factor *= 1024;
        index += 1;
      }
      unit = BINARY[index] + "/s";
    }
    const top = max > 0 ? max / factor : 1;
    const step = Math.max(niceStep(top / (count || 4)), kind === "objects" ? 0.01 : 1e-3);
    const ticks = [];
    const steps = Math.max(1, Math.ceil(top / step - 1e-9));
    for (let n = 0; n <= steps; n += 1) ticks.push(n * step);
    const decimals = decimalsOf(step);
    return {
      factor: factor,
      unit: unit,
      decimals: decimals,
      ticks: ticks.map(function (value) {
        return value * factor;
      }),
      label: function (value) {
        return (value / factor).toFixed(decimals) + " " + unit;
      },
    };
  }

  /* Seconds since the start: "45 s", "2:05", "1:02:05". */
  function elapsedLabel(seconds, span) {
    const total = Math.max(0, Math.round(seconds));
    if (span < 60 && total < 60) return total + " s";
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = String(total % 60).padStart(2, "0");
    if (hours) return hours + ":" + String(minutes).padStart(2, "0") + ":" + rest;
    return minutes + ":" + rest;
  }

  function objectsRate(value) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 }) + " objects/s";
  }

  /* Throughput over time: bytes per second, or objects per second (`setKind`). `data` is
     {t: [epoch seconds], bps: [...], ops: [...]} (ops may be missing: bytes only).
     With `options.start` (epoch seconds, a job's start) the x axis is the time elapsed since
     then; otherwise clock time. `windowSeconds` keeps only the most recent points (the
     dashboard), 0 keeps all (a job). Hovering or touching shows the value and its time. */
  class ThroughputChart {
    constructor(element, data, windowSeconds, options) {
      options = options || {};
      this.element = element;
      this.windowSeconds = windowSeconds || 0;
      this.start = options.start === undefined ? null : options.start;
      this.elapsed = Boolean(options.elapsed);
      this.kind = "bytes";
      this.load(data);
      const self = this;
      const accent = cssVar("--accent", "#2f6fed");
      const muted = cssVar("--muted", "#5d6778");
      const grid = cssVar("--border", "#dde1e7");
      this.scale = valueScale(0, this.kind);
      const xAxis = {
        stroke: muted,
        space: 70,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid },
      };
      if (this.elapsed) {
        xAxis.splits = function (u, axisIndex, min, max) {
          return self.elapsedTicks(min, max, u.bbox.width / (window.devicePixelRatio || 1));
        };
        xAxis.values = function (u, ticks) {
          const span = ticks.length ? ticks[ticks.length - 1] : 0;
          const labels = ticks.map(function (t) {
            return elapsedLabel(t, span);
          });
          element.dataset.xTicks = labels.join("|"); // the canvas's labels, for tests
          return labels;
        };
      } else {
        // Whole seconds and up: sub-second ticks would repeat the same label.
        xAxis.incrs = ELAPSED_STEPS;
        xAxis.values = function (u, ticks) {
          const span = ticks.length > 1 ? ticks[ticks.length - 1] - ticks[0] : 0;
          const format = { hour: "2-digit", minute: "2-digit" };
          if (span < 300) format.second = "2-digit";
          return ticks.map(function (t) {
            return new Date(t * 1000).toLocaleTimeString([], format);
          });
        };
      }
      const width = Math.max(200, element.clientWidth);
      const plotOptions = {
        width: width,
        height: width < 500 ? 180 : 240,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 8 } },
        scales: {
          y: {
            range: function (u, min, max) {
              self.scale = valueScale(max, self.kind, u.height < 200 ? 3 : 4);
              return [0, self.scale.ticks[self.scale.ticks.length - 1]];
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
          },
        ],
        axes: [
          xAxis,
          {
            stroke: muted,
            size: 84,
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid },
            splits: function () {
              return self.scale.ticks;
            },
            values: function (u, values) {
              const labels = values.map(self.scale.label);
              element.dataset.yTicks = labels.join("|");
              return labels;
            },
          },
        ],
        hooks: {
          setCursor: [
            function (u) {
              self.showTip(u.cursor.idx, u.cursor.left, u.cursor.top);
            },
          ],
        },
      };
      if (this.elapsed) {
        plotOptions.scales.x = {
          time: false,
          range: function (u, min, max) {
            return [0, Math.max(max || 0, 1)];
          },
        };
      }
      this.plot = new window.uPlot(plotOptions, this.plotData(), element);
      this.tip = document.createElement("div");
      this.tip.className = "chart-tip";
      this.tip.hidden = true;
      this.tip.setAttribute("role", "status");
      element.append(this.tip);
      this.followTouches();
      this.update();
      if (window.ResizeObserver) {
        new ResizeObserver(() => {
          const size = Math.max(200, this.element.clientWidth);
          if (size !== this.plot.width) {
            this.plot.setSize({ width: size, height: size < 500 ? 180 : 240 });
          }
        }).observe(element);
      }
    }

    load(data) {
      this.t = data.t.slice();
      this.bps = data.bps.slice();
      this.ops = (data.ops || data.t.map(() => null)).slice();
    }

    /* The x values: seconds since the start, or epoch seconds. */
    xs() {
      if (!this.elapsed) return this.t.slice();
      const start = this.start === null ? (this.t.length ? this.t[0] : 0) : this.start;
      return this.t.map(function (t) {
        return Math.max(0, t - start);
      });
    }

    plotData() {
      return [this.xs(), this.kind === "objects" ? this.ops.slice() : this.bps.slice()];
    }

    elapsedTicks(min, max, width) {
      const span = Math.max(max - min, 1);
      const room = Math.max(2, Math.floor(width / 80));
      const step = ELAPSED_STEPS.find((s) => span / s <= room) || Math.ceil(span / room / 86400) * 86400;
      const ticks = [];
      for (let t = Math.ceil(min / step) * step; t <= max + 1e-9; t += step) ticks.push(t);
      return ticks;
    }

    /* Touch: uPlot follows the mouse only; a finger on the chart moves its cursor too. */
    followTouches() {
      const over = this.plot.over;
      const move = (event) => {
        const touch = event.touches[0];
        if (!touch) return;
        const box = over.getBoundingClientRect();
        this.plot.setCursor({ left: touch.clientX - box.left, top: touch.clientY - box.top });
      };
      over.addEventListener("touchstart", move, { passive: true });
      over.addEventListener("touchmove", move, { passive: true });
    }

    showTip(index, left, top) {
      const tip = this.tip;
      if (index === null || index === undefined || left < 0 || this.t.length < 2) {
        tip.hidden = true;
        return;
      }
      const value = this.kind === "objects" ? objectsRate(this.ops[index]) : f.rate(this.bps[index]);
      const clock = new Date(this.t[index] * 1000).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
      const xs = this.xs();
      const when = this.elapsed
        ? elapsedLabel(xs[index], xs[xs.length - 1]) + " in (" + clock + ")"
        : clock;
      tip.textContent = "";
      const strong = document.createElement("strong");
      strong.textContent = value;
      tip.append(strong, document.createElement("br"), when);
      tip.hidden = false;
      const over = this.plot.over;
      const x = over.offsetLeft + left;
      const y = over.offsetTop + top;
      const flip = x + tip.offsetWidth + 16 > this.element.clientWidth;
      tip.style.left = (flip ? x - tip.offsetWidth - 12 : x + 12) + "px";
      tip.style.top = Math.max(0, y - tip.offsetHeight - 8) + "px";
    }

    /* "bytes" or "objects": redraw with that series and its ticks. */
    setKind(kind) {
      this.kind = kind === "objects" ? "objects" : "bytes";
      this.redraw();
    }

    setStart(start) {
      if (this.start === null) {
        this.start = start;
        this.redraw();
      }
    }

    /* A live measurement: a new point a second at most; in between, the last point moves to
       the latest measurement, so the chart ends where the counters beside it are. */
    track(t, bps, ops) {
      const last = this.t.length - 1;
      // No newer than the last point (stored samples are labelled by the end of their 2 s
      // bucket, ahead of the messages): the last point takes the value all the same.
      if ((last >= 0 && t <= this.t[last]) || (last >= 1 && t - this.t[last - 1] < 1)) {
        this.t[last] = Math.max(t, this.t[last]);
        this.bps[last] = bps;
        this.ops[last] = ops === undefined ? null : ops;
      } else {
        this.t.push(t);
        this.bps.push(bps);
        this.ops.push(ops === undefined ? null : ops);
      }
      this.trim(t);
      this.redraw();
    }

    push(t, bps, ops) {
      if (this.t.length && t <= this.t[this.t.length - 1]) return;
      this.t.push(t);
      this.bps.push(bps);
      this.ops.push(ops === undefined ? null : ops);
      this.trim(t);
      this.redraw();
    }

    trim(t) {
      if (!this.windowSeconds) return;
      while (this.t.length && this.t[0] < t - this.windowSeconds) {
        this.t.shift();
        this.bps.shift();
        this.ops.shift();
      }
    }

    /* Draw `data` ({t, bps, ops}) instead of what the chart shows. */
    replace(data, start) {
      this.load(data);
      if (start !== undefined && start !== null) this.start = start;
      this.redraw();
    }

    redraw() {
      this.plot.setData(this.plotData());
      this.update();
    }

    update() {
      // A line needs two points; until then the chart says it is waiting.
      this.element.dataset.points = String(this.t.length);
      this.element.dataset.kind = this.kind;
      this.element.classList.toggle("chart-empty", this.t.length < 2);
      this.element.dataset.last = this.t.length
        ? String(this.kind === "objects" ? this.ops[this.t.length - 1] : this.bps[this.t.length - 1])
        : "";
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
    valueScale: valueScale,
    elapsedLabel: elapsedLabel,
    applyJob: applyJob,
    percentOf: percentOf,
    percentText: percentText,
    readJson: readJson,
    debounce: debounce,
    setStatus: setStatus,
  });
})();

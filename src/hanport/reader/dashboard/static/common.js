// Shared by every dashboard page: texts, number formatting, API access, meter choice, charts.
// API times are Norwegian local wall-clock strings ("YYYY-MM-DDTHH:MM:SS"); charts treat them as
// UTC so the axis shows exactly that wall clock whatever the browser's own time zone is.
"use strict";

const hanport = (() => {
  const T = JSON.parse(document.getElementById("texts").textContent);
  const LANG = document.body.dataset.lang;
  // Chromium's ICU has no nynorsk data: "nn-NO" alone would give English numbers and months
  // ("4,505 W", "December"), so nynorsk falls back to bokmål's, which are written the same.
  const LOCALE = { nb: ["nb-NO"], nn: ["nn-NO", "nb-NO"] }[LANG] ?? ["en-GB"];
  const TODAY = document.body.dataset.today;
  const METER_KEY = "hanport.meter";

  const numberFormats = new Map();
  function fmt(value, digits = 0) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (!numberFormats.has(digits)) {
      numberFormats.set(
        digits,
        new Intl.NumberFormat(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits }),
      );
    }
    return numberFormats.get(digits).format(value);
  }

  function power(watts) {
    if (watts === null || watts === undefined) return "–";
    return Math.abs(watts) >= 10000 ? `${fmt(watts / 1000, 2)} kW` : `${fmt(watts)} W`;
  }

  const kwh = (value, digits = 2) => (value === null || value === undefined ? "–" : `${fmt(value, digits)} kWh`);

  // "2026-11-26T13:00:00" -> seconds, read as UTC so charts show the wall clock as sent.
  const wallSeconds = (iso) => Date.parse(`${iso.length === 10 ? `${iso}T00:00:00` : iso.slice(0, 19)}Z`) / 1000;
  const wallTime = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "–");

  const banner = document.getElementById("error-banner");
  function showError(message) {
    banner.textContent = `${T.load_error}: ${message}`;
    banner.hidden = false;
  }
  function clearError() {
    banner.hidden = true;
  }

  // A failed API call: already shown in the banner, so callers may ignore it.
  class ApiError extends Error {}

  // The answers to the page's first calls, rendered into it by the server (routes.py); each is
  // used once, so refreshes ask the API again.
  const initial = JSON.parse(document.getElementById("initial")?.textContent || "{}");
  // The same key as routes.call_key: path, then the parameters sorted by name, unencoded.
  function callKey(path, entries) {
    const query = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join("&");
    return query ? `${path}?${query}` : path;
  }

  async function api(path, params = {}) {
    const entries = Object.entries(params).filter(([, v]) => v !== null && v !== undefined);
    const key = callKey(path, entries);
    if (Object.hasOwn(initial, key)) {
      const answer = initial[key];
      delete initial[key];
      return answer;
    }
    const query = new URLSearchParams(entries);
    const url = query.toString() ? `${path}?${query}` : path;
    let response;
    try {
      response = await fetch(url); // plain, so it matches the page's <link rel=preload>
    } catch (error) {
      showError(`${path} (${error.message})`);
      throw new ApiError(error.message);
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = JSON.stringify((await response.json()).detail ?? detail);
      } catch (_ignored) {
        // not JSON: keep the status text
      }
      showError(`${path}: ${response.status} ${detail}`);
      throw new ApiError(`${path}: ${response.status}`);
    }
    clearError();
    return response.json();
  }

  function csvUrl(path, params) {
    return `${path}?${new URLSearchParams({ ...params, format: "csv" })}`;
  }

  // The meter shown: ?meter= in the address (used at once, without waiting for the list), else
  // the last one chosen here, else the meter heard from last (a backfilled or retired meter is
  // rarely the one to watch). The picker appears when the reader knows more than one meter.
  let metersListed = null;
  const meterList = () => (metersListed ??= api("/api/meters"));
  async function chooseMeter() {
    const fromAddress = new URLSearchParams(location.search).get("meter");
    const listed = meterList();
    const pick = (meters) => {
      const known = meters.map((m) => m.meter_id);
      const remembered = localStorage.getItem(METER_KEY);
      if (known.includes(fromAddress)) return fromAddress;
      if (known.includes(remembered)) return remembered;
      const byLastSeen = (a, b) => String(b.last_seen ?? "").localeCompare(String(a.last_seen ?? ""));
      return [...meters].sort(byLastSeen)[0]?.meter_id ?? null;
    };
    const fillPicker = (meters, chosen) => {
      if (meters.length < 2) return;
      const select = document.getElementById("meter-select");
      for (const m of meters) select.add(new Option(`${m.manufacturer} ${m.meter_id}`, m.meter_id, false, m.meter_id === chosen));
      select.closest("label").hidden = false;
      select.addEventListener("change", () => {
        localStorage.setItem(METER_KEY, select.value);
        const params = new URLSearchParams(location.search);
        params.set("meter", select.value);
        location.search = params.toString();
      });
    };
    if (fromAddress) {
      listed.then((meters) => fillPicker(meters, fromAddress)).catch(report);
      return fromAddress;
    }
    const meters = await listed;
    const chosen = pick(meters);
    fillPicker(meters, chosen);
    return chosen;
  }

  // The meter's day: the local day of its latest reading, not the browser's or the server's (a
  // meter runs on its own clock: ahead in a fast demo, behind in a database served later).
  async function meterDay(meterId) {
    try {
      const meter = (await meterList()).find((m) => m.meter_id === meterId);
      return meter?.last_seen?.slice(0, 10) ?? TODAY;
    } catch (_error) {
      return TODAY; // already in the banner
    }
  }

  const COLORS = {
    import: "#d9480f",
    export: "#2b8a3e",
    previous: "#868e96",
    l1: "#1c7ed6",
    l2: "#e8590c",
    l3: "#5f3dc4",
  };

  // Time axes of wall-clock seconds: 24-hour "HH:MM", with the date where the day changes.
  const pad = (n) => String(n).padStart(2, "0");
  function wallLabel(ts, withDate) {
    const d = new Date(ts * 1000);
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return withDate ? `${pad(d.getUTCDate())}.${pad(d.getUTCMonth() + 1)} ${time}` : time;
  }
  // An empty chart has no times to label (uPlot would label an empty scale 1970-01-01 00:00).
  const timeAxis = () => ({
    values: (u, ticks) =>
      u.data[0].length === 0
        ? ticks.map(() => "")
        : ticks.map((ts, i) => wallLabel(ts, i > 0 && Math.floor(ts / 86400) !== Math.floor(ticks[i - 1] / 86400))),
  });

  // Value-axis labels with as many decimals as the tick step needs (2.5 → one, 0.05 → two), so
  // no two ticks read the same.
  function tickLabels(ticks) {
    const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
    let digits = 0;
    while (digits < 4 && Math.abs(Number(step.toFixed(digits)) - step) > step * 1e-6) digits += 1;
    return ticks.map((v) => fmt(v, digits));
  }
  const timeSeries = () => ({ label: T.time, value: (_u, ts) => (ts == null ? "–" : wallLabel(ts, true)) });

  function chartSize(element, height) {
    return { width: Math.max(element.clientWidth, 240), height };
  }

  // Redraw charts at the new width when a phone rotates or a window is resized.
  const charts = [];
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [chart, element, height] of charts) chart.setSize(chartSize(element, height));
    }, 100);
  });

  // Without the chart library (assets not built) the tables and numbers still work.
  function makeChart(element, options, data) {
    if (typeof uPlot === "undefined") return null;
    const height = options.height ?? 260;
    const chart = new uPlot({ ...chartSize(element, height), ...options }, data, element);
    charts.push([chart, element, height]);
    element.uplot = chart; // tests compare what is drawn with the API
    return chart;
  }

  // Import up, export down (as negative values) over categorical buckets 0..n-1 labelled `labels`.
  function barChart(element, labels, importValues, exportValues, previousImport = null, xLabel = T.hour) {
    const xs = labels.map((_, i) => i);
    if (typeof uPlot === "undefined") return null;
    const bars = uPlot.paths.bars({ size: [0.8, 48], align: 0 });
    const series = [
      { label: xLabel, value: (_u, i) => (i == null ? "–" : labels[i]) },
      { label: T.import, stroke: COLORS.import, fill: `${COLORS.import}cc`, paths: bars, points: { show: false },
        value: (_u, v) => kwh(v) },
      { label: T.export, stroke: COLORS.export, fill: `${COLORS.export}cc`, paths: bars, points: { show: false },
        value: (_u, v) => kwh(v === null ? null : -v) },
    ];
    const data = [xs, importValues, exportValues.map((v) => (v === null ? null : -v))];
    if (previousImport) {
      series.push({ label: element.dataset.previousLabel || T.import, stroke: COLORS.previous, width: 2,
        dash: [6, 4], points: { show: false }, value: (_u, v) => kwh(v) });
      data.push(previousImport);
    }
    // As many labels as fit (about one per 44 px), so a phone shows every second or third.
    const splits = (u) => {
      const step = Math.max(1, Math.ceil(labels.length / Math.max(2, Math.floor(u.width / 44))));
      return xs.filter((i) => i % step === 0);
    };
    return makeChart(element, {
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
      axes: [
        { values: (_u, ticks) => ticks.map((i) => labels[i] ?? ""), splits,
          grid: { show: false } },
        { values: (_u, ticks) => tickLabels(ticks), size: 50 },
      ],
      series,
      legend: { live: true },
    }, data);
  }

  function setText(id, text) {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  }

  // A failed API call is already in the banner; anything else is a bug and goes to the console.
  function report(error) {
    if (!(error instanceof ApiError)) console.error(error);
  }

  // Runs page loaders side by side; a bug (not a failed API call) still reaches the console.
  async function settle(...loaders) {
    for (const result of await Promise.allSettled(loaders)) {
      if (result.status === "rejected") report(result.reason);
    }
  }

  // Lets tests and bench/dashboard_load.py see when the page has drawn its data.
  function ready() {
    performance.mark("hanport-ready");
    document.body.dataset.ready = "true";
  }

  return { T, LANG, LOCALE, TODAY, fmt, power, kwh, wallSeconds, wallTime, api, csvUrl, chooseMeter, meterDay, COLORS,
    tickLabels,
    makeChart, barChart, timeAxis, timeSeries, setText, showError, settle, report, ready };
})();

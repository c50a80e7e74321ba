// The History page: a day (by hour), month (by day) or year (by month) of import and export,
// compared with the period before; in the day view also the voltage per phase.
"use strict";

(async () => {
  const h = hanport;
  const section = document.getElementById("history");
  const { view, endpoint, start, end, previousStart, previousEnd } = section.dataset;
  const at = (day) => `${day}T00:00:00`;
  const daysIn = (isoDay) => {
    const [year, month] = isoDay.split("-").map(Number);
    return new Date(Date.UTC(year, month, 0)).getUTCDate();
  };

  // Bucket index of a row start within its period, and the labels of the buckets.
  const bucketOf = {
    day: (iso) => Number(iso.slice(11, 13)),
    month: (iso) => Number(iso.slice(8, 10)) - 1,
    year: (iso) => Number(iso.slice(5, 7)) - 1,
  }[view];
  const labels = {
    day: () => Array.from({ length: 24 }, (_, i) => String(i).padStart(2, "0")),
    month: () => Array.from({ length: daysIn(start) }, (_, i) => String(i + 1)),
    year: () => h.T.months_short.split(","),
  }[view]();

  const dateFormat = {
    day: { dateStyle: "full", timeZone: "UTC" },
    month: { month: "long", year: "numeric", timeZone: "UTC" },
    year: { year: "numeric", timeZone: "UTC" },
  }[view];
  h.setText("period-label", new Intl.DateTimeFormat(h.LOCALE, dateFormat).format(new Date(`${start}T00:00:00Z`)));

  let meterId;
  try {
    meterId = await h.chooseMeter();
  } catch (error) {
    h.report(error);
    h.ready();
    return;
  }
  if (meterId === null) {
    h.showError(h.T.no_meter);
    h.ready();
    return;
  }
  const query = { from: at(start), to: at(end), meter_id: meterId };
  document.getElementById("history-csv").href = h.csvUrl(`/api/${endpoint}`, query);
  for (const link of document.querySelectorAll("#prev-period, #next-period, .tabs a")) {
    const url = new URL(link.href);
    url.searchParams.set("meter", meterId);
    link.href = url.pathname + url.search;
  }

  function bucket(rows) {
    const imports = labels.map(() => null);
    const exports = labels.map(() => null);
    for (const row of rows) {
      const i = bucketOf(row.start);
      if (i < 0 || i >= labels.length) continue;
      imports[i] = (imports[i] ?? 0) + (row.active_energy_import_kwh ?? 0);
      exports[i] = (exports[i] ?? 0) + (row.active_energy_export_kwh ?? 0);
    }
    return { imports, exports };
  }
  const sum = (values) => values.reduce((total, v) => total + (v ?? 0), 0);
  function change(now, before) {
    if (!before) return "–";
    const percent = ((now - before) / before) * 100;
    return `${percent > 0 ? "+" : ""}${h.fmt(percent, 1)} %`;
  }

  // The change compares only buckets both periods have: today so far against the same hours
  // yesterday, or a year against the months the year before has data for. When the earlier
  // period lacks more than a tenth of those times (the reader started during it), a percentage
  // would compare a few hours with a whole day: the page says how much it has instead.
  const MIN_COVERAGE = 0.9;
  function showChange(current, previous, previousHasRows) {
    const importCell = document.getElementById("change-import");
    const exportCell = document.getElementById("change-export");
    const wanted = labels.map((_, i) => current.imports[i] !== null);
    const both = wanted.map((want, i) => want && previous.imports[i] !== null);
    const have = both.filter(Boolean).length;
    const want = wanted.filter(Boolean).length;
    const comparable = !previousHasRows || !want || have >= MIN_COVERAGE * want;
    importCell.colSpan = comparable ? 1 : 2;
    exportCell.hidden = !comparable;
    importCell.dataset.comparable = String(comparable);
    importCell.classList.toggle("muted", !comparable);
    if (!comparable) {
      importCell.textContent = h.T[`not_comparable_${view}`]
        .replace("{have}", h.fmt(have)).replace("{want}", h.fmt(want));
      return;
    }
    const common = (values) => sum(values.filter((_, i) => both[i]));
    importCell.textContent = change(common(current.imports), common(previous.imports));
    exportCell.textContent = change(common(current.exports), common(previous.exports));
  }

  async function loadEnergy() {
    const [rows, previousRows] = await Promise.all([
      h.api(`/api/${endpoint}`, query),
      h.api(`/api/${endpoint}`, { from: at(previousStart), to: at(previousEnd), meter_id: meterId }),
    ]);
    document.querySelector("[data-testid=no-hours]").hidden = rows.length > 0;
    const current = bucket(rows);
    const previous = bucket(previousRows);
    const chartElement = document.getElementById("history-chart");
    chartElement.dataset.previousLabel = h.T[`compare_${view}`];
    h.barChart(chartElement, labels, current.imports, current.exports, previous.imports, h.T[{ day: "hour", month: "day", year: "month" }[view]]);

    h.setText("total-import", h.fmt(sum(current.imports), 2));
    h.setText("total-export", h.fmt(sum(current.exports), 2));
    h.setText("previous-import", previousRows.length ? h.fmt(sum(previous.imports), 2) : "–");
    h.setText("previous-export", previousRows.length ? h.fmt(sum(previous.exports), 2) : "–");
    showChange(current, previous, previousRows.length > 0);

    const body = document.getElementById("history-rows");
    body.replaceChildren();
    labels.forEach((label, i) => {
      if (current.imports[i] === null && previous.imports[i] === null) return;
      const tr = body.insertRow();
      tr.insertCell().textContent = label;
      tr.insertCell().textContent = h.fmt(current.imports[i], 3);
      tr.insertCell().textContent = h.fmt(current.exports[i], 3);
      tr.insertCell().textContent = h.fmt(previous.imports[i], 3);
    });
  }

  async function loadVoltage() {
    const fields = ["voltage_l1_v", "voltage_l2_v", "voltage_l3_v"];
    const params = { ...query, fields: fields.join(",") };
    document.getElementById("voltage-csv").href = h.csvUrl("/api/readings", params);
    const rows = await h.api("/api/readings", params);
    const times = rows.map((row) => h.wallSeconds(row.at));
    const present = fields.filter((field) => rows.some((row) => row[field] !== undefined && row[field] !== null));
    const data = [times, ...present.map((field) => rows.map((row) => row[field] ?? null))];
    h.makeChart(document.getElementById("voltage-chart"), {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      // Ends a minute before midnight so the last tick label (the next day) is not cut off.
      scales: { x: { time: true, range: [h.wallSeconds(at(start)), h.wallSeconds(at(end)) - 60] } },
      series: [
        h.timeSeries(),
        ...present.map((field) => {
          const phase = field.slice(8, 10);
          return { label: phase.toUpperCase(), stroke: h.COLORS[phase], width: 1.5, value: (_u, v) => `${h.fmt(v, 1)} V` };
        }),
      ],
      axes: [h.timeAxis(), { values: (_u, ticks) => ticks.map((v) => `${h.fmt(v)} V`), size: 60 }],
    }, data);
  }

  // The official hourly values imported by `hanport reconcile` against the booked hours.
  async function loadReconcile() {
    const [report] = await h.api("/api/reconcile", { month: start.slice(0, 7), meter_id: meterId });
    const hours = report?.hours ?? [];
    document.getElementById("reconcile-none").hidden = hours.length > 0;
    document.getElementById("reconcile-details").hidden = hours.length === 0;
    if (!hours.length) return;
    const summary = document.getElementById("reconcile-summary");
    summary.textContent = summary.dataset.template
      .replace("{hours}", h.fmt(hours.length)).replace("{flagged}", h.fmt(report.flagged))
      .replace("{tolerance}", h.fmt(report.tolerance_kwh, 2));
    const replaced = hours.filter((row) => row.replaced).length;
    const replacedLine = document.getElementById("reconcile-replaced");
    replacedLine.hidden = replaced === 0;
    replacedLine.textContent = replacedLine.dataset.template.replace("{replaced}", h.fmt(replaced));
    const peaks = (list) => list.map((p) => h.fmt(p.kwh, 3)).join(", ") || "–";
    const peakRow = document.querySelector("#reconcile-peaks tr");
    peakRow.querySelector(".official").textContent = peaks(report.peaks.official);
    peakRow.querySelector(".reader").textContent = peaks(report.peaks.reader);
    const body = document.getElementById("reconcile-rows");
    body.replaceChildren();
    for (const hour of hours.filter((row) => row.flagged)) {
      const tr = body.insertRow();
      tr.insertCell().textContent = h.wallTime(hour.start).slice(0, 16);
      tr.insertCell().textContent = h.fmt(hour.official_kwh, 3);
      tr.insertCell().textContent = hour.reader_kwh == null ? "–" : h.fmt(hour.reader_kwh, 3);
      tr.insertCell().textContent = hour.difference_kwh == null ? "–" : h.fmt(hour.difference_kwh, 3);
    }
  }

  await h.settle(loadEnergy(), view === "day" ? loadVoltage() : null, view === "month" ? loadReconcile() : null);
  h.ready();
})();

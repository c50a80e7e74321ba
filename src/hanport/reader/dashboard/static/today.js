// The Today page: today's hourly bars (import up, export down) and the month's capacity peaks.
"use strict";

(async () => {
  const h = hanport;
  const REFRESH_MS = 60_000;
  const labels = Array.from({ length: 24 }, (_, hour) => String(hour).padStart(2, "0"));

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
  // Today is the meter's day: that of its latest reading.
  const day = await h.meterDay(meterId);
  h.setText("today-date", day);
  const tomorrow = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const window_ = { from: `${day}T00:00:00`, to: `${tomorrow}T00:00:00` };
  document.getElementById("hours-csv").href = h.csvUrl("/api/hours", { ...window_, meter_id: meterId });

  const chartElement = document.getElementById("hours-chart");
  const costToday = document.getElementById("cost-today");
  let chart = null;

  async function loadHours() {
    const rows = await h.api("/api/hours", { ...window_, meter_id: meterId });
    // Sum by wall-clock hour, so the autumn DST day's two 02:00 hours share one bar.
    const imports = labels.map(() => null);
    const exports = labels.map(() => null);
    const body = document.getElementById("hours-rows");
    body.replaceChildren();
    for (const row of rows) {
      const hour = Number(row.start.slice(11, 13));
      imports[hour] = (imports[hour] ?? 0) + (row.active_energy_import_kwh ?? 0);
      exports[hour] = (exports[hour] ?? 0) + (row.active_energy_export_kwh ?? 0);
      const tr = body.insertRow();
      tr.dataset.start = row.start;
      tr.insertCell().textContent = row.start.slice(11, 16) + (row.estimated ? ` (${h.T.estimated})` : "");
      tr.insertCell().textContent = h.fmt(row.active_energy_import_kwh, 3);
      tr.insertCell().textContent = h.fmt(row.active_energy_export_kwh, 3);
    }
    document.querySelector("[data-testid=no-hours]").hidden = rows.length > 0;
    if (costToday !== null) h.setText("cost-today", nok(rows));
    if (chart === null) chart = h.barChart(chartElement, labels, imports, exports);
    else chart?.setData([labels.map((_, i) => i), imports, exports.map((v) => (v === null ? null : -v))]);
  }

  async function loadTariff() {
    const tariffs = await h.api("/api/tariff", { month: day.slice(0, 7), meter_id: meterId });
    const tariff = tariffs.find((entry) => entry.meter_id === meterId) ?? tariffs[0];
    const body = document.getElementById("peak-rows");
    body.replaceChildren();
    if (!tariff) return;
    if (!tariff.peaks.length) {
      const cell = body.insertRow().insertCell();
      cell.colSpan = 2;
      cell.className = "muted";
      cell.textContent = h.T.no_peaks_yet;
    }
    for (const peak of tariff.peaks) {
      const tr = body.insertRow();
      tr.insertCell().textContent = h.wallTime(peak.start).slice(0, 16);
      tr.insertCell().textContent = h.fmt(peak.kwh, 2);
    }
    const range = (step) =>
      step ? (step.to_kw == null ? `≥ ${h.fmt(step.from_kw)} kW` : `${h.fmt(step.from_kw)}–${h.fmt(step.to_kw)} kW`) : "–";
    h.setText("peak-average", tariff.average_kw == null ? "–" : `${h.fmt(tariff.average_kw, 2)} kW`);
    h.setText("step", range(tariff.step));
    h.setText("step-price", tariff.step ? `${h.fmt(tariff.step.price_nok, 0)} ${h.T.nok_month}` : "–");
    h.setText(
      "next-step",
      tariff.next_step ? `${range(tariff.next_step)} · ${h.fmt(tariff.next_step.price_nok, 0)} ${h.T.nok_month}` : "–",
    );
    h.setText("headroom", tariff.headroom_kw == null ? "–" : `${h.fmt(tariff.headroom_kw, 2)} kW`);
    document.getElementById("tariff-warning").hidden = !tariff.warning;
    showByRule(tariff.by_tariff_rule);
  }

  // A tariff whose own rule is not Norway's (a weekday window, quarter-hours): its figure and
  // charge beside the Norwegian steps above.
  function showByRule(rule) {
    const own = rule && (rule.weekdays_only || rule.resolution !== "hour" || rule.window_hours[0] !== 0 || rule.window_hours[1] !== 24);
    for (const element of document.querySelectorAll("[data-by-rule]")) element.hidden = !own;
    if (!own) return;
    const charge = rule.charge == null ? "–" : `${h.fmt(rule.charge, 2)} ${rule.currency}`;
    const estimate = rule.estimated ? ` ${h.T.by_rule_estimate}` : "";
    h.setText("by-rule", `${h.fmt(rule.kw, 2)} kW · ${charge}${estimate}`);
  }

  // Cost: today from the hours' rows (loadHours), the month from /api/months; absent keys mean no tariff.
  const monthStart = `${day.slice(0, 7)}-01`;
  const nextMonth = new Date(Date.parse(`${monthStart}T00:00:00Z`) + 32 * 86_400_000).toISOString().slice(0, 7);
  // The sum of the hours that have a price, and how many have none: a month with a few hours
  // not priced yet still shows what the rest cost. Rows: hours, or months (priced_cost_nok and
  // unpriced_hours count their hours).
  const nok = (rows) => {
    const costed = rows.filter((row) => row.cost_nok !== undefined);
    if (!costed.length) return "–";
    let sum = 0;
    let priced = false;
    let missing = 0;
    for (const row of costed) {
      const unpriced = row.unpriced_hours ?? (row.cost_nok === null ? 1 : 0);
      sum += row.priced_cost_nok ?? row.cost_nok ?? 0;
      priced ||= (row.priced_cost_nok ?? row.cost_nok) !== null;
      missing += unpriced;
    }
    const count = missing === 1 ? h.T.one_hour_without_price : h.T.hours_without_price.replace("{count}", String(missing));
    const note = missing ? ` (${count})` : "";
    return `${priced ? `${h.fmt(sum, 2)} ${h.T.nok}` : "–"}${note}`;
  };

  async function loadCost() {
    if (costToday === null) return;
    const months = await h.api("/api/months", {
      from: `${monthStart}T00:00:00`,
      to: `${nextMonth}-01T00:00:00`,
      meter_id: meterId,
    });
    h.setText("cost-month", nok(months));
  }

  const refresh = () => h.settle(loadHours(), loadTariff(), loadCost());
  await refresh();
  h.ready();
  setInterval(refresh, REFRESH_MS);
})();

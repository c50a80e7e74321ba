// The Now page: live values from the SSE feed /api/live, this hour against the capacity tariff.
// A reading older than three of its meter's push intervals is stale (the API says when:
// `age_s`, `stale_after_s`): the page then says since when there is no data, greys the numbers
// and shows no projection or warning drawn from them.
"use strict";

(async () => {
  const h = hanport;
  const RECENT_WINDOW_S = 15 * 60;
  const TARIFF_MIN_INTERVAL_MS = 2_000;
  const STALE_CHECK_MS = 1_000;

  const connection = document.getElementById("connection");
  function setConnection(state) {
    connection.dataset.state = state;
    connection.textContent = h.T[`conn_${state}`];
  }

  // The latest values of every meter and the meter list, side by side: one round trip.
  const latestPromise = h.api("/api/now").catch((error) => {
    h.report(error);
    return [];
  });
  let meterId = null;
  try {
    meterId = await h.chooseMeter();
  } catch (error) {
    h.report(error);
    // the banner says what failed; the live feed below may still bring a meter
  }
  if (meterId === null) h.setText("meter-id", h.T.no_meter);

  // Recent power: seeded from stored readings, then extended by every push.
  const recent = [[], [], []];
  const recentElement = document.getElementById("recent-chart");
  const recentChart = h.makeChart(recentElement, {
    height: 180,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    // Always the whole window up to the latest push, also while only a few points are in.
    scales: { x: { time: true, range: (_u, _min, max) => [max - RECENT_WINDOW_S, max] } },
    series: [
      h.timeSeries(),
      { label: h.T.import, stroke: h.COLORS.import, width: 2, fill: `${h.COLORS.import}22`, value: (_u, v) => h.power(v) },
      { label: h.T.export, stroke: h.COLORS.export, width: 2, fill: `${h.COLORS.export}22`, value: (_u, v) => h.power(v) },
    ],
    axes: [h.timeAxis(), { label: "kW", values: (_u, ticks) => ticks.map((v) => h.fmt(v / 1000, 1)), size: 50 }],
  }, recent);

  // Points arrive from two places (stored readings, live pushes) in any order: keep them
  // sorted by time, one per timestamp, within the window. `draw` false: the caller adds more
  // and redraws once (a redraw per stored reading costs more than the rest of the page).
  function addRecent(reading, draw = true) {
    // Both live pushes and stored readings (/api/readings) carry the meter's time as `at`:
    // the chart follows the meter's clock, like this hour and last hour do.
    const when = reading.at ?? reading.received_at;
    if (!when) return;
    const t = h.wallSeconds(when);
    const times = recent[0];
    let index = times.length;
    while (index > 0 && times[index - 1] > t) index -= 1;
    if (index > 0 && times[index - 1] === t) return;
    times.splice(index, 0, t);
    recent[1].splice(index, 0, reading.active_power_import_w ?? null);
    recent[2].splice(index, 0, reading.active_power_export_w ?? null);
    const newest = times[times.length - 1];
    while (times.length && times[0] < newest - RECENT_WINDOW_S) for (const column of recent) column.shift();
    if (draw) recentChart?.setData(recent);
  }

  let gaugeMax = 11000;
  function setGauge(id, watts) {
    const gauge = document.getElementById(id);
    if (watts > gaugeMax * 0.95) gaugeMax = Math.ceil((watts * 1.25) / 1000) * 1000;
    gauge.max = gaugeMax;
    gauge.value = watts ?? 0;
  }

  // The reading shown, and when (browser clock) it turns stale: the API's age, not the
  // browser's clock against the reader's, decides.
  let shown = null;
  let staleAt = Number.POSITIVE_INFINITY;
  const nowCards = document.querySelector(".grid.now");
  function isStale() {
    return shown !== null && Date.now() >= staleAt;
  }
  function applyStale() {
    const stale = isStale();
    nowCards.classList.toggle("stale", stale);
    const note = document.getElementById("stale-note");
    note.hidden = !stale;
    if (!stale) return;
    note.textContent = h.T.no_data_since.replace("{time}", h.wallTime(shown.received_at).slice(11, 16));
    h.setText("this-hour-projection", "–");
    document.getElementById("tariff-warning").hidden = true;
    document.getElementById("rule-warning").hidden = true;
    document.getElementById("tariff-ok").hidden = true;
    document.getElementById("budget-left").hidden = true;
    document.getElementById("fuse-warning").hidden = true;
    if (!["stored", "lost"].includes(connection.dataset.state)) setConnection("stale");
  }

  function show(reading) {
    shown = reading;
    const left = (reading.stale_after_s ?? 30) - (reading.age_s ?? 0);
    staleAt = reading.stale ? 0 : Date.now() + left * 1000;
    h.setText("import-power", h.power(reading.active_power_import_w));
    // The exact value for tests and scripts; the text is rounded and localised.
    document.getElementById("import-power").dataset.watts = reading.active_power_import_w ?? "";
    h.setText("export-power", h.power(reading.active_power_export_w ?? 0));
    setGauge("import-gauge", reading.active_power_import_w);
    setGauge("export-gauge", reading.active_power_export_w ?? 0);
    h.setText("meter-id", `${reading.meter_id ?? "–"}${reading.manufacturer ? ` (${reading.manufacturer})` : ""}`);
    // Some lists carry only the push time (Aidon list 1), not the meter clock register.
    // The meter's time of the latest reading (the clock register comes only with the hourly list).
    h.setText("meter-clock", h.wallTime(reading.at ?? reading.meter_clock ?? reading.notification_time));
    h.setText("received-at", h.wallTime(reading.received_at));
    for (const row of document.querySelectorAll("#phase-rows tr")) {
      const phase = row.dataset.phase;
      const voltage = reading[`voltage_${phase}_v`];
      const current = reading[`current_${phase}_a`];
      const imported = reading[`active_power_import_${phase}_w`];
      const exported = reading[`active_power_export_${phase}_w`];
      row.querySelector(".v").textContent = voltage === undefined ? "–" : `${h.fmt(voltage, 1)} V`;
      row.querySelector(".a").textContent = current === undefined ? "–" : `${h.fmt(current, 2)} A`;
      row.querySelector(".w").textContent =
        imported === undefined ? "–" : h.power(imported - (exported ?? 0));
      row.hidden = voltage === undefined && current === undefined && imported === undefined;
    }
    // Many lists carry no per-phase power (Kamstrup list 1): then the column is left out.
    const perPhasePower = ["l1", "l2", "l3"].some((phase) => `active_power_import_${phase}_w` in reading);
    for (const cell of document.querySelectorAll(".phases .w")) cell.hidden = !perPhasePower;
    if ("this_hour_kwh" in reading) h.setText("this-hour-kwh", h.kwh(reading.this_hour_kwh, 3));
    if ("this_hour_projection_kwh" in reading) {
      h.setText("this-hour-projection", h.kwh(reading.this_hour_projection_kwh, 2));
    }
    if ("last_hour_kwh" in reading) h.setText("last-hour-kwh", h.kwh(reading.last_hour_kwh, 3));
    if ("last_hour_export_kwh" in reading) h.setText("last-hour-export-kwh", h.kwh(reading.last_hour_export_kwh, 3));
    showFuse(reading.fuse);
    addRecent(reading);
    if (!reading.stale) setConnection("live");
    applyStale();
  }

  // The main fuse's headroom per phase (/api/now `fuse`, present when [fuse] amps is set); the
  // warning is the API's: a phase held above the share for the configured time, never stale.
  function showFuse(fuse) {
    const card = document.getElementById("fuse-card");
    card.hidden = !fuse;
    if (!fuse) return;
    h.setText("fuse-amps", `(${h.fmt(fuse.amps, 0)} A)`);
    document.getElementById("fuse-warning").hidden = !fuse.warning;
    const byPhase = Object.fromEntries(fuse.phases.map((p) => [p.phase, p]));
    for (const row of document.querySelectorAll("#fuse-rows tr")) {
      const phase = byPhase[row.dataset.phase];
      row.hidden = !phase;
      if (!phase) continue;
      row.querySelector(".a").textContent = `${h.fmt(phase.current_a, 1)} A`;
      row.querySelector("meter").value = Math.max(0, Math.min(100, phase.load_pct));
      row.querySelector(".pct span").textContent = `${h.fmt(phase.load_pct, 0)} %`;
      row.querySelector(".headroom").textContent = `${h.fmt(phase.headroom_a, 1)} A`;
      row.classList.toggle("over", phase.warning);
    }
  }

  // The hour's allowance (/api/budget): the limit, and what is left at the current power.
  // With a tariff whose own capacity rule decides (a weekday window, a price per kW,
  // quarter-hours), an hour may not count at all, and a kWh above the limit has a price.
  const norwegianRule = (rule) => !rule || (rule.rule === "top_days" && rule.resolution === "hour"
    && rule.window_hours[0] === 0 && rule.window_hours[1] === 24 && !rule.weekdays_only && !rule.skip_holidays);
  let ownRule = null; // the budget when a tariff's own rule decides, else null
  const hour2 = (n) => String(n).padStart(2, "0");
  function notCounted(budget) {
    return h.T[`budget_not_counted_${budget.reason}`]
      .replace("{from}", hour2(budget.rule.window_hours[0]))
      .replace("{to}", hour2(budget.rule.window_hours[1]));
  }
  function ruleNotes(budget) {
    const notes = [];
    if (budget.period === "quarter_hour") {
      notes.push(h.T.budget_quarter.replace("{from}", budget.period_start.slice(11, 16)).replace("{to}", budget.period_end.slice(11, 16)));
    }
    if (budget.reason === "fewer_than_count") notes.push(h.T.budget_fewer.replace("{count}", budget.rule.count));
    if (budget.over_cost_per_kwh != null) {
      notes.push(h.T.budget_over_cost.replace("{cost}", `${h.fmt(budget.over_cost_per_kwh, 2)} ${budget.currency}`));
    }
    return notes.join(" ");
  }
  function showBudget(budget) {
    const line = document.getElementById("budget-left");
    const rule = document.getElementById("budget-rule");
    ownRule = budget && !norwegianRule(budget.rule) ? budget : null;
    h.setText("threshold", budget?.limit_kwh == null ? "–" : h.kwh(budget.limit_kwh, 2));
    rule.hidden = true;
    if (ownRule && !ownRule.counts) {
      line.hidden = false;
      line.textContent = notCounted(ownRule);
      return;
    }
    line.hidden = budget?.left_kwh == null || budget.stale;
    if (ownRule) {
      rule.textContent = ruleNotes(ownRule);
      rule.hidden = !rule.textContent;
    }
    if (line.hidden) return;
    const kwh = h.kwh(Math.abs(budget.left_kwh), 2);
    if (budget.left_kwh < 0) line.textContent = h.T.budget_over.replace("{kwh}", kwh);
    else if (budget.minutes_left == null) line.textContent = h.T.budget_left.replace("{kwh}", kwh);
    else {
      line.textContent = h.T.budget_left_minutes
        .replace("{kwh}", kwh)
        .replace("{minutes}", h.fmt(budget.minutes_left, 0));
    }
  }

  // The warnings of This hour: the Norwegian step's from /api/tariff, or under a tariff's own
  // rule the allowance's (`would_raise_step`); none drawn from a stale reading.
  function showWarnings(tariff) {
    const stale = isStale();
    const own = ownRule !== null;
    const ownOver = own && ownRule.counts && ownRule.would_raise_step;
    document.getElementById("rule-warning").hidden = !ownOver || stale;
    document.getElementById("tariff-warning").hidden = own || !tariff?.warning || stale;
    // "below the threshold of the month's step": a rule with steps only (a price per kW has none)
    const ok = own ? ownRule.step !== null && ownRule.counts && !ownOver : tariff && !tariff.warning;
    document.getElementById("tariff-ok").hidden = !ok || stale;
  }

  // The month's figure and charge: the Norwegian step, or the chosen tariff's own rule's.
  function showStep(tariff) {
    const rule = tariff.by_tariff_rule;
    if (ownRule !== null) {
      h.setText("step", rule ? `${h.fmt(rule.kw, 2)} kW` : "–");
      h.setText("step-price", rule?.charge == null ? "–" : `${h.fmt(rule.charge, 2)} ${rule.currency}`);
      return;
    }
    const range = tariff.step.to_kw == null ? `≥ ${h.fmt(tariff.step.from_kw)}` : `${h.fmt(tariff.step.from_kw)}–${h.fmt(tariff.step.to_kw)}`;
    h.setText("step", `${range} kW`);
    h.setText("step-price", `${h.fmt(tariff.step.price_nok)} ${h.T.nok_month}`);
  }

  // The meter's day: that of its latest reading (a meter runs on its own clock), until one is
  // shown the one the server rendered the page for.
  const meterDay = () => (shown?.at ?? h.TODAY).slice(0, 10);

  // The tariff: refreshed after pushes, at most every TARIFF_MIN_INTERVAL_MS.
  let tariffPending = false;
  let tariffAt = 0;
  async function refreshTariff() {
    if (meterId === null || tariffPending) return;
    const wait = tariffAt + TARIFF_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      tariffPending = true;
      setTimeout(() => {
        tariffPending = false;
        refreshTariff();
      }, wait);
      return;
    }
    tariffAt = Date.now();
    let tariffs;
    let budgets;
    try {
      [tariffs, budgets] = await Promise.all([
        h.api("/api/tariff", { month: meterDay().slice(0, 7), meter_id: meterId }),
        h.api("/api/budget", { meter_id: meterId }),
      ]);
    } catch (error) {
      h.report(error);
      return;
    }
    showBudget(budgets.find((entry) => entry.meter_id === meterId));
    const tariff = tariffs.find((entry) => entry.meter_id === meterId) ?? tariffs[0];
    showWarnings(tariff);
    if (tariff) showStep(tariff);
  }

  async function seedRecent(reading) {
    const to = reading.at ?? reading.received_at;
    const from = new Date((h.wallSeconds(to) - RECENT_WINDOW_S) * 1000).toISOString().slice(0, 19);
    const stored = await h.api("/api/readings", {
      meter_id: meterId, from, to, fields: "active_power_import_w,active_power_export_w",
    });
    for (const row of stored) addRecent(row, false);
    addRecent(reading);
  }

  if (meterId !== null) {
    const loaders = [refreshTariff()]; // needs only the meter: asked for before /api/now returns
    const latest = await latestPromise;
    const reading = latest.find((entry) => entry.meter_id === meterId);
    if (reading) {
      show(reading);
      setConnection("connecting");
      if (reading.at ?? reading.received_at) loaders.push(seedRecent(reading));
    }
    await h.settle(...loaders);
  }

  function connect() {
    const source = new EventSource("/api/live");
    source.addEventListener("open", () => {
      if (shown === null) setConnection("connecting");
    });
    // The feed says first whether readings will follow: `hanport serve` (a stored database,
    // no meter attached) has no live source, so stop reconnecting and say what is shown.
    source.addEventListener("status", (event) => {
      if (JSON.parse(event.data).live) return;
      source.close();
      setConnection("stored");
    });
    source.addEventListener("reading", (event) => {
      const reading = JSON.parse(event.data);
      if (meterId === null) meterId = reading.meter_id;
      if (reading.meter_id !== meterId) return;
      show(reading);
      refreshTariff();
    });
    // EventSource reconnects by itself; say so meanwhile.
    source.addEventListener("error", () => setConnection("lost"));
  }
  connect();

  setInterval(applyStale, STALE_CHECK_MS);

  h.ready();
})();

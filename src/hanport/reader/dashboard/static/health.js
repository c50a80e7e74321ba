// The Health page: sources, counters, issues and the last raw frames in hex, refreshed every 2 s.
"use strict";

(async () => {
  const h = hanport;
  const REFRESH_MS = 2_000;
  const FRAME_LIMIT = 20;

  // "7ea0…" -> "7E A0 …" in groups, so a frame can be read and compared byte by byte.
  const spacedHex = (hex) => (hex ?? "").toUpperCase().replace(/(..)(?!$)/g, "$1 ");

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // {"writer": {"pending": 3}} -> [["writer.pending", "3"]]: one readable line per value.
  function flatten(value, prefix = "") {
    if (value === null || value === undefined) return [[prefix, "–"]];
    if (typeof value !== "object") return [[prefix, String(value)]];
    const entries = Object.entries(value);
    if (!entries.length) return [[prefix, "–"]];
    return entries.flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
  }

  async function loadHealth() {
    const health = await h.api("/api/health");
    const body = document.getElementById("source-rows");
    body.replaceChildren();
    for (const source of health.sources ?? []) {
      const tr = body.insertRow();
      cell(tr, source.name);
      cell(tr, source.kind);
      cell(tr, source.state, `state state-${source.state}`);
      cell(tr, h.fmt(source.frames_per_s, 2));
      cell(tr, h.fmt(source.frames_ok));
      cell(tr, h.fmt(source.crc_errors), source.crc_errors ? "bad" : "");
      cell(tr, h.fmt(source.undecodable), source.undecodable ? "bad" : "");
      cell(tr, h.wallTime(source.last_frame_at));
    }
    const issues = document.getElementById("issues");
    issues.replaceChildren();
    for (const issue of health.issues ?? []) {
      const li = document.createElement("li");
      li.className = `issue-${issue.level}`;
      li.textContent = `${h.T[`level_${issue.level}`] ?? issue.level}: ${issue.message}`;
      issues.append(li);
    }
    if (!issues.children.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = h.T.no_issues;
      issues.append(li);
    }
    const services = document.getElementById("services");
    services.replaceChildren();
    for (const [name, details] of [[h.T.database, health.database], [h.T.mqtt, health.mqtt]]) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      for (const [key, value] of flatten(details)) {
        const line = document.createElement("div");
        line.textContent = key ? `${key}: ${value}` : value;
        dd.append(line);
      }
      services.append(dt, dd);
    }
    showBackup(health.backup);
    showPrices(health.prices);
  }

  // "2026-03-27T10:30:00+00:00" -> "2026-03-27 11:30" (the fetcher's UTC times, shown in Oslo time)
  const OSLO_TIME = new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Europe/Oslo", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const osloTime = (iso) => (iso ? OSLO_TIME.format(new Date(iso)) : "–");

  // The day-ahead prices (/api/health `prices`): zone, last fetch, whether tomorrow's are out,
  // and the fetch's error while the network (or ENTSO-E) is down.
  function showPrices(prices) {
    document.getElementById("prices-off").hidden = Boolean(prices?.enabled);
    document.getElementById("prices-details").hidden = !prices?.enabled;
    if (!prices?.enabled) return;
    h.setText("prices-zone", prices.zone ?? "–");
    h.setText("prices-fetched", prices.last_success ? osloTime(prices.last_success) : h.T.never);
    h.setText("prices-until", osloTime(prices.known_until));
    h.setText("prices-tomorrow", prices.tomorrow_known ? h.T.tomorrow_published : h.T.tomorrow_not_yet);
    document.getElementById("prices-error").hidden = !prices.problem;
    h.setText("prices-problem", prices.problem ?? "");
  }

  // The scheduled backups (/api/health `backup`): the last one's time, file and size, or its error.
  function showBackup(backup) {
    document.getElementById("backup-off").hidden = Boolean(backup?.enabled);
    document.getElementById("backup-details").hidden = !backup?.enabled;
    if (!backup?.enabled) return;
    const last = backup.last;
    h.setText("backup-at", last ? h.wallTime(last.at) : "–");
    h.setText("backup-file", last?.file ?? "–");
    h.setText("backup-size", last?.size_bytes == null ? "–" : `${h.fmt(last.size_bytes / 1e6, 2)} MB`);
    h.setText("backup-next", h.wallTime(backup.next_at));
    const error = document.getElementById("backup-error");
    error.hidden = !last || last.ok;
    error.textContent = last && !last.ok ? last.error : "";
  }

  async function loadFrames() {
    const frames = await h.api("/api/frames/recent", { limit: FRAME_LIMIT });
    const list = document.getElementById("frames");
    list.replaceChildren();
    for (const frame of frames) {
      const li = document.createElement("li");
      li.className = frame.ok ? "frame ok" : "frame rejected";
      const head = document.createElement("div");
      head.className = "frame-head";
      const verdict = frame.ok ? h.T.ok : `${h.T.rejected}: ${frame.reason ?? ""}`;
      head.textContent = [h.wallTime(frame.received_at), frame.source, frame.meter_id, verdict]
        .filter(Boolean).join(" · ");
      const code = document.createElement("code");
      code.textContent = spacedHex(frame.hex);
      li.append(head, code);
      list.append(li);
    }
  }

  const refresh = () => h.settle(loadHealth(), loadFrames());
  await refresh();
  h.ready();
  setInterval(refresh, REFRESH_MS);
})();

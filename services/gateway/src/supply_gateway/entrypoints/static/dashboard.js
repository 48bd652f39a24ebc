"use strict";
// The dashboard's figures: each one fetched from the gateway's API on its own, drawn as SVG, with a
// table of the same numbers for whoever cannot see the chart, and a plain error with a retry.
(function () {
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  const count = new Intl.NumberFormat("en-US");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const SVG = "http://www.w3.org/2000/svg";
  const AT_ONCE = 3; // the gateway lets one user run a few reports at once; keep one slot for other pages

  // --- fetching, a few at a time ------------------------------------------------------------------
  let running = 0;
  const waiting = [];
  function slot() {
    if (running < AT_ONCE) { running += 1; return Promise.resolve(); }
    return new Promise((resolve) => waiting.push(resolve));
  }
  function release() {
    const next = waiting.shift();
    if (next) next(); else running -= 1;
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function getJson(url) {
    await slot();
    try {
      for (let attempt = 0; ; attempt += 1) {
        let response;
        try {
          response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        } catch (e) {
          return { ok: false, status: 0, body: null };
        }
        let body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        if (response.status === 429 && attempt < 3) {
          const wait = Math.min(Number(response.headers.get("Retry-After")) || 1, 5);
          await sleep(wait * 1000);
          continue;
        }
        return { ok: response.ok, status: response.status, body };
      }
    } finally {
      release();
    }
  }

  function plainError(reply) {
    const status = reply.status;
    if (status === 0) return "The connection to the server was lost.";
    if (status === 401) return "Your session ended. Reload the page to sign in again.";
    if (status === 403) return "Your role may not see these figures.";
    if (status === 422) {
      const reasons = ((reply.body && reply.body.errors) || []).map((e) => e.reason).join("; ");
      return "These figures cannot be shown for this period" + (reasons ? ` (${reasons})` : "") + ".";
    }
    if (status === 429) return "Several reports are loading at once. Try again in a moment.";
    if (status === 504) return "These figures took too long to arrive.";
    if (status >= 500) return "These figures are not available right now.";
    return "These figures could not be loaded.";
  }

  // --- helpers -------------------------------------------------------------------------------------
  function el(name, attributes, text) {
    const node = name.startsWith("svg:") ? document.createElementNS(SVG, name.slice(4)) : document.createElement(name);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, value);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const svgEl = (name, attributes, text) => el(`svg:${name}`, attributes, text);

  function niceTicks(maximum, whole) {
    if (!(maximum > 0)) return [0, 1];
    const raw = whole ? Math.max(maximum / 4, 1) : maximum / 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const ticks = [];
    for (let t = 0; t < maximum + step - 1e-9; t += step) ticks.push(t);
    return ticks;
  }
  function compact(value, isMoney) {
    const sign = isMoney ? "$" : "";
    for (const [limit, suffix] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
      if (Math.abs(value) >= limit) return sign + String(Number((value / limit).toFixed(1))) + suffix;
    }
    return sign + String(Number(value.toFixed(2)));
  }
  const textWidth = (text, size) => text.length * size * 0.6;

  // Days and months as whole numbers, so that a time axis has a place for every one, sales or none.
  function dayIndex(text) { return Date.UTC(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10)) / 864e5; }
  function dayText(index) { return new Date(index * 864e5).toISOString().slice(0, 10); }
  function monthIndex(text) { return +text.slice(0, 4) * 12 + (+text.slice(5, 7) - 1); }
  function monthText(index) { return `${String(Math.floor(index / 12)).padStart(4, "0")}-${String((index % 12) + 1).padStart(2, "0")}`; }
  function humanDay(text) { return `${+text.slice(8, 10)} ${MONTHS[+text.slice(5, 7) - 1]} ${text.slice(0, 4)}`; }
  function humanMonth(text) { return `${MONTHS[+text.slice(5, 7) - 1]} ${text.slice(0, 4)}`; }
  function lastDayOfMonth(month) { return dayText(dayIndex(monthText(monthIndex(month) + 1) + "-01") - 1); }

  function salesLink(config, row) {
    if (!config.link) return null;
    const query = new URLSearchParams(config.sales);
    if (config.link === "date") {
      let first = row.key, last = row.key;
      if (config.unit === "month") {
        first = `${row.key}-01`;
        last = lastDayOfMonth(row.key);
        if (config.first && config.first > first) first = config.first;
        if (config.last && config.last < last) last = config.last;
      }
      query.set("date_from", first);
      query.set("date_to", last);
    } else {
      query.set(config.link, row.key);
    }
    return `/sales?${query.toString()}`;
  }

  function rowsOf(config, body) {
    const list = Array.isArray(body) ? body : (body && body.items) || [];
    return list.map((item) => {
      const row = { key: String(item[config.label]), value: Number(item[config.value]) || 0, sales: item.sales };
      row.href = salesLink(config, row);
      row.text = config.value === "revenue" ? money.format(row.value) : count.format(row.value);
      return row;
    });
  }

  // --- drawing -------------------------------------------------------------------------------------
  function drawBars(config, rows, width) {
    const narrow = width < 520;
    const size = 12;
    const labelWidth = narrow ? 0 : Math.min(180, Math.max(...rows.map((r) => textWidth(r.key, size))) + 12);
    const valueRoom = Math.max(...rows.map((r) => textWidth(r.text, size))) + 10;
    const rowHeight = narrow ? 44 : 32;
    const left = labelWidth;
    const plot = Math.max(width - left - valueRoom - 4, 40);
    const maximum = Math.max(...rows.map((r) => r.value), 0) || 1;
    const svg = svgEl("svg", { width, height: rows.length * rowHeight + 4, viewBox: `0 0 ${width} ${rows.length * rowHeight + 4}`, "aria-hidden": "true", focusable: "false" });
    rows.forEach((row, index) => {
      const top = index * rowHeight;
      const barTop = narrow ? top + 20 : top + 6;
      const barHeight = narrow ? 16 : 20;
      const barWidth = Math.max((row.value / maximum) * plot, 2);
      if (narrow) {
        svg.appendChild(svgEl("text", { class: "cat", x: 0, y: top + 14 }, row.key));
      } else {
        const label = row.key.length > 26 ? row.key.slice(0, 25) + "…" : row.key;
        svg.appendChild(svgEl("text", { class: "cat", x: left - 10, y: barTop + 14, "text-anchor": "end" }, label));
      }
      const bar = svgEl("rect", { class: row.href ? "bar linked" : "bar", x: left, y: barTop, width: barWidth, height: barHeight, rx: 2 });
      bar.appendChild(svgEl("title", {}, `${row.key}: ${row.text}${row.href ? " (click to open these sales)" : ""}`));
      if (row.href) bar.addEventListener("click", () => { window.location.href = row.href; });
      svg.appendChild(bar);
      svg.appendChild(svgEl("text", { class: "val", x: left + barWidth + 6, y: barTop + 14 }, row.text));
    });
    return svg;
  }

  function drawColumns(config, rows, width, time) {
    const height = width < 520 ? 220 : 260;
    const left = 58, right = 10, top = 18, bottom = 40;
    const plotWidth = width - left - right, plotHeight = height - top - bottom;
    const isMoney = config.value === "revenue";
    const maximum = Math.max(...rows.map((r) => r.value), 0);
    const ticks = niceTicks(maximum, !isMoney);
    const scale = plotHeight / ticks[ticks.length - 1];
    const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true", focusable: "false" });
    for (const tick of ticks) {
      const y = top + plotHeight - tick * scale;
      svg.appendChild(svgEl("line", { class: "grid", x1: left, x2: left + plotWidth, y1: y, y2: y }));
      svg.appendChild(svgEl("text", { class: "tick", x: left - 6, y: y + 4, "text-anchor": "end" }, compact(tick, isMoney)));
    }
    let place;
    let labels = [];
    if (time) {
      const month = config.unit === "month";
      const index = month ? monthIndex : dayIndex;
      const keys = rows.map((r) => index(r.key));
      const first = config.first ? (month ? monthIndex(config.first) : dayIndex(config.first)) : Math.min(...keys);
      const last = config.last ? (month ? monthIndex(config.last) : dayIndex(config.last)) : Math.max(...keys);
      const slots = last - first + 1;
      const slotWidth = plotWidth / slots;
      place = (row) => {
        const barWidth = Math.max(slotWidth * 0.8, 1.5);
        return { x: left + (index(row.key) - first) * slotWidth + (slotWidth - barWidth) / 2, width: barWidth };
      };
      const room = Math.max(1, Math.floor(plotWidth / 70)); // labels that fit side by side
      if (month && slots > 36) {
        const years = Math.ceil(slots / 12);
        const every = [1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000].find((n) => years / n <= room) || 1000;
        for (let i = first; i <= last; i += 1) {
          const year = Math.floor(i / 12);
          if (i % 12 === 0 && year % every === 0) labels.push({ x: left + (i - first) * slotWidth, text: String(year) });
        }
      } else {
        const every = Math.max(1, Math.ceil(slots / room));
        for (let i = first; i <= last; i += every) {
          const text = month ? humanMonth(monthText(i)) : humanDay(dayText(i)).slice(0, -5);
          labels.push({ x: left + (i - first + 0.5) * slotWidth, text, middle: true });
        }
      }
    } else {
      const slotWidth = plotWidth / Math.max(rows.length, 1);
      place = (row) => {
        const i = rows.indexOf(row);
        const barWidth = Math.min(slotWidth * 0.6, 64);
        return { x: left + i * slotWidth + (slotWidth - barWidth) / 2, width: barWidth };
      };
      labels = rows.map((row, i) => ({ x: left + (i + 0.5) * slotWidth, text: row.key, middle: true }));
    }
    svg.appendChild(svgEl("line", { class: "axis", x1: left, x2: left + plotWidth, y1: top + plotHeight, y2: top + plotHeight }));
    for (const row of rows) {
      const { x, width: barWidth } = place(row);
      const barHeight = Math.max(row.value * scale, row.value > 0 ? 1 : 0);
      const bar = svgEl("rect", { class: row.href ? "bar linked" : "bar", x, y: top + plotHeight - barHeight, width: barWidth, height: barHeight });
      const name = time ? (config.unit === "month" ? humanMonth(row.key) : humanDay(row.key)) : `Score ${row.key}`;
      bar.appendChild(svgEl("title", {}, `${name}: ${row.text}${row.href ? " (click to open these sales)" : ""}`));
      if (row.href) bar.addEventListener("click", () => { window.location.href = row.href; });
      svg.appendChild(bar);
      if (!time || (rows.length <= 12 && barWidth >= textWidth(row.text, 11))) {
        svg.appendChild(svgEl("text", { class: "val", x: x + barWidth / 2, y: top + plotHeight - barHeight - 4, "text-anchor": "middle" }, row.text));
      }
    }
    for (const label of labels) {
      svg.appendChild(svgEl("text", { class: "tick", x: label.x, y: top + plotHeight + 16, "text-anchor": label.middle ? "middle" : "start" }, label.text));
    }
    const caption = time ? (config.unit === "month" ? "Month (UTC)" : "Day (UTC)") : "Satisfaction score (1 = worst, 5 = best)";
    svg.appendChild(svgEl("text", { class: "axis-label", x: left + plotWidth / 2, y: height - 4, "text-anchor": "middle" }, caption));
    return svg;
  }

  function dataTable(config, rows) {
    const details = el("details", { class: "chart-table" });
    details.appendChild(el("summary", {}, "Show the numbers as a table"));
    const wrap = el("div", { class: "table-wrap" });
    const table = el("table", { class: "table" });
    table.appendChild(el("caption", { class: "visually-hidden" }, config.title));
    const head = el("tr");
    const first = { "by-day": "Day", "by-month": "Month", "by-store": "Store", "by-method": "Purchase method", "top-items": "Item", satisfaction: "Score" }[config.id] || "";
    head.appendChild(el("th", { scope: "col" }, first));
    head.appendChild(el("th", { scope: "col", class: "num" }, config.value === "revenue" ? "Revenue" : "Sales"));
    if (config.value === "revenue" && rows.some((r) => r.sales !== undefined)) head.appendChild(el("th", { scope: "col", class: "num" }, "Sales"));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const row of rows) {
      const line = el("tr");
      const name = config.kind === "time" ? (config.unit === "month" ? humanMonth(row.key) : humanDay(row.key)) : row.key;
      const cell = el("th", { scope: "row" });
      if (row.href) cell.appendChild(el("a", { href: row.href, title: "Open these sales" }, name)); else cell.textContent = name;
      line.appendChild(cell);
      line.appendChild(el("td", { class: "num" }, row.text));
      if (head.children.length > 2) line.appendChild(el("td", { class: "num" }, row.sales === undefined ? "" : count.format(row.sales)));
      body.appendChild(line);
    }
    table.appendChild(body);
    wrap.appendChild(table);
    details.appendChild(wrap);
    return details;
  }

  function showChart(section, config, rows) {
    const holder = section.querySelector(".chart-body");
    const width = Math.max(Math.floor(holder.clientWidth), 260);
    const open = holder.querySelector("details[open]") !== null;
    holder.replaceChildren();
    holder.removeAttribute("aria-busy");
    if (!rows.some((r) => r.value > 0)) {
      holder.appendChild(el("p", { class: "chart-status muted" }, "No sales in this period."));
      section.dataset.state = "shown";
      return;
    }
    const figure = el("figure", { class: "chart" });
    figure.appendChild(config.kind === "bars" ? drawBars(config, rows, width) : drawColumns(config, rows, width, config.kind === "time"));
    if (rows.some((r) => r.href)) figure.appendChild(el("p", { class: "chart-hint muted small" }, "Click a bar, or a name in the table, to open those sales."));
    holder.appendChild(figure);
    const table = dataTable(config, rows);
    if (open) table.open = true;
    holder.appendChild(table);
    section.dataset.state = "shown";
  }

  function showError(section, message, retry) {
    const holder = section.querySelector(".chart-body");
    holder.removeAttribute("aria-busy");
    const box = el("div", { class: "chart-error", role: "alert" });
    box.appendChild(el("p", {}, message));
    const button = el("button", { type: "button", class: "small-button" }, "Try again");
    button.addEventListener("click", retry);
    box.appendChild(button);
    holder.replaceChildren(box);
    section.dataset.state = "failed";
  }

  async function loadChart(section) {
    const config = JSON.parse(section.dataset.chart);
    const holder = section.querySelector(".chart-body");
    section.dataset.state = "loading";
    holder.setAttribute("aria-busy", "true");
    holder.replaceChildren(el("p", { class: "chart-status muted" }, "Loading…"));
    const reply = await getJson(config.url);
    if (!reply.ok) {
      showError(section, plainError(reply), () => loadChart(section));
      return;
    }
    const rows = rowsOf(config, reply.body);
    if (config.kind === "time") rows.sort((a, b) => (a.key < b.key ? -1 : 1));
    showChart(section, config, rows);
    let lastWidth = holder.clientWidth;
    if (window.ResizeObserver && !section._observed) {
      section._observed = true;
      new ResizeObserver(() => {
        if (section.dataset.state === "shown" && Math.abs(holder.clientWidth - lastWidth) > 8) {
          lastWidth = holder.clientWidth;
          showChart(section, config, rows);
        }
      }).observe(holder);
    }
  }

  // --- the figures at the top ----------------------------------------------------------------------
  function change(current, previous) {
    if (previous === null || previous === undefined) return "";
    if (previous === 0) return current === 0 ? "No change on the previous period" : "None in the previous period";
    const percent = ((current - previous) / Math.abs(previous)) * 100;
    if (Math.abs(percent) < 0.05) return "No change on the previous period";
    return `${percent > 0 ? "Up" : "Down"} ${Math.abs(percent).toFixed(1)}% on the previous period`;
  }

  async function loadKpis(box) {
    const sources = JSON.parse(box.dataset.kpis);
    const alert = document.getElementById("kpi-error");
    alert.hidden = true;
    box.querySelectorAll(".stat-value").forEach((node) => { node.textContent = "…"; node.classList.add("loading"); });
    const asked = [getJson(sources.current.summary), getJson(sources.current.coupons)];
    if (sources.previous) asked.push(getJson(sources.previous.summary), getJson(sources.previous.coupons));
    const [summary, coupons, lastSummary, lastCoupons] = await Promise.all(asked);
    const failed = [summary, coupons].find((reply) => !reply.ok);
    if (failed) {
      box.querySelectorAll(".stat-value").forEach((node) => { node.textContent = "–"; node.classList.remove("loading"); });
      alert.querySelector("[data-message]").textContent = "The figures at the top could not be shown: " + plainError(failed).toLowerCase();
      alert.hidden = false;
      return;
    }
    const now = summary.body || {}, before = lastSummary && lastSummary.ok ? lastSummary.body : null;
    const used = coupons.body || {}, usedBefore = lastCoupons && lastCoupons.ok ? lastCoupons.body : null;
    const values = {
      revenue: [money.format(Number(now.revenue) || 0), Number(now.revenue) || 0, before && Number(before.revenue)],
      sales: [count.format(now.sales || 0), now.sales || 0, before && before.sales],
      items: [count.format(now.items || 0), now.items || 0, before && before.items],
      mean_basket: [money.format(Number(now.mean_basket) || 0), Number(now.mean_basket) || 0, before && Number(before.mean_basket)],
    };
    for (const [key, [text, value, previous]] of Object.entries(values)) {
      const stat = box.querySelector(`[data-kpi="${key}"]`);
      const node = stat.querySelector(".stat-value");
      node.textContent = text;
      node.classList.remove("loading");
      stat.querySelector("[data-note]").textContent = before ? change(value, previous) : "";
    }
    const stat = box.querySelector('[data-kpi="coupons"]');
    const node = stat.querySelector(".stat-value");
    node.textContent = `${((used.rate || 0) * 100).toFixed(1)}%`;
    node.classList.remove("loading");
    let note = `${count.format(used.used || 0)} of ${count.format(used.total || 0)} sales`;
    if (usedBefore) {
      const points = ((used.rate || 0) - (usedBefore.rate || 0)) * 100;
      note += Math.abs(points) < 0.05 ? ", no change" : `, ${points > 0 ? "up" : "down"} ${Math.abs(points).toFixed(1)} points`;
    }
    stat.querySelector("[data-note]").textContent = note;
    if (sources.compared) box.dataset.compared = sources.compared;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("kpis");
    if (box) {
      loadKpis(box);
      document.querySelector("#kpi-error [data-retry]").addEventListener("click", () => loadKpis(box));
    }
    document.querySelectorAll("[data-chart]").forEach((section) => loadChart(section));
  });
})();

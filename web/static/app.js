/* tally dashboard - plain JavaScript, no framework, no build step.
 *
 * Talks to the JSON API of the same server (/api/v1/...). The session is an
 * HttpOnly cookie set by POST /api/v1/session; the CSRF token it returns is
 * kept in sessionStorage only (never localStorage) and sent as X-CSRF-Token on
 * state-changing requests. Every value that comes from the server is put into
 * the page with textContent, never as HTML. Charts are drawn by Chart.js
 * (web/static/vendor/chart.umd.min.js, copied from npm by web/web.mk); the
 * live Chart instances are exposed as window.__tallyCharts for the browser test.
 * Pages: overview, team, workflow, chargeback, budgets, outcomes, waste,
 * routing, reconcile and quarantine (docs/dashboard.md, docs/reconcile.md).
 */
'use strict';

(() => {
  const CSRF_KEY = 'tally.csrf';
  const DAY_MS = 86400000;
  const PALETTE = ['#2b6cb0', '#dd6b20', '#38a169', '#d53f8c', '#805ad5', '#d69e2e', '#319795',
    '#e53e3e', '#718096', '#3182ce', '#b7791f', '#2f855a'];
  const TIER_ORDER = ['local', 'small', 'medium', 'large'];
  const EMPTY_HINT = 'No calls yet — run `make run` for demo traffic or produce events with `tally produce`.';

  const state = {
    user: null,          /* {role, team} */
    range: '30d',        /* 7d | 30d | 90d | mtd | custom */
    customFrom: '',      /* YYYY-MM-DD, inclusive */
    customTo: '',        /* YYYY-MM-DD, inclusive */
    team: '',            /* '' = all teams (admin/finance only) */
    teams: [],
    wasteWindow: '86400', /* seconds: how far back a repeated prompt counts (waste page) */
    renderSeq: 0,
  };
  const charts = {};
  window.__tallyCharts = charts;
  const colorOf = new Map();

  const $ = (sel) => document.querySelector(sel);

  /* ---- exact money ------------------------------------------------------------
   * cost_usd arrives as a decimal string with 12 fraction digits. Totals are
   * summed as BigInt pico-dollars, so no float rounding creeps into what is shown.
   */
  const SCALE = 12;
  const ONE = 10n ** BigInt(SCALE);

  function toPico(s) {
    if (s === null || s === undefined || s === '') return 0n;
    let str = String(s).trim();
    let neg = false;
    if (str[0] === '-' || str[0] === '+') { neg = str[0] === '-'; str = str.slice(1); }
    if (!/^\d*(\.\d*)?$/.test(str)) return 0n;
    const [intPart, frac = ''] = str.split('.');
    const v = BigInt(intPart || '0') * ONE + BigInt((frac + '0'.repeat(SCALE)).slice(0, SCALE) || '0');
    return neg ? -v : v;
  }

  function groupThousands(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  /* $1,234.56; sub-cent amounts keep four significant digits ($0.002400 -> $0.0024), and so do
   * amounts under a dollar when perUnit is set (a cost per call or per success: $0.01860). */
  function money(value, perUnit) {
    let v = typeof value === 'bigint' ? value : toPico(value);
    const neg = v < 0n;
    if (neg) v = -v;
    let out;
    if (v === 0n) {
      out = '$0.00';
    } else if (v >= (perUnit ? ONE : ONE / 100n)) {
      const cents = (v + ONE / 200n) / (ONE / 100n);
      out = '$' + groupThousands((cents / 100n).toString()) + '.' + (cents % 100n).toString().padStart(2, '0');
    } else {
      const frac = v.toString().padStart(SCALE, '0');
      const first = frac.search(/[1-9]/);
      const keep = Math.min(SCALE, first + 4);
      const unit = 10n ** BigInt(SCALE - keep);
      const rounded = (v + unit / 2n) / unit;
      out = rounded >= 10n ** BigInt(keep) ? '$1.00' /* $0.99996 per unit */
        : ('$0.' + rounded.toString().padStart(keep, '0')).replace(/0+$/, '');
    }
    return neg ? '-' + out : out;
  }

  /* An exact decimal (BigInt, 12 fraction digits) as text with `digits` fraction digits, half up. */
  function fixed(p, digits) {
    const neg = p < 0n;
    const unit = 10n ** BigInt(SCALE - digits);
    const v = ((neg ? -p : p) + unit / 2n) / unit;
    const s = v.toString().padStart(digits + 1, '0');
    return (neg && v ? '-' : '') + (digits ? s.slice(0, -digits) + '.' + s.slice(-digits) : s);
  }
  /* part / whole as a percentage with one decimal, exactly (both BigInt). */
  const pctOf = (part, whole) => (whole > 0n ? fixed((part * 100n * ONE) / whole, 1) + '%' : '—');
  /* A decimal string from the API that is already a percentage ("25.1906") or a rate ("0.6406"). */
  const pctText = (s, digits = 2) => (s === null || s === undefined ? '—' : fixed(toPico(s), digits) + '%');
  const rateText = (s) => (s === null || s === undefined ? '—' : fixed(toPico(s) * 100n, 2) + '%');
  const sumOf = (rows, key) => rows.reduce((acc, r) => acc + toPico(r[key]), 0n);

  const picoToNumber = (p) => Number(p) / 1e12;   /* for chart geometry only */
  const num = (n) => (Number(n) || 0).toLocaleString('en-US');
  const compactTokens = (n) => {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(2) + 'B';
    if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return num(n);
  };
  const axisMoney = (v) => {
    const a = Math.abs(v);
    if (a >= 1000) return '$' + (v / 1000).toFixed(a >= 10000 ? 0 : 1) + 'k';
    if (a >= 1 || a === 0) return '$' + v.toFixed(a >= 100 ? 0 : 2).replace(/\.00$/, '');
    return '$' + v.toPrecision(2);
  };

  /* ---- time ranges (UTC days, half-open [from, to)) ------------------------ */

  const utcDay = (d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const ymd = (d) => d.toISOString().slice(0, 10);
  const rfc3339 = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const parseYmd = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(s + 'T00:00:00Z') : null);

  function currentRange() {
    const today = utcDay(new Date());
    const tomorrow = new Date(today.getTime() + DAY_MS);
    let from;
    let to = tomorrow;
    let label;
    switch (state.range) {
    case '7d': from = new Date(tomorrow.getTime() - 7 * DAY_MS); label = 'last 7 days'; break;
    case '90d': from = new Date(tomorrow.getTime() - 90 * DAY_MS); label = 'last 90 days'; break;
    case 'mtd': from = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1)); label = 'month to date'; break;
    case 'custom': {
      const f = parseYmd(state.customFrom);
      const t = parseYmd(state.customTo);
      if (f && t && f <= t) {
        from = f;
        to = new Date(t.getTime() + DAY_MS);
        label = `${state.customFrom} to ${state.customTo}`;
        break;
      }
    }
    /* falls through: an incomplete custom range means the default */
    default: from = new Date(tomorrow.getTime() - 30 * DAY_MS); label = 'last 30 days'; break;
    }
    return { from, to, label };
  }

  function daysOf(from, to) {
    const out = [];
    for (let t = from.getTime(); t < to.getTime(); t += DAY_MS) out.push(ymd(new Date(t)));
    return out;
  }

  /* ---- API ------------------------------------------------------------------ */

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /* JSON in and out; with opts.text the answer's body is returned as text (CSV downloads). */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: opts.text ? 'text/csv, application/json' : 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET') {
      const csrf = sessionStorage.getItem(CSRF_KEY);
      if (csrf) headers['X-CSRF-Token'] = csrf;
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'cannot reach the tally server (' + e.message + ')');
    }
    let data = null;
    const text = await res.text();
    if (opts.text && res.ok) return text;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const msg = (data && data.error) || `${res.status} ${res.statusText}`;
      if (res.status === 401 && path !== '/api/v1/session' && state.user) {
        state.user = null;
        sessionStorage.removeItem(CSRF_KEY);
        showSignin('Your session has ended; sign in again.');
      }
      throw new ApiError(res.status, msg);
    }
    return data;
  }

  function spendQuery(groupBy, extra = {}) {
    const r = extra.range || currentRange();
    const p = new URLSearchParams({ from: rfc3339(r.from), to: rfc3339(r.to), group_by: groupBy });
    const team = extra.team !== undefined ? extra.team : state.team;
    if (team) p.set('team', team);
    if (extra.workflow) p.set('workflow', extra.workflow);
    if (extra.bucket) p.set('bucket', extra.bucket);
    return api('GET', '/api/v1/spend?' + p.toString());
  }

  /* ---- DOM helpers ------------------------------------------------------------ */

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /* Text with `code` spans, for empty states that name commands. */
  function withCode(text) {
    return text.split(/(`[^`]+`)/).map((part) =>
      (part.startsWith('`') && part.endsWith('`') ? el('code', { text: part.slice(1, -1) }) : part));
  }

  const empty = (text) => el('div', { class: 'empty' }, withCode(text));

  function card(label, value, sub, extraClass) {
    return el('div', { class: 'card' + (extraClass ? ' ' + extraClass : '') },
      el('div', { class: 'label', text: label }),
      el('div', { class: 'value', text: value }),
      sub ? el('div', { class: 'sub' + (sub.cls ? ' ' + sub.cls : '') }, withCode(sub.text || sub)) : null);
  }

  function panel(title, width, ...children) {
    return el('section', { class: 'panel' + (width ? ' ' + width : '') }, el('h2', { text: title }), ...children);
  }

  /* columns: {label, value(row), num?, cls?}; foot: optional cells of a totals row, one per
   * column; rowClass: optional row -> class name. */
  function table(columns, rows, foot, rowClass) {
    const cell = (tag, c, v) => el(tag, { class: c.num ? 'num' : c.cls || null }, v instanceof Node ? v : String(v ?? ''));
    return el('table', {},
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { class: c.num ? 'num' : null, text: c.label })))),
      el('tbody', {}, rows.map((r) => el('tr', { class: rowClass ? rowClass(r) : null }, columns.map((c) => cell('td', c, c.value(r)))))),
      foot ? el('tfoot', {}, el('tr', {}, columns.map((c, i) => cell('td', c, foot[i])))) : null);
  }

  const nameOf = (row, dim) => {
    const v = row[dim];
    return v === null || v === undefined || v === '' ? '(none)' : String(v);
  };

  /* Stable colours per dimension: a team keeps its colour across charts and pages. */
  const TIER_COLORS = { local: '#38a169', small: '#3182ce', medium: '#dd6b20', large: '#c53030' };
  /* Known tiers cheapest first, then any others by name (tiers are data). */
  const tierRank = (t) => (TIER_ORDER.includes(t) ? TIER_ORDER.indexOf(t) : TIER_ORDER.length);
  const tierSort = (a, b) => tierRank(a) - tierRank(b) || a.localeCompare(b);
  function colorFor(name, dim) {
    if (dim === 'tier' && TIER_COLORS[name]) return TIER_COLORS[name];
    if (!colorOf.has(dim)) colorOf.set(dim, new Map());
    const m = colorOf.get(dim);
    if (!m.has(name)) m.set(name, PALETTE[m.size % PALETTE.length]);
    return m.get(name);
  }

  const teamLink = (name) => el('a', { href: '#/team/' + encodeURIComponent(name), text: name });
  const workflowLink = (name) => el('a', { href: '#/workflow/' + encodeURIComponent(name), text: name });

  function byCostDesc(rows, key = 'cost_usd') {
    return rows.slice().sort((a, b) => {
      const d = toPico(b[key]) - toPico(a[key]);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
  }

  const sumCost = (rows) => sumOf(rows, 'cost_usd');
  const sumCalls = (rows) => rows.reduce((acc, r) => acc + (Number(r.calls) || 0), 0);
  const totalCalls = (res) => Number(res && res.total && res.total.calls) || sumCalls((res && res.rows) || []);
  const totalCost = (res) => (res && res.total && res.total.cost_usd !== undefined
    ? toPico(res.total.cost_usd) : sumCost((res && res.rows) || []));

  /* ---- charts ------------------------------------------------------------------ */

  function destroyCharts() {
    for (const k of Object.keys(charts)) {
      charts[k].destroy();
      delete charts[k];
    }
  }

  function chartBox(id, small) {
    return el('div', { class: 'chart' + (small ? ' small' : '') }, el('canvas', { id: 'chart-' + id, role: 'img', 'aria-label': id }));
  }

  const moneyTooltip = {
    callbacks: {
      label: (ctx) => {
        const raw = ctx.dataset.exact && ctx.dataset.exact[ctx.dataIndex];
        const v = raw !== undefined ? money(raw) : axisMoney(ctx.parsed.y ?? ctx.parsed);
        return `${ctx.dataset.label || ctx.label}: ${v}`;
      },
    },
  };

  /* Stacked daily spend: one dataset per group (team, workflow...). */
  function drawStackedSeries(id, series, dim, days) {
    const groups = new Map();
    for (const p of series) {
      const g = nameOf(p, dim);
      if (!groups.has(g)) groups.set(g, new Map());
      const day = String(p.bucket).slice(0, 10);
      const m = groups.get(g);
      m.set(day, (m.get(day) || 0n) + toPico(p.cost_usd));
    }
    const order = [...groups.entries()]
      .map(([g, m]) => [g, m, [...m.values()].reduce((a, b) => a + b, 0n)])
      .sort((a, b) => (b[2] > a[2] ? 1 : b[2] < a[2] ? -1 : a[0].localeCompare(b[0])));
    const datasets = order.map(([g, m]) => ({
      label: g,
      data: days.map((d) => picoToNumber(m.get(d) || 0n)),
      exact: days.map((d) => m.get(d) || 0n),
      backgroundColor: colorFor(g, dim),
      borderWidth: 0,
      maxBarThickness: 48,
    }));
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'bar',
      data: { labels: days, datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'index', intersect: false },
        onClick: drillClick(dim, true),
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: true, beginAtZero: true, ticks: { callback: axisMoney } },
        },
        plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
      },
    });
  }

  function drawDoughnut(id, rows, dim, order) {
    let sorted = byCostDesc(rows);
    if (order) sorted = sorted.sort((a, b) => order.indexOf(nameOf(a, dim)) - order.indexOf(nameOf(b, dim)));
    const labels = sorted.map((r) => nameOf(r, dim));
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'doughnut',
      data: {
        labels,
        datasets: [{
          label: 'spend',
          data: sorted.map((r) => picoToNumber(toPico(r.cost_usd))),
          exact: sorted.map((r) => toPico(r.cost_usd)),
          backgroundColor: labels.map((l) => colorFor(l, dim)),
          borderWidth: 1,
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, cutout: '55%', onClick: drillClick(dim),
        plugins: {
          legend: { position: 'right' },
          tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${money(ctx.dataset.exact[ctx.dataIndex])}` } },
        },
      },
    });
  }

  /* Horizontal bars of an amount per row (by default its spend), largest first. */
  function drawBars(id, rows, dim, key = 'cost_usd', label = 'spend') {
    const sorted = byCostDesc(rows, key);
    const labels = sorted.map((r) => nameOf(r, dim));
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'bar',
      data: {
        labels,
        datasets: [{
          label,
          data: sorted.map((r) => picoToNumber(toPico(r[key]))),
          exact: sorted.map((r) => toPico(r[key])),
          backgroundColor: labels.map((l) => colorFor(l, dim)),
          borderWidth: 0,
          maxBarThickness: 36,
        }],
      },
      options: {
        indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false, onClick: drillClick(dim),
        scales: { x: { beginAtZero: true, ticks: { callback: axisMoney } }, y: { grid: { display: false } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => money(ctx.dataset.exact[ctx.dataIndex]) } },
        },
      },
    });
  }

  /* ---- drill-down: from a chart to the calls behind it ------------------------------- */

  const CALL_FILTERS = ['team', 'workflow', 'task_type', 'model', 'tier', 'provider', 'status', 'outcome_id'];
  /* #/calls/<query>: the calls matching the filters, in [from, to) (default: the range picked) */
  const callsHref = (f) => '#/calls/' + encodeURIComponent(new URLSearchParams(
    Object.entries(f).filter(([, v]) => v !== null && v !== undefined && v !== '')).toString());
  /* The calls behind one mark of a chart of `dim`: the range picked (or one day), the team picked. */
  function drillTo(dim, value, day) {
    if (!CALL_FILTERS.includes(dim) || !value || value === '(none)') return;
    const r = currentRange();
    const f = { from: day || ymd(r.from), to: day ? ymd(new Date(Date.parse(day + 'T00:00:00Z') + DAY_MS)) : ymd(r.to) };
    if (state.team && dim !== 'team') f.team = state.team;
    f[dim] = value;
    location.hash = callsHref(f);
  }
  /* Chart.js onClick: the clicked element's label (or dataset label for stacked series). */
  const drillClick = (dim, byDataset) => (evt, els, chart) => {
    if (!els.length) return;
    const e = els[0];
    if (byDataset) drillTo(dim, chart.data.datasets[e.datasetIndex].label, String(chart.data.labels[e.index]).slice(0, 10));
    else drillTo(dim, String(chart.data.labels[e.index]));
  };

  function spendTable(rows, dim, label, link) {
    const total = sumCost(rows);
    return table([
      { label, value: (r) => (link && r[dim] ? link(String(r[dim])) : nameOf(r, dim)) },
      { label: 'Calls', num: true, value: (r) => num(r.calls) },
      { label: 'Input tokens', num: true, value: (r) => compactTokens(r.input_tokens) },
      { label: 'Output tokens', num: true, value: (r) => compactTokens(r.output_tokens) },
      { label: 'Cache read', num: true, value: (r) => compactTokens(r.cache_read_tokens) },
      { label: 'Cost / call', num: true, value: (r) => (Number(r.calls) > 0 ? money(toPico(r.cost_usd) / BigInt(r.calls), true) : '—') },
      { label: 'Share', num: true, value: (r) => (total > 0n ? (Number((toPico(r.cost_usd) * 10000n) / total) / 100).toFixed(1) + '%' : '—') },
      { label: 'Spend', num: true, value: (r) => money(r.cost_usd) },
      { label: 'Unpriced', num: true, value: (r) => num(r.unpriced_calls) },
    ], byCostDesc(rows));
  }

  /* ---- pages -------------------------------------------------------------------- */

  function pageHead(title, sub) {
    return el('div', { class: 'page-head' }, el('h1', { text: title }), sub ? el('span', { class: 'muted', text: sub }) : null);
  }

  /* "2026-11-23T08:11:07.123Z" -> "2026-11-23 08:11:07Z" */
  const utcTime = (ts) => String(ts || '').replace('T', ' ').replace(/\.\d+/, '');

  function failure(e) {
    return el('div', { class: 'failure', role: 'alert' },
      e.status === 403 ? 'Not allowed for your role: ' + e.message : 'Could not load data: ' + e.message);
  }

  function monthRanges() {
    const today = utcDay(new Date());
    const tomorrow = new Date(today.getTime() + DAY_MS);
    const y = today.getUTCFullYear();
    const m = today.getUTCMonth();
    const thisMonth = new Date(Date.UTC(y, m, 1));
    const lastMonth = new Date(Date.UTC(y, m - 1, 1));
    /* the same number of days into last month, capped at its end */
    const samePoint = new Date(Math.min(lastMonth.getTime() + (tomorrow - thisMonth), thisMonth.getTime()));
    return {
      mtd: { from: thisMonth, to: tomorrow },
      last: { from: lastMonth, to: thisMonth },
      lastSame: { from: lastMonth, to: samePoint },
    };
  }

  function percentChange(now, before) {
    if (before === 0n) return null;
    const pct = Number(((now - before) * 100000n) / before) / 1000;
    return { text: `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}% vs same days last month`, cls: pct > 0 ? 'up' : 'down' };
  }

  async function renderOverview(view, seq) {
    const r = currentRange();
    const days = daysOf(r.from, r.to);
    const mr = monthRanges();
    const scope = state.team ? `team ${state.team}` : 'all teams';
    const [series, models, tiers, workflows, mtd, last, lastSame, status, mism] = await Promise.allSettled([
      spendQuery('team', { bucket: 'day' }),
      spendQuery('model'),
      spendQuery('tier'),
      spendQuery('workflow'),
      spendQuery('team', { range: mr.mtd }),
      spendQuery('team', { range: mr.last }),
      spendQuery('team', { range: mr.lastSame }),
      /* status covers every team: admins and finance only */
      state.user.role === 'viewer' ? Promise.reject(new ApiError(403, 'not for viewers')) : api('GET', '/api/v1/status'),
      /* provider_cost_usd against tally's cost, every team: finance and admin only */
      state.user.role === 'viewer' ? Promise.reject(new ApiError(403, 'not for viewers'))
        : api('GET', '/api/v1/mismatches?' + new URLSearchParams({ from: rfc3339(r.from), to: rfc3339(r.to), format: 'json' })),
    ]);
    if (seq !== state.renderSeq) return;
    const firstErr = [series, models, tiers, workflows].find((x) => x.status === 'rejected');
    view.replaceChildren(pageHead('Overview', `${scope} · ${r.label} (UTC)`));
    if (firstErr) { view.append(failure(firstErr.reason)); return; }

    const seriesRes = series.value;
    const rangeTotal = seriesRes.total ? toPico(seriesRes.total.cost_usd) : sumCost(seriesRes.series || []);
    const rangeCalls = seriesRes.total ? Number(seriesRes.total.calls) || 0 : sumCalls(seriesRes.series || []);
    const unpricedRange = Number(models.value.unpriced_calls ?? (models.value.total && models.value.total.unpriced_calls)) || 0;

    const cards = el('div', { class: 'cards' });
    if (mtd.status === 'fulfilled') {
      const now = totalCost(mtd.value);
      const sub = lastSame.status === 'fulfilled' ? percentChange(now, totalCost(lastSame.value)) : null;
      cards.append(card('Month to date', money(now), sub || 'no spend in the same days last month'));
    }
    if (last.status === 'fulfilled') cards.append(card('Last month', money(totalCost(last.value)), `${num(totalCalls(last.value))} calls`));
    cards.append(card(`Spend, ${r.label}`, money(rangeTotal), `${num(rangeCalls)} calls`));
    cards.append(card('Unpriced calls', num(unpricedRange), unpricedRange ? 'no price for the model at call time — import prices, then `tally prices reprice`' : 'every call in range is priced', unpricedRange ? 'alert' : ''));
    if (status.status === 'fulfilled') {
      const q = Number(status.value.quarantined) || 0;
      cards.append(card('Quarantined events', num(q), q ? 'events that failed validation (all time)' : 'none', q ? 'alert' : ''));
      const oor = (status.value.offsets_out_of_range || []).length;
      const resets = Number(status.value.offset_resets) || 0;
      if (oor || resets) {
        cards.append(card('Kafka offset resets', num(resets), oor
          ? `${oor} stored offset(s) outside Kafka's offsets now: read again (see the collector log)`
          : `last: ${status.value.last_offset_reset || '?'}`, 'alert'));
      }
    }
    /* Calls whose provider_cost_usd differs from tally's cost beyond rounding, or that tally
     * could not price (docs/prices.md): per provider and model below. */
    const mismRows = mism.status === 'fulfilled' ? (mism.value.rows || []).filter((x) => Number(x.mismatched_calls) > 0) : [];
    if (mism.status === 'fulfilled') {
      const n = Number(mism.value.mismatched_calls) || 0;
      cards.append(card('Provider cost mismatches', num(n), n
        ? `calls whose provider_cost_usd differs from tally's cost by more than $${mism.value.tolerance_usd}, ${mismRows.length} model(s)`
        : 'every provider-reported cost in range agrees with tally\'s', n ? 'alert' : ''));
    }
    view.append(cards);

    if (rangeCalls === 0 && sumCalls(workflows.value.rows || []) === 0) {
      const anyCalls = status.status === 'fulfilled' && Number(status.value.calls) > 0;
      view.append(empty(anyCalls && !state.team
        ? `No calls in this range (${r.label}). Pick a longer time range.`
        : (state.team ? `No calls for team ${state.team} in this range (${r.label}). ` : '') + EMPTY_HINT + ' Or pick a longer time range.'));
      return;
    }

    const grid = el('div', { class: 'grid' });
    grid.append(panel(`Spend per day by team`, 'w12', chartBox('spendByTeam')));
    grid.append(panel('Model mix', 'w6', (models.value.rows || []).length ? chartBox('modelMix', true) : empty('No model in range.')));
    grid.append(panel('Tier mix', 'w6', (tiers.value.rows || []).length ? chartBox('tierMix', true) : empty('No tier in range.')));
    const wfRows = byCostDesc(workflows.value.rows || []).slice(0, 10);
    grid.append(panel('Top workflows', '', wfRows.length ? spendTable(wfRows, 'workflow', 'Workflow', workflowLink) : empty(EMPTY_HINT)));
    /* below the charts, so that an alert does not move them */
    if (mismRows.length) {
      grid.append(panel('Provider cost mismatches by provider and model', 'w12', table([
        { label: 'Provider', value: (x) => x.provider },
        { label: 'Model', value: (x) => x.model },
        { label: 'Calls with a provider cost', num: true, value: (x) => num(x.calls) },
        { label: 'Mismatched', num: true, value: (x) => num(x.mismatched_calls) },
        { label: 'Of them unpriced', num: true, value: (x) => num(x.unpriced_calls) },
        { label: 'Provider says', num: true, value: (x) => money(x.provider_cost_usd, true) },
        { label: 'tally', num: true, value: (x) => money(x.tally_cost_usd, true) },
        { label: 'Difference', num: true, value: (x) => money(x.difference_usd, true) },
      ], mismRows), el('p', { class: 'muted small', id: 'mismatch-note' }, withCode('provider_cost_usd is kept beside tally\'s own cost and ' +
        'never trusted over it. A difference beyond rounding means a price or a rule differs from the provider\'s bill: check the ' +
        'price book (`tally prices import`), then `tally prices reprice`. `tally report mismatches` gives the same per period.'))));
    }
    view.append(grid);

    drawStackedSeries('spendByTeam', seriesRes.series || [], 'team', days);
    if ((models.value.rows || []).length) drawDoughnut('modelMix', models.value.rows, 'model');
    if ((tiers.value.rows || []).length) drawDoughnut('tierMix', tiers.value.rows, 'tier', TIER_ORDER);
  }

  async function renderTeamIndex(view, seq) {
    const res = await spendQuery('team', { team: '' });
    if (seq !== state.renderSeq) return;
    const rows = res.rows || [];
    view.replaceChildren(pageHead('Teams', currentRange().label + ' (UTC)'),
      rows.length ? el('section', { class: 'panel' }, el('h2', { text: 'Pick a team' }), spendTable(rows, 'team', 'Team', teamLink))
        : empty(EMPTY_HINT));
  }

  async function renderTeam(view, seq, team) {
    const r = currentRange();
    const days = daysOf(r.from, r.to);
    const [series, wf, tasks, models, keys, users] = await Promise.all([
      spendQuery('workflow', { team, bucket: 'day' }),
      spendQuery('workflow', { team }),
      spendQuery('task_type', { team }),
      spendQuery('model', { team }),
      // What attribution gateways carry (docs/integrations.md): the key alias and end user.
      spendQuery('api_key', { team }),
      spendQuery('user', { team }),
    ]);
    if (seq !== state.renderSeq) return;
    view.replaceChildren(pageHead(`Team ${team}`, r.label + ' (UTC)'));
    const calls = totalCalls(wf);
    const cost = totalCost(wf);
    view.append(el('div', { class: 'cards' },
      card('Spend', money(cost), `${num(calls)} calls`),
      card('Cost per call', calls ? money(cost / BigInt(calls), true) : '—'),
      card('Workflows', num((wf.rows || []).length)),
      card('Unpriced calls', num(wf.unpriced_calls ?? (wf.total && wf.total.unpriced_calls)), null, Number(wf.unpriced_calls) ? 'alert' : '')));
    if (!calls) {
      view.append(empty(`No calls for team ${team} in this range. ` + EMPTY_HINT));
      return;
    }
    const grid = el('div', { class: 'grid' },
      panel('Spend per day by workflow', '', chartBox('teamDaily')),
      panel('By workflow', 'w4', chartBox('teamWorkflow', true)),
      panel('By task type', 'w4', chartBox('teamTask', true)),
      panel('By model', 'w4', chartBox('teamModel', true)),
      panel('Workflows', '', spendTable(wf.rows || [], 'workflow', 'Workflow', workflowLink)),
      panel('Models', '', spendTable(models.rows || [], 'model', 'Model')),
      panel('By API key', 'w6', spendTable(byCostDesc(keys.rows || []).slice(0, 10), 'api_key', 'API key')),
      panel('By end user', 'w6', spendTable(byCostDesc(users.rows || []).slice(0, 10), 'user', 'End user')));
    view.append(grid);
    drawStackedSeries('teamDaily', series.series || [], 'workflow', days);
    drawBars('teamWorkflow', wf.rows || [], 'workflow');
    drawBars('teamTask', tasks.rows || [], 'task_type');
    drawDoughnut('teamModel', models.rows || [], 'model');
  }

  async function renderWorkflowIndex(view, seq) {
    const res = await spendQuery('workflow');
    if (seq !== state.renderSeq) return;
    const rows = res.rows || [];
    view.replaceChildren(pageHead('Workflows', `${state.team ? 'team ' + state.team : 'all teams'} · ${currentRange().label} (UTC)`),
      rows.length ? el('section', { class: 'panel' }, el('h2', { text: 'Pick a workflow' }), spendTable(rows, 'workflow', 'Workflow', workflowLink))
        : empty(EMPTY_HINT));
  }

  async function renderWorkflow(view, seq, workflow) {
    const r = currentRange();
    const filter = { workflow };
    const [all, tasks, tiers, models] = await Promise.all([
      spendQuery('workflow'),
      spendQuery('task_type', filter),
      spendQuery('tier', filter),
      spendQuery('model', filter),
    ]);
    if (seq !== state.renderSeq) return;
    view.replaceChildren(pageHead(`Workflow ${workflow}`, `${state.team ? 'team ' + state.team + ' · ' : ''}${r.label} (UTC)`));
    const row = (all.rows || []).find((x) => x.workflow === workflow);
    const cost = row ? toPico(row.cost_usd) : 0n;
    const calls = row ? Number(row.calls) || 0 : 0;
    view.append(el('div', { class: 'cards' },
      card('Spend', money(cost), `${num(calls)} calls`),
      card('Cost per call', calls ? money(cost / BigInt(calls), true) : '—'),
      card('Task types', num((tasks.rows || []).length)),
      card('Unpriced calls', num(row ? row.unpriced_calls : 0))));
    if (!calls) {
      view.append(empty(`No calls for workflow ${workflow} in this range. ` + EMPTY_HINT));
      return;
    }
    view.append(el('div', { class: 'grid' },
      panel('Spend by task type', 'w6', chartBox('workflowTask', true)),
      panel('Spend by tier', 'w6', chartBox('workflowTier', true)),
      panel('Task types', '', spendTable(tasks.rows || [], 'task_type', 'Task type')),
      panel('Models', '', spendTable(models.rows || [], 'model', 'Model'))));
    drawBars('workflowTask', tasks.rows || [], 'task_type');
    drawDoughnut('workflowTier', tiers.rows || [], 'tier', TIER_ORDER);
  }

  const QUARANTINE_PAGE = 50;

  async function renderQuarantine(view, seq, page) {
    const offset = Math.max(0, page) * QUARANTINE_PAGE;
    let res;
    try {
      res = await api('GET', `/api/v1/quarantine?limit=${QUARANTINE_PAGE}&offset=${offset}`);
    } catch (e) {
      if (seq !== state.renderSeq) return;
      view.replaceChildren(pageHead('Quarantine'), e.status === 403
        ? empty('The quarantine is visible to admins and finance only.') : failure(e));
      return;
    }
    if (seq !== state.renderSeq) return;
    const total = Number(res.total) || 0;
    const items = res.items || [];
    view.replaceChildren(pageHead('Quarantine', `${num(total)} events that failed validation; they are kept, not priced`));
    if (!items.length) {
      view.append(empty(total ? 'No events on this page.' : 'Nothing quarantined: every event consumed so far was valid.'));
    } else {
      const excerpt = (raw) => {
        const s = typeof raw === 'string' ? raw : JSON.stringify(raw);
        return s && s.length > 160 ? s.slice(0, 160) + '…' : s || '';
      };
      view.append(el('section', { class: 'panel' }, table([
        { label: 'Received (UTC)', value: (q) => utcTime(q.received_at) },
        { label: 'Reason', cls: 'reason', value: (q) => q.reason },
        { label: 'Topic', value: (q) => q.topic },
        { label: 'Partition', num: true, value: (q) => q.partition },
        { label: 'Offset', num: true, value: (q) => q.offset },
        { label: 'Raw event (excerpt)', cls: 'raw', value: (q) => excerpt(q.raw) },
      ], items)));
    }
    const pages = Math.max(1, Math.ceil(total / QUARANTINE_PAGE));
    const go = (p) => { location.hash = '#/quarantine/' + p; };
    view.append(el('div', { class: 'pager' },
      el('button', { type: 'button', class: 'secondary', id: 'q-prev', disabled: page <= 0, onclick: () => go(page - 1) }, '← Newer'),
      el('span', { class: 'muted', text: `page ${Math.min(page + 1, pages)} of ${pages}` }),
      el('button', { type: 'button', class: 'secondary', id: 'q-next', disabled: offset + items.length >= total, onclick: () => go(page + 1) }, 'Older →')));
    /* the same events grouped by reason: what to fix first */
    const groups = await api('GET', '/api/v1/quarantine/reasons?examples=0');
    if (seq !== state.renderSeq) return;
    view.append(reasonPanel(groups));
  }

  const reasonHref = (reason) => '#/quarantine/0/' + encodeURIComponent(reason);
  function reasonPanel(groups) {
    const gs = groups.groups || [];
    return panel('By reason', '', gs.length ? table([
      { label: 'Reason', cls: 'reason', value: (g) => el('a', { href: reasonHref(g.reason), text: g.reason }) },
      { label: 'Events', num: true, value: (g) => num(g.count) },
      { label: 'Share', num: true, value: (g) => pctOf(BigInt(g.count), BigInt(groups.total || 0)) },
      { label: 'First (UTC)', value: (g) => utcTime(g.first_at) },
      { label: 'Last (UTC)', value: (g) => utcTime(g.last_at) },
    ], gs, ['Total', num(groups.total), '100.0%', '', '']) : empty('Nothing quarantined.'));
  }

  /* One reason's events: the newest 100, with the reason's count and time span. */
  async function renderQuarantineReason(view, seq, reason) {
    let res;
    try {
      res = await api('GET', '/api/v1/quarantine/reasons?' + new URLSearchParams({ reason, examples: 100 }));
    } catch (e) {
      if (seq !== state.renderSeq) return;
      view.replaceChildren(pageHead('Quarantine'), e.status === 403 ? empty('The quarantine is visible to admins and finance only.') : failure(e));
      return;
    }
    if (seq !== state.renderSeq) return;
    const g = (res.groups || [])[0];
    view.replaceChildren(pageHead('Quarantine', g ? `${num(g.count)} events for one reason · first ${utcTime(g.first_at)}, last ${utcTime(g.last_at)} (UTC)` : 'no event for this reason'),
      el('p', { id: 'q-reason' }, el('strong', { text: 'Reason: ' }), reason, ' · ', el('a', { href: '#/quarantine', text: 'every reason' })));
    if (!g) return;
    view.append(el('section', { class: 'panel' }, table([
      { label: 'Received (UTC)', value: (q) => utcTime(q.received_at) },
      { label: 'Topic', value: (q) => q.topic },
      { label: 'Partition', num: true, value: (q) => q.partition },
      { label: 'Offset', num: true, value: (q) => (q.offset === null ? '—' : q.offset) },
      { label: 'Raw event (excerpt)', cls: 'raw', value: (q) => (q.raw.length > 160 ? q.raw.slice(0, 160) + '…' : q.raw) },
      { label: 'Bytes', num: true, value: (q) => num(q.raw_bytes) },
    ], g.items || []), (g.items || []).length < g.count ? el('p', { class: 'muted small', text: `the newest ${num(g.items.length)} of ${num(g.count)}` }) : null));
  }

  /* ---- calls and one call ------------------------------------------------------------ */

  const CALLS_PAGE = 50;

  async function renderCalls(view, seq, query) {
    const q = new URLSearchParams(query || '');
    const r = currentRange();
    const f = { from: q.get('from') || ymd(r.from), to: q.get('to') || ymd(r.to) };
    for (const k of CALL_FILTERS) if (q.get(k)) f[k] = q.get(k);
    if (!f.team && state.team) f.team = state.team;
    if (state.user.role === 'viewer') f.team = state.user.team;
    const offset = Math.max(0, parseInt(q.get('offset'), 10) || 0);
    const res = await api('GET', '/api/v1/calls?' + new URLSearchParams({ ...f, limit: CALLS_PAGE, offset }));
    if (seq !== state.renderSeq) return;
    const total = Number(res.total) || 0;
    const items = res.items || [];
    const shown = Object.entries(f).filter(([k]) => k !== 'from' && k !== 'to');
    view.replaceChildren(pageHead('Calls', `${num(total)} calls · ${f.from} to ${f.to} (UTC, end excluded) · newest first`));
    view.append(el('div', { class: 'filters', id: 'call-filters' }, shown.length ? 'Filters: ' : 'No filter: every call of the range. ',
      shown.map(([k, v]) => el('span', { class: 'chip filter' }, `${humanKey(k).toLowerCase()} ${v} `,
        state.user.role === 'viewer' && k === 'team' ? null
          : el('a', { href: callsHref({ ...f, [k]: '' }), title: 'remove this filter', text: '×' }))),
      el('span', { class: 'muted small' }, ' · click a chart\'s bar or slice anywhere to come here with its filter')));
    if (!items.length) {
      view.append(empty('No call matches these filters in this range.'));
      return;
    }
    const filt = (k, v) => (v ? el('a', { href: callsHref({ ...f, [k]: v, offset: '' }), text: v }) : '—');
    view.append(el('section', { class: 'panel' }, table([
      { label: 'Time (UTC)', value: (c) => el('a', { href: '#/call/' + encodeURIComponent(c.event_id), text: utcTime(c.ts) }) },
      { label: 'Team', value: (c) => filt('team', c.team) },
      { label: 'Workflow', value: (c) => filt('workflow', c.workflow) },
      { label: 'Task type', value: (c) => filt('task_type', c.task_type) },
      { label: 'Model', value: (c) => filt('model', c.model) },
      { label: 'Tier', value: (c) => filt('tier', c.tier) },
      { label: 'Status', value: (c) => filt('status', c.status) },
      { label: 'Input', num: true, value: (c) => num(c.input_tokens) },
      { label: 'Output', num: true, value: (c) => num(c.output_tokens) },
      { label: 'Latency', num: true, value: (c) => (c.latency_ms === null || c.latency_ms < 0 ? '—' : `${num(c.latency_ms)} ms`) },
      { label: 'Cost', num: true, value: (c) => (c.cost_usd === null ? 'unpriced' : money(c.cost_usd, true)) },
    ], items)));
    const go = (o) => callsHref({ ...f, offset: o || '' });
    view.append(el('div', { class: 'pager' },
      el('a', { class: 'button secondary', id: 'calls-prev', href: offset > 0 ? go(Math.max(0, offset - CALLS_PAGE)) : null, 'aria-disabled': offset > 0 ? null : 'true' }, '← Newer'),
      el('span', { class: 'muted', text: `${num(offset + 1)}–${num(offset + items.length)} of ${num(total)}` }),
      el('a', { class: 'button secondary', id: 'calls-next', href: offset + items.length < total ? go(offset + CALLS_PAGE) : null,
        'aria-disabled': offset + items.length < total ? null : 'true' }, 'Older →')));
  }

  async function renderCall(view, seq, id) {
    let res;
    try {
      res = await api('GET', '/api/v1/call?' + new URLSearchParams({ event_id: id }));
    } catch (e) {
      if (seq !== state.renderSeq) return;
      view.replaceChildren(pageHead('Call'), e.status === 404 ? empty(`No call ${id}${state.user.role === 'viewer' ? ` in team ${state.user.team}` : ''}.`) : failure(e));
      return;
    }
    if (seq !== state.renderSeq) return;
    const c = res.call;
    const p = res.price;
    const kv = (pairs) => el('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', {}, v))));
    view.replaceChildren(pageHead(`Call ${c.event_id}`, `${utcTime(c.ts)} UTC`));
    view.append(el('div', { class: 'cards' },
      card('Cost', c.cost_usd === null ? 'unpriced' : money(c.cost_usd, true), c.cache_hit ? 'a cache hit: no provider charge' : `price version ${c.price_version ?? '—'}`),
      card('Tokens', num(Number(c.input_tokens) + Number(c.output_tokens)), `${num(c.input_tokens)} in · ${num(c.output_tokens)} out`),
      card('Status', c.status, c.latency_ms === null || c.latency_ms < 0 ? 'no latency reported' : `${num(c.latency_ms)} ms`)));
    view.append(el('div', { class: 'grid' },
      panel('The call', 'w6', kv([
        ['Team', el('a', { href: callsHref({ team: c.team }), text: c.team })],
        ['Workflow', el('a', { href: '#/workflow/' + encodeURIComponent(c.workflow), text: c.workflow })],
        ['Task type', c.task_type], ['Provider', c.provider], ['Model', c.model], ['Tier', c.tier],
        ['Outcome', c.outcome_id || '—'], ['Batch', c.batch ? 'yes' : 'no'], ['Cache hit', c.cache_hit ? 'yes' : 'no'],
        ['Self-hosted', c.local ? 'yes' : 'no'], ['Quality', c.quality === null ? '—' : String(c.quality)],
        ['Usage shape', res.usage_shape], ['Prompt hash', res.prompt_hash || '—'],
        ['Provider\'s own cost', res.provider_cost_usd === null ? '—' : money(res.provider_cost_usd, true)],
        ['Tags', res.tags ? flatText(res.tags) : '—'],
        ['From', res.kafka && res.kafka.topic ? `${res.kafka.topic} [${res.kafka.partition}] @ ${res.kafka.offset}` : 'not Kafka (loaded in bulk)'],
        ['Stored', utcTime(res.ingested_at)],
      ])),
      panel('Cost by component, as stored with the call', 'w6', (res.components || []).length ? table([
        { label: 'Component', value: (x) => humanKey(x.component) },
        { label: 'Quantity', num: true, value: (x) => `${num(x.quantity)} ${x.unit}` },
        { label: 'Cost', num: true, value: (x) => money(x.cost_usd, true) },
        { label: 'At list rates', num: true, value: (x) => money(x.list_cost_usd, true) },
      ], res.components) : empty(c.cost_usd === null ? `Unpriced${res.unpriced_reason ? ': ' + res.unpriced_reason : ''}.` : 'No billable component.'),
      el('p', { class: 'muted small', id: 'component-note' }, 'Each call stores what it was billed for, component by component, as ' +
        'the one pricer computed it; the components add up to the call\'s cost (docs/prices.md has the rules). "At list rates" ' +
        'is the same quantity at the standard rate, before batch, flex or other discounts.')),
      panel('Price version', 'w6', p ? kv([
        ['Version', String(p.price_version)], ['Model', `${p.provider} ${p.model} (${p.tier})`],
        ['In force from', utcTime(p.effective_from)], ['Source', p.source],
        ['Long-context threshold', p.long_context_threshold_tokens ? `${num(p.long_context_threshold_tokens)} input tokens` : 'none'],
        ...Object.entries(p.usd_per_million_tokens || {}).filter(([, v]) => v !== null).map(([k, v]) => [humanKey(k), `$${v} / M tokens`]),
        ...Object.entries(p.usd_per_unit || {}).filter(([, v]) => v !== null).map(([k, v]) => [humanKey(k), `$${v} each`]),
      ]) : empty('Unpriced: no price for this model at the call\'s time. `tally prices reprice` prices it once one exists.')),
      panel('Outcome and feedback', 'w6', kv([
        ['Outcome', res.outcome ? `${res.outcome.outcome_id} · ${res.outcome.kind || 'no kind'} · ${res.outcome.success ? 'success' : 'failure'}` : '—'],
        ['Value', res.outcome && res.outcome.value_usd ? money(res.outcome.value_usd) : '—'],
        ['Feedback', (res.feedback || []).length ? res.feedback.map((x) => `${x.score} (${x.source || '?'})`).join(', ') : 'none'],
      ]))));
  }

  /* ---- finance pages: shared pieces ------------------------------------------------ */

  const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/;
  const currentMonth = () => ymd(new Date()).slice(0, 7);

  function monthBounds(month) {
    const [y, m] = month.split('-').map(Number);
    return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) };
  }

  /* The last 24 months, newest first (and `month` itself when it is older). */
  function monthPicker(month, onPick) {
    const now = new Date();
    const months = [];
    for (let i = 0; i < 24; i++) months.push(ymd(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1))).slice(0, 7));
    if (!months.includes(month)) months.push(month);
    const sel = el('select', { id: 'month', onchange: (e) => onPick(e.target.value) },
      months.map((m) => el('option', { value: m, text: m })));
    sel.value = month;
    return el('label', {}, 'Month', sel);
  }

  const toolbar = (...children) => el('div', { class: 'toolbar' }, ...children);
  const chip = (text, cls) => el('span', { class: 'chip' + (cls ? ' ' + cls : ''), text });

  /* Pages whose data spans every team answer a viewer key with 403: say so instead of asking. */
  function staffOnly(view, title, what) {
    if (state.user.role !== 'viewer') return false;
    view.replaceChildren(pageHead(title), empty(`${what} spans every team: it needs a finance or admin key ` +
      `(yours is a viewer key for team ${state.user.team}).`));
    return true;
  }

  /* Fields this page does not know yet (the API may grow them): shown as they come, arrays
   * of objects as tables, objects as key/value lists (three levels deep, then as JSON),
   * `*_usd` strings as money (`*_per_*_usd` as a cost per unit). */
  /* "per_workflow_policy" -> "Per workflow policy" */
  const humanKey = (k) => { const w = String(k).replace(/_/g, ' ').trim(); return w.charAt(0).toUpperCase() + w.slice(1); };
  /* A value too deep for a nested list, as "key: value; ..." text rather than JSON. */
  function flatText(v) {
    if (v === null || v === undefined) return '—';
    if (Array.isArray(v)) return v.map(flatText).join(', ');
    if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${humanKey(k).toLowerCase()}: ${flatText(x)}`).join('; ');
    return String(v);
  }
  function generic(value, key = '', depth = 0) {
    if (value === null || value === undefined) return '—';
    if (/_usd$/.test(key) && typeof value === 'string') return money(value, /_per_/.test(key));
    if (typeof value === 'number') return Number.isInteger(value) ? num(value) : String(+value.toFixed(4));
    if (Array.isArray(value)) {
      if (depth < 3 && value.length && value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
        const keys = [...new Set(value.flatMap((v) => Object.keys(v)))];
        return table(keys.map((k) => ({ label: humanKey(k), value: (r) => generic(r[k], k, depth + 1) })), value);
      }
      return value.map(flatText).join(', ');
    }
    if (typeof value === 'object') {
      if (depth >= 3) return flatText(value);
      return el('dl', { class: 'kv' }, Object.entries(value).map(([k, v]) =>
        el('div', {}, el('dt', { text: humanKey(k) }), el('dd', {}, generic(v, k, depth + 1)))));
    }
    return String(value);
  }
  const unknownFields = (obj, known) => Object.fromEntries(Object.entries(obj || {}).filter(([k]) => !known.includes(k)));

  /* Fetches a CSV with the session cookie and hands it to the browser as a file. */
  async function downloadCsv(path, filename, button, status) {
    button.disabled = true;
    status.className = 'muted small';
    status.textContent = 'Preparing…';
    try {
      const text = await api('GET', path, undefined, { text: true });
      const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
      const a = el('a', { href: url, download: filename, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      const lines = text.split('\n').filter(Boolean).length;
      status.textContent = `${filename}: ${num(Math.max(0, lines - 1))} rows`;
    } catch (e) {
      status.className = 'error small';
      status.textContent = 'Download failed: ' + e.message;
    } finally {
      button.disabled = false;
    }
  }

  /* ---- chargeback -------------------------------------------------------------------- */

  const SHARE_METHODS = {
    none: 'shown apart as (unassigned)',
    proportional: 'shared in proportion to spend',
    even: 'shared in equal parts',
  };
  const UNASSIGNED = '(unassigned)';

  async function renderChargeback(view, seq, args) {
    const month = MONTH_RE.test(args[0] || '') ? args[0] : currentMonth();
    const method = Object.hasOwn(SHARE_METHODS, args[1] || '') ? args[1] : 'none';
    const query = (extra) => '/api/v1/chargeback?' + new URLSearchParams({ month, share_unassigned: method, ...extra });
    const res = await api('GET', query({}));
    if (seq !== state.renderSeq) return;
    const viewer = state.user.role === 'viewer';
    const go = (m, how) => { location.hash = `#/chargeback/${m}/${how}`; };
    const rows = res.rows || [];
    const total = res.total || {};

    const status = el('span', { class: 'muted small', id: 'chargeback-csv-status', role: 'status' });
    const button = el('button', {
      type: 'button', id: 'chargeback-csv',
      onclick: () => downloadCsv(query({ format: 'csv' }), `tally-chargeback-${month}-${method}.csv`, button, status),
    }, 'Download CSV');
    view.replaceChildren(
      pageHead('Chargeback', `${month} (UTC) · ${viewer ? `team ${state.user.team} only` : 'every team, by cost centre'}`),
      toolbar(monthPicker(month, (m) => go(m, method)),
        el('label', {}, 'Unassigned spend',
          el('select', { id: 'share-method', onchange: (e) => go(month, e.target.value) },
            Object.entries(SHARE_METHODS).map(([k, t]) => el('option', { value: k, text: `${k}: ${t}`, selected: k === method })))),
        button, status));

    /* per cost centre: share_pct strings add up exactly (4 decimals) */
    const centres = new Map();
    for (const r of rows) {
      const cc = r.cost_center || UNASSIGNED;
      const c = centres.get(cc) || { cost_center: cc, teams: 0, calls: 0, cost: 0n, share: 0n };
      c.teams++;
      c.calls += Number(r.calls) || 0;
      c.cost += toPico(r.cost_usd);
      c.share += toPico(r.share_pct);
      centres.set(cc, c);
    }
    const assigned = [...centres.keys()].filter((c) => c !== UNASSIGNED).length;
    const unassigned = toPico(res.unassigned_cost_usd);
    /* a viewer's answer holds its own row only: the cost-centre figures would mislead */
    view.append(el('div', { class: 'cards' },
      card(viewer ? 'Your team\'s cost' : 'Total cost', money(total.cost_usd), `${num(total.calls)} calls`),
      viewer ? card('Share of the month\'s spend', pctText(total.share_pct, 4), 'of every team\'s cost') : null,
      viewer ? null : card('Cost centres', num(assigned), `${num(rows.length)} team${rows.length === 1 ? '' : 's'}`),
      viewer ? null : card('Unassigned spend', money(unassigned), unassigned > 0n ? 'spend of teams without a cost centre' : 'none',
        unassigned > 0n && res.method === 'none' ? 'alert' : ''),
      card('Share method', res.method || method, res.method_description)));
    if (res.method && res.method !== method) {
      view.append(el('div', { class: 'notice' }, `You asked to share unassigned spend "${method}"; applied: "${res.method}" (${res.method_description}).`));
    }
    if (!rows.length) {
      view.append(empty(`No spend recorded for ${month}: pick another month, or run \`make run\` for demo traffic.`));
      return;
    }
    if (!viewer && !assigned) {
      view.append(el('div', { class: 'notice' }, withCode('No team has a cost centre yet, so unassigned spend cannot be shared: ' +
        'an admin maps teams with `tally teams set-cost-center TEAM CC` (or `POST /api/v1/teams`).')));
    }

    const ccRows = [...centres.values()];
    const grid = el('div', { class: 'grid' },
      panel('By team', '', table([
        { label: 'Cost centre', value: (r) => r.cost_center || UNASSIGNED },
        { label: 'Team', value: (r) => teamLink(r.team) },
        { label: 'Calls', num: true, value: (r) => num(r.calls) },
        { label: 'Input tokens', num: true, value: (r) => num(r.input_tokens) },
        { label: 'Output tokens', num: true, value: (r) => num(r.output_tokens) },
        { label: 'Direct cost', num: true, value: (r) => money(r.direct_cost_usd) },
        { label: 'Shared', num: true, value: (r) => money(r.shared_usd) },
        { label: 'Cost', num: true, value: (r) => money(r.cost_usd) },
        { label: 'Share', num: true, value: (r) => pctText(r.share_pct, 4) },
      ], rows, ['Total', '', num(total.calls), num(total.input_tokens), num(total.output_tokens),
        money(sumOf(rows, 'direct_cost_usd')), money(sumOf(rows, 'shared_usd')), money(total.cost_usd), pctText(total.share_pct, 4)])));
    view.append(grid);
    if (viewer) return;
    grid.append(panel('By cost centre', 'w6', table([
      { label: 'Cost centre', value: (c) => c.cost_center },
      { label: 'Teams', num: true, value: (c) => num(c.teams) },
      { label: 'Calls', num: true, value: (c) => num(c.calls) },
      { label: 'Cost', num: true, value: (c) => money(c.cost) },
      { label: 'Share', num: true, value: (c) => fixed(c.share, 4) + '%' },
    ], ccRows)), panel('Cost by cost centre', 'w6', chartBox('chargebackCentres', true)));
    drawDoughnut('chargebackCentres', ccRows.map((c) => ({ cost_center: c.cost_center, cost_usd: fixed(c.cost, SCALE) })), 'cost_center');
  }

  /* ---- budgets ------------------------------------------------------------------------- */

  const budgetKey = (b) => `${b.scope}/${b.name}`;

  function budgetStatus(b) {
    const budget = toPico(b.budget_usd);
    if (toPico(b.spend_usd) >= budget) return chip('over budget', 'bad');
    if (toPico(b.forecast_usd) >= budget) return chip('forecast over budget', 'warn');
    if (toPico(b.forecast_usd) * 10n >= budget * 8n) return chip('forecast over 80%', 'warn');
    return chip('on track', 'good');
  }

  /* Cumulative actual spend, a dashed run-rate forecast to month end, the budget and the alerts. */
  function drawBurnUp(id, days, daily, lastActual, budget, forecast, alerts) {
    let run = 0n;
    const actual = days.map((d, i) => {
      if (i > lastActual) return null;
      run += daily.get(d) || 0n;
      return run;
    });
    const last = days.length - 1;
    const fc = days.map((d, i) => {
      if (forecast === null || lastActual < 0 || i < lastActual) return null;
      if (i === last) return forecast;
      const start = actual[lastActual];
      return start + ((forecast - start) * BigInt(i - lastActual)) / BigInt(last - lastActual);
    });
    const line = (label, values, color, extra) => ({
      label, data: values.map((v) => (v === null ? null : picoToNumber(v))), exact: values,
      borderColor: color, backgroundColor: color, pointRadius: 0, pointHitRadius: 6, borderWidth: 2, fill: false, ...extra,
    });
    const datasets = [
      line('Actual spend (cumulative)', actual, '#2b6cb0', { fill: 'origin', backgroundColor: 'rgba(43,108,176,0.12)' }),
    ];
    if (forecast !== null && lastActual >= 0 && lastActual <= last) datasets.push(line('Forecast (recent daily spend)', fc, '#dd6b20', { borderDash: [6, 4] }));
    datasets.push(line('Budget', days.map(() => budget), '#c53030', { borderWidth: 1.5 }));
    for (const [basis, style, color] of [['actual', 'triangle', '#b42318'], ['forecast', 'rectRot', '#b54708']]) {
      const points = alerts.filter((a) => a.basis === basis && days.includes(String(a.fired_at).slice(0, 10)))
        .map((a) => ({ x: String(a.fired_at).slice(0, 10), y: picoToNumber((budget * BigInt(a.threshold_pct)) / 100n), alert: a }));
      if (points.length) {
        datasets.push({ label: `Alerts on ${basis} spend`, data: points, showLine: false, pointStyle: style, pointRadius: 8,
          pointHoverRadius: 10, borderColor: color, backgroundColor: color });
      }
    }
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'line',
      data: { labels: days, datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: { callback: axisMoney } },
        },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const a = ctx.raw && ctx.raw.alert;
                if (!a) return moneyTooltip.callbacks.label(ctx);
                return `${a.threshold_pct}% of budget on ${a.basis} spend, fired ${utcTime(a.fired_at)} ` +
                  `(spend ${money(a.spend_usd)}, forecast ${money(a.forecast_usd)})`;
              },
            },
          },
        },
      },
    });
  }

  async function renderBudgets(view, seq, args) {
    const month = MONTH_RE.test(args[0] || '') ? args[0] : currentMonth();
    const mb = monthBounds(month);
    const now = new Date();
    const closed = mb.to <= now;
    const viewer = state.user.role === 'viewer';
    /* a past month is read as of its last second, where its forecast is its spend */
    const at = month === currentMonth() ? '' : rfc3339(closed ? new Date(mb.to.getTime() - 1000) : mb.from);
    const [list, alertRes, teamWorkflows] = await Promise.all([
      api('GET', '/api/v1/budgets' + (at ? '?at=' + encodeURIComponent(at) : '')),
      api('GET', '/api/v1/alerts'),
      /* workflow budgets shown under the team picker: that team's workflows this month */
      state.team && !viewer ? spendQuery('workflow', { range: mb }) : null,
    ]);
    if (seq !== state.renderSeq) return;
    const inTeam = (b) => !state.team || (b.scope === 'team' ? b.name === state.team
      : !teamWorkflows || (teamWorkflows.rows || []).some((r) => r.workflow === b.name));
    const all = list.budgets || [];
    const budgets = all.filter(inTeam);
    const keys = new Set(budgets.map(budgetKey));
    /* the month's alerts only, like everything else on the page */
    const alerts = (alertRes.alerts || []).filter((a) => keys.has(budgetKey(a)) && a.period === month);
    // Without a choice in the address, the budget most at risk: the highest
    // forecast / budget (exact: cross-multiplied pico-dollars).
    const risk = (a, b) => toPico(b.forecast_usd) * toPico(a.budget_usd) - toPico(a.forecast_usd) * toPico(b.budget_usd);
    const sel = budgets.find((b) => b.scope === args[1] && b.name === args[2]) ||
      budgets.slice().sort((a, b) => (risk(a, b) > 0n ? 1 : risk(a, b) < 0n ? -1 : 0))[0];
    const href = (m, b) => `#/budgets/${m}` + (b ? `/${encodeURIComponent(b.scope)}/${encodeURIComponent(b.name)}` : '');

    const today = utcDay(now);
    const days = daysOf(mb.from, mb.to);
    const lastActual = closed ? days.length - 1 : days.indexOf(ymd(today));
    let series = null;
    if (sel && lastActual >= 0) {
      const to = new Date(Math.min(mb.to.getTime(), today.getTime() + DAY_MS));
      series = await spendQuery(sel.scope === 'team' ? 'team' : 'workflow', {
        range: { from: mb.from, to }, bucket: 'day',
        team: sel.scope === 'team' ? sel.name : '', workflow: sel.scope === 'workflow' ? sel.name : undefined,
      });
      if (seq !== state.renderSeq) return;
    }

    view.replaceChildren(
      pageHead('Budgets', `${month} (UTC) · ${state.team ? 'team ' + state.team : 'all teams'} · monthly budgets with a forecast from recent daily spend`),
      toolbar(monthPicker(month, (m) => { location.hash = href(m, sel); })));
    if (!sel) {
      const team = viewer ? state.user.team : state.team;
      view.append(empty(viewer
        ? `No budget for team ${team} yet: finance or an admin sets one with \`tally budgets set --team ${team} --amount USD\`.`
        : all.length && state.team
          ? `No budget for team ${team} or its workflows: pick "All teams", or set one with \`tally budgets set --team ${team} --amount USD\`.`
          : 'No budgets yet: `tally budgets set --team TEAM --amount USD` (or `--workflow WORKFLOW`) sets a monthly budget; ' +
            'alerts fire at 50, 80 and 100% of it, on actual and on forecast spend.'));
      return;
    }

    const budget = toPico(sel.budget_usd);
    const spent = toPico(sel.spend_usd);
    const forecast = toPico(sel.forecast_usd);
    const fired = alerts.filter((a) => budgetKey(a) === budgetKey(sel) && a.period === month);
    const top = fired.reduce((m, a) => (!m || a.threshold_pct > m.threshold_pct ? a : m), null);
    view.append(el('div', { class: 'cards' },
      card(`Budget · ${sel.scope} ${sel.name}`, money(budget), 'per month'),
      card('Spent', money(spent), `${pctText(sel.spend_pct)} of the budget`, spent >= budget ? 'alert' : ''),
      card(closed ? 'Month total' : 'Forecast at month end', money(forecast), `${pctText(sel.forecast_pct)} of the budget` +
        (!closed && sel.forecast_low_usd && sel.forecast_high_usd
          ? ` · likely ${money(sel.forecast_low_usd)}–${money(sel.forecast_high_usd)} (from the last ${sel.basis_days} days)`
          : !closed ? ' · a run rate of this month only: no past days to go by' : ''),
        forecast >= budget ? 'alert' : ''),
      card('Alerts this month', num(fired.length), top ? `up to ${top.threshold_pct}% (${top.basis})` : 'none fired')));

    const daily = new Map();
    for (const p of (series && series.series) || []) {
      const d = String(p.bucket).slice(0, 10);
      daily.set(d, (daily.get(d) || 0n) + toPico(p.cost_usd));
    }
    view.append(el('div', { class: 'grid' },
      panel(`Burn-up: ${sel.scope} ${sel.name}`, '', chartBox('budgetBurn'),
        el('p', { class: 'muted small', id: 'forecast-method' },
          `Forecast method: ${list.forecast_method}. ${closed ? 'A closed month\'s forecast is its spend. ' : ''}As of ${utcTime(list.at)}.`)),
      panel('Budgets', '', table([
        { label: 'Scope', value: (b) => b.scope },
        { label: 'Name', value: (b) => el('a', { href: href(month, b), text: b.name }) },
        { label: 'Budget', num: true, value: (b) => money(b.budget_usd) },
        { label: 'Spent', num: true, value: (b) => money(b.spend_usd) },
        { label: 'Used', num: true, value: (b) => pctText(b.spend_pct) },
        { label: closed ? 'Month total' : 'Forecast', num: true, value: (b) => money(b.forecast_usd) },
        { label: closed ? 'Total / budget' : 'Forecast / budget', num: true, value: (b) => pctText(b.forecast_pct) },
        { label: 'Status', value: budgetStatus },
      ], budgets, null, (b) => (b === sel ? 'selected' : null))),
      panel('Alert history', '', alerts.length ? table([
        { label: 'Fired', value: (a) => utcTime(a.fired_at) },
        { label: 'Budget', value: (a) => `${a.scope} ${a.name}` },
        { label: 'Month', value: (a) => a.period },
        { label: 'Basis', value: (a) => a.basis },
        { label: 'Threshold', num: true, value: (a) => `${a.threshold_pct}%` },
        { label: 'Budget', num: true, value: (a) => money(a.budget_usd) },
        { label: 'Spend then', num: true, value: (a) => money(a.spend_usd) },
        { label: 'Forecast then', num: true, value: (a) => money(a.forecast_usd) },
      ], alerts, null, (a) => (budgetKey(a) === budgetKey(sel) ? 'selected' : null))
        : empty('No alert has fired yet. Alerts fire once per budget, month, basis and threshold (50, 80 and 100% of actual ' +
          'or forecast spend); the server evaluates every 30 s, and `tally budgets evaluate` runs an evaluation now.'))));
    drawBurnUp('budgetBurn', days, daily, lastActual, budget, closed ? null : forecast, fired);
  }

  /* ---- cost per outcome --------------------------------------------------------------- */

  const tierEntries = (obj) => Object.entries(obj || {}).sort((a, b) => tierSort(a[0], b[0]));

  /* ×12.34 from the API's exact "12.34" */
  const times = (s) => (s === null || s === undefined ? '—' : `×${s}`);

  /* What outcomes are worth against what they cost: by team, and by workflow and kind. */
  function valueSection(val) {
    const t = val.total || {};
    const teams = val.teams || [];
    const rows = val.rows || [];
    const head = el('div', { class: 'cards', id: 'value-cards' },
      card('Value delivered', money(t.value_usd), `by ${num(t.successes)} successful outcomes of ${num(t.outcomes)}`),
      card('Spend on them', money(t.spend_usd), `${money(t.cost_per_outcome_usd, true)} per outcome · ${money(t.cost_per_success_usd, true)} per success`),
      card('Return on AI spend', times(t.return_on_spend), 'value delivered ÷ spend on the outcomes\' calls',
        t.return_on_spend !== null && t.return_on_spend !== undefined && toPico(t.return_on_spend) < ONE ? 'alert' : ''));
    if (!rows.length) return [head, empty('No outcome in this range carries a kind or a value yet: send `llm.outcomes` events with `kind` and `value_usd`.')];
    const cols = (first) => [
      ...first,
      { label: 'Outcomes', num: true, value: (x) => num(x.outcomes) },
      { label: 'Successes', num: true, value: (x) => num(x.successes) },
      { label: 'Value delivered', num: true, value: (x) => money(x.value_usd) },
      { label: 'Spend', num: true, value: (x) => money(x.spend_usd) },
      { label: 'Cost / outcome', num: true, value: (x) => (x.cost_per_outcome_usd ? money(x.cost_per_outcome_usd, true) : '—') },
      { label: 'Cost / success', num: true, value: (x) => (x.cost_per_success_usd ? money(x.cost_per_success_usd, true) : '—') },
      { label: 'Return', num: true, value: (x) => times(x.return_on_spend) },
    ];
    const foot = (n) => ['Total', ...Array(n - 1).fill(''), num(t.outcomes), num(t.successes), money(t.value_usd), money(t.spend_usd),
      t.cost_per_outcome_usd ? money(t.cost_per_outcome_usd, true) : '—', t.cost_per_success_usd ? money(t.cost_per_success_usd, true) : '—',
      times(t.return_on_spend)];
    return [head, el('div', { class: 'grid' },
      teams.length > 1 ? panel('Return on AI spend by team', '', table(cols([{ label: 'Team', value: (x) => x.team || '(none)' }]), teams, foot(1))) : null,
      panel('Value by workflow and outcome kind', '', table(cols([
        { label: 'Team', value: (x) => x.team || '(none)' },
        { label: 'Workflow', value: (x) => (x.workflow ? workflowLink(x.workflow) : '(none)') },
        { label: 'Kind', value: (x) => x.kind || '(none)' },
      ]), rows, foot(3)))),
      el('p', { class: 'muted small', id: 'value-method' }, `How: ${val.method}.`)];
  }

  async function renderOutcomes(view, seq) {
    const r = currentRange();
    const span = new URLSearchParams({ from: rfc3339(r.from), to: rfc3339(r.to) });
    if (state.user.role === 'viewer') {
      /* a viewer: its own team's outcomes, what they are worth and what they cost */
      const val = await api('GET', '/api/v1/outcomes/value?' + span);
      if (seq !== state.renderSeq) return;
      view.replaceChildren(pageHead('Outcomes', `team ${state.user.team} · ${r.label} (UTC)`), ...valueSection(val),
        el('p', { class: 'muted small' }, `Cost per outcome across every team's workflows needs a finance or admin key ` +
          `(yours is a viewer key for team ${state.user.team}).`));
      return;
    }
    const [res, val] = await Promise.all([
      api('GET', '/api/v1/outcomes?' + span),
      api('GET', '/api/v1/outcomes/value?' + span + (state.team ? '&team=' + encodeURIComponent(state.team) : '')),
    ]);
    if (seq !== state.renderSeq) return;
    const wfs = res.workflows || [];
    const count = (key) => wfs.reduce((a, w) => a + (Number(w[key]) || 0), 0);
    const outcomes = count('outcomes');
    const successes = count('successes');
    const spend = sumOf(wfs, 'spend_usd');
    const apart = res.calls_without_outcome || {};
    view.replaceChildren(pageHead('Cost per outcome', `all teams · ${r.label} (UTC) · spend on an outcome's calls, failed attempts included, ÷ successes`));
    view.append(el('div', { class: 'cards' },
      card('Outcomes', num(outcomes), `${num(successes)} successes (${pctOf(BigInt(successes), BigInt(outcomes))})`),
      card('Spend on outcomes', money(spend), `${num(count('calls'))} calls`),
      card('Cost per success', successes ? money(spend / BigInt(successes), true) : '—', 'all workflows together'),
      card('Outcome never arrived', num(apart.calls), `calls costing ${money(apart.spend_usd)}, reported apart`, Number(apart.calls) ? 'alert' : ''),
      card('Outcomes with no calls', num(res.outcomes_without_calls), 'reported apart')));
    if (!wfs.length) {
      view.append(empty('No outcomes in this range: send `llm.outcomes` events (for example with `tally produce`) carrying the ' +
        '`outcome_id` your calls carry, or pick a longer time range.'));
      return;
    }
    const weeks = [...new Set(wfs.flatMap((w) => (w.weeks || []).map((x) => x.week)))].sort();
    view.append(el('div', { class: 'grid' },
      panel('Cost per success by workflow', 'w6', chartBox('outcomeCost', true)),
      panel('Calls per outcome by tier', 'w6', chartBox('outcomeTiers', true)),
      panel('Workflows', '', table([
        { label: 'Workflow', value: (w) => workflowLink(w.workflow) },
        { label: 'Outcomes', num: true, value: (w) => num(w.outcomes) },
        { label: 'Successes', num: true, value: (w) => num(w.successes) },
        { label: 'Success rate', num: true, value: (w) => rateText(w.success_rate) },
        { label: 'Calls', num: true, value: (w) => num(w.calls) },
        { label: 'Spend', num: true, value: (w) => money(w.spend_usd) },
        { label: 'Cost per success', num: true, value: (w) => (w.cost_per_success_usd ? money(w.cost_per_success_usd, true) : '—') },
        { label: 'Calls per outcome by tier', value: (w) => el('span', { class: 'chips' },
          tierEntries(w.calls_per_outcome_by_tier).map(([t, v]) => chip(`${t} ${v}`))) },
      ], wfs, ['Total', num(outcomes), num(successes), pctOf(BigInt(successes), BigInt(outcomes)), num(count('calls')),
        money(spend), successes ? money(spend / BigInt(successes), true) : '—', ''])),
      panel('Cost per success, week by week', '', weeks.length > 1 ? chartBox('outcomeWeeks', true)
        : el('p', { class: 'muted small', text: `One week (starting Monday ${weeks[0] || '—'}) in this range: pick a longer range to see a trend.` }))));
    view.append(el('h2', { class: 'section-title', text: `Value and return on AI spend · ${state.team ? 'team ' + state.team : 'all teams'}` }),
      ...valueSection(val));

    drawBars('outcomeCost', wfs.filter((w) => w.cost_per_success_usd), 'workflow', 'cost_per_success_usd', 'cost per success');
    const tiers = [...new Set(wfs.flatMap((w) => Object.keys(w.calls_per_outcome_by_tier || {})))].sort(tierSort);
    charts.outcomeTiers = new window.Chart(document.getElementById('chart-outcomeTiers'), {
      type: 'bar',
      data: {
        labels: wfs.map((w) => w.workflow),
        datasets: tiers.map((t) => ({
          label: t, data: wfs.map((w) => Number((w.calls_per_outcome_by_tier || {})[t]) || 0),
          backgroundColor: colorFor(t, 'tier'), borderWidth: 0, maxBarThickness: 28,
        })),
      },
      options: {
        indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true, grid: { display: false } } },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.parsed.x.toFixed(2)} calls per outcome` } },
        },
      },
    });
    if (weeks.length > 1) {
      const datasets = wfs.map((w) => {
        const byWeek = new Map((w.weeks || []).map((x) => [x.week, x]));
        const exact = weeks.map((k) => {
          const x = byWeek.get(k);
          return x && Number(x.successes) > 0 ? toPico(x.spend_usd) / BigInt(x.successes) : null;
        });
        const color = colorFor(w.workflow, 'workflow');
        return { label: w.workflow, data: exact.map((v) => (v === null ? null : picoToNumber(v))), exact, borderColor: color, backgroundColor: color, spanGaps: true };
      });
      charts.outcomeWeeks = new window.Chart(document.getElementById('chart-outcomeWeeks'), {
        type: 'line',
        data: { labels: weeks.map((k) => 'week of ' + k), datasets },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: { mode: 'index', intersect: false },
          scales: { y: { beginAtZero: true, ticks: { callback: axisMoney } } },
          plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
        },
      });
    }
  }

  /* ---- waste ----------------------------------------------------------------------------- */

  const WASTE_WINDOWS = { 3600: '1 hour', 86400: '24 hours', 604800: '7 days' };
  const WASTE_KINDS = [
    { key: 'failed_usd', label: 'Failed calls', color: '#e53e3e' },
    { key: 'repeated_usd', label: 'Repeated prompts', color: '#d69e2e' },
    { key: 'over_tier_usd', label: 'Over-tier', color: '#805ad5' },
  ];

  async function renderWaste(view, seq) {
    const r = currentRange();
    const p = new URLSearchParams({ from: rfc3339(r.from), to: rfc3339(r.to), window_s: state.wasteWindow });
    if (state.team) p.set('team', state.team);
    const res = await api('GET', '/api/v1/waste?' + p.toString());
    if (seq !== state.renderSeq) return;
    const rows = res.rows || [];
    const overKnown = rows.some((x) => x.over_tier_usd !== null && x.over_tier_usd !== undefined);
    const kinds = WASTE_KINDS.filter((k) => k.key !== 'over_tier_usd' || overKnown);
    const wasteOf = (x) => kinds.reduce((a, k) => a + toPico(x[k.key]), 0n);
    const count = (key) => rows.reduce((a, x) => a + (Number(x[key]) || 0), 0);
    const spend = sumOf(rows, 'spend_usd');
    const waste = rows.reduce((a, x) => a + wasteOf(x), 0n);
    const windowText = WASTE_WINDOWS[res.window_s] || `${num(res.window_s)} s`;

    view.replaceChildren(
      pageHead('Waste', `${state.team ? 'team ' + state.team : 'all teams'} · ${r.label} (UTC) · what could have been spent less`),
      toolbar(el('label', {}, 'Repeated prompts count within',
        el('select', { id: 'waste-window', onchange: (e) => { state.wasteWindow = e.target.value; render(); } },
          Object.entries(WASTE_WINDOWS).map(([sec, t]) => el('option', { value: sec, text: t, selected: sec === state.wasteWindow }))))));
    view.append(el('div', { class: 'cards' },
      card('Waste', money(waste), `${pctOf(waste, spend)} of ${money(spend)} spend`, waste > 0n ? 'alert' : ''),
      card('Failed calls', money(sumOf(rows, 'failed_usd')), `${num(count('failed_calls'))} calls: error, timeout or cancelled`),
      card('Repeated prompts', money(sumOf(rows, 'repeated_usd')), `${num(count('repeated_calls'))} calls a cache could have served (within ${windowText})`),
      card('Over-tier spend', overKnown ? money(sumOf(rows, 'over_tier_usd')) : '—',
        overKnown ? 'on a dearer tier than the router\'s policy needs' : 'not available yet: see the note'),
      card('Cache savings realised', money(sumOf(rows, 'cache_savings_usd')), `${num(count('cache_hit_calls'))} cache hits`)));
    if (res.over_tier_note) view.append(el('div', { class: 'notice', id: 'over-tier-note' }, 'Note: ' + res.over_tier_note));
    if (!rows.length) {
      view.append(empty((state.team ? `No calls for team ${state.team} in this range (${r.label}). ` : `No calls in this range (${r.label}). `) +
        EMPTY_HINT + ' Or pick a longer time range.'));
      return;
    }

    const sorted = rows.slice().sort((a, b) => {
      const d = wasteOf(b) - wasteOf(a);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
    const overCell = (x) => (x.over_tier_usd === null || x.over_tier_usd === undefined ? '—' : money(x.over_tier_usd));
    view.append(el('div', { class: 'grid' },
      panel('Waste by team and workflow (and the cache savings already realised)', '', chartBox('wasteBreakdown')),
      panel('Team and workflow', '', table([
        { label: 'Team', value: (x) => teamLink(x.team) },
        { label: 'Workflow', value: (x) => workflowLink(x.workflow) },
        { label: 'Spend', num: true, value: (x) => money(x.spend_usd) },
        { label: 'Failed calls', num: true, value: (x) => num(x.failed_calls) },
        { label: 'Failed', num: true, value: (x) => money(x.failed_usd) },
        { label: 'Repeated calls', num: true, value: (x) => num(x.repeated_calls) },
        { label: 'Repeated', num: true, value: (x) => money(x.repeated_usd) },
        { label: 'Over-tier', num: true, value: overCell },
        { label: 'Cache hits', num: true, value: (x) => num(x.cache_hit_calls) },
        { label: 'Cache savings', num: true, value: (x) => money(x.cache_savings_usd) },
        { label: 'Waste', num: true, value: (x) => money(wasteOf(x)) },
        { label: 'Waste share', num: true, value: (x) => pctOf(wasteOf(x), toPico(x.spend_usd)) },
      ], sorted, ['Total', '', money(spend), num(count('failed_calls')), money(sumOf(rows, 'failed_usd')),
        num(count('repeated_calls')), money(sumOf(rows, 'repeated_usd')), overKnown ? money(sumOf(rows, 'over_tier_usd')) : '—',
        num(count('cache_hit_calls')), money(sumOf(rows, 'cache_savings_usd')), money(waste), pctOf(waste, spend)]))));

    const bar = (label, key, color, stack) => ({
      label, stack, backgroundColor: color, borderWidth: 0, maxBarThickness: 40,
      data: sorted.map((x) => picoToNumber(toPico(x[key]))), exact: sorted.map((x) => toPico(x[key])),
    });
    charts.wasteBreakdown = new window.Chart(document.getElementById('chart-wasteBreakdown'), {
      type: 'bar',
      data: {
        labels: sorted.map((x) => `${x.team} / ${x.workflow}`),
        datasets: [...kinds.map((k) => bar(k.label, k.key, k.color, 'waste')),
          bar('Cache savings (realised)', 'cache_savings_usd', '#38a169', 'savings')],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { autoSkip: false } },
          y: { stacked: true, beginAtZero: true, ticks: { callback: axisMoney } },
        },
        plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
      },
    });
  }

  /* ---- routing policy ------------------------------------------------------------------- */

  /* Fields rendered as such; anything else the router adds (per-workflow policy, ...) is shown generically. */
  const POLICY_KEYS = ['policy_version', 'evaluated_at', 'period_days', 'tolerance', 'min_samples', 'explore_share', 'default_tier', 'task_types'];
  const TASK_KEYS = ['task_type', 'tier', 'model', 'settled', 'tolerance', 'reason', 'override', 'tiers'];
  const TIER_KEYS = ['tier', 'model', 'calls', 'cost_usd', 'cost_per_call_usd', 'cost_per_success_usd', 'quality_samples',
    'quality', 'quality_lcb', 'quality_ucb', 'latency_p50_ms', 'latency_p95_ms'];
  const CHANGE_KEYS = ['task_type', 'workflow', 'old_tier', 'old_was_default', 'new_tier', 'reason', 'tolerance', 'evidence', 'calls_30d',
    'projected_monthly_saving_usd'];
  const VERSION_KEYS = ['version', 'created_at', 'trigger', 'policy', 'changes', 'projected_monthly_saving_usd'];

  const q3 = (v) => (typeof v === 'number' ? v.toFixed(3) : '—');
  /* The router says -1 (or nothing) when no call of the tier reported a latency. */
  const ms = (v) => (v === null || v === undefined || Number(v) < 0 ? null : num(v));
  const latencyText = (p50, p95) => (ms(p50) === null && ms(p95) === null ? '—' : `${ms(p50) ?? '—'} / ${ms(p95) ?? '—'} ms`);
  const share = (x) => `${+(Number(x) * 100).toFixed(2)}%`;
  const perUnit = (v) => (v === null || v === undefined ? '—' : money(v, true));
  const taskCalls = (t) => (t.tiers || []).reduce((a, x) => a + (Number(x.calls) || 0), 0);

  function evidenceList(ev) {
    return el('div', { class: 'evidence' }, Object.entries(ev || {}).sort((a, b) => tierSort(a[0], b[0])).map(([tier, e]) =>
      el('div', {}, chip(tier, 'tier'), ` quality ${q3(e.quality)} (${q3(e.quality_lcb)}–${q3(e.quality_ucb)}), n ${num(e.samples)}, ` +
        `${num(e.calls_30d)} calls, ${perUnit(e.cost_per_call_usd)}/call`)));
  }

  function overrideText(o) {
    if (!o) return null;
    const parts = [];
    if (o.pinned_tier) parts.push(`pinned to ${o.pinned_tier}`);
    if (o.tolerance !== null && o.tolerance !== undefined) parts.push(`tolerance ${o.tolerance}`);
    if (o.allowed_tiers && o.allowed_tiers.length) parts.push(`allowed ${o.allowed_tiers.join(', ')}`);
    return `Override: ${parts.join('; ') || 'none'} (by ${o.updated_by || '?'}, ${utcTime(o.updated_at)})`;
  }

  function qualityChart(id, task, pol) {
    const tiers = (task.tiers || []).slice().sort((a, b) => tierSort(a.tier, b.tier));
    const measured = tiers.filter((t) => Number(t.quality_samples) >= Number(pol.min_samples || 0));
    const best = measured.reduce((m, t) => (m === null || t.quality > m ? t.quality : m), null);
    /* zoom in on the intervals: they are often narrow and close to each other */
    const low = Math.min(...tiers.map((t) => t.quality_lcb), best === null ? 1 : best * (1 - task.tolerance));
    const yMin = Math.max(0, Math.floor((low - 0.05) * 10) / 10);
    const datasets = [
      {
        type: 'bar', label: 'quality interval', order: 2, borderSkipped: false, maxBarThickness: 48,
        data: tiers.map((t) => [t.quality_lcb, t.quality_ucb]),
        backgroundColor: tiers.map((t) => colorFor(t.tier, 'tier') + (t.tier === task.tier ? 'cc' : '55')),
        borderColor: tiers.map((t) => colorFor(t.tier, 'tier')),
        borderWidth: tiers.map((t) => (t.tier === task.tier ? 2 : 0)),
      },
      {
        type: 'line', label: 'mean quality', order: 1, data: tiers.map((t) => t.quality), showLine: false,
        pointStyle: 'line', pointRadius: 14, pointBorderWidth: 3, borderColor: '#1d2433', backgroundColor: '#1d2433',
      },
    ];
    if (best !== null) {
      datasets.push({
        type: 'line', label: `threshold ${q3(best * (1 - task.tolerance))}`, order: 0, data: tiers.map(() => best * (1 - task.tolerance)),
        borderColor: '#b42318', borderDash: [5, 4], borderWidth: 1.5, pointRadius: 0, fill: false,
      });
    }
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'bar',
      data: { labels: tiers.map((t) => t.tier), datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { min: yMin, max: 1, title: { display: true, text: 'quality' } }, x: { grid: { display: false } } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14 } },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const t = tiers[ctx.dataIndex];
                if (ctx.datasetIndex === 0) return `${t.tier}: ${q3(t.quality_lcb)}–${q3(t.quality_ucb)} (n ${num(t.quality_samples)})`;
                return `${ctx.dataset.label}: ${q3(ctx.parsed.y)}`;
              },
            },
          },
        },
      },
    });
  }

  async function renderRouting(view, seq) {
    if (staffOnly(view, 'Routing', 'The routing policy')) return;
    const [policyRes, historyRes, savingsRes] = await Promise.allSettled([
      api('GET', '/api/v1/routing/policy'),
      api('GET', '/api/v1/routing/history?limit=50'),
      api('GET', '/api/v1/routing/savings'),
    ]);
    if (seq !== state.renderSeq) return;
    if (policyRes.status === 'rejected') {
      const e = policyRes.reason;
      view.replaceChildren(pageHead('Routing'), e.status === 503
        ? empty(`The router has no policy yet (${e.message}). It learns from calls once they are \`TALLY_ROUTER_SETTLE_S\` old ` +
          '(300 s by default) and re-evaluates every minute; `tally router refresh` runs a cycle now.')
        : failure(e));
      return;
    }
    const pol = policyRes.value;
    const tasks = pol.task_types || [];
    const savings = savingsRes.status === 'fulfilled' ? savingsRes.value : null;
    const versions = historyRes.status === 'fulfilled' ? historyRes.value.versions || [] : null;
    const saving = new Map(((savings && savings.task_types) || []).map((x) => [x.task_type, x]));
    /* task type -> its newest change of the task type's own tier (versions come newest first;
     * a change that names a workflow is that workflow's) */
    const lastChange = new Map();
    for (const v of versions || []) {
      for (const c of v.changes || []) {
        if (!c.workflow && !lastChange.has(c.task_type)) lastChange.set(c.task_type, { ...c, version: v.version });
      }
    }

    view.replaceChildren(pageHead('Routing', `policy version ${pol.policy_version} · evaluated ${utcTime(pol.evaluated_at)} · ` +
      `learned from the last ${pol.period_days} days of every team`));
    view.append(el('p', { class: 'muted small', id: 'routing-rule' }, `Per task type: the cheapest tier whose quality lower bound ` +
      `reaches ${share(1 - pol.tolerance)} of the best tier's mean quality (tolerance ${pol.tolerance}), comparing tiers with at least ` +
      `${num(pol.min_samples)} samples; ${share(pol.explore_share)} of answers explore; default tier ${pol.default_tier || '—'}.`));
    const overCalls = ((savings && savings.task_types) || []).reduce((a, x) => a + (Number(x.over_tier_calls) || 0), 0);
    view.append(el('div', { class: 'cards' },
      card('Policy version', num(pol.policy_version), versions && versions[0] ? `last change ${utcTime(versions[0].created_at)}` : 'no version stored yet'),
      card('Task types', num(tasks.length), `${num(tasks.filter((t) => t.settled).length)} settled`),
      savings ? card(`Over-tier spend, ${savings.period_days} days`, money(savings.over_tier_cost_usd), `${num(overCalls)} calls on a dearer tier than the policy's`,
        toPico(savings.over_tier_cost_usd) > 0n ? 'alert' : '') : null,
      savings ? card('Saving had the policy been followed', money(savings.saving_usd), `they would have cost ${money(savings.under_policy_cost_usd)}`) : null,
      versions && versions[0] ? (toPico(versions[0].projected_monthly_extra_cost_usd || '0') > 0n
        ? card('Latest version\'s projected extra cost', money(versions[0].projected_monthly_extra_cost_usd), `a month, for quality (version ${versions[0].version})`)
        : card('Latest version\'s projected saving', money(versions[0].projected_monthly_saving_usd), `a month (version ${versions[0].version})`)) : null));
    if (savingsRes.status === 'rejected') view.append(failure(savingsRes.reason));

    if (!tasks.length) {
      view.append(empty('No task type has statistics yet: the router learns from calls (with `task_type` and `tier`) once they are ' +
        '`TALLY_ROUTER_SETTLE_S` old (300 s by default); `tally router refresh` runs a cycle now.'));
    } else {
      const grid = el('div', { class: 'grid' });
      grid.append(panel('Tier mix by task type (calls, last 30 days)', 'w6', chartBox('routingMix', true)));
      grid.append(panel('Policy by task type', 'w6', table([
        { label: 'Task type', value: (t) => t.task_type },
        { label: 'Calls', num: true, value: (t) => num(taskCalls(t)) },
        { label: 'Recommended', value: (t) => el('span', {}, t.tier ? chip(t.tier, 'tier') : '—', t.settled ? '' : ' not settled',
          t.override ? ' (override)' : '') },
        { label: 'Most used now', value: (t) => {
          const top = (t.tiers || []).reduce((m, x) => (!m || Number(x.calls) > Number(m.calls) ? x : m), null);
          return top ? `${top.tier} (${pctOf(BigInt(top.calls), BigInt(taskCalls(t)))})` : '—';
        } },
        { label: 'Over-tier calls', num: true, value: (t) => num(saving.has(t.task_type) ? saving.get(t.task_type).over_tier_calls : 0) },
        { label: 'Saving, 30 days', num: true, value: (t) => (saving.has(t.task_type) ? money(saving.get(t.task_type).saving_usd) : '—') },
      ], tasks, null, (t) => (t.tier && !t.settled ? 'unsettled' : null))));

      tasks.forEach((t, i) => {
        const tiers = (t.tiers || []).slice().sort((a, b) => tierSort(a.tier, b.tier));
        const calls = taskCalls(t);
        const extraTierKeys = [...new Set(tiers.flatMap((x) => Object.keys(x)))].filter((k) => !TIER_KEYS.includes(k));
        const change = lastChange.get(t.task_type);
        const extra = unknownFields(t, TASK_KEYS);
        /* one panel per task type, folded after the first: the page stays a page, not 7,000 px */
        grid.append(el('details', { class: 'panel task-policy', 'data-task': t.task_type, open: i === 0 ? '' : null },
          el('summary', {}, el('h2', {}, `${t.task_type} → `, t.tier ? chip(t.tier, 'tier') : 'default', t.model ? el('span', { class: 'muted', text: ` ${t.model}` }) : null,
            el('span', { class: 'muted small', text: ` · ${num(calls)} calls` }))),
          el('p', { class: 'muted small' }, `${t.settled ? 'Settled' : 'Not settled yet'} · tolerance ${t.tolerance} · ${t.reason || ''}`),
          t.override ? el('p', { class: 'small' }, overrideText(t.override)) : null,
          change ? el('p', { class: 'small' }, `Changed in version ${change.version}: ${change.old_tier || '—'}${change.old_was_default ? ' (default)' : ''} → ` +
            `${change.new_tier}, projected saving ${money(change.projected_monthly_saving_usd)} a month.`) : null,
          saving.has(t.task_type) ? el('p', { class: 'small' }, `Over-tier in the last 30 days: ${num(saving.get(t.task_type).over_tier_calls)} calls cost ` +
            `${money(saving.get(t.task_type).over_tier_cost_usd)}; the same calls on ${t.tier} would have cost ` +
            `${money(saving.get(t.task_type).under_policy_cost_usd)} in all (saving ${money(saving.get(t.task_type).saving_usd)}).`) : null,
          el('div', { class: 'split' }, chartBox('routingQuality' + i, true), el('div', { class: 'scroll' }, table([
            { label: 'Tier and model', value: (x) => el('span', {}, chip(x.tier, 'tier'), x.tier === t.tier ? ' ← policy' : '',
              el('div', { class: 'muted small', text: x.model || '' })) },
            { label: 'Calls', num: true, value: (x) => num(x.calls) },
            { label: 'Mix', num: true, value: (x) => pctOf(BigInt(Number(x.calls) || 0), BigInt(calls)) },
            { label: 'Cost / call', num: true, value: (x) => perUnit(x.cost_per_call_usd) },
            { label: 'Cost / success', num: true, value: (x) => perUnit(x.cost_per_success_usd) },
            { label: 'Quality (interval)', num: true, value: (x) => `${q3(x.quality)} (${q3(x.quality_lcb)}–${q3(x.quality_ucb)})` },
            { label: 'Samples', num: true, value: (x) => num(x.quality_samples) },
            { label: 'Latency p50 / p95', num: true, value: (x) => latencyText(x.latency_p50_ms, x.latency_p95_ms) },
            ...extraTierKeys.map((k) => ({ label: k, value: (x) => generic(x[k], k, 1) })),
          ], tiers))),
          Object.keys(extra).length ? generic(extra) : null));
      });
      view.append(grid);
    }

    const more = unknownFields(pol, POLICY_KEYS);
    const bottom = el('div', { class: 'grid' });
    for (const [k, v] of Object.entries(more)) {
      bottom.append(el('details', { class: 'panel' }, el('summary', {}, el('h2', { text: `Policy: ${humanKey(k).toLowerCase()}` })), generic(v, k)));
    }
    if (savings) {
      const st = savings.task_types || [];
      bottom.append(panel(`Over-tier spend by task type (last ${savings.period_days} days, each call judged by the policy version in force when it was made: ${(savings.policy_versions || []).join(', ') || 'none'})`, '',
        st.length ? table([
          { label: 'Task type', value: (x) => x.task_type },
          { label: 'Policy tier', value: (x) => chip(x.policy_tier, 'tier') },
          { label: 'Calls on dearer tiers', num: true, value: (x) => num(x.over_tier_calls) },
          { label: 'They cost', num: true, value: (x) => money(x.over_tier_cost_usd) },
          { label: 'At the policy tier', num: true, value: (x) => money(x.under_policy_cost_usd) },
          { label: 'Saving', num: true, value: (x) => money(x.saving_usd) },
        ], st, ['Total', '', num(overCalls), money(savings.over_tier_cost_usd), money(savings.under_policy_cost_usd), money(savings.saving_usd)])
          : empty('No call in the period used a dearer tier than the policy says its task type needs.')));
    }
    if (versions) {
      /* the newest versions; older ones fold away, so the history does not run for pages */
      const historyTable = (vs) => {
        const rows = [];
        for (const v of vs) (v.changes && v.changes.length ? v.changes : [null]).forEach((c, i) => rows.push({ v, c, first: i === 0 }));
        return table([
        { label: 'Version', value: (x) => (x.first ? el('details', {}, el('summary', { text: `v${x.v.version}` }), generic(x.v.policy, 'policy')) : '') },
        { label: 'When', value: (x) => (x.first ? utcTime(x.v.created_at) : '') },
        { label: 'Trigger', value: (x) => {
          const extra = unknownFields(x.v, VERSION_KEYS);
          return x.first ? el('span', {}, x.v.trigger || '', Object.keys(extra).length
            ? el('details', {}, el('summary', { text: Object.keys(extra).map((k) => humanKey(k).toLowerCase()).join(', ') }), generic(extra, '', 1)) : null) : '';
        } },
        { label: 'Task type', value: (x) => (!x.c ? '—' : x.c.workflow ? `${x.c.task_type} in workflow ${x.c.workflow}` : x.c.task_type) },
        { label: 'Change', value: (x) => (x.c ? el('span', { class: 'change' }, chip(x.c.old_tier || '—', 'tier'),
          x.c.old_was_default ? ' (default)' : '', ' → ', chip(x.c.new_tier, 'tier')) : '') },
        { label: 'Reason and evidence', cls: 'evidence-cell', value: (x) => (x.c ? el('div', {}, el('div', { text: x.c.reason || '' }),
          /* the evidence folds away: a version changing many task types stays a screen, not a scroll */
          el('details', { class: 'evidence' }, el('summary', { text: 'evidence' }), evidenceList(x.c.evidence),
            Object.keys(unknownFields(x.c, CHANGE_KEYS)).length ? generic(unknownFields(x.c, CHANGE_KEYS), '', 1) : null)) : '') },
        { label: 'Calls, 30 days', num: true, value: (x) => (x.c ? num(x.c.calls_30d) : '') },
        { label: 'Projected saving / month', num: true, value: (x) => (x.c ? money(x.c.projected_monthly_saving_usd) : '') },
      ], rows, null, (x) => (x.first ? 'version-start' : null));
      };
      const recent = versions.slice(0, 3);
      const older = versions.slice(3);
      bottom.append(panel('Policy history', '', versions.length ? historyTable(recent)
        : empty('No policy version yet: a task type enters the policy once its decision is settled (enough samples on the tiers it compares).'),
      older.length ? el('details', { class: 'older-versions' }, el('summary', { text: `${num(older.length)} older versions` }), historyTable(older)) : null));
    } else {
      bottom.append(failure(historyRes.reason));
    }
    view.append(bottom);

    if (tasks.length) {
      const tiers = [...new Set(tasks.flatMap((t) => (t.tiers || []).map((x) => x.tier)))].sort(tierSort);
      charts.routingMix = new window.Chart(document.getElementById('chart-routingMix'), {
        type: 'bar',
        data: {
          labels: tasks.map((t) => t.task_type),
          datasets: tiers.map((tier) => ({
            label: tier, backgroundColor: colorFor(tier, 'tier'), borderWidth: 0, maxBarThickness: 28,
            data: tasks.map((t) => Number(((t.tiers || []).find((x) => x.tier === tier) || {}).calls) || 0),
          })),
        },
        options: {
          indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
          scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true, grid: { display: false } } },
          plugins: {
            legend: { position: 'bottom' },
            tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${num(ctx.parsed.x)} calls` } },
          },
        },
      });
      tasks.forEach((t, i) => qualityChart('routingQuality' + i, t, pol));
    }
  }

  /* ---- reconciliation: the providers' bills against the ledger (docs/reconcile.md) ---- */

  /* Drift per day: exact sums (BigInt pico-USD) of billed and ledger; percent of the billed. */
  function driftByDay(rows) {
    const days = new Map();
    for (const x of rows) {
      const d = days.get(x.day) || { billed: 0n, ledger: 0n };
      d.billed += toPico(x.billed_usd);
      d.ledger += toPico(x.ledger_usd);
      days.set(x.day, d);
    }
    return [...days.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }

  async function renderReconcile(view, seq) {
    if (staffOnly(view, 'Reconciliation', 'Reconciliation with the providers\' bills')) return;
    const r = currentRange();
    const params = { from: rfc3339(r.from), to: rfc3339(r.to) };
    const res = await api('GET', '/api/v1/reconcile?' + new URLSearchParams(params));
    if (seq !== state.renderSeq) return;
    const rows = res.rows || [];
    const t = res.totals || {};
    view.replaceChildren(pageHead('Reconciliation', `all teams · ${r.label} (UTC) · billed by the providers against the ledger`));
    view.append(el('div', { class: 'cards' },
      card('Billed', money(t.billed_usd), 'imported provider bills'),
      card('Ledger', money(t.ledger_usd), 'tally\'s priced calls on the same days'),
      card('Difference', money(t.diff_usd), 'billed − ledger', toPico(t.diff_usd) !== 0n ? 'alert' : ''),
      card('Drift', pctText(t.diff_pct), 'of the billed amount')));
    if (!rows.length) {
      view.append(empty('No provider bill imported for this range: load one with ' +
        '`tally reconcile import FILE --format openai|anthropic|focus` (docs/reconcile.md), or pick a longer time range.'));
      return;
    }
    const days = driftByDay(rows);
    view.append(el('div', { class: 'grid' },
      panel('Drift over time: billed and ledger per day, difference as % of billed', '', chartBox('reconcileDrift')),
      panel('Per day, provider, model and team', '', el('p', {},
        el('a', { href: '/api/v1/reconcile?' + new URLSearchParams({ ...params, format: 'csv' }), id: 'reconcile-csv', text: 'Download CSV' })),
      table([
        { label: 'Day', value: (x) => x.day },
        { label: 'Provider', value: (x) => x.provider },
        { label: 'Model', value: (x) => (x.model === null ? '(unmatched)' : x.model) },
        { label: 'Team', value: (x) => (x.team === null ? '(unmapped)' : x.team) },
        { label: 'Projects', value: (x) => x.projects },
        { label: 'Billed', num: true, value: (x) => money(x.billed_usd) },
        { label: 'Ledger', num: true, value: (x) => money(x.ledger_usd) },
        { label: 'Difference', num: true, value: (x) => money(x.diff_usd) },
        { label: 'Drift', num: true, value: (x) => pctText(x.diff_pct) },
        { label: 'Calls', num: true, value: (x) => num(x.calls) },
        { label: 'Explanation', value: (x) => x.explanation },
      ], rows, ['Total', '', '', '', '', money(t.billed_usd), money(t.ledger_usd), money(t.diff_usd), pctText(t.diff_pct), '', ''],
      (x) => (x.model === null || toPico(x.diff_usd) !== 0n ? 'drift' : '')))));
    const bars = (label, key, color) => ({
      type: 'bar', label, backgroundColor: color, borderWidth: 0, maxBarThickness: 40, yAxisID: 'y',
      data: days.map(([, d]) => picoToNumber(d[key])), exact: days.map(([, d]) => d[key]),
    });
    /* percent with 2 decimals, exactly, for the tooltip; the line's geometry is a float */
    const pct = days.map(([, d]) => (d.billed !== 0n ? fixed(((d.billed - d.ledger) * 100n * ONE) / d.billed, 2) : null));
    charts.reconcileDrift = new window.Chart(document.getElementById('chart-reconcileDrift'), {
      data: {
        labels: days.map(([day]) => day),
        datasets: [bars('Billed', 'billed', '#2b6cb0'), bars('Ledger', 'ledger', '#38a169'),
          { type: 'line', label: 'Drift %', yAxisID: 'pct', borderColor: '#e53e3e', backgroundColor: '#e53e3e',
            data: pct.map((v) => (v === null ? null : Number(v))), exactPct: pct, spanGaps: true }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { callback: axisMoney } },
          pct: { position: 'right', grid: { display: false }, ticks: { callback: (v) => v + '%' } },
        },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (ctx) => (ctx.dataset.exactPct
            ? `${ctx.dataset.label}: ${ctx.dataset.exactPct[ctx.dataIndex] ?? '—'}%`
            : `${ctx.dataset.label}: ${money(ctx.dataset.exact[ctx.dataIndex])}`) } },
        },
      },
    });
  }

  /* ---- pages by URL fragment ------------------------------------------------------------ */

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return ''; }
    });
    return { page: parts[0] || 'overview', arg: parts[1] || '', args: parts.slice(1) };
  }

  /* The top-bar pickers a page uses; the others are disabled there, saying why. */
  const PAGE_PICKERS = {
    chargeback: { range: 'Chargeback is monthly: pick the month on the page', team: 'Chargeback covers every team of the month' },
    budgets: { range: 'Budgets are monthly: pick the month on the page' },
    outcomes: {},
    routing: { range: 'The policy learns from the last 30 days', team: 'The policy covers every team' },
    reconcile: { team: 'A provider bill covers every team' },
    quarantine: { range: 'The quarantine lists every event that failed validation', team: 'Quarantined events carry no trusted team' },
    calls: { range: 'The calls page keeps the range it was opened with (in its address)' },
    call: { range: 'One call', team: 'One call' },
  };

  function syncPickers(page) {
    const why = PAGE_PICKERS[page] || {};
    const viewer = state.user && state.user.role === 'viewer';
    for (const id of ['#range', '#from', '#to', '#apply-range']) $(id).disabled = !!why.range;
    $('#range-label').title = why.range || '';
    $('#team').disabled = viewer || !!why.team;
    $('#team-label').title = viewer ? 'Your key is bound to this team' : why.team || '';
    /* a page that covers every team says so in the picker, whatever filter the others use */
    if (!viewer) $('#team').value = why.team ? '' : (page === 'team' && state.pageTeam) || state.team;
  }

  async function render() {
    if (!state.user) return;
    const seq = ++state.renderSeq;
    const route = parseRoute();
    /* A team page shows its team in the picker while it is open; the filter the other pages
     * use (state.team) stays what the user picked there. */
    state.pageTeam = route.page === 'team' && route.arg && state.user.role !== 'viewer' ? route.arg : '';
    for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.page === route.page);
    syncTeamPicker();
    destroyCharts();
    const view = $('#view');
    view.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    document.body.dataset.page = route.page;
    document.body.dataset.loading = '1';
    try {
      switch (route.page) {
      case 'team': {
        /* A viewer is bound to its team: another team's address says so instead of
         * silently showing its own. */
        if (state.user.role === 'viewer' && route.arg && route.arg !== state.user.team) {
          view.replaceChildren(pageHead(`Team ${route.arg}`), el('div', { class: 'panel notice', id: 'not-your-team' },
            el('p', {}, `Your key is a viewer key for team ${state.user.team}: team ${route.arg}'s page is not open to it. `,
              el('a', { href: '#/team/' + encodeURIComponent(state.user.team) }, `Team ${state.user.team}'s page`), '.')));
          break;
        }
        const team = state.user.role === 'viewer' ? state.user.team : route.arg || state.team;
        await (team ? renderTeam(view, seq, team) : renderTeamIndex(view, seq));
        break;
      }
      case 'workflow':
        await (route.arg ? renderWorkflow(view, seq, route.arg) : renderWorkflowIndex(view, seq));
        break;
      case 'quarantine':
        await (route.args[1] ? renderQuarantineReason(view, seq, route.args[1]) : renderQuarantine(view, seq, parseInt(route.arg, 10) || 0));
        break;
      case 'chargeback':
        await renderChargeback(view, seq, route.args);
        break;
      case 'budgets':
        await renderBudgets(view, seq, route.args);
        break;
      case 'outcomes':
        await renderOutcomes(view, seq);
        break;
      case 'calls':
        await renderCalls(view, seq, route.arg);
        break;
      case 'call':
        await renderCall(view, seq, route.arg);
        break;
      case 'waste':
        await renderWaste(view, seq);
        break;
      case 'routing':
        await renderRouting(view, seq);
        break;
      case 'reconcile':
        await renderReconcile(view, seq);
        break;
      default:
        await renderOverview(view, seq);
      }
    } catch (e) {
      if (seq === state.renderSeq && state.user) view.replaceChildren(failure(e));
    }
    if (seq === state.renderSeq) {
      delete document.body.dataset.loading;
      $('#status-line').textContent = `Updated ${new Date().toLocaleTimeString()} · amounts in USD, exact to the cent (sub-cent amounts, and costs per call or per success under $1, to four significant digits) · days are UTC`;
    }
  }

  /* ---- pickers and session ------------------------------------------------------------ */

  function syncTeamPicker() {
    const sel = $('#team');
    const viewer = state.user && state.user.role === 'viewer';
    const names = viewer ? [state.user.team] : ['', ...state.teams];
    for (const t of [state.team, state.pageTeam]) if (!viewer && t && !names.includes(t)) names.push(t);
    sel.replaceChildren(...names.map((t) => el('option', { value: t, text: t || 'All teams' })));
    sel.value = viewer ? state.user.team : state.team;
    syncPickers(parseRoute().page);
  }

  async function loadTeams() {
    if (state.user.role === 'viewer') { state.teams = [state.user.team]; return; }
    try {
      const to = new Date(utcDay(new Date()).getTime() + DAY_MS);
      const res = await spendQuery('team', { team: '', range: { from: new Date(to.getTime() - 366 * DAY_MS), to } });
      state.teams = (res.rows || []).map((r) => r.team).filter(Boolean).sort();
    } catch (e) {
      state.teams = [];
    }
  }

  async function enter(user) {
    state.user = user;
    state.team = user.role === 'viewer' ? user.team : '';
    $('#signin').hidden = true;
    $('#topbar').hidden = false;
    $('#status-line').hidden = false;
    $('#who').textContent = user.role === 'viewer' ? `viewer · team ${user.team}` : `${user.role} · all teams`;
    /* pages whose data spans every team (the API answers a viewer 403) */
    for (const a of document.querySelectorAll('.nav a[data-staff]')) a.hidden = user.role === 'viewer' && a.id !== 'nav-outcomes';
    await loadTeams();
    syncTeamPicker();
    if (!location.hash || location.hash === '#/signin') location.hash = '#/overview';
    else render();
  }

  function showSignin(message) {
    destroyCharts();
    state.user = null;
    $('#topbar').hidden = true;
    $('#status-line').hidden = true;
    $('#view').replaceChildren();
    $('#signin').hidden = false;
    const err = $('#signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    document.body.dataset.page = 'signin';
    delete document.body.dataset.loading;
    $('#token').focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const input = $('#token');
    const button = ev.target.querySelector('button');
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    try {
      const res = await api('POST', '/api/v1/session', { token });
      if (res && res.csrf_token) sessionStorage.setItem(CSRF_KEY, res.csrf_token);
      input.value = '';
      $('#signin-error').hidden = true;
      await enter({ role: res.role, team: res.team || '' });
    } catch (e) {
      showSignin(e.status === 401 || e.status === 403 ? 'That token was not accepted (unknown or revoked).' : e.message);
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try {
      await api('DELETE', '/api/v1/session');
    } catch (e) {
      /* the session is gone either way once we forget it here */
    }
    sessionStorage.removeItem(CSRF_KEY);
    state.user = null;
    location.hash = '#/signin';
    showSignin('Signed out.');
  }

  function wirePickers() {
    const range = $('#range');
    const custom = $('#custom-range');
    range.addEventListener('change', () => {
      custom.hidden = range.value !== 'custom';
      if (range.value === 'custom') {
        const r = currentRange();
        $('#from').value = state.customFrom || ymd(r.from);
        $('#to').value = state.customTo || ymd(new Date(r.to.getTime() - DAY_MS));
        return;
      }
      state.range = range.value;
      render();
    });
    $('#apply-range').addEventListener('click', () => {
      const f = $('#from').value;
      const t = $('#to').value;
      if (!parseYmd(f) || !parseYmd(t) || f > t) {
        $('#from').setCustomValidity('pick a start on or before the end');
        $('#from').reportValidity();
        return;
      }
      $('#from').setCustomValidity('');
      state.range = 'custom';
      state.customFrom = f;
      state.customTo = t;
      render();
    });
    $('#team').addEventListener('change', (e) => {
      if (state.user.role === 'viewer') return;
      const route = parseRoute();
      /* on a team page the picker picks the page's team; elsewhere it is the filter */
      if (route.page === 'team') location.hash = e.target.value ? '#/team/' + encodeURIComponent(e.target.value) : '#/team';
      else {
        state.team = e.target.value;
        render();
      }
    });
    $('#signin-form').addEventListener('submit', signIn);
    $('#signout').addEventListener('click', signOut);
    window.addEventListener('hashchange', () => {
      if (state.user) render();
    });
  }

  async function start() {
    if (window.Chart) {
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      window.Chart.defaults.color = '#5f6b7a';
    }
    wirePickers();
    try {
      const me = await api('GET', '/api/v1/me');
      await enter({ role: me.role, team: me.team || '' });
    } catch (e) {
      showSignin(e.status === 401 || !e.status ? (e.status ? '' : e.message) : e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();

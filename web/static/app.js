/* tally dashboard - plain JavaScript, no framework, no build step.
 *
 * Talks to the JSON API of the same server (/api/v1/...). The session is an
 * HttpOnly cookie set by POST /api/v1/session; the CSRF token it returns is
 * kept in sessionStorage only (never localStorage) and sent as X-CSRF-Token on
 * state-changing requests. Every value that comes from the server is put into
 * the page with textContent, never as HTML. Charts are drawn by Chart.js
 * (web/static/vendor/chart.umd.min.js, copied from npm by web/web.mk); the
 * live Chart instances are exposed as window.__tallyCharts for the browser test.
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

  /* $1,234.56; sub-cent amounts keep four significant digits ($0.002400 -> $0.0024). */
  function money(value) {
    let v = typeof value === 'bigint' ? value : toPico(value);
    const neg = v < 0n;
    if (neg) v = -v;
    let out;
    if (v === 0n) {
      out = '$0.00';
    } else if (v >= ONE / 100n) {
      const cents = (v + ONE / 200n) / (ONE / 100n);
      out = '$' + groupThousands((cents / 100n).toString()) + '.' + (cents % 100n).toString().padStart(2, '0');
    } else {
      const frac = v.toString().padStart(SCALE, '0');
      const first = frac.search(/[1-9]/);
      const keep = Math.min(SCALE, first + 4);
      const unit = 10n ** BigInt(SCALE - keep);
      const rounded = (v + unit / 2n) / unit;
      out = ('$0.' + rounded.toString().padStart(keep, '0')).replace(/0+$/, '');
    }
    return neg ? '-' + out : out;
  }

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

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
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

  function table(columns, rows) {
    return el('table', {},
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { class: c.num ? 'num' : null, text: c.label })))),
      el('tbody', {}, rows.map((r) => el('tr', {}, columns.map((c) => {
        const v = c.value(r);
        return el('td', { class: c.num ? 'num' : c.cls || null }, v instanceof Node ? v : String(v ?? ''));
      })))));
  }

  const nameOf = (row, dim) => {
    const v = row[dim];
    return v === null || v === undefined || v === '' ? '(none)' : String(v);
  };

  /* Stable colours per dimension: a team keeps its colour across charts and pages. */
  const TIER_COLORS = { local: '#38a169', small: '#3182ce', medium: '#dd6b20', large: '#c53030' };
  function colorFor(name, dim) {
    if (dim === 'tier' && TIER_COLORS[name]) return TIER_COLORS[name];
    if (!colorOf.has(dim)) colorOf.set(dim, new Map());
    const m = colorOf.get(dim);
    if (!m.has(name)) m.set(name, PALETTE[m.size % PALETTE.length]);
    return m.get(name);
  }

  const teamLink = (name) => el('a', { href: '#/team/' + encodeURIComponent(name), text: name });
  const workflowLink = (name) => el('a', { href: '#/workflow/' + encodeURIComponent(name), text: name });

  function byCostDesc(rows) {
    return rows.slice().sort((a, b) => {
      const d = toPico(b.cost_usd) - toPico(a.cost_usd);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
  }

  const sumCost = (rows) => rows.reduce((acc, r) => acc + toPico(r.cost_usd), 0n);
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
        responsive: true, maintainAspectRatio: false, animation: false, cutout: '55%',
        plugins: {
          legend: { position: 'right' },
          tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${money(ctx.dataset.exact[ctx.dataIndex])}` } },
        },
      },
    });
  }

  function drawBars(id, rows, dim) {
    const sorted = byCostDesc(rows);
    const labels = sorted.map((r) => nameOf(r, dim));
    charts[id] = new window.Chart(document.getElementById('chart-' + id), {
      type: 'bar',
      data: {
        labels,
        datasets: [{
          label: 'spend',
          data: sorted.map((r) => picoToNumber(toPico(r.cost_usd))),
          exact: sorted.map((r) => toPico(r.cost_usd)),
          backgroundColor: labels.map((l) => colorFor(l, dim)),
          borderWidth: 0,
          maxBarThickness: 36,
        }],
      },
      options: {
        indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { beginAtZero: true, ticks: { callback: axisMoney } }, y: { grid: { display: false } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => money(ctx.dataset.exact[ctx.dataIndex]) } },
        },
      },
    });
  }

  function spendTable(rows, dim, label, link) {
    const total = sumCost(rows);
    return table([
      { label, value: (r) => (link && r[dim] ? link(String(r[dim])) : nameOf(r, dim)) },
      { label: 'Calls', num: true, value: (r) => num(r.calls) },
      { label: 'Input tokens', num: true, value: (r) => compactTokens(r.input_tokens) },
      { label: 'Output tokens', num: true, value: (r) => compactTokens(r.output_tokens) },
      { label: 'Cache read', num: true, value: (r) => compactTokens(r.cache_read_tokens) },
      { label: 'Cost / call', num: true, value: (r) => (Number(r.calls) > 0 ? money(toPico(r.cost_usd) / BigInt(r.calls)) : '—') },
      { label: 'Share', num: true, value: (r) => (total > 0n ? (Number((toPico(r.cost_usd) * 10000n) / total) / 100).toFixed(1) + '%' : '—') },
      { label: 'Spend', num: true, value: (r) => money(r.cost_usd) },
      { label: 'Unpriced', num: true, value: (r) => num(r.unpriced_calls) },
    ], byCostDesc(rows));
  }

  /* ---- pages -------------------------------------------------------------------- */

  function pageHead(title, sub) {
    return el('div', { class: 'page-head' }, el('h1', { text: title }), sub ? el('span', { class: 'muted', text: sub }) : null);
  }

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
    const [series, models, tiers, workflows, mtd, last, lastSame, status] = await Promise.allSettled([
      spendQuery('team', { bucket: 'day' }),
      spendQuery('model'),
      spendQuery('tier'),
      spendQuery('workflow'),
      spendQuery('team', { range: mr.mtd }),
      spendQuery('team', { range: mr.last }),
      spendQuery('team', { range: mr.lastSame }),
      /* status covers every team: admins and finance only */
      state.user.role === 'viewer' ? Promise.reject(new ApiError(403, 'not for viewers')) : api('GET', '/api/v1/status'),
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
    const [series, wf, tasks, models] = await Promise.all([
      spendQuery('workflow', { team, bucket: 'day' }),
      spendQuery('workflow', { team }),
      spendQuery('task_type', { team }),
      spendQuery('model', { team }),
    ]);
    if (seq !== state.renderSeq) return;
    view.replaceChildren(pageHead(`Team ${team}`, r.label + ' (UTC)'));
    const calls = totalCalls(wf);
    const cost = totalCost(wf);
    view.append(el('div', { class: 'cards' },
      card('Spend', money(cost), `${num(calls)} calls`),
      card('Cost per call', calls ? money(cost / BigInt(calls)) : '—'),
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
      panel('Models', '', spendTable(models.rows || [], 'model', 'Model')));
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
      card('Cost per call', calls ? money(cost / BigInt(calls)) : '—'),
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
        { label: 'Received (UTC)', value: (q) => String(q.received_at || '').replace('T', ' ').replace(/\.\d+/, '') },
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
  }

  /* ---- routing --------------------------------------------------------------------- */

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return ''; }
    });
    return { page: parts[0] || 'overview', arg: parts[1] || '' };
  }

  async function render() {
    if (!state.user) return;
    const seq = ++state.renderSeq;
    const route = parseRoute();
    /* A viewer is bound to its team, whatever the address says. */
    if (route.page === 'team' && route.arg && state.user.role !== 'viewer' && route.arg !== state.team) {
      state.team = route.arg;
      syncTeamPicker();
    }
    for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.page === route.page);
    destroyCharts();
    const view = $('#view');
    view.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    document.body.dataset.page = route.page;
    document.body.dataset.loading = '1';
    try {
      switch (route.page) {
      case 'team': {
        const team = state.user.role === 'viewer' ? state.user.team : route.arg || state.team;
        await (team ? renderTeam(view, seq, team) : renderTeamIndex(view, seq));
        break;
      }
      case 'workflow':
        await (route.arg ? renderWorkflow(view, seq, route.arg) : renderWorkflowIndex(view, seq));
        break;
      case 'quarantine':
        await renderQuarantine(view, seq, parseInt(route.arg, 10) || 0);
        break;
      default:
        await renderOverview(view, seq);
      }
    } catch (e) {
      if (seq === state.renderSeq && state.user) view.replaceChildren(failure(e));
    }
    if (seq === state.renderSeq) {
      delete document.body.dataset.loading;
      $('#status-line').textContent = `Updated ${new Date().toLocaleTimeString()} · amounts in USD, exact to the cent (sub-cent amounts shown to four digits) · days are UTC`;
    }
  }

  /* ---- pickers and session ------------------------------------------------------------ */

  function syncTeamPicker() {
    const sel = $('#team');
    const viewer = state.user && state.user.role === 'viewer';
    const names = viewer ? [state.user.team] : ['', ...state.teams];
    if (!viewer && state.team && !names.includes(state.team)) names.push(state.team);
    sel.replaceChildren(...names.map((t) => el('option', { value: t, text: t || 'All teams' })));
    sel.value = viewer ? state.user.team : state.team;
    sel.disabled = viewer;
    sel.title = viewer ? 'Your key is bound to this team' : '';
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
    $('#nav-quarantine').hidden = user.role === 'viewer';
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
      state.team = e.target.value;
      const route = parseRoute();
      if (route.page === 'team') location.hash = state.team ? '#/team/' + encodeURIComponent(state.team) : '#/team';
      else render();
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

// test_dashboard.mjs - drives the dashboard in headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core) against a running tally.
//
// env: TALLY_URL (http://127.0.0.1:PORT/), TALLY_ADMIN_TOKEN, TALLY_VIEWER_TOKEN,
//      TALLY_VIEWER_TEAM (default support), OUT_DIR (default tests/browser/out),
//      CHROMIUM (default /usr/bin/chromium).
// Prints one line per check ("ok - ..." / "not ok - ...") and exits 1 when any fails.
// The finance pages expect what tests/browser/run.sh sets up before, over the demo's own
// set-up (platform the one unassigned team): teams support and sales mapped to
// CC-SUPPORT and CC-SALES, a $1 budget for team support (with alerts fired: the budget
// most at risk, shown first) and a budget for workflow contract-review, and a routing
// policy with at least one version.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
// playwright-core is a devDependency of web/package.json (one lockfile for the repo).
const require = createRequire(path.join(repo, 'web', 'package.json'));
const { chromium } = require('playwright-core');

const base = (process.env.TALLY_URL || 'http://127.0.0.1:8080/').replace(/\/?$/, '/');
const adminToken = process.env.TALLY_ADMIN_TOKEN;
const viewerToken = process.env.TALLY_VIEWER_TOKEN;
const viewerTeam = process.env.TALLY_VIEWER_TEAM || 'support';
const outDir = process.env.OUT_DIR || path.join(here, 'out');
if (!adminToken || !viewerToken) {
  console.error('test_dashboard.mjs: set TALLY_ADMIN_TOKEN and TALLY_VIEWER_TOKEN (see tests/browser/run.sh)');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

let failed = 0;
let n = 0;
function check(ok, what, detail) {
  n++;
  if (ok) console.log(`ok ${n} - ${what}`);
  else {
    failed++;
    console.log(`not ok ${n} - ${what}${detail ? ` (${detail})` : ''}`);
  }
  return ok;
}
async function step(what, fn) {
  try {
    const r = await fn();
    if (r === false) return check(false, what);
    if (typeof r === 'string') return check(false, what, r);
    return check(true, what);
  } catch (e) {
    return check(false, what, String(e.message || e).split('\n')[0]);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(15000);

const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push('pageerror: ' + e.message));
// HTTP errors are judged by URL below, not through the console's anonymous
// "Failed to load resource" lines.
page.on('console', (m) => {
  if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) pageErrors.push('console: ' + m.text());
});
const httpErrors = [];
const expected403 = new Set();
const expected404 = new Set();
page.on('response', (r) => {
  const u = new URL(r.url());
  const st = r.status();
  if (st < 400) return;
  if (st === 401 && (u.pathname === '/api/v1/me' || u.pathname === '/api/v1/session')) return; // signed out, bad token
  if (st === 403 && u.searchParams.get('team') === 'sales') return; // the viewer's probe
  if (st === 403 && expected403.has(u.pathname)) return; // the viewer's probes of staff-only reports
  if (st === 404 && expected404.has(u.pathname)) return; // the viewer's probe of another team's call
  httpErrors.push(`${st} ${u.pathname}${u.search}`);
});
const offsite = [];
// (the CSV download is a blob: URL of the page's own origin)
page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('blob:' + base.slice(0, -1))) offsite.push(r.url()); });

const shot = (name) => page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
const settled = (pageName) => page.waitForFunction(
  (p) => document.body.dataset.page === p && !document.body.dataset.loading, pageName);

// Summaries of the Chart.js instances the page exposes on window.__tallyCharts.
const chartInfo = () => page.evaluate(() => {
  const out = {};
  for (const [id, c] of Object.entries(window.__tallyCharts || {})) {
    const canvas = c.canvas;
    let painted = 0;
    if (canvas && canvas.width && canvas.height) {
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < px.length; i += 16) if (px[i]) painted++;
    }
    out[id] = {
      type: c.config.type,
      labels: (c.data.labels || []).map(String),
      datasets: c.data.datasets.map((d) => ({ label: d.label, sum: d.data.reduce((a, v) => a + (Number(v) || 0), 0), n: d.data.length })),
      painted,
    };
  }
  return out;
});
// a request the page is about to make; a step that fails before awaiting it leaves no
// unhandled rejection behind
const nextRequest = (pred) => {
  const p = page.waitForRequest(pred);
  p.catch(() => {});
  return p;
};
const apiJson = (p) => page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).json(), p);
const rowsOf = (sel) => page.$$eval(sel, (rs) => rs.map((r) => [...r.children].map((td) => td.textContent.trim())));
// the rows (or, with part 'tfoot', the totals) of the table in the panel titled `title`
const panelRows = (title, part = 'tbody') => rowsOf(`section.panel:has(h2:text-is("${title}")) table ${part} tr`);
const MONEY = /^-?\$\d[\d,]*\.\d{2,}$/;
const toPico = (s) => { const [i, f = ''] = String(s).split('.'); return BigInt(i) * 10n ** 12n + BigInt((f + '0'.repeat(12)).slice(0, 12)); };
const apiStatus = (p) => page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).status, p);
const hasData = (c) => c && c.datasets.length > 0 && c.datasets.some((d) => d.sum > 0) && c.painted > 0;

async function signIn(token) {
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#topbar:not([hidden])');
  await settled('overview');
}

async function signOut() {
  await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])');
  return apiStatus('/api/v1/me');
}

const thisMonth = new Date().toISOString().slice(0, 7);
const daysBack = (d) => {
  const t = new Date();
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - d * 86400000).toISOString().slice(0, 10);
};

let otherCall = null; // a call the drill-down opened, for the viewer's probe
try {
  await step('the sign-in page loads without a session', async () => {
    await page.goto(base);
    await page.waitForSelector('#signin:not([hidden])');
    await shot('01-signin');
    return (await apiStatus('/api/v1/me')) === 401 || 'GET /api/v1/me was not 401';
  });

  await step('a wrong token is refused with a visible error', async () => {
    await page.fill('#token', 'tly_not_a_real_token');
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#signin-error:not([hidden])');
    return (await page.isVisible('#topbar')) ? 'dashboard shown for a bad token' : true;
  });

  await step('admin signs in and sees role and the team picker with every team', async () => {
    await signIn(adminToken);
    const who = await page.textContent('#who');
    const teams = await page.$$eval('#team option', (o) => o.map((x) => x.value));
    const disabled = await page.$eval('#team', (s) => s.disabled);
    if (!/admin/.test(who)) return `badge says "${who}"`;
    if (disabled) return 'team picker disabled for admin';
    for (const t of ['support', 'sales', 'legal', 'platform', 'marketing']) if (!teams.includes(t)) return `team ${t} missing from picker: ${teams}`;
    return true;
  });

  let overview;
  await step('overview: spend-by-team stacked bar has data for several teams', async () => {
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.spendByTeam);
    await shot('02-overview-admin');
    overview = await chartInfo();
    const c = overview.spendByTeam;
    if (!hasData(c)) return 'no non-zero dataset: ' + JSON.stringify(c);
    if (c.labels.length !== 30) return `expected 30 daily labels, got ${c.labels.length}`;
    return c.datasets.length >= 2 || `only ${c.datasets.map((d) => d.label)}`;
  });
  await step('overview: model mix and tier mix doughnuts have data', async () =>
    (hasData(overview.modelMix) && hasData(overview.tierMix)) || JSON.stringify({ m: overview.modelMix, t: overview.tierMix }));
  await step('overview: month-to-date, last month and quarantine cards, top workflows table', async () => {
    const cards = await page.$$eval('.card .label', (e) => e.map((x) => x.textContent));
    for (const want of ['Month to date', 'Last month', 'Unpriced calls', 'Quarantined events']) if (!cards.includes(want)) return `missing card ${want}: ${cards}`;
    const values = await page.$$eval('.card .value', (e) => e.map((x) => x.textContent));
    if (!values.some((v) => /^\$\d[\d,]*\.\d{2,}$/.test(v) && v !== '$0.00')) return `no money value: ${values}`;
    const rows = await page.$$eval('.panel table tbody tr', (r) => r.length);
    return rows > 0 || 'top workflows table is empty';
  });

  await step('changing the range to 7 days asks for a new range and redraws 7 days', async () => {
    const req = page.waitForRequest((r) => r.url().includes('/api/v1/spend') && r.url().includes('bucket=day') &&
      r.url().includes('from=' + daysBack(6)));
    await page.selectOption('#range', '7d');
    await req;
    await settled('overview');
    const c = (await chartInfo()).spendByTeam;
    await shot('03-overview-7d');
    if (!c) return 'chart missing after range change';
    return c.labels.length === 7 || `labels ${c.labels.length}`;
  });

  await step('a custom range (3 days) redraws with 3 labels', async () => {
    await page.selectOption('#range', 'custom');
    await page.fill('#from', daysBack(2));
    await page.fill('#to', daysBack(0));
    const req = page.waitForRequest((r) => r.url().includes('/api/v1/spend') && r.url().includes('from=' + daysBack(2)));
    await page.click('#apply-range');
    await req;
    await settled('overview');
    const c = (await chartInfo()).spendByTeam;
    return (c && c.labels.length === 3 && c.labels[2] === daysBack(0)) || JSON.stringify(c && c.labels);
  });
  await page.selectOption('#range', '30d');
  await settled('overview');

  await step('overview: provider cost mismatches card and per provider and model panel', async () => {
    // a call whose provider says $1.00 where gpt-4o-mini's price gives $0.00021
    // (1,000 in x $0.15/M + 100 out x $0.60/M): a mismatch beyond rounding
    const ev = { event_id: 'browser-mismatch-1', ts: new Date().toISOString(), team: 'support', workflow: 'ticket-triage',
      task_type: 'classify', provider: 'openai', model: 'gpt-4o-mini', usage: { input_tokens: 1000, output_tokens: 100 },
      provider_cost_usd: '1.00' };
    const st = await page.evaluate(async ([tok, body]) => (await fetch('/api/v1/events', { method: 'POST',
      headers: { Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json' }, body })).status, [adminToken, JSON.stringify(ev)]);
    if (st !== 202 && st !== 200) return `POST /api/v1/events answered ${st}`;
    const q = '/api/v1/mismatches?' + new URLSearchParams({ from: daysBack(29) + 'T00:00:00Z', to: daysBack(-1) + 'T00:00:00Z', format: 'json' });
    let api = null;
    for (let i = 0; i < 60; i++) { // through Kafka and the collector
      api = await apiJson(q);
      if ((api.rows || []).some((x) => x.model === 'gpt-4o-mini' && Number(x.mismatched_calls) > 0)) break;
      await page.waitForTimeout(500);
    }
    if (!(api.rows || []).some((x) => x.model === 'gpt-4o-mini')) return `the API never reported it: ${JSON.stringify(api)}`;
    await page.reload();
    await settled('overview');
    await shot('03b-overview-mismatches');
    const cards = await page.$$eval('.card', (cs) => cs.map((c) => [c.querySelector('.label').textContent, c.querySelector('.value').textContent]));
    const card = cards.find(([l]) => l === 'Provider cost mismatches');
    if (!card) return `no mismatch card: ${JSON.stringify(cards)}`;
    if (card[1] !== Number(api.mismatched_calls).toLocaleString('en-US')) return `card says ${card[1]}, the API ${api.mismatched_calls}`;
    const rows = await panelRows('Provider cost mismatches by provider and model');
    const row = rows.find((r) => r[0] === 'openai' && r[1] === 'gpt-4o-mini');
    if (!row) return `no openai gpt-4o-mini row: ${JSON.stringify(rows)}`;
    return (Number(row[3].replace(/,/g, '')) >= 1 && MONEY.test(row[5])) || `row ${JSON.stringify(row)}`;
  });

  await step('team page (support) shows its daily series and breakdowns', async () => {
    await page.goto(base + '#/team/support');
    await settled('team');
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.teamDaily);
    await shot('04-team-support');
    const info = await chartInfo();
    for (const id of ['teamDaily', 'teamWorkflow', 'teamTask', 'teamModel']) if (!hasData(info[id])) return `${id} has no data`;
    // spend by what the gateway carried: the demo's key aliases and end users
    const keys = await panelRows('By API key');
    if (!keys.some((r) => /-svc$/.test(r[0]))) return `no API key rows: ${JSON.stringify(keys)}`;
    const users = await panelRows('By end user');
    if (!users.some((r) => /^customer-/.test(r[0]))) return `no end user rows: ${JSON.stringify(users)}`;
    return (await page.textContent('#view h1')) === 'Team support' || 'wrong heading';
  });

  await step('a team page leaves the team filter of the other pages alone', async () => {
    // (the team page above showed support in the picker)
    const req = nextRequest((r) => r.url().includes('/api/v1/spend') && r.url().includes('bucket=day'));
    await page.goto(base + '#/overview');
    const u = new URL((await req).url());
    await settled('overview');
    if (u.searchParams.get('team')) return `overview asked for team ${u.searchParams.get('team')}`;
    return (await page.$eval('#team', (s) => s.value)) === '' || 'the picker still shows a team';
  });

  await step('a page that covers every team shows "All teams" in its disabled picker', async () => {
    await page.selectOption('#team', 'sales');
    await settled('overview');
    await page.goto(base + '#/routing');
    await settled('routing');
    const [disabled, value] = await page.$eval('#team', (s) => [s.disabled, s.value]);
    await page.goto(base + '#/overview');
    await settled('overview');
    const back = await page.$eval('#team', (s) => s.value);
    await page.selectOption('#team', '');
    await settled('overview');
    return (disabled && value === '' && back === 'sales') || `disabled ${disabled}, shown "${value}", back on overview "${back}"`;
  });

  await step('overview: costs per call keep four significant digits under $1, like the footer says', async () => {
    const cells = await rowsOf('section.panel:has(h2:text-is("Top workflows")) table tbody tr');
    const col = await page.$$eval('section.panel:has(h2:text-is("Top workflows")) table thead th', (h) => h.map((x) => x.textContent.trim()).indexOf('Cost / call'));
    if (col < 0 || !cells.length) return 'no cost per call column';
    const bad = cells.map((r) => r[col]).filter((v) => !/^\$0\.0*[1-9]\d{1,3}$/.test(v) && !/^\$[1-9][\d,]*\.\d{2}$/.test(v));
    return !bad.length || `cost per call cells ${bad}`;
  });

  await step('workflow page shows spend by task type and tier of that workflow only', async () => {
    const filtered = page.waitForRequest((r) => r.url().includes('/api/v1/spend') &&
      new URL(r.url()).searchParams.get('workflow') === 'ticket-triage');
    await page.goto(base + '#/workflow/ticket-triage');
    const req = new URL((await filtered).url());
    await settled('workflow');
    await shot('05-workflow');
    const info = await chartInfo();
    if (!hasData(info.workflowTask) || !hasData(info.workflowTier)) return JSON.stringify(info);
    // the task-type bars add up to the workflow's own spend, not to every workflow's (the demo
    // keeps adding calls, so the two answers may be a few seconds apart: not exact)
    const bars = await page.evaluate(() =>
      window.__tallyCharts.workflowTask.data.datasets[0].exact.reduce((a, v) => a + v, 0n).toString());
    const all = await page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).json(),
      `/api/v1/spend?from=${encodeURIComponent(req.searchParams.get('from'))}&to=${encodeURIComponent(req.searchParams.get('to'))}&group_by=workflow`);
    const row = (all.rows || []).find((r) => r.workflow === 'ticket-triage');
    if (!row || (all.rows || []).length < 2) return 'the demo has no other workflow: the filter is not tested';
    const own = Number(BigInt(row.cost_usd.replace('.', '')));
    const every = Number(BigInt(all.total.cost_usd.replace('.', '')));
    const got = Number(BigInt(bars));
    return (got > 0.7 * own && got < 1.3 * own && got < 0.9 * every) ||
      `task-type bars sum to ${bars} pico-USD; the workflow costs ${own}, every workflow ${every}`;
  });

  await step('drill-down: a click on a model slice opens the calls of that model, paged; a row opens the call\'s record', async () => {
    await page.goto(base + '#/overview');
    await settled('overview');
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.modelMix);
    // click the first slice through Chart.js's own geometry
    const pt = await page.evaluate(() => {
      const c = window.__tallyCharts.modelMix;
      const a = c.getDatasetMeta(0).data[0].tooltipPosition();
      const r = c.canvas.getBoundingClientRect();
      return { x: r.left + a.x, y: r.top + a.y, model: c.data.labels[0] };
    });
    await page.mouse.click(pt.x, pt.y);
    await page.waitForFunction(() => location.hash.startsWith('#/calls/'));
    await settled('calls');
    await shot('19-calls');
    const filters = await page.textContent('#call-filters');
    if (!filters.includes(`model ${pt.model}`)) return `filters "${filters}" for ${pt.model}`;
    const rows = await rowsOf('#view table tbody tr');
    if (rows.length !== 50 || rows.some((r) => r[4] !== pt.model)) return `${rows.length} rows, models ${[...new Set(rows.map((r) => r[4]))]}`;
    const head = await page.textContent('#view .page-head');
    const next = await page.$('#calls-next[href]');
    if (!next) return 'no next page: ' + head;
    await next.click();
    await settled('calls');
    if (!/offset%3D50|offset=50/.test(await page.evaluate(() => location.hash))) return 'next page lost its offset';
    const rows2 = await rowsOf('#view table tbody tr');
    if (!rows2.length || rows2[0][0] === rows[0][0] && rows2[0][1] === rows[0][1] && rows2[0][9] === rows[0][9]) return 'page 2 repeats page 1';
    await page.click('#view table tbody tr:first-child td:first-child a');
    await settled('call');
    const callId = decodeURIComponent(await page.evaluate(() => location.hash.slice('#/call/'.length)));
    otherCall = { id: callId, team: (await apiJson('/api/v1/call?event_id=' + encodeURIComponent(callId))).call.team };
    await shot('20-call');
    const text = await page.textContent('#view');
    for (const want of ['Price version', 'Cost by component', 'In force from', 'Cache read', pt.model]) if (!text.includes(want)) return `call page lacks "${want}"`;
    if (!/\$\d[\d.]* \/ M tokens/.test(text)) return 'no per-component rates';
    // the stored components add up to the call's cost, to the last digit
    const rec = await apiJson('/api/v1/call?event_id=' + encodeURIComponent(callId));
    const pico = (v) => BigInt(String(v).replace('.', ''));
    if (rec.call.cost_usd !== null && !rec.call.cache_hit) {
      if (!rec.components.length) return 'no components for a priced call';
      const sum = rec.components.reduce((a, x) => a + pico(x.cost_usd), 0n);
      if (sum !== pico(rec.call.cost_usd)) return `components sum to ${sum}, the call costs ${rec.call.cost_usd}`;
    }
    return true;
  });

  await step('quarantine grouped by reason; a reason lists its own events only', async () => {
    await page.goto(base + '#/quarantine');
    await settled('quarantine');
    await page.waitForSelector('section.panel:has(h2:text-is("By reason")) table');
    const groups = await panelRows('By reason');
    if (!groups.length) return 'no groups';
    // (the demo keeps quarantining: compare with the page's own total, not a later answer)
    const foot = (await panelRows('By reason', 'tfoot'))[0] || [];
    if (groups.reduce((a, r) => a + Number(r[1].replace(/,/g, '')), 0) !== Number(String(foot[1]).replace(/,/g, ''))) return 'group counts do not add up to the total: ' + JSON.stringify(foot);
    const firstReason = groups[0][0];
    await page.click('section.panel:has(h2:text-is("By reason")) table tbody tr:first-child a');
    await settled('quarantine');
    await shot('21-quarantine-reason');
    const reason = await page.textContent('#q-reason');
    const items = await rowsOf('#view table tbody tr');
    return (items.length > 0 && reason.includes(firstReason)) || `reason "${reason}", ${items.length} items`;
  });

  await step('quarantine page lists events with reason, topic/partition/offset and raw excerpt', async () => {
    await page.goto(base + '#/quarantine');
    await settled('quarantine');
    await shot('06-quarantine');
    const rows = await page.$$eval('table tbody tr', (r) => r.map((x) => [...x.children].map((td) => td.textContent)));
    if (!rows.length) return 'no rows: ' + (await page.textContent('#view'));
    const [, reason, topic, partition, offset, raw] = rows[0];
    if (!reason || !/^llm\./.test(topic) || !/^\d+$/.test(partition) || !/^\d+$/.test(offset) || !raw) return JSON.stringify(rows[0]);
    return true;
  });

  // ---- finance pages (admin) -----------------------------------------------------
  await step('chargeback: a row per team with $ amounts, totals, this month picked', async () => {
    await page.goto(base + '#/chargeback');
    await settled('chargeback');
    await shot('10-chargeback');
    if ((await page.$eval('#month', (s) => s.value)) !== thisMonth) return 'month picker is not on this month';
    const rows = await panelRows('By team');
    const teams = rows.map((r) => r[1]);
    for (const t of ['support', 'sales', 'legal', 'platform', 'marketing']) if (!teams.includes(t)) return `team ${t} missing: ${teams}`;
    if (!rows.every((r) => MONEY.test(r[7]) && /^\d+\.\d{4}%$/.test(r[8]))) return 'cost/share cells: ' + JSON.stringify(rows[0]);
    if (!rows.some((r) => r[0] === 'CC-SUPPORT' && r[1] === 'support')) return 'support is not under CC-SUPPORT: ' + JSON.stringify(rows);
    const foot = (await panelRows('By team', 'tfoot'))[0] || [];
    if (foot[0] !== 'Total' || !MONEY.test(foot[7]) || foot[8] !== '100.0000%') return 'totals row: ' + JSON.stringify(foot);
    return (await chartInfo()).chargebackCentres ? true : 'no cost-centre chart';
  });

  await step('chargeback: "proportional" shares the unassigned teams\' spend out to the mapped ones', async () => {
    const req = nextRequest((r) => r.url().includes('/api/v1/chargeback') && r.url().includes('share_unassigned=proportional'));
    await page.selectOption('#share-method', 'proportional');
    await req;
    await settled('chargeback');
    await page.waitForFunction(() => location.hash === '#/chargeback/' + document.querySelector('#month').value + '/proportional');
    const rows = await panelRows('By team');
    const shared = Object.fromEntries(rows.map((r) => [r[1], r[6]]));
    if (!/^\$/.test(shared.support) || shared.support === '$0.00') return `support got no share: ${JSON.stringify(shared)}`;
    if (!/^-\$/.test(shared.platform)) return `platform (unassigned) kept its cost: ${JSON.stringify(shared)}`;
    const cost = rows.find((r) => r[1] === 'platform')[7];
    return cost === '$0.00' || `platform still costs ${cost}`;
  });

  await step('chargeback: "Download CSV" downloads the month\'s CSV with the exact header', async () => {
    const dl = page.waitForEvent('download');
    await page.click('#chargeback-csv');
    const d = await dl;
    const text = fs.readFileSync(await d.path(), 'utf8');
    fs.writeFileSync(path.join(outDir, '10-chargeback.csv'), text);
    const lines = text.trim().split('\n');
    if (lines[0] !== 'month,cost_center,team,calls,input_tokens,output_tokens,cost_usd,share_pct') return `header "${lines[0]}"`;
    if (d.suggestedFilename() !== `tally-chargeback-${thisMonth}-proportional.csv`) return `file name ${d.suggestedFilename()}`;
    if (lines.length < 6) return `${lines.length - 1} rows`;
    if (!lines.slice(1).every((l) => l.startsWith(thisMonth + ','))) return 'a row is not this month: ' + lines[1];
    return lines.some((l) => /^[^,]+,CC-SUPPORT,support,\d+,\d+,\d+,\d+\.\d{12},\d+\.\d{4}$/.test(l)) || 'no support row: ' + lines.slice(1, 3);
  });

  await step('budgets: the list, a burn-up with actual, dashed forecast, budget line and alert marks', async () => {
    await page.goto(base + '#/budgets');
    await settled('budgets');
    if (await page.$eval('#team', (t) => t.value)) {
      // the team page above picked team support: back to every team
      const req = nextRequest((r) => r.url().includes('/api/v1/budgets'));
      await page.selectOption('#team', '');
      await req;
      await settled('budgets');
    }
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.budgetBurn);
    await shot('11-budgets');
    const months = (await panelRows('Alert history')).map((r) => r[2]);
    if (months.some((m) => m !== thisMonth)) return `alert history of other months: ${months}`;
    const rows = await panelRows('Budgets');
    if (!rows.some((r) => r[0] === 'team' && r[1] === 'support' && r[2] === '$1.00')) return 'no $1 support budget: ' + JSON.stringify(rows);
    if (!rows.some((r) => r[0] === 'workflow' && r[1] === 'contract-review')) return 'no contract-review budget';
    const burn = await page.evaluate(() => window.__tallyCharts.budgetBurn.data.datasets.map((d) => ({
      label: d.label, dash: (d.borderDash || []).length > 0,
      values: d.data.map((v) => (v && typeof v === 'object' ? v.y : v)).filter((v) => v !== null),
    })));
    const by = Object.fromEntries(burn.map((d) => [d.label, d]));
    const actual = by['Actual spend (cumulative)'];
    if (!actual || !(actual.values[actual.values.length - 1] > 0)) return 'no cumulative actual spend: ' + JSON.stringify(burn.map((d) => d.label));
    if (!by.Budget || !by.Budget.values.every((v) => v === 1)) return 'budget line is not at $1';
    const fc = by['Forecast (recent daily spend)'];
    if (!fc || !fc.dash || !fc.values.length) return 'no dashed forecast line';
    const marks = by['Alerts on actual spend'];
    if (!marks || !marks.values.some((v) => v === 1) || !marks.values.some((v) => v === 0.5)) return 'alert marks at 50% and 100% missing';
    if (!/mean daily spend of the last 7 whole days/.test(await page.textContent('#forecast-method'))) return 'forecast method not shown';
    const alerts = await panelRows('Alert history');
    return alerts.some((r) => r[1] === 'team support' && r[3] === 'actual' && r[4] === '100%') || 'alert history: ' + JSON.stringify(alerts[0]);
  });

  await step('budgets: picking the workflow budget draws that workflow\'s spend', async () => {
    const req = nextRequest((r) => r.url().includes('/api/v1/spend') &&
      new URL(r.url()).searchParams.get('workflow') === 'contract-review' && r.url().includes('bucket=day'));
    await page.click('a:text-is("contract-review")');
    await req;
    await settled('budgets');
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.budgetBurn);
    const h2 = await page.textContent('.panel h2');
    const budget = await page.evaluate(() => window.__tallyCharts.budgetBurn.data.datasets.find((d) => d.label === 'Budget').data[0]);
    return (h2 === 'Burn-up: workflow contract-review' && budget === 1000) || `${h2}, budget ${budget}`;
  });

  await step('outcomes: cost per success by workflow (bars), calls per outcome by tier, the numbers reported apart', async () => {
    await page.goto(base + '#/outcomes');
    await settled('outcomes');
    await shot('12-outcomes');
    const info = await chartInfo();
    if (!hasData(info.outcomeCost) || !hasData(info.outcomeTiers)) return JSON.stringify({ c: info.outcomeCost, t: info.outcomeTiers });
    const rows = await panelRows('Workflows');
    if (!rows.some((r) => r[0] === 'ticket-triage')) return 'no ticket-triage row';
    if (!rows.every((r) => /^\d+\.\d{2}%$/.test(r[3]) && MONEY.test(r[5]))) return 'rate/spend: ' + JSON.stringify(rows[0]);
    if (!rows.some((r) => /^\$0\.\d+$|^\$\d/.test(r[6]) && /(small|medium|large|local) \d+\.\d{2}/.test(r[7]))) return 'cost per success / tiers: ' + JSON.stringify(rows[0]);
    const labels = await page.$$eval('.card .label', (e) => e.map((x) => x.textContent));
    for (const want of ['Outcome never arrived', 'Outcomes with no calls', 'Cost per success']) if (!labels.includes(want)) return `card ${want} missing`;
    return true;
  });

  await step('outcomes: value delivered and return on AI spend by team, workflow and kind, exact against the API', async () => {
    for (const want of ['Value delivered', 'Return on AI spend']) if (!(await page.$$eval('.card .label', (e) => e.map((x) => x.textContent))).includes(want)) return `card ${want} missing`;
    const rows = await panelRows('Value by workflow and outcome kind');
    const kinds = new Set(rows.map((r) => r[2]));
    if (kinds.size < 5) return `only kinds ${[...kinds]}`;
    if (!rows.every((r) => MONEY.test(r[5]) && MONEY.test(r[6]) && /^×\d+\.\d{2}$|^—$/.test(r[9]))) return 'cells: ' + JSON.stringify(rows[0]);
    const teams = await panelRows('Return on AI spend by team');
    if (teams.length < 4) return 'teams: ' + JSON.stringify(teams);
    const q = new URLSearchParams({ from: daysBack(29) + 'T00:00:00Z', to: daysBack(-1) + 'T00:00:00Z' });
    const api = await apiJson('/api/v1/outcomes/value?' + q);
    const t = api.total;
    // return on spend is value / spend to two decimals
    const exact = Number(toPico(t.value_usd) * 100n / toPico(t.spend_usd)) / 100;
    if (Math.abs(exact - Number(t.return_on_spend)) > 0.011) return `return ${t.return_on_spend} vs ${exact}`;
    const sum = api.rows.reduce((a, r) => a + toPico(r.value_usd), 0n);
    return sum === toPico(t.value_usd) || `rows add up to ${sum}, total ${t.value_usd}`;
  });

  await step('waste: stacked breakdown by team and workflow, totals, the over-tier note when the API gives one', async () => {
    const req = nextRequest((r) => r.url().includes('/api/v1/waste'));
    await page.goto(base + '#/waste');
    const q = new URL((await req).url());
    await settled('waste');
    await shot('13-waste');
    const c = (await chartInfo()).wasteBreakdown;
    if (!hasData(c)) return 'no data: ' + JSON.stringify(c);
    const stacks = await page.evaluate(() => window.__tallyCharts.wasteBreakdown.data.datasets.map((d) => d.stack));
    if (!stacks.includes('waste') || !stacks.includes('savings')) return `stacks ${stacks}`;
    const rows = await panelRows('Team and workflow');
    if (rows.length < 5 || !rows.every((r) => MONEY.test(r[2]) && MONEY.test(r[4]))) return 'rows: ' + JSON.stringify(rows[0]);
    const foot = (await panelRows('Team and workflow', 'tfoot'))[0] || [];
    if (foot[0] !== 'Total' || !MONEY.test(foot[10])) return 'totals: ' + JSON.stringify(foot);
    const res = await apiJson(q.pathname + q.search);
    const note = await page.$('#over-tier-note');
    if (res.over_tier_note && !(note && (await note.textContent()).includes(res.over_tier_note))) return 'over-tier note not shown';
    return true;
  });

  await step('routing: tier mix, recommended tier and quality interval per task type, savings, policy history', async () => {
    await page.goto(base + '#/routing');
    await settled('routing');
    await shot('14-routing');
    const info = await chartInfo();
    if (!hasData(info.routingMix)) return 'tier mix chart: ' + JSON.stringify(info.routingMix);
    const policy = await apiJson('/api/v1/routing/policy');
    const tasks = await page.$$eval('.task-policy', (s) => s.map((x) => x.dataset.task));
    if (!policy.task_types.length || tasks.length !== policy.task_types.length) return `${tasks.length} task panels for ${policy.task_types.length} task types`;
    const tierRows = await rowsOf('.task-policy table tbody tr');
    if (!tierRows.some((r) => /\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)/.test(r[5]) && /^\$/.test(r[3]))) return 'tier rows: ' + JSON.stringify(tierRows[0]);
    if (!tierRows.some((r) => r[0].includes('← policy'))) return 'no tier marked as the policy\'s';
    const history = await page.$$eval('details summary', (s) => s.map((x) => x.textContent));
    return history.some((h) => /^v\d+$/.test(h)) || 'no policy version in the history';
  });

  await step('routing: readable: no raw JSON or snake_case labels, no -1 latencies, a page not a scroll of 7,000 px', async () => {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const labels = await page.$$eval('#view th, #view dt, #view h2', (e) => e.map((x) => x.textContent));
    const snake = labels.filter((t) => /\b[a-z]+_[a-z_]+\b/.test(t) && !/^[a-z-]+_[a-z_-]+ →/.test(t));
    const text = await page.textContent('#view');
    if (/\{"/.test(text)) return 'raw JSON on the page';
    if (/(^|\s)-1 \/|\/ -1 ms/.test(text)) return 'a -1 latency';
    if (/cost per call \$/.test(text)) return 'a total shown as a cost per call';
    if (snake.length) return `snake_case labels: ${snake.slice(0, 3)}`;
    return height < 4000 || `page is ${height} px tall`;
  });

  await step('reconcile: drift over time (billed, ledger, drift %) and the rows with their explanation', async () => {
    await page.goto(base + '#/reconcile');
    await settled('reconcile');
    await shot('18-reconcile');
    const c = (await chartInfo()).reconcileDrift;
    if (!hasData(c)) return 'no data: ' + JSON.stringify(c);
    const labels = await page.evaluate(() => window.__tallyCharts.reconcileDrift.data.datasets.map((d) => d.label));
    if (labels.join() !== 'Billed,Ledger,Drift %') return 'datasets ' + labels;
    const rows = await panelRows('Per day, provider, model and team');
    if (!rows.some((r) => r[2] === '(unmatched)' && r[5] === '$0.25' && /Image models/.test(r[10]))) return 'rows: ' + JSON.stringify(rows);
    const foot = (await panelRows('Per day, provider, model and team', 'tfoot'))[0] || [];
    if (foot[0] !== 'Total' || foot[5] !== '$1.75' || !MONEY.test(foot[6])) return 'totals: ' + JSON.stringify(foot);
    return true;
  });

  await step('admin signs out; /api/v1/me is then 401', async () => {
    const st = await signOut();
    await shot('07-signed-out');
    return st === 401 || `me answered ${st}`;
  });

  await step(`viewer signs in bound to team ${viewerTeam}: picker fixed, quarantine hidden`, async () => {
    await page.goto(base + '#/overview');
    await page.waitForSelector('#signin:not([hidden])');
    await signIn(viewerToken);
    const teams = await page.$$eval('#team option', (o) => o.map((x) => x.value));
    const disabled = await page.$eval('#team', (s) => s.disabled);
    const who = await page.textContent('#who');
    if (!disabled || teams.length !== 1 || teams[0] !== viewerTeam) return `picker ${disabled} ${teams}`;
    if (!who.includes(viewerTeam)) return `badge "${who}"`;
    return !(await page.isVisible('#nav-quarantine')) || 'quarantine link visible';
  });

  await step(`viewer overview: every chart legend and row is team ${viewerTeam} only`, async () => {
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.spendByTeam);
    await shot('08-overview-viewer');
    const c = (await chartInfo()).spendByTeam;
    if (!hasData(c)) return 'no data for the viewer';
    const labels = c.datasets.map((d) => d.label);
    if (labels.some((l) => l !== viewerTeam)) return `legend has ${labels}`;
    const body = await page.textContent('#view');
    for (const other of ['sales', 'legal', 'platform', 'marketing'].filter((t) => t !== viewerTeam)) {
      if (new RegExp(`\\b${other}\\b`).test(body)) return `page mentions team ${other}`;
    }
    return true;
  });

  await step('viewer: another team through the address bar is refused, saying so, with a link to their own; API says 403', async () => {
    await page.goto(base + '#/team/sales');
    await settled('team');
    await shot('09-viewer-team');
    const note = await page.$('#not-your-team');
    if (!note || !/viewer key for team support/.test(await note.textContent())) return 'no notice: ' + (await page.textContent('#view'));
    const charts = await chartInfo();
    if (Object.keys(charts).length) return 'charts of their own team drawn anyway';
    if (!(await page.$(`#not-your-team a[href="#/team/${viewerTeam}"]`))) return 'no link to their own page';
    const st = await apiStatus('/api/v1/spend?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=team&team=sales');
    return st === 403 || `spend for sales answered ${st}`;
  });

  await step(`viewer: outcomes of team ${viewerTeam} with their value and return; the API refuses another team`, async () => {
    if (!(await page.isVisible('#nav-outcomes'))) return 'no outcomes link';
    await page.goto(base + '#/outcomes');
    await settled('outcomes');
    await shot('18-viewer-outcomes');
    const rows = await panelRows('Value by workflow and outcome kind');
    if (!rows.length || rows.some((r) => r[0] !== viewerTeam)) return 'rows: ' + JSON.stringify(rows.map((r) => r[0]));
    if (!(await page.$('#value-cards'))) return 'no value cards';
    expected403.add('/api/v1/outcomes/value');
    const st = await apiStatus('/api/v1/outcomes/value?from=2020-01-01&to=2100-01-01&team=sales');
    if (st !== 403) return `value for sales answered ${st}`;
    // the drill-down too: its own team's calls only
    const calls = await apiJson('/api/v1/calls?from=2020-01-01&to=2100-01-01&limit=200');
    if (!calls.items.length || calls.items.some((c) => c.team !== viewerTeam)) return 'calls of other teams';
    if ((await apiStatus('/api/v1/calls?from=2020-01-01&to=2100-01-01&team=sales')) !== 403) return 'calls of sales not refused';
    if (otherCall && otherCall.team !== viewerTeam) {
      expected404.add('/api/v1/call');
      const s2 = await apiStatus('/api/v1/call?event_id=' + encodeURIComponent(otherCall.id));
      if (s2 !== 404) return `another team's call answered ${s2}`;
    }
    return true;
  });

  await step('viewer: no link to routing; it and the all-team outcome report say they need finance or admin; the API says 403', async () => {
    for (const id of ['#nav-routing']) if (await page.isVisible(id)) return `${id} visible`;
    for (const id of ['#nav-chargeback', '#nav-budgets', '#nav-waste']) if (!(await page.isVisible(id))) return `${id} hidden`;
    for (const [hash, name] of [['#/outcomes', 'outcomes'], ['#/routing', 'routing']]) {
      await page.goto(base + hash);
      await settled(name);
      const text = await page.textContent('#view');
      if (!/needs a finance or admin key/.test(text)) return `${hash} says "${text}"`;
    }
    await shot('15-viewer-routing');
    for (const p of ['/api/v1/outcomes', '/api/v1/routing/policy', '/api/v1/routing/history', '/api/v1/routing/savings']) expected403.add(p);
    for (const p of ['/api/v1/outcomes?from=2020-01-01&to=2100-01-01', '/api/v1/routing/policy', '/api/v1/routing/history', '/api/v1/routing/savings']) {
      const st = await apiStatus(p);
      if (st !== 403) return `${p} answered ${st}`;
    }
    return true;
  });

  await step(`viewer: chargeback, budgets and waste show team ${viewerTeam} only`, async () => {
    await page.goto(base + '#/chargeback');
    await settled('chargeback');
    await shot('16-viewer-chargeback');
    const cb = await panelRows('By team');
    if (cb.length !== 1 || cb[0][1] !== viewerTeam) return 'chargeback rows: ' + JSON.stringify(cb);
    await page.goto(base + '#/budgets');
    await settled('budgets');
    const budgets = await panelRows('Budgets');
    if (!budgets.length || budgets.some((r) => r[0] !== 'team' || r[1] !== viewerTeam)) return 'budget rows: ' + JSON.stringify(budgets);
    await page.goto(base + '#/waste');
    await settled('waste');
    await shot('17-viewer-waste');
    const waste = await panelRows('Team and workflow');
    return (waste.length > 0 && waste.every((r) => r[0] === viewerTeam)) || 'waste rows: ' + JSON.stringify(waste.map((r) => r[0]));
  });

  await step('viewer signs out; /api/v1/me is then 401', async () => (await signOut()) === 401);

  check(pageErrors.length === 0, 'no script errors or CSP violations in the console', pageErrors.slice(0, 3).join(' | '));
  check(httpErrors.length === 0, 'no unexpected HTTP errors from the API or assets', httpErrors.slice(0, 3).join(' | '));
  check(offsite.length === 0, 'no request left the tally server (no CDN)', offsite.slice(0, 3).join(' '));
} finally {
  await browser.close();
}
console.log(`${n - failed}/${n} checks passed; screenshots in ${path.relative(process.cwd(), outDir) || outDir}`);
process.exit(failed ? 1 : 0);

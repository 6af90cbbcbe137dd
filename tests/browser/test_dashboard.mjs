// test_dashboard.mjs - drives the dashboard in headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core) against a running tally.
//
// env: TALLY_URL (http://127.0.0.1:PORT/), TALLY_ADMIN_TOKEN, TALLY_VIEWER_TOKEN,
//      TALLY_VIEWER_TEAM (default support), OUT_DIR (default tests/browser/out),
//      CHROMIUM (default /usr/bin/chromium).
// Prints one line per check ("ok - ..." / "not ok - ...") and exits 1 when any fails.
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
page.on('response', (r) => {
  const u = new URL(r.url());
  const st = r.status();
  if (st < 400) return;
  if (st === 401 && (u.pathname === '/api/v1/me' || u.pathname === '/api/v1/session')) return; // signed out, bad token
  if (st === 403 && u.searchParams.get('team') === 'sales') return; // the viewer's probe
  httpErrors.push(`${st} ${u.pathname}${u.search}`);
});
const offsite = [];
page.on('request', (r) => { if (!r.url().startsWith(base)) offsite.push(r.url()); });

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

const daysBack = (d) => {
  const t = new Date();
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - d * 86400000).toISOString().slice(0, 10);
};

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

  await step('team page (support) shows its daily series and breakdowns', async () => {
    await page.goto(base + '#/team/support');
    await settled('team');
    await page.waitForFunction(() => window.__tallyCharts && window.__tallyCharts.teamDaily);
    await shot('04-team-support');
    const info = await chartInfo();
    for (const id of ['teamDaily', 'teamWorkflow', 'teamTask', 'teamModel']) if (!hasData(info[id])) return `${id} has no data`;
    return (await page.textContent('#view h1')) === 'Team support' || 'wrong heading';
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

  await step('viewer: another team through the address bar still shows only their team; API says 403', async () => {
    await page.goto(base + '#/team/sales');
    await settled('team');
    await shot('09-viewer-team');
    const h1 = await page.textContent('#view h1');
    if (h1 !== `Team ${viewerTeam}`) return `heading "${h1}"`;
    const st = await apiStatus('/api/v1/spend?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=team&team=sales');
    return st === 403 || `spend for sales answered ${st}`;
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

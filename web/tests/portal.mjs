// The portal in a real browser: Debian's Chromium driven by Playwright, against jit-local
// serving the built portal (web/dist) beside the API. scripts/test.sh runs it after building
// both; it starts its own jit-local (and, for OIDC sign-in, uses the provider the test script
// started) on free ports and stops them whatever happens.
//
// It walks the product as people would (ask, be granted, release; ask for a two-group bundle;
// two approvers approve from their inbox; read the log and the report), runs axe-core on every
// page (no serious or critical violation allowed), checks each page at 375 px wide (nothing
// wider than the screen), fails on any Content-Security-Policy violation or page error, and
// prints what it measured: the shipped JavaScript and CSS (gzip) and how long each page took
// until it was usable. Those figures are reported, never asserted.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const jitLocal = process.env.JIT_LOCAL_BIN ?? join(root, 'target', 'debug', 'jit-local');
const dist = join(root, 'web', 'dist');
const issuer = process.env.JIT_TEST_OIDC_ISSUER;

const children = [];
const dirs = [];
let browser;
const measured = [];
const problems = [];

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

function fail(message) {
  throw new Error(message);
}

/** jit-local on a free port, serving the portal; resolves with its base URL. */
function startLocal(extra = []) {
  const data = mkdtempSync(join(tmpdir(), 'jit-portal-'));
  dirs.push(data);
  const child = spawn(jitLocal, ['--port', '0', '--in-memory', '--catalog', join(root, 'catalog', 'examples'), '--portal', dist, '--data-dir', data, ...extra], {
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'AWS_ENDPOINT_URL')),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`jit-local did not start: ${seen}`)), 20000);
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/jit-local listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`jit-local exited (${code}): ${seen}`)));
  });
}

async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

/** axe-core on the page as it stands: no serious or critical violation. */
async function accessible(page, what) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    fail(`${what}: ${bad.length} serious or critical accessibility violations:\n${bad.map((v) => `  ${v.id} (${v.impact}): ${v.help}; ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')}`).join('\n')}`);
  }
  return result.violations.length;
}

/** At 375 px: nothing wider than the screen. */
async function fitsPhone(base, path, identity, what) {
  const page = await newPage(375);
  await page.goto(base + '/');
  await page.evaluate((id) => sessionStorage.setItem('jit.identity', JSON.stringify(id)), identity);
  await page.goto(base + path);
  await page.locator('main h1').first().waitFor();
  await page.waitForLoadState('networkidle');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 375) fail(`${what} at 375 px is ${wide} px wide`);
  await page.context().close();
}

/** Opens `path`; how long until its heading showed (the app loaded, signed in, the page drawn)
 *  and until its data had come (no request in flight for half a second, less that half second). */
async function visit(page, base, path, heading) {
  const started = Date.now();
  await page.goto(base + path);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  const drawn = Date.now() - started;
  await page.waitForLoadState('networkidle');
  measured.push([path, drawn, Date.now() - started - 500]);
}

async function pickPerson(page, base, email) {
  // Signing out is the header's button; on the way in, the picker.
  const signOut = page.getByRole('button', { name: 'Sign out' });
  if (await signOut.isVisible().catch(() => false)) await signOut.click();
  else await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Who are you?' }).waitFor();
  await page.getByRole('button', { name: email }).click();
  await page.getByText(email).first().waitFor();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Waits for `text` on the page as it follows changes by itself (no reload). */
async function waitForText(page, text, limitMs = 15000) {
  await page
    .getByText(text)
    .first()
    .waitFor({ timeout: limitMs })
    .catch(() => fail(`never saw "${text}" on ${page.url()}`));
}

async function localMode() {
  const base = await startLocal();
  const page = await newPage();

  // The person picker (no OIDC here), accessible.
  const started = Date.now();
  await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Who are you?' }).waitFor();
  measured.push(['/ (person picker)', Date.now() - started, Date.now() - started]);
  await accessible(page, 'the person picker');
  await page.getByRole('button', { name: 'alice@example.com' }).click();

  // Catalog: search finds the bundle.
  await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor();
  await page.getByLabel('Search bundles').fill('logs');
  await page.getByRole('link', { name: 'api-logs-read' }).waitFor();
  await accessible(page, 'the catalog');
  await page.getByRole('link', { name: 'api-logs-read' }).click();
  await page.getByRole('heading', { name: 'What it grants' }).waitFor();
  if (!(await page.getByText('logs:FilterLogEvents').first().isVisible())) fail('the bundle page shows what it grants');
  await accessible(page, 'a bundle page');

  // Ask: the preview says what will happen before anything is sent.
  await page.getByRole('link', { name: 'Request api-logs-read' }).click();
  await page.getByRole('heading', { name: 'Ask for access' }).waitFor();
  await page.getByLabel('For how long').fill('1h');
  await page.getByLabel('Why you need it').fill('debug 5xx');
  await page.getByText('Granted at once').waitFor();
  if (!(await page.getByText(/permission set would be \d+% full/).isVisible())) fail('the preview shows the room left');
  await accessible(page, 'the request form');
  await page.getByLabel('For how long').fill('30d');
  await page.getByText(/would be refused/).waitFor();
  await page.getByLabel('For how long').fill('1h');
  await page.getByText('Granted at once').waitFor();
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByRole('heading', { name: /api-logs-read/ }).waitFor();
  await waitForText(page, 'How to use it');
  await accessible(page, 'a request page');

  // My access: the live grant with its countdown; release it.
  await visit(page, base, '/mine', 'My access');
  await page.getByText(/left$/).first().waitFor(); // active: followed live, no reload
  await accessible(page, 'my access');
  await page.getByRole('button', { name: 'Release api-logs-read now' }).click();
  await page.getByRole('heading', { name: 'Live grants' }).waitFor();
  await waitForText(page, 'released');

  // A database grant: where to sign in, and a password issued on the requester's press.
  await page.goto(base + '/request?bundle=orders-db-read');
  await page.getByLabel('For how long').fill('1h');
  await page.getByLabel('Why you need it').fill('check an order');
  await page.getByText('Granted at once').waitFor();
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByRole('heading', { name: /orders-db-read/ }).waitFor();
  await waitForText(page, 'jit_alice_example_com');
  await page.getByRole('button', { name: 'Get a password' }).click();
  const password = await page.getByTestId('db-password').textContent();
  if (!password || password.length < 16) fail(`the portal shows the database password (got ${password})`);
  if (!(await page.getByText(/psql 'host=/).isVisible())) fail('the portal shows how to connect with psql');
  await accessible(page, 'a database grant');

  // A two-group bundle: the preview names both groups; two approvers approve from their inbox.
  await pickPerson(page, base, 'carol@example.com');
  await page.goto(base + '/request?bundle=rds-prod-pii');
  await page.getByLabel('For how long').fill('1h');
  await page.getByLabel('Why you need it').fill('INC-7 customer data');
  await page.getByLabel('Ticket (when the flow asks for one)').fill('INC-7');
  await page.getByText(/Needs approval/).waitFor();
  if (!(await page.getByText(/data-dbas.*security/).isVisible())) fail('the preview names whose approval it needs');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByRole('heading', { name: /rds-prod-pii/ }).waitFor();
  const id = page.url().split('/requests/')[1];

  for (const approver of ['dave@example.com', 'erin@example.com']) {
    await pickPerson(page, base, approver);
    await visit(page, base, '/approvals', 'Approvals');
    await page.getByText('carol@example.com asks for').waitFor();
    await page.getByText('Also asked').waitFor();
    await accessible(page, 'the approvals inbox');
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.getByText('Say why you deny it').waitFor();
    await page.getByLabel(/Message to carol/).fill(`ok for INC-7 (${approver})`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText(/Approved: the request is now/).waitFor();
  }
  await pickPerson(page, base, 'carol@example.com');
  await page.goto(`${base}/requests/${id}`);
  await waitForText(page, 'How to use it');

  // An admin ends it from the request's page.
  await pickPerson(page, base, 'frank@example.com');
  await page.goto(`${base}/requests/${id}`);
  await page.getByRole('heading', { name: 'Admin' }).waitFor();
  await accessible(page, 'a request page, as an admin');
  await page.getByRole('button', { name: /Revoke carol/ }).click();
  await page.getByText('Say why you revoke it').waitFor();
  await page.getByLabel('Why you end it').fill('INC-7 closed');
  await page.getByRole('button', { name: /Revoke carol/ }).click();
  await page.locator('.badge', { hasText: 'revoked' }).first().waitFor();

  // Break-glass: grace takes prod-admin at once; the report lists it for review; frank reviews it.
  await pickPerson(page, base, 'grace@example.com');
  await page.goto(base + '/request?bundle=prod-admin');
  await page.getByLabel('Flow', { exact: true }).selectOption('break-glass');
  await page.getByLabel('For how long').fill('30m');
  await page.getByLabel('Why you need it').fill('INC-9 outage');
  await page.getByText(/announced and reviewed afterwards/).waitFor();
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByRole('heading', { name: /prod-admin/ }).waitFor();
  const glass = page.url().split('/requests/')[1];
  await pickPerson(page, base, 'frank@example.com');
  await visit(page, base, '/report', 'Report');
  await page.getByRole('link', { name: glass }).click();
  await page.getByLabel('What the review found').or(page.getByLabel('Why you end it')).fill('used for INC-9 only');
  await page.getByRole('button', { name: 'Record the review' }).click();
  await page.getByRole('button', { name: 'Record the review' }).waitFor({ state: 'detached' });

  // The log and the report.
  await visit(page, base, '/log', 'Log');
  await page.getByRole('cell', { name: 'carol@example.com' }).first().waitFor();
  await page.getByLabel('Status').selectOption('denied');
  await page.getByText('revoked').first().waitFor({ state: 'hidden' }).catch(() => {});
  if ((await page.locator('tbody tr').count()) !== 0) fail('the status filter leaves only denied records (there are none)');
  await page.getByLabel('Status').selectOption('');
  await accessible(page, 'the log');
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const csv = readFileSync(await (await download).path(), 'utf8');
  if (!csv.includes('rds-prod-pii')) fail('the CSV export holds the records');
  await visit(page, base, '/report', 'Report');
  await page.getByRole('img', { name: /Requests per bundle.*rds-prod-pii 1/ }).waitFor();
  await page.getByText('median time to access').waitFor();
  await accessible(page, 'the report');
  await visit(page, base, '/catalog', 'Catalog');

  // The bundle's page lists who asked for it lately, from the public log.
  await page.goto(`${base}/catalog/rds-prod-pii`);
  await page.getByRole('heading', { name: 'Recent requests, by anyone' }).waitFor();
  await page.getByRole('link', { name: 'carol@example.com' }).first().waitFor();

  // Every page at 375 px.
  const carol = { localUser: 'carol@example.com' };
  for (const [path, what] of [['/', 'the catalog'], ['/catalog/rds-prod-pii', 'a bundle page'], ['/request?bundle=rds-prod-pii', 'the request form'], ['/mine', 'my access'], [`/requests/${id}`, 'a request page'], ['/approvals', 'approvals'], ['/log', 'the log'], ['/report', 'the report']]) {
    await fitsPhone(base, path, carol, what);
  }
  await page.context().close();
}

async function oidcMode() {
  if (!issuer) fail('JIT_TEST_OIDC_ISSUER is not set: scripts/test.sh starts the OIDC provider these tests sign in with');
  const base = await startLocal(['--oidc-issuer', issuer, '--oidc-audience', 'urn:jit:api']);
  const page = await newPage();
  await page.goto(base + '/mine');
  await page.getByRole('heading', { name: 'Sign in to jit' }).waitFor();
  await accessible(page, 'the sign-in page');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The provider's own sign-in page, then back to the page we started from.
  await page.getByLabel('Email').fill('grace@example.com');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
  if (!(await page.getByText('grace@example.com').first().isVisible())) fail('signed in as grace');
  if (new URL(page.url()).pathname !== '/mine') fail(`back where sign-in started, not ${page.url()}`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to jit' }).waitFor();
  await page.context().close();
}

function sizes() {
  const assets = join(dist, 'assets');
  let js = 0;
  let css = 0;
  for (const f of readdirSync(assets)) {
    const gz = gzipSync(readFileSync(join(assets, f))).length;
    if (f.endsWith('.js')) js += gz;
    if (f.endsWith('.css')) css += gz;
  }
  return { js, css };
}

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // Headless, and a fresh profile: Playwright makes a new temporary user-data-dir per launch.
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  await localMode();
  await oidcMode();
  if (problems.length) fail(`the browser reported:\n  ${problems.join('\n  ')}`);
  const { js, css } = sizes();
  console.log(`portal: shipped JavaScript ${(js / 1024).toFixed(1)} KiB gzip, CSS ${(css / 1024).toFixed(1)} KiB gzip`);
  for (const [path, drawn, loaded] of measured) console.log(`portal: ${path} drawn after ${drawn} ms, its data in after ${loaded} ms`);
  console.log('portal: every page passed axe-core (no serious or critical violations), fit 375 px, and broke no CSP rule');
} catch (e) {
  console.error(`portal test failed: ${e.message}`);
  if (problems.length) console.error(`the browser reported:\n  ${problems.join('\n  ')}`);
  for (const ctx of browser?.contexts() ?? []) {
    for (const p of ctx.pages()) {
      const shot = join(tmpdir(), `jit-portal-failure-${Date.now()}.png`);
      await p.screenshot({ path: shot, fullPage: true }).catch(() => {});
      console.error(`  the page (${p.url()}) as it was: ${shot}`);
    }
  }
  process.exitCode = 1;
} finally {
  await browser?.close();
  cleanup();
}

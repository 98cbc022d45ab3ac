/**
 * The React example, built for production, in a real browser against a real service: two
 * users who are contacts each open the app in Debian's Chromium (driven by playwright-core)
 * and watch the other come online, switch to BUSY through the status picker, and go offline
 * once their page has closed and the disconnect grace period has passed.
 *
 * Order of things: start the service in-process (grace 1 s) → build the example into a temp dir →
 * serve it with `vite preview`, whose proxy forwards /graphql (HTTP and the graphql-ws
 * upgrade) to the service, so the page talks to its own origin exactly as in development →
 * make the two users contacts with the admin mutation → drive two browser contexts.
 * The screenshot of both pages side by side goes to test-results/presence-two-contacts.png.
 *
 * Skipped (with a message) only when /usr/bin/chromium is missing; `.ci/run` installs it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from '../helpers/ports';
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server';

const execFileAsync = promisify(execFile);

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const ROOT = resolve(__dirname, '..', '..');
const EXAMPLE_DIR = join(ROOT, 'examples', 'react-presence');
const VITE_BIN = join(EXAMPLE_DIR, 'node_modules', 'vite', 'bin', 'vite.js');
const TSC_BIN = join(EXAMPLE_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
const SCREENSHOT_PATH = join(ROOT, 'test-results', 'presence-two-contacts.png');
const GRACE_SECONDS = 1;
/** Generous bound for anything the UI must show; a slow machine waits longer, never fails sooner. */
const UI_TIMEOUT_MS = 20_000;
/** Each page's viewport; the screenshot lays two of them side by side. */
const PAGE_VIEWPORT = { width: 560, height: 400 };

const hasChromium = existsSync(CHROMIUM_PATH);
if (!hasChromium) {
  console.warn(`Skipping the browser test: ${CHROMIUM_PATH} not found (apt-get install -y chromium).`);
}
const describeWithChromium = hasChromium ? describe : describe.skip;

/** Polls `url` until it answers 2xx, or fails naming what did not come up. */
async function waitForHttp(url: string, what: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer ${url} within 60 s:\n${output()}`);
}

/** Starts a child process, keeping its output for error messages. */
function startChild(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

/** Sends SIGTERM and waits for the process to exit (SIGKILL after 5 s). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Signs a token the way the service verifies it: HS256, `sub`, optional `scope`. */
async function mintToken(sub: string, scope?: string): Promise<string> {
  return new SignJWT(scope === undefined ? {} : { scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_SECRET));
}

/** Runs one GraphQL operation over HTTP and fails on any error. */
async function graphqlRequest(url: string, token: string, query: string, variables: object): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body: unknown = await response.json();
  if (!response.ok || (typeof body === 'object' && body !== null && 'errors' in body)) {
    throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(body)}`);
  }
  return body;
}

/** Selector for `userId`'s row in a contact list, optionally in a given status. */
function contactRow(userId: string, status?: string): string {
  const base = `[data-testid="contact"][data-user-id="${userId}"]`;
  return status === undefined ? base : `${base}[data-status="${status}"]`;
}

/**
 * Waits until `page` shows `userId` in `status`. On timeout the error says what the row
 * shows instead (status and version), which tells a UI problem from a server one.
 */
async function waitForContactStatus(page: Page, userId: string, status: string, why: string): Promise<void> {
  try {
    await page.waitForSelector(contactRow(userId, status), { timeout: UI_TIMEOUT_MS });
  } catch (error) {
    const row = await page.$(contactRow(userId));
    const shown = row
      ? `${await row.getAttribute('data-status')} (version ${await row.getAttribute('data-version')})`
      : 'no row at all';
    throw new Error(`${why}: expected ${userId} ${status} within ${UI_TIMEOUT_MS} ms, the page shows ${shown}`, {
      cause: error,
    });
  }
}

describeWithChromium('React example in Chromium: two contacts', () => {
  const runId = randomBytes(4).toString('hex');
  const alice = `alice-${runId}`;
  const bob = `bob-${runId}`;
  const contexts: BrowserContext[] = [];
  let service: TestServer | undefined;
  let preview: { child: ChildProcess; output: () => string } | undefined;
  let browser: Browser | undefined;
  let buildDir: string | undefined;
  let appUrl = '';

  beforeAll(async () => {
    if (!existsSync(VITE_BIN)) {
      // Same as `npm run example` on a fresh clone: the example keeps its own lockfile.
      await execFileAsync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: EXAMPLE_DIR, timeout: 300_000 });
    }
    // In-process service (test/helpers/server.ts): memory backend, TEST_SECRET, and a 1 s
    // grace so "offline after the page closes" is quick to observe.
    service = await startServer({ PRESENCE_DISCONNECT_GRACE_SECONDS: String(GRACE_SECONDS) });

    // Type-check (vite build only strips types) and build the production bundle.
    buildDir = await mkdtemp(join(tmpdir(), 'presence-example-'));
    await execFileAsync(process.execPath, [TSC_BIN, '-p', 'tsconfig.json'], { cwd: EXAMPLE_DIR, timeout: 120_000 });
    // NODE_ENV=production explicitly: jest sets NODE_ENV=test, and Vite would inherit it and
    // bundle React's development build.
    await execFileAsync(process.execPath, [VITE_BIN, 'build', '--outDir', buildDir, '--emptyOutDir', '--logLevel', 'warn'], {
      cwd: EXAMPLE_DIR,
      env: { ...process.env, NODE_ENV: 'production' },
      timeout: 120_000,
    });

    const previewPort = await freePort();
    preview = startChild(
      process.execPath,
      [VITE_BIN, 'preview', '--outDir', buildDir, '--host', '127.0.0.1', '--port', String(previewPort), '--strictPort'],
      { cwd: EXAMPLE_DIR, env: { ...process.env, PRESENCE_URL: service.url } },
    );
    appUrl = `http://127.0.0.1:${previewPort}`;
    await waitForHttp(appUrl, 'vite preview', preview.child, preview.output);

    const admin = await mintToken(`admin-${runId}`, 'presence:admin');
    await graphqlRequest(service.url, admin, 'mutation($u: ID!, $c: [ID!]!) { setContacts(userId: $u, contactIds: $c) }', {
      u: alice,
      c: [bob],
    });

    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  }, 420_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    if (preview) await stopChild(preview.child);
    await service?.stop();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  }, 60_000);

  /** Opens the app as `userId` in a fresh browser context (its own storage, its own device). */
  async function openAs(userId: string): Promise<{ context: BrowserContext; page: Page }> {
    if (!browser) throw new Error('browser not started');
    const context = await browser.newContext({ viewport: PAGE_VIEWPORT });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${appUrl}/?token=${encodeURIComponent(await mintToken(userId))}`);
    await page.waitForSelector(`[data-testid="self"][data-user-id="${userId}"]`, { timeout: UI_TIMEOUT_MS });
    return { context, page };
  }

  /** Picks BUSY with a custom status in the picker and waits until the page shows it. */
  async function pickBusy(page: Page, text: string): Promise<void> {
    await page.selectOption('[data-testid="status-select"]', 'BUSY');
    await page.fill('[data-testid="custom-status-input"]', text);
    await page.click('[data-testid="status-submit"]');
    await page.waitForSelector('[data-testid="self"][data-status="BUSY"]', { timeout: UI_TIMEOUT_MS });
  }

  it('each sees the other come online, turn BUSY and go offline after the page closes', async () => {
    const a = await openAs(alice);
    const b = await openAs(bob);

    // Online: each sees the other's live device (socket + heartbeat).
    await waitForContactStatus(a.page, bob, 'ONLINE', "alice sees bob's tab");
    await waitForContactStatus(b.page, alice, 'ONLINE', "bob sees alice's tab");

    // Status: each picks BUSY with a custom status; the other sees both.
    await pickBusy(b.page, 'In a meeting');
    await waitForContactStatus(a.page, bob, 'BUSY', 'alice sees bob pick BUSY');
    await pickBusy(a.page, 'Deep work');
    await waitForContactStatus(b.page, alice, 'BUSY', 'bob sees alice pick BUSY');
    expect(await a.page.textContent(`${contactRow(bob)} [data-testid="custom-status"]`)).toContain('In a meeting');
    expect(await b.page.textContent(`${contactRow(alice)} [data-testid="custom-status"]`)).toContain('Deep work');

    await mkdir(join(ROOT, 'test-results'), { recursive: true });
    await saveSideBySide([a.page, b.page], SCREENSHOT_PATH);

    // Offline: closing Bob's page closes his socket; after the grace period Alice sees OFFLINE.
    await b.context.close();
    await waitForContactStatus(a.page, bob, 'OFFLINE', `alice sees bob offline ${GRACE_SECONDS} s after his page closed`);

    // And the other way round: Bob comes back (a new tab, a new device), sees Alice still
    // BUSY, then Alice's page closes and Bob sees her go offline.
    const b2 = await openAs(bob);
    await waitForContactStatus(b2.page, alice, 'BUSY', 'bob, back in a new tab, sees alice still BUSY');
    await waitForContactStatus(a.page, bob, 'BUSY', 'alice sees bob back (his preference is still BUSY)');
    await a.context.close();
    await waitForContactStatus(b2.page, alice, 'OFFLINE', `bob sees alice offline ${GRACE_SECONDS} s after her page closed`);
  }, 120_000);

  /** Screenshots each page and lays the images side by side in one PNG. */
  async function saveSideBySide(pages: Page[], path: string): Promise<void> {
    if (!browser) throw new Error('browser not started');
    const shots = await Promise.all(pages.map((page) => page.screenshot({ type: 'png' })));
    // Sized from the PNGs themselves (width and height sit at bytes 16-23 of the IHDR chunk):
    // Chromium's screenshot need not match the viewport to the pixel. Each image gets a gap
    // before it and a 1 px border; one more gap closes the row.
    const gap = 8;
    const sizes = shots.map((png) => ({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) }));
    const viewport = {
      width: sizes.reduce((sum, size) => sum + size.width + 2 + gap, gap),
      height: Math.max(...sizes.map((size) => size.height)) + 2 + 2 * gap,
    };
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const sheet = await context.newPage();
    const images = shots
      .map((png) => `<img style="margin:${gap}px 0 0 ${gap}px;border:1px solid #bbb" src="data:image/png;base64,${png.toString('base64')}">`)
      .join('');
    await sheet.setContent(`<body style="margin:0;background:#ddd;display:flex;align-items:flex-start">${images}</body>`);
    await sheet.screenshot({ path, type: 'png' });
    await context.close();
  }
});

/**
 * The React example, built for production, in a real browser against a real service: two
 * users who are contacts each open the app in Debian's Chromium (driven by playwright-core)
 * and watch the other come online, switch to BUSY through the status picker, and go offline
 * once their page has closed and the disconnect grace period has passed.
 *
 * Order of things: start the service (grace 1 s) → build the example into a temp dir →
 * serve it with `vite preview`, whose proxy forwards /graphql (HTTP and the graphql-ws
 * upgrade) to the service, so the page talks to its own origin exactly as in development →
 * make the two users contacts with the admin mutation → drive two browser contexts.
 * The screenshot of both pages side by side goes to test-results/presence-two-contacts.png.
 *
 * Skipped (with a message) only when /usr/bin/chromium is missing; `.ci/run` installs it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

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

const hasChromium = existsSync(CHROMIUM_PATH);
if (!hasChromium) {
  console.warn(`Skipping the browser test: ${CHROMIUM_PATH} not found (apt-get install -y chromium).`);
}
const describeWithChromium = hasChromium ? describe : describe.skip;

/** A running presence service. */
interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/** Resolves a port that was free a moment ago (for `vite preview`, which needs one up front). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

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

/** Starts the built service (`node dist/src/index.js`) on a free port. */
async function startService(secret: string): Promise<RunningService> {
  const entry = join(ROOT, 'dist', 'src', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const port = await freePort();
  const { child, output } = startChild(process.execPath, [entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      PRESENCE_JWT_SECRET: secret,
      PRESENCE_DISCONNECT_GRACE_SECONDS: String(GRACE_SECONDS),
      REDIS_URL: '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, 'the presence service', child, output);
  return { url, stop: () => stopChild(child) };
}

/**
 * Signs an HS256 JWT the way the service verifies it (`sub`, optional `scope`).
 * node:crypto rather than jose: jose 6 is ESM-only, and jest (ts-jest, CommonJS) cannot
 * require it; HS256 is one HMAC over two base64url segments.
 */
function mintToken(secret: string, sub: string, scope?: string): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub, iat: now, exp: now + 3600, ...(scope === undefined ? {} : { scope }) };
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
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

describeWithChromium('React example in Chromium: two contacts', () => {
  const secret = `browser-test-${randomBytes(12).toString('hex')}`;
  const runId = randomBytes(4).toString('hex');
  const alice = `alice-${runId}`;
  const bob = `bob-${runId}`;
  const contexts: BrowserContext[] = [];
  let service: RunningService | undefined;
  let preview: { child: ChildProcess; output: () => string } | undefined;
  let browser: Browser | undefined;
  let buildDir: string | undefined;
  let appUrl = '';

  beforeAll(async () => {
    if (!existsSync(VITE_BIN)) {
      // Same as `npm run example` on a fresh clone: the example keeps its own lockfile.
      await execFileAsync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: EXAMPLE_DIR, timeout: 300_000 });
    }
    service = await startService(secret);

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

    const admin = mintToken(secret, `admin-${runId}`, 'presence:admin');
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
    const context = await browser.newContext({ viewport: { width: 560, height: 520 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${appUrl}/?token=${encodeURIComponent(mintToken(secret, userId))}`);
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
    await a.page.waitForSelector(contactRow(bob, 'ONLINE'), { timeout: UI_TIMEOUT_MS });
    await b.page.waitForSelector(contactRow(alice, 'ONLINE'), { timeout: UI_TIMEOUT_MS });

    // Status: each picks BUSY with a custom status; the other sees both.
    await pickBusy(b.page, 'In a meeting');
    await a.page.waitForSelector(contactRow(bob, 'BUSY'), { timeout: UI_TIMEOUT_MS });
    await pickBusy(a.page, 'Deep work');
    await b.page.waitForSelector(contactRow(alice, 'BUSY'), { timeout: UI_TIMEOUT_MS });
    expect(await a.page.textContent(`${contactRow(bob)} [data-testid="custom-status"]`)).toContain('In a meeting');
    expect(await b.page.textContent(`${contactRow(alice)} [data-testid="custom-status"]`)).toContain('Deep work');

    await mkdir(join(ROOT, 'test-results'), { recursive: true });
    await saveSideBySide([a.page, b.page], SCREENSHOT_PATH);

    // Offline: closing Bob's page closes his socket; after the grace period Alice sees OFFLINE.
    await b.context.close();
    await a.page.waitForSelector(contactRow(bob, 'OFFLINE'), { timeout: UI_TIMEOUT_MS });

    // And the other way round: Bob comes back (a new tab, a new device), sees Alice still
    // BUSY, then Alice's page closes and Bob sees her go offline.
    const b2 = await openAs(bob);
    await b2.page.waitForSelector(contactRow(alice, 'BUSY'), { timeout: UI_TIMEOUT_MS });
    await a.page.waitForSelector(contactRow(bob, 'BUSY'), { timeout: UI_TIMEOUT_MS });
    await a.context.close();
    await b2.page.waitForSelector(contactRow(alice, 'OFFLINE'), { timeout: UI_TIMEOUT_MS });
  }, 120_000);

  /** Screenshots each page and lays the images side by side in one PNG. */
  async function saveSideBySide(pages: Page[], path: string): Promise<void> {
    if (!browser) throw new Error('browser not started');
    const shots = await Promise.all(pages.map((page) => page.screenshot({ type: 'png' })));
    const context = await browser.newContext({ viewport: { width: 560 * shots.length + 8 * (shots.length + 1), height: 536 } });
    contexts.push(context);
    const sheet = await context.newPage();
    const images = shots
      .map((png) => `<img style="margin:8px 0 0 8px;border:1px solid #ccc" src="data:image/png;base64,${png.toString('base64')}">`)
      .join('');
    await sheet.setContent(`<body style="margin:0;background:#ddd;display:flex">${images}</body>`);
    await sheet.screenshot({ path, type: 'png' });
    await context.close();
  }
});

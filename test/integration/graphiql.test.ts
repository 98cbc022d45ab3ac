import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import express from 'express';

import { landingPageHtml, mountGraphiql, type GraphiqlOptions } from '../../src/http/graphiql';

const projectRoot = path.resolve(__dirname, '..', '..');
const bundleDir = path.join(projectRoot, 'static', 'graphiql');
const CDN_HOSTS = ['cdn.jsdelivr', 'unpkg.com', 'esm.sh'];
const WORKER_FILES = ['editor.worker.js', 'json.worker.js', 'graphql.worker.js'];

interface RunningApp {
  baseUrl: string;
  close(): Promise<void>;
}

async function startGraphiqlApp(options: GraphiqlOptions): Promise<RunningApp> {
  const app = express();
  mountGraphiql(app, options);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Local asset paths the page loads through src= and href= attributes. */
function referencedAssets(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
}

/** The JSON the server injects into <script id="graphiql-config">. */
function pageConfig(html: string): unknown {
  const match = /<script id="graphiql-config" type="application\/json">([^<]*)<\/script>/.exec(html);
  if (!match) throw new Error('no graphiql-config script in the page');
  return JSON.parse(match[1]);
}

function bundleFile(...segments: string[]): string {
  return readFileSync(path.join(bundleDir, ...segments), 'utf8');
}

beforeAll(() => {
  // index.html is written last, so its presence means a complete bundle.
  if (!existsSync(path.join(bundleDir, 'index.html'))) {
    execFileSync(process.execPath, [path.join(projectRoot, 'scripts', 'build-graphiql.mjs')], { cwd: projectRoot, stdio: 'inherit' });
  }
}, 120_000);

describe('GET /graphiql in development', () => {
  let running: RunningApp;
  let html: string;

  beforeAll(async () => {
    running = await startGraphiqlApp({ development: true });
    const response = await fetch(`${running.baseUrl}/graphiql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    html = await response.text();
  });

  afterAll(async () => {
    await running.close();
  });

  it('names no other host, so the page works offline', () => {
    expect(html).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    const assets = referencedAssets(html);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/graphiql\/assets\/[^/]/);
    }
  });

  it('serves every asset the page references', async () => {
    for (const asset of referencedAssets(html)) {
      const response = await fetch(`${running.baseUrl}${asset}`);
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });

  it('serves the fonts the stylesheet references', async () => {
    const css = bundleFile('assets', 'graphiql.css');
    const urls = [...css.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/g)].map((match) => match[1]).filter((url) => !url.startsWith('data:'));
    for (const url of urls) {
      expect(url).not.toMatch(/^(?:https?:)?\/\//);
      const response = await fetch(new URL(url, `${running.baseUrl}/graphiql/assets/graphiql.css`));
      expect({ url, status: response.status }).toEqual({ url, status: 200 });
    }
  });

  it('serves the Monaco workers the bundle starts', async () => {
    const script = bundleFile('assets', 'graphiql.js');
    for (const file of WORKER_FILES) {
      expect(script).toContain(file);
      const response = await fetch(`${running.baseUrl}/graphiql/assets/workers/${file}`);
      expect({ file, status: response.status }).toEqual({ file, status: 200 });
      expect(response.headers.get('content-type')).toMatch(/javascript/);
      await response.arrayBuffer();
    }
  });

  it('prefills the headers editor with a token placeholder', () => {
    expect(pageConfig(html)).toEqual({
      defaultHeaders: JSON.stringify({ Authorization: 'Bearer <paste the output of: npm run token -- alice>' }, null, 2),
    });
    // The placeholder's angle brackets must not be able to close the <script> element.
    expect(html).not.toContain('<paste');
  });

  it('keeps the page to its own origin with a Content-Security-Policy', async () => {
    const response = await fetch(`${running.baseUrl}/graphiql`);
    await response.text();
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});

describe('the GraphiQL bundle', () => {
  it.each([['assets/graphiql.js'], ['assets/graphiql.css'], ...WORKER_FILES.map((file) => [`assets/workers/${file}`])])(
    '%s loads nothing from a CDN',
    (file) => {
      const text = bundleFile(...file.split('/'));
      for (const host of CDN_HOSTS) {
        expect({ file, host, found: text.includes(host) }).toEqual({ file, host, found: false });
      }
    },
  );
});

describe('GET /graphiql in production', () => {
  it('prefills no headers', async () => {
    const running = await startGraphiqlApp({ development: false });
    try {
      const response = await fetch(`${running.baseUrl}/graphiql`);
      expect(response.status).toBe(200);
      expect(pageConfig(await response.text())).toEqual({ defaultHeaders: '' });
    } finally {
      await running.close();
    }
  });
});

describe('GET /graphiql without a bundle', () => {
  it('answers 503 and says to run npm run build', async () => {
    const emptyDir = mkdtempSync(path.join(tmpdir(), 'graphiql-missing-'));
    const running = await startGraphiqlApp({ development: true, bundleDir: emptyDir });
    try {
      const response = await fetch(`${running.baseUrl}/graphiql`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('npm run build');
    } finally {
      await running.close();
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});

describe('landingPageHtml', () => {
  it('links to GraphiQL', () => {
    expect(landingPageHtml()).toContain('href="/graphiql"');
  });
});

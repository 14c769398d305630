// Shared by the JS-level tests and benchmarks: a static file server for the
// repository (the built package, Dexie from node_modules, the harness page)
// and headless Chromium through playwright-core.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".map": "application/json",
};

/** Serves `root` (default: the repository) read-only on a free loopback port. */
export async function startServer(root = ROOT) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const file = join(root, path);
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(await readFile(file));
    } catch {
      res.writeHead(404).end(`not found: ${path}`);
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Headless Debian Chromium with the flags this closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic",
    ],
  });
}

/** Opens the harness page, with fieldsync initialised, Dexie loaded, and
 * browser console errors forwarded to the test output. */
export async function openHarness(context, base) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("[page error]", e.message));
  page.on("console", (m) => {
    if (m.type() === "error") console.error("[page console]", m.text());
  });
  await page.goto(`${base}/tests/js/harness.html`);
  await page.waitForFunction(() => window.harnessReady === true || window.harnessError);
  const error = await page.evaluate(() => window.harnessError);
  if (error) throw new Error(`harness failed to load: ${error}`);
  return page;
}

/** A fieldsync-server process of the test's own (development mode), which
 * the test may kill and restart on the same port and SQLite file; `extraEnv`
 * adds settings (e.g. FIELDSYNC_STATIC_DIR). */
export async function spawnSyncServer(extraEnv = {}) {
  const bin = process.env.FIELDSYNC_SERVER_BIN;
  if (!bin) throw new Error("FIELDSYNC_SERVER_BIN is not set: run the tests through scripts/with-server");
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-e2e-"));
  const probe = createServer();
  await new Promise((ok) => probe.listen(0, "127.0.0.1", ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  const url = `http://127.0.0.1:${port}`;
  let child;
  const start = async () => {
    child = spawn(bin, [], {
      env: { ...process.env, FIELDSYNC_DEV: "1", PORT: String(port), DATABASE_URL: join(dir, "e2e.sqlite"), JWT_SECRET: "e2e-secret", RUST_LOG: "warn", ...extraEnv },
      stdio: "ignore",
    });
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${url}/health`)).ok) return;
      } catch {}
      await new Promise((ok) => setTimeout(ok, 50));
    }
    throw new Error("the sync server did not start");
  };
  await start();
  return {
    url,
    start,
    kill: () => new Promise((ok) => { child.once("exit", ok); child.kill("SIGKILL"); }),
    stop: async () => {
      if (child.exitCode === null) await new Promise((ok) => { child.once("exit", ok); child.kill("SIGTERM"); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

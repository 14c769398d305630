// The npm package as a user gets it: `npm pack` of pkg/ (scripts/build-pkg),
// installed into a fresh project, resolved through its `exports`, and run in
// headless Chromium.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, launchBrowser, spawnSyncServer, startServer } from "./support.mjs";

let project;
let tarball;

before(() => {
  const pkg = join(ROOT, "pkg");
  assert.ok(existsSync(join(pkg, "package.json")), "pkg/ is missing: run scripts/build-pkg first");
  project = mkdtempSync(join(tmpdir(), "fieldsync-consumer-"));
  const out = execFileSync("npm", ["pack", pkg, "--pack-destination", project, "--json"], { encoding: "utf8" });
  const [packed] = JSON.parse(out);
  tarball = packed;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  writeFileSync(join(project, "index.html"), "<!doctype html><title>consumer</title>");
  execFileSync("npm", ["install", `./${packed.filename}`, "--no-audit", "--no-fund", "--prefer-offline"], { cwd: project, stdio: "ignore" });
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

test("the tarball holds both builds, the types and the README, and nothing else", () => {
  const files = tarball.files.map((f) => f.path).sort();
  for (const needed of ["package.json", "README.md", "web/fieldsync.js", "web/fieldsync_bg.wasm", "web/fieldsync.d.ts", "bundler/fieldsync.js", "bundler/fieldsync_bg.wasm", "bundler/fieldsync.d.ts"]) {
    assert.ok(files.includes(needed), `${needed} is in the tarball`);
  }
  assert.ok(files.every((f) => f === "package.json" || f === "README.md" || f.startsWith("web/") || f.startsWith("bundler/")), files.join(", "));
  assert.ok(files.some((f) => f.includes("snippets/")), "the JS snippets ship too");
});

test("exports resolve to the web build by default and to the bundler build on request", () => {
  const resolve = (specifier) =>
    execFileSync("node", ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`], { cwd: project, encoding: "utf8" }).trim();
  const at = (specifier) => relative(project, fileURLToPath(resolve(specifier)));
  assert.equal(at("fieldsync"), join("node_modules", "fieldsync", "web", "fieldsync.js"));
  assert.equal(at("fieldsync/bundler"), join("node_modules", "fieldsync", "bundler", "fieldsync.js"));
  assert.ok(readdirSync(join(project, "node_modules", "fieldsync", "web")).includes("fieldsync_bg.wasm"));
});

test("the installed package runs in Chromium", async () => {
  const files = await startServer(project);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${files.url}/index.html`);
    const out = await page.evaluate(async () => {
      const { default: init, SyncClient } = await import("/node_modules/fieldsync/web/fieldsync.js");
      await init();
      const client = await SyncClient.open({ dbName: "installed", version: 1, schema: { todos: "id, done" } });
      await client.put("todos", { id: "t1", title: "from the installed package", done: 0 });
      return { count: await client.count("todos"), pending: await client.pendingCount(), stores: Object.keys(SyncClient.dexieStores()) };
    });
    assert.deepEqual(out, { count: 1, pending: 1, stores: ["_changes", "_fieldsync_state", "_fieldsync_meta"] });
  } finally {
    await browser.close();
    await files.close();
  }
});

test("a strict TypeScript consumer type-checks against the published types", () => {
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: "ES2022", module: "ESNext",
      moduleResolution: "Bundler", lib: ["ES2022", "DOM"], skipLibCheck: false,
    },
    files: ["consumer.ts"],
  }));
  writeFileSync(join(project, "consumer.ts"), `
import init, { SyncClient, type Row, type ChangeEvent, type SyncResult, type Conflict, type FailedChange } from "fieldsync";
await init();
const client: SyncClient = await SyncClient.open({
  dbName: "app", version: 1, schema: { todos: "id, done" },
  serverUrl: "http://localhost:3050", appId: "todo", getToken: async () => "token",
});
const key = await client.put("todos", { id: "t1", title: "Buy milk", done: 0 });
const updated: number = await client.update("todos", key, { title: "Buy eggs" });
const row: Row | undefined = await client.get("todos", "t1");
const rows: Row[] = await client.query("todos", { index: "done", equals: 0, limit: 10 });
const result: SyncResult = await client.sync();
const conflicts: Conflict[] = result.conflicts;
const off: () => void = client.on("change", (e: ChangeEvent) => console.log(e.tables));
off();
// Each event's listener gets that event's payload.
client.on("status", (e) => { const s: "idle" | "syncing" | "offline" | "error" = e.status; console.log(s); });
client.on("failed", (e) => { const f: FailedChange[] = e.failed; console.log(f[0]?.message); });
client.setConflictResolver("todos", ({ local, remote }) => (remote ? { ...remote, ...local } : "local"));
const status: "idle" | "syncing" | "offline" | "error" = client.status;
const stores: Record<string, string> = SyncClient.dexieStores();
const failed: FailedChange[] = await client.failedChanges();
const retried: number = await client.retryFailed();
const discarded: boolean = await client.discardFailed("todos", "t1");
console.log(updated, row, rows, conflicts, status, stores, failed, retried, discarded, result.failed);

// Typed tables, as with Dexie's EntityTable: records in and out are Todos.
interface Todo { id: string; title: string; done: 0 | 1 }
const typed: SyncClient<{ todos: Todo }> = await SyncClient.open<{ todos: Todo }>({
  dbName: "typed", version: 1, schema: { todos: "id, done" },
});
await typed.put("todos", { id: "t1", title: "Buy milk", done: 0 });
const todo: Todo | undefined = await typed.get("todos", "t1");
const todos: Todo[] = await typed.query("todos", { index: "done", equals: 0 });
const all: Todo[] = await typed.getAll("todos");
await typed.update("todos", "t1", { done: 1 });
typed.setConflictResolver("todos", ({ local, remote }) => (remote ? { ...remote, title: local.title ?? remote.title } : "remote"));
console.log(todo?.title, todos.length, all.length);

// The types are precise, not \`any\`: each of these must be a type error.
// @ts-expect-error table names are strings
await client.put(42, { id: "x" });
// @ts-expect-error records hold JSON values, not functions
await client.put("todos", { id: "x", f: () => 1 });
// @ts-expect-error event names are checked
client.on("nope", () => {});
// @ts-expect-error a status listener gets a StatusEvent, which has no tables
client.on("status", (e) => console.log(e.tables));
// @ts-expect-error durability is one of three words
await SyncClient.open({ dbName: "a", version: 1, schema: {}, durability: "fast" });
// @ts-expect-error a typed table takes its own records
await typed.put("todos", { id: "t2", title: 3, done: 0 });
// @ts-expect-error and only its tables
await typed.get("notes", "n1");
// @ts-expect-error done is 0 or 1
await typed.update("todos", "t1", { done: 2 });
`);
  try {
    execFileSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", project], { encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc reported errors:\n${e.stdout}`);
  }
});

test("the published .d.ts matches the golden file (API changes are deliberate)", () => {
  const golden = join(ROOT, "tests", "golden", "fieldsync.d.ts");
  // The raw wasm exports (InitOutput) name closure shims by a hash of the
  // code, which changes with any edit, and list them in the order of those
  // hashes: the API is neither the hash nor that order.
  const unhash = (text) => {
    const lines = text.replace(/__h[0-9a-f]{16}/g, "__h<hash>").split("\n");
    const shim = (line) => line.includes("__invoke__h<hash>");
    const shims = lines.filter(shim).sort();
    return lines.map((line) => (shim(line) ? shims.shift() : line)).join("\n");
  };
  const published = unhash(readFileSync(join(project, "node_modules", "fieldsync", "web", "fieldsync.d.ts"), "utf8"));
  if (process.env.FIELDSYNC_BLESS === "1") writeFileSync(golden, published);
  const expected = unhash(readFileSync(golden, "utf8"));
  if (published !== expected) {
    let diff = "";
    try {
      execFileSync("diff", ["-u", golden, "-"], { input: published, encoding: "utf8" });
    } catch (e) {
      diff = e.stdout;
    }
    assert.fail(
      "The public TypeScript API changed. If that is intended, update the golden file with\n" +
      "  FIELDSYNC_BLESS=1 scripts/with-server node --test tests/js/package.test.mjs\n" +
      `and commit tests/golden/fieldsync.d.ts with the change.\n${diff}`,
    );
  }
});

test("a fresh Vite 7 app builds with the package and syncs in Chromium", async () => {
  const app = join(project, "vite-app");
  mkdirSync(app);
  writeFileSync(join(app, "index.html"), `<!doctype html><title>vite consumer</title><script type="module" src="/main.js"></script>`);
  // What a user writes: the bare import, the default init(), nothing about
  // where the .wasm lives (Vite finds it through new URL(…, import.meta.url)).
  writeFileSync(join(app, "main.js"), `
import init, { SyncClient } from "fieldsync";
window.roundTrip = async (serverUrl, token) => {
  await init();
  const options = { version: 1, schema: { todos: "id, done" }, serverUrl, appId: "vite", token };
  const a = await SyncClient.open({ ...options, dbName: "vite-a" });
  const b = await SyncClient.open({ ...options, dbName: "vite-b" });
  await a.put("todos", { id: "v1", title: "built by Vite", done: 0 });
  const pushed = (await a.sync()).pushed;
  await b.sync();
  return { pushed, atB: await b.get("todos", "v1"), wasm: performance.getEntriesByType("resource").map((r) => r.name).filter((n) => n.endsWith(".wasm")).length };
};
window.appReady = true;
`);
  const vite = join(ROOT, "node_modules", "vite", "bin", "vite.js");
  const version = execFileSync("node", [vite, "--version"], { encoding: "utf8" });
  assert.match(version, /^vite\/7\./, version);
  execFileSync("node", [vite, "build", "--logLevel", "warn"], { cwd: app, encoding: "utf8" });
  const assets = readdirSync(join(app, "dist", "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `Vite emitted the wasm as an asset: ${assets.join(", ")}`);

  const sync = await spawnSyncServer();
  const files = await startServer(join(app, "dist"));
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${files.url}/index.html`);
    await page.waitForFunction(() => window.appReady === true);
    const out = await page.evaluate(async (url) => {
      const { token } = await (await fetch(`${url}/dev/token`, { method: "POST", body: JSON.stringify({ user: "vite" }) })).json();
      return window.roundTrip(url, token);
    }, sync.url);
    assert.deepEqual(out, { pushed: 1, atB: { id: "v1", title: "built by Vite", done: 0 }, wasm: 1 });
  } finally {
    await browser.close();
    await files.close();
    await sync.stop();
  }
});

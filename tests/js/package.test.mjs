// The npm package as a user gets it: `npm pack` of pkg/ (scripts/build-pkg),
// installed into a fresh project, resolved through its `exports`, and run in
// headless Chromium.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, launchBrowser, startServer } from "./support.mjs";

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
import init, { SyncClient, type Row, type ChangeEvent, type SyncResult, type Conflict } from "fieldsync";
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
const off: () => void = client.on("change", (e) => console.log((e as ChangeEvent).tables));
off();
client.setConflictResolver("todos", ({ local, remote }) => (remote ? { ...remote, ...local } : "local"));
const status: "idle" | "syncing" | "offline" | "error" = client.status;
const stores: Record<string, string> = SyncClient.dexieStores();
console.log(updated, row, rows, conflicts, status, stores);
// The types are precise, not \`any\`: each of these must be a type error.
// @ts-expect-error table names are strings
await client.put(42, { id: "x" });
// @ts-expect-error records hold JSON values, not functions
await client.put("todos", { id: "x", f: () => 1 });
// @ts-expect-error event names are checked
client.on("nope", () => {});
// @ts-expect-error durability is one of three words
await SyncClient.open({ dbName: "a", version: 1, schema: {}, durability: "fast" });
`);
  try {
    execFileSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", project], { encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc reported errors:\n${e.stdout}`);
  }
});

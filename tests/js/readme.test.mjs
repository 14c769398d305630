// Every ```js example of README.md, run as written in headless Chromium
// against a real fieldsync-server: each in a fresh browser context, with
// "fieldsync" and "dexie" resolved by an import map to the built package and
// to Dexie from npm, and http://localhost:3050 (the demo server) pointed at
// the test's server. An example passes when it runs to the end without an
// error and logs, in order, what its `// → …` comments say.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, launchBrowser, spawnSyncServer, startServer } from "./support.mjs";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const examples = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m, i) => ({
  code: m[1],
  line: readme.slice(0, m.index).split("\n").length + 1,
  name: `README example ${i + 1}`,
}));
const PAGES = join(ROOT, "target", "readme-examples");

let files;
let browser;
let server;

before(async () => {
  mkdirSync(PAGES, { recursive: true });
  files = await startServer();
  browser = await launchBrowser();
  server = await spawnSyncServer();
});

after(async () => {
  await browser?.close();
  await files?.close();
  await server?.stop();
});

test("the README has JS examples to run", () => {
  assert.ok(examples.length >= 4, `found ${examples.length}`);
});

/** `// → 1 2 — explanation` → "1 2". */
function expectations(code) {
  return [...code.matchAll(/\/\/ → (.*)$/gm)].map((m) => m[1].split(" — ")[0].trim());
}

for (const example of examples) {
  test(`${example.name} (README.md line ${example.line}) runs and logs what it says`, async () => {
    const code = example.code.replaceAll("http://localhost:3050", server.url);
    const page = `example-${example.line}.html`;
    writeFileSync(join(PAGES, page), `<!doctype html>
<script type="importmap">{ "imports": {
  "fieldsync": "/pkg/web/fieldsync.js",
  "dexie": "/node_modules/dexie/dist/dexie.mjs"
} }</script>
<script>
  addEventListener("error", (e) => { window.exampleError = String(e.error?.stack ?? e.message); });
  addEventListener("unhandledrejection", (e) => { window.exampleError = String(e.reason?.stack ?? e.reason); });
</script>
<script type="module">
${code}
window.exampleDone = true;
</script>`);
    const context = await browser.newContext();
    const logs = [];
    try {
      const tab = await context.newPage();
      tab.on("console", (m) => logs.push(m.text()));
      await tab.goto(`${files.url}/target/readme-examples/${page}`);
      await tab.waitForFunction(() => window.exampleDone || window.exampleError, null, { timeout: 15000 });
      const error = await tab.evaluate(() => window.exampleError);
      assert.equal(error, undefined, `the example threw:\n${error}`);
      let from = 0;
      for (const expected of expectations(code)) {
        const at = logs.indexOf(expected, from);
        assert.ok(at >= 0, `expected the log line ${JSON.stringify(expected)}; logged (in order):\n${logs.join("\n")}`);
        from = at + 1;
      }
    } finally {
      await context.close();
    }
  });
}

// Sync in headless Chromium against real fieldsync-server processes: offline
// and back, a tab closed in the middle of a push, the server killed in the
// middle of a sync, and user callbacks that throw.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, openHarness, spawnSyncServer, startServer } from "./support.mjs";

let files;
let browser;
let server;

before(async () => {
  files = await startServer();
  browser = await launchBrowser();
  server = await spawnSyncServer();
});

after(async () => {
  await browser?.close();
  await files?.close();
  await server?.stop();
});

/** A device: a browser context (its own IndexedDB) with a client open. */
async function device(user, options = {}) {
  const context = await browser.newContext();
  const page = await openHarness(context, files.url);
  await page.evaluate(async ({ url, user, options }) => {
    const { token } = await (await fetch(`${url}/dev/token`, { method: "POST", body: JSON.stringify({ user }) })).json();
    window.client = await SyncClient.open({
      dbName: "e2e", version: 1, schema: { todos: "id, done" },
      serverUrl: url, appId: "e2e", token, ...options,
    });
  }, { url: server.url, user, options });
  return { context, page };
}

const ids = (page) => page.evaluate(async () => (await client.getAll("todos")).map((r) => r.id).sort());

test("writes made offline sync once the browser is back online", async () => {
  const user = `offline-${Date.now()}`;
  const a = await device(user);
  const b = await device(user);
  await a.page.evaluate(() => client.start());
  await b.page.evaluate(() => client.start());
  await b.page.evaluate(() => until(() => client.live, 5000, "B's socket"));
  await a.context.setOffline(true);
  await a.page.evaluate(async () => {
    for (const id of ["o1", "o2", "o3"]) await client.put("todos", { id, done: 0 });
  });
  await a.page.waitForTimeout(300);
  assert.equal(await a.page.evaluate(() => client.pendingCount()), 3, "still pending while offline");
  assert.deepEqual(await ids(b.page), [], "B has none of them yet");
  await a.context.setOffline(false);
  await b.page.evaluate(() => until(async () => (await client.count("todos")) === 3, 10000, "A's offline writes at B"));
  assert.deepEqual(await ids(b.page), ["o1", "o2", "o3"]);
  assert.equal(await a.page.evaluate(() => client.pendingCount()), 0);
  await a.context.close();
  await b.context.close();
});

test("a tab closed in the middle of a push, reopened, converges with no loss", async () => {
  const user = `closed-${Date.now()}`;
  const a = await device(user);
  await a.page.evaluate(async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ id: `c${i}`, done: i % 2 }));
    await client.bulkPut("todos", records);
    client.sync().catch(() => {}); // left running
  });
  await a.page.waitForTimeout(150);
  await a.page.close();
  const reopened = await openHarness(a.context, files.url);
  const report = await reopened.evaluate(async ({ url, user }) => {
    const { token } = await (await fetch(`${url}/dev/token`, { method: "POST", body: JSON.stringify({ user }) })).json();
    window.client = await SyncClient.open({ dbName: "e2e", version: 1, schema: { todos: "id, done" }, serverUrl: url, appId: "e2e", token });
    const report = await client.sync();
    return { ...report, pending: await client.pendingCount() };
  }, { url: server.url, user });
  assert.equal(report.pending, 0);
  const b = await device(user);
  const pulled = await b.page.evaluate(async () => (await client.sync()).pulled);
  assert.equal(pulled, 3000, "every record reached the server, each once");
  assert.equal((await ids(b.page)).length, 3000);
  await a.context.close();
  await b.context.close();
});

test("the server killed in the middle of a sync and restarted: the next sync completes, nothing lost", async () => {
  const user = `killed-${Date.now()}`;
  const a = await device(user);
  const failed = a.page.evaluate(async () => {
    const records = Array.from({ length: 5000 }, (_, i) => ({ id: `k${i}`, done: 0 }));
    await client.bulkPut("todos", records);
    try {
      await client.sync();
      return null;
    } catch (e) {
      return e.name;
    }
  });
  await a.page.waitForTimeout(200);
  await server.kill();
  const error = await failed;
  await server.start();
  const report = await a.page.evaluate(async () => {
    const report = await client.sync();
    return { ...report, pending: await client.pendingCount() };
  });
  assert.equal(report.pending, 0, "everything pushed after the restart");
  const b = await device(user);
  assert.equal(await b.page.evaluate(async () => (await client.sync()).pulled), 5000);
  // The kill may land after the sync finished on a fast machine; when it
  // landed during it, the failure was a NetworkError.
  assert.ok(error === null || error === "NetworkError", `unexpected error ${error}`);
  await a.context.close();
  await b.context.close();
});

test("user callbacks that throw never break sync", async () => {
  const a = await device(`throws-${Date.now()}`);
  const report = await a.page.evaluate(async () => {
    for (const event of ["change", "status", "progress", "conflict"]) {
      client.on(event, () => { throw new Error(`listener of ${event} failed`); });
    }
    await client.put("todos", { id: "t", done: 0 });
    const report = await client.sync();
    return { ...report, status: client.status, pending: await client.pendingCount() };
  });
  assert.equal(report.pushed, 1);
  assert.equal(report.pending, 0);
  assert.equal(report.status, "idle");
  await a.context.close();
});

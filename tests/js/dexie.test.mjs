// fieldsync and the real Dexie 4 (and dexie-observable) on one IndexedDB
// database, in headless Chromium. Run: node --test tests/js/ (after
// scripts/build-web).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, openHarness, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A fresh browser profile (its own IndexedDB) with the harness loaded. */
async function freshPage() {
  const context = await browser.newContext();
  const page = await openHarness(context, server.url);
  return { context, page };
}

test("Dexie opens a fieldsync database with the same schema without an upgrade and queries it by index", async () => {
  const { context, page } = await freshPage();
  const out = await page.evaluate(async () => {
    const schema = { todos: "id, done, [owner+done], *tags, address.city" };
    const client = await SyncClient.open({ dbName: "compat", version: 1, schema });
    await client.bulkPut("todos", [
      { id: "a", done: 0, owner: "ann", tags: ["x", "y"], address: { city: "Oslo" } },
      { id: "b", done: 1, owner: "ann", tags: ["y"], address: { city: "Bergen" } },
      { id: "c", done: 0, owner: "bob", tags: [], address: { city: "Oulu" } },
    ]);
    await client.close();

    const results = {};
    for (const [label, stores] of [
      ["appSchemaOnly", schema],
      ["withFragment", { ...SyncClient.dexieStores(), ...schema }],
    ]) {
      const db = new Dexie("compat");
      let upgraded = false;
      db.version(1).stores(stores).upgrade(() => { upgraded = true; });
      await db.open();
      const todos = db.table("todos");
      results[label] = {
        upgraded,
        verno: db.verno,
        idbVersion: db.backendDB().version,
        stores: [...db.backendDB().objectStoreNames].sort(),
        notDone: (await todos.where("done").equals(0).primaryKeys()).sort(),
        annDone: await todos.where("[owner+done]").equals(["ann", 1]).primaryKeys(),
        taggedY: (await todos.where("tags").equals("y").primaryKeys()).sort(),
        cityO: (await todos.where("address.city").startsWith("O").primaryKeys()).sort(),
      };
      db.close();
    }
    return results;
  });
  for (const label of ["appSchemaOnly", "withFragment"]) {
    const r = out[label];
    assert.equal(r.upgraded, false, `${label}: Dexie ran no upgrade`);
    assert.equal(r.idbVersion, 10, `${label}: IndexedDB version unchanged`);
    assert.equal(r.verno, 1);
    assert.deepEqual(r.stores, ["_changes", "_fieldsync_meta", "_fieldsync_state", "todos"]);
    assert.deepEqual(r.notDone, ["a", "c"]);
    assert.deepEqual(r.annDone, ["b"]);
    assert.deepEqual(r.taggedY, ["a", "b"]);
    assert.deepEqual(r.cityO, ["a", "c"]);
  }
  await context.close();
});

test("a Dexie liveQuery re-runs after a fieldsync write and after a remote apply, in this tab and another", async () => {
  const { context, page } = await freshPage();
  const other = await openHarness(context, server.url);
  const watch = async (p) =>
    p.evaluate(async () => {
      const schema = { todos: "id, done" };
      const db = new Dexie("live");
      db.version(1).stores({ ...SyncClient.dexieStores(), ...schema });
      window.seen = [];
      liveQuery(() => db.table("todos").where("done").equals(0).count()).subscribe((n) => window.seen.push(n));
    });
  await page.evaluate(async () => {
    window.client = await SyncClient.open({ dbName: "live", version: 1, schema: { todos: "id, done" } });
  });
  await watch(page);
  await watch(other);
  const last = (p) => p.evaluate(() => window.seen.at(-1));
  await page.evaluate(() => until(() => window.seen.length > 0, 5000, "first liveQuery result"));
  assert.equal(await last(page), 0);

  await page.evaluate(() => client.put("todos", { id: "a", done: 0 }));
  for (const p of [page, other]) {
    await p.evaluate(() => until(() => window.seen.at(-1) === 1, 5000, "liveQuery after a local write"));
  }
  await page.evaluate(() =>
    client.applyRemoteChanges([
      { table: "todos", id: "b", op: "insert", fields: {
        id: { value: "b", updatedAt: "2030-01-01T00:00:00Z" },
        done: { value: 0, updatedAt: "2030-01-01T00:00:00Z" } } },
    ]),
  );
  for (const p of [page, other]) {
    await p.evaluate(() => until(() => window.seen.at(-1) === 2, 5000, "liveQuery after a remote apply"));
  }
  assert.equal(await last(other), 2);
  await context.close();
});

test("an app that spreads fieldsync's fragment can upgrade its Dexie version and pending changes survive", async () => {
  const { context, page } = await freshPage();
  const out = await page.evaluate(async () => {
    const results = {};
    for (const [db, spread] of [["with-fragment", true], ["without-fragment", false]]) {
      const v1 = await SyncClient.open({ dbName: db, version: 1, schema: { todos: "id" } });
      await v1.put("todos", { id: "a", done: 0 });
      await v1.put("todos", { id: "b", done: 1 });
      await v1.close();
      const dexie = new Dexie(db);
      const schema = { todos: "id, done" };
      dexie.version(2).stores(spread ? { ...SyncClient.dexieStores(), ...schema } : schema);
      await dexie.open();
      const stores = [...dexie.backendDB().objectStoreNames].sort();
      dexie.close();
      try {
        const v2 = await SyncClient.open({ dbName: db, version: 2, schema });
        results[db] = { stores, pending: await v2.pendingCount(), batch: (await v2.pendingChanges()).changes.length };
        await v2.close();
      } catch (e) {
        results[db] = { stores, error: e.name, message: e.message };
      }
    }
    return results;
  });
  assert.deepEqual(out["with-fragment"].stores, ["_changes", "_fieldsync_meta", "_fieldsync_state", "todos"]);
  assert.equal(out["with-fragment"].pending, 2);
  assert.equal(out["with-fragment"].batch, 2);
  // The control: without the fragment Dexie's upgrade deletes fieldsync's
  // stores, and fieldsync says so instead of silently starting over.
  assert.deepEqual(out["without-fragment"].stores, ["todos"]);
  assert.equal(out["without-fragment"].error, "UpgradeError");
  assert.match(out["without-fragment"].message, /lacks the stores/);
  await context.close();
});

test("writes made through Dexie with dexie-observable become pending changes, and the addon never deletes them", async () => {
  const { context, page } = await freshPage();
  const out = await page.evaluate(async () => {
    await import("dexie-observable"); // registers the addon for every Dexie instance
    const db = new Dexie("observed");
    db.version(1).stores({ ...SyncClient.dexieStores(), todos: "id, done", logs: "id" });
    await db.open();
    await db.table("logs").put({ id: "l1", text: "not synced by fieldsync" });
    const client = await SyncClient.open({ dbName: "observed", version: 1, schema: { todos: "id, done" } });
    await db.table("todos").put({ id: "d1", title: "from dexie", done: 0 });
    await db.table("todos").update("d1", { title: "edited in dexie" });
    const first = await client.pendingChanges();
    // dexie-observable cleans `_changes` on each poll (500 ms); give it time.
    await sleep(3000);
    const rowsAfter = await db.table("_changes").toArray();
    const pendingAfter = await client.pendingCount();
    const batch = await client.pendingChanges();
    await client.acknowledge(batch);
    const pendingAcked = await client.pendingCount();
    const node = (await db.table("_syncNodes").toArray()).find((n) => n.url === "fieldsync");
    db.close();
    await client.close();
    return { first, rowsAfter, pendingAfter, batch, pendingAcked, node };
  });
  assert.equal(out.first.changes.length, 1, "two Dexie writes, one coalesced change");
  const change = out.first.changes[0];
  assert.equal(change.op, "insert");
  assert.equal(change.id, "d1");
  assert.equal(change.fields.title.value, "edited in dexie");
  assert.ok(change.fields.title.updatedAt > change.insertedAt, "the update is stamped after the insert");
  assert.equal(out.pendingAfter, 2, "the addon's clean-up left fieldsync's pending rows alone");
  assert.deepEqual(out.rowsAfter.map((r) => r.table).sort(), ["todos", "todos"], "…while it did delete the row fieldsync does not need");
  assert.equal(out.batch.changes.length, 1);
  assert.equal(out.pendingAcked, 0);
  assert.equal(out.node.type, "remote");
  await context.close();
});

test("a quota error is a QuotaExceededError naming the operation, and nothing is half-written", async () => {
  const { context, page } = await freshPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 2 * 1024 * 1024 });
  const out = await page.evaluate(async () => {
    const client = await SyncClient.open({ dbName: "quota", version: 1, schema: { blobs: "id" } });
    await client.put("blobs", { id: "small", text: "x" });
    const big = "x".repeat(512 * 1024);
    const records = Array.from({ length: 16 }, (_, i) => ({ id: `big${i}`, text: big }));
    let error;
    try {
      await client.bulkPut("blobs", records);
    } catch (e) {
      error = { name: e.name, message: e.message, isError: e instanceof Error };
    }
    return { error, count: await client.count("blobs"), pending: await client.pendingCount() };
  });
  assert.ok(out.error, "the oversized batch failed");
  assert.equal(out.error.isError, true);
  assert.equal(out.error.name, "QuotaExceededError", out.error.message);
  assert.match(out.error.message, /bulkPut of 16 records into "blobs"/);
  assert.equal(out.count, 1, "no record of the failed batch was written");
  assert.equal(out.pending, 1, "and no change-log row either");
  await context.close();
});

test("closing a tab in the middle of writing loses no acknowledged write", async () => {
  const context = await browser.newContext();
  const page = await openHarness(context, server.url);
  const acked = [];
  page.on("console", (m) => {
    const match = /^acked (\d+)$/.exec(m.text());
    if (match) acked.push(Number(match[1]));
  });
  await page.evaluate(() => {
    (async () => {
      const client = await SyncClient.open({ dbName: "crash", version: 1, schema: { todos: "id" } });
      for (let i = 0; ; i++) {
        await client.put("todos", { id: `t${i}`, n: i });
        console.log(`acked ${i}`);
      }
    })();
  });
  const until = Date.now() + 5000;
  while (acked.length < 20 && Date.now() < until) await new Promise((ok) => setTimeout(ok, 20));
  await page.close();
  assert.ok(acked.length >= 20, `writes were acknowledged before the close (${acked.length})`);

  const reopened = await openHarness(context, server.url);
  const out = await reopened.evaluate(async () => {
    const client = await SyncClient.open({ dbName: "crash", version: 1, schema: { todos: "id" } });
    const ids = (await client.getAll("todos")).map((r) => r.id);
    return { ids, pending: await client.pendingCount() };
  });
  for (const i of acked) assert.ok(out.ids.includes(`t${i}`), `acknowledged write t${i} survived`);
  assert.equal(out.pending, out.ids.length, "every stored record has its change-log row");
  await context.close();
});

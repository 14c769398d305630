// Storage benchmarks in headless Chromium, one page run, printed with ratios
// against Dexie 4 measured in the same run. Run: scripts/bench-browser
// (builds the package first). Each case runs ROUNDS times on fresh databases;
// the median is reported.
import { launchBrowser, openHarness, startServer } from "./support.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const N = Number(process.env.BENCH_RECORDS ?? 10000);
const WRITES = Number(process.env.BENCH_WRITES ?? 1000);

const server = await startServer();
const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  const page = await openHarness(context, server.url);
  const r = await page.evaluate(
    async ({ ROUNDS, N, WRITES }) => {
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
      const schema = { todos: "id, done, owner" };
      const records = Array.from({ length: N }, (_, i) => ({
        id: `r${i}`, title: `title ${i}`, done: i % 2, owner: i % 3 ? "ann" : "bob", n: i,
      }));
      const stamp = "2030-01-01T00:00:00.000000000Z";
      const changes = records.map((rec) => ({
        table: "todos", id: rec.id, op: "insert",
        fields: Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, { value: v, updatedAt: stamp }])),
      }));
      let dbn = 0;
      const fresh = () => `bench-${Date.now()}-${dbn++}`;
      // Each database is deleted right after its measurement, so no run
      // pays for an earlier run's data (LevelDB compaction).
      const drop = (name) => new Promise((ok) => {
        const req = indexedDB.deleteDatabase(name);
        req.onsuccess = req.onerror = req.onblocked = () => ok();
      });
      const dexieDb = async () => {
        const db = new Dexie(fresh());
        db.version(1).stores(schema);
        await db.open();
        return db;
      };
      const client = (durability) => SyncClient.open({ dbName: fresh(), version: 1, schema, durability });

      const out = { apply: [], dexieBulk: [], dexieLogged: [], fsBulk: [], rawBulk: [], single: [], singleRelaxed: [], dexieSingle: [], rawSingle: [] };
      // Raw IndexedDB: one object store, puts without any library.
      const rawDb = () => new Promise((ok, fail) => {
        const req = indexedDB.open(fresh(), 1);
        req.onupgradeneeded = () => req.result.createObjectStore("todos", { keyPath: "id" });
        req.onsuccess = () => ok(req.result);
        req.onerror = () => fail(req.error);
      });
      const rawPut = (db, rows) => new Promise((ok, fail) => {
        const tx = db.transaction("todos", "readwrite");
        const store = tx.objectStore("todos");
        for (const row of rows) store.put(row);
        tx.oncomplete = () => ok();
        tx.onerror = tx.onabort = () => fail(tx.error);
      });
      const rawBulk = async () => {
        const db = await rawDb();
        const t = performance.now();
        await rawPut(db, records);
        out.rawBulk.push(performance.now() - t);
        db.close();
        await drop(db.name);
      };
      const dexieBulk = async () => {
        const db = await dexieDb();
        const t = performance.now();
        await db.table("todos").bulkPut(records);
        out.dexieBulk.push(performance.now() - t);
        db.close();
        await drop(db.name);
      };
      const apply = async () => {
        const c = await client();
        const t = performance.now();
        const applied = await c.applyRemoteChanges(changes);
        out.apply.push(performance.now() - t);
        if (applied.applied !== N || (await c.count("todos")) !== N) throw new Error("apply incomplete");
        await c.close();
        await drop(c.dbName);
      };
      const fsBulk = async () => {
        const c = await client();
        const t = performance.now();
        await c.bulkPut("todos", records);
        out.fsBulk.push(performance.now() - t);
        if ((await c.pendingCount()) !== N) throw new Error("bulkPut not logged");
        await c.close();
        await drop(c.dbName);
      };
      // The floor of any Dexie.Observable-format log: Dexie writing each
      // record and a {table, key, type, obj} row in one transaction.
      const dexieLogged = async () => {
        const logged = new Dexie(fresh());
        logged.version(1).stores({ ...schema, _changes: "++rev" });
        await logged.open();
        const rows = records.map((obj) => ({ table: "todos", key: obj.id, type: 1, obj, stamp }));
        const t = performance.now();
        await logged.transaction("rw", "todos", "_changes", async () => {
          await logged.table("todos").bulkPut(records);
          await logged.table("_changes").bulkAdd(rows);
        });
        out.dexieLogged.push(performance.now() - t);
        logged.close();
        await drop(logged.name);
      };
      const cases = [dexieBulk, apply, fsBulk, dexieLogged, rawBulk];
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order, so no case always runs first (or last).
        for (let i = 0; i < cases.length; i++) await cases[(i + round) % cases.length]();
      }
      // (b) single-write latency: record + timestamps + change log, one transaction each
      for (const [key, durability] of [["single", undefined], ["singleRelaxed", "relaxed"]]) {
        const c = await client(durability);
        for (let i = 0; i < WRITES; i++) {
          const t = performance.now();
          await c.put("todos", records[i % N]);
          out[key].push(performance.now() - t);
        }
        await c.close();
      }
      const db = await dexieDb();
      for (let i = 0; i < WRITES; i++) {
        const t = performance.now();
        await db.table("todos").put(records[i % N]);
        out.dexieSingle.push(performance.now() - t);
      }
      db.close();
      const raw = await rawDb();
      for (let i = 0; i < WRITES; i++) {
        const t = performance.now();
        await rawPut(raw, [records[i % N]]);
        out.rawSingle.push(performance.now() - t);
      }
      raw.close();
      await drop(raw.name);
      return {
        rawBulk: median(out.rawBulk), rawP50: pct(out.rawSingle, 0.5), rawP95: pct(out.rawSingle, 0.95),
        apply: median(out.apply), dexieBulk: median(out.dexieBulk), fsBulk: median(out.fsBulk),
        dexieLogged: median(out.dexieLogged),
        p50: pct(out.single, 0.5), p95: pct(out.single, 0.95),
        relaxedP50: pct(out.singleRelaxed, 0.5), relaxedP95: pct(out.singleRelaxed, 0.95),
        dexieP50: pct(out.dexieSingle, 0.5), dexieP95: pct(out.dexieSingle, 0.95),
      };
    },
    { ROUNDS, N, WRITES },
  );
  const ms = (x) => `${x.toFixed(1)} ms`;
  const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
  console.log(`fieldsync storage benchmarks (Chromium ${browser.version()}, ${N} records of 5 fields, median of ${ROUNDS})`);
  console.log(`(a) apply ${N} remote records:         ${ms(r.apply)}   Dexie bulkPut ${ms(r.dexieBulk)}   ratio ${ratio(r.apply, r.dexieBulk)}   (target <= 1.0x)`);
  console.log(`(b) single write p50/p95:             ${ms(r.p50)} / ${ms(r.p95)}   (target p50 <= 2 ms)`);
  console.log(`    with durability "relaxed":        ${ms(r.relaxedP50)} / ${ms(r.relaxedP95)}`);
  console.log(`    Dexie put (no log) p50/p95:       ${ms(r.dexieP50)} / ${ms(r.dexieP95)}   ratio p50 ${ratio(r.p50, r.dexieP50)}`);
  console.log(`(c) bulkPut ${N} with change log:     ${ms(r.fsBulk)}   Dexie bulkPut ${ms(r.dexieBulk)}   ratio ${ratio(r.fsBulk, r.dexieBulk)}   (target <= 1.3x)`);
  console.log(`    raw IndexedDB: ${N} puts in one transaction ${ms(r.rawBulk)} (fieldsync apply ${ratio(r.apply, r.rawBulk)}, bulkPut ${ratio(r.fsBulk, r.rawBulk)}); one put p50/p95 ${ms(r.rawP50)} / ${ms(r.rawP95)} (fieldsync ${ratio(r.p50, r.rawP50)})`);
  console.log(`    floor: Dexie records + Observable-format rows, one transaction: ${ms(r.dexieLogged)}   ratio ${ratio(r.dexieLogged, r.dexieBulk)}; fieldsync vs floor ${ratio(r.fsBulk, r.dexieLogged)}`);
} finally {
  await browser.close();
  await server.close();
}

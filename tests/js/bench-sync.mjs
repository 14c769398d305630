// Sync benchmarks in headless Chromium against a real fieldsync-server
// (scripts/bench-sync starts it): write on client A → visible on client B
// through the WebSocket path, and the initial sync of 10,000 records into an
// empty client. Both clients live in one page (separate databases and
// client ids), so they share one clock.
import { launchBrowser, openHarness, startServer } from "./support.mjs";

const SERVER = process.env.FIELDSYNC_TEST_SERVER;
if (!SERVER) throw new Error("FIELDSYNC_TEST_SERVER is not set: run scripts/bench-sync");
const WRITES = Number(process.env.BENCH_WRITES ?? 200);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 10000);

const files = await startServer();
const browser = await launchBrowser();
try {
  const page = await openHarness(await browser.newContext(), files.url);
  const r = await page.evaluate(async ({ SERVER, WRITES, RECORDS }) => {
    const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
    const user = `bench-${Date.now()}`;
    const { token } = await (await fetch(`${SERVER}/dev/token`, { method: "POST", body: JSON.stringify({ user }) })).json();
    const open = (name) => SyncClient.open({
      dbName: `${name}-${user}`, version: 1, schema: { todos: "id, done" },
      serverUrl: SERVER, appId: "bench", token,
    });
    const [a, b] = [await open("a"), await open("b")];
    a.start();
    b.start();
    await until(() => a.live && b.live, 5000, "both sockets");
    // B reports each remote change; the benchmark waits for record i.
    let arrived = null;
    b.on("change", (e) => { if (e.source === "remote" && arrived) arrived(); });
    const latencies = [];
    for (let i = 0; i < WRITES; i++) {
      const id = `w${i}`;
      const started = performance.now();
      const visible = new Promise((resolve) => {
        arrived = async () => { if (await b.get("todos", id)) resolve(); };
      });
      await a.put("todos", { id, title: `write ${i}`, done: 0 });
      await Promise.race([visible, sleep(5000).then(() => { throw new Error(`write ${i} never reached B`); })]);
      latencies.push(performance.now() - started);
    }
    a.stop();
    b.stop();

    // Initial sync of RECORDS records into an empty client.
    const records = Array.from({ length: RECORDS }, (_, i) => ({ id: `r${i}`, title: `record ${i}`, done: i % 2, owner: "bench", n: i }));
    await a.bulkPut("todos", records);
    const seeded = performance.now();
    await a.sync();
    const seedMs = performance.now() - seeded;
    const c = await open("c");
    const started = performance.now();
    const report = await c.sync();
    const initialMs = performance.now() - started;
    if ((await c.count("todos")) !== RECORDS + WRITES) throw new Error(`initial sync incomplete: ${await c.count("todos")}`);
    return { p50: pct(latencies, 0.5), p95: pct(latencies, 0.95), max: Math.max(...latencies), initialMs, pulled: report.pulled, seedMs };
  }, { SERVER, WRITES, RECORDS });
  console.log(`fieldsync sync benchmarks (Chromium ${browser.version()}, server on loopback, SQLite)`);
  console.log(`write on A -> visible on B (WebSocket path), ${WRITES} writes: p50 ${r.p50.toFixed(1)} ms  p95 ${r.p95.toFixed(1)} ms  max ${r.max.toFixed(1)} ms   (target p50 <= 50 ms)`);
  console.log(`initial sync of ${r.pulled} records into an empty client: ${(r.initialMs / 1000).toFixed(2)} s   (target <= 3 s)`);
  console.log(`(pushing ${RECORDS} records from A took ${(r.seedMs / 1000).toFixed(2)} s)`);
} finally {
  await browser.close();
  await files.close();
}

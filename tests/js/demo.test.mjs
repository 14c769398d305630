// The demo app (www/) end to end, as a person uses it: the real server serves
// it in development mode, two browser contexts are two devices of one user,
// and every step goes through the page's own controls. Screenshots land in
// target/demo-screenshots/ (not committed) for a person to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, launchBrowser, spawnSyncServer } from "./support.mjs";

const SHOTS = join(ROOT, "target", "demo-screenshots");
let site;
let server;
let browser;

before(async () => {
  // The site as scripts/demo assembles it: www/ plus the package's web build.
  assert.ok(existsSync(join(ROOT, "pkg", "web", "fieldsync.js")), "pkg/ is missing: run scripts/build-pkg first");
  site = mkdtempSync(join(tmpdir(), "fieldsync-demo-"));
  cpSync(join(ROOT, "www"), site, { recursive: true });
  cpSync(join(ROOT, "pkg", "web"), join(site, "fieldsync"), { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  server = await spawnSyncServer({ FIELDSYNC_STATIC_DIR: site });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (site) rmSync(site, { recursive: true, force: true });
});

/** A device: its own browser context (own IndexedDB), signed in as `user`. */
async function device(user) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("[demo page error]", e.message));
  await page.goto(`${server.url}/`);
  await page.fill("#user", user);
  await page.click("#login button");
  await page.waitForSelector("body[data-ready=true]", { timeout: 10000 });
  return { context, page };
}

const titles = (page) => page.$$eval("#todos li input.title", (inputs) => inputs.map((i) => i.value));
const row = (page, id) => page.locator(`#todos li[data-id="${id}"]`);

async function waitFor(page, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: 10000 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${e.message}`);
  }
}

test("two devices of one user: live edits, then offline edits that converge field by field", async () => {
  const user = `demo-${Date.now()}`;
  const a = await device(user);
  const b = await device(user);

  // Add on A: it appears on B without a reload (WebSocket → pull).
  await a.page.fill("#title", "Buy milk");
  await a.page.press("#title", "Enter");
  await waitFor(b.page, "A's todo on B", () => [...document.querySelectorAll("#todos input.title")].some((i) => i.value === "Buy milk"));
  const id = await a.page.locator("#todos li").first().getAttribute("data-id");

  // Toggle on B: A sees it checked.
  await row(b.page, id).locator("input[type=checkbox]").check();
  await waitFor(a.page, "B's toggle on A", (id) => document.querySelector(`li[data-id="${id}"] input[type=checkbox]`).checked, id);

  // A goes offline and edits the title, then B edits the title later, then A
  // unchecks "done" later still. Back online, each field keeps its latest
  // write: B's title, A's done.
  await a.page.check("#offline");
  assert.match(await a.page.textContent("#status"), /offline/);
  await row(a.page, id).locator("input.title").fill("Buy milk (A, offline)");
  await row(a.page, id).locator("input.title").press("Tab");
  await waitFor(a.page, "A's pending write", () => document.querySelector("#pending").textContent === "1");
  await a.page.waitForTimeout(20);
  await row(b.page, id).locator("input.title").fill("Buy oat milk (B)");
  await row(b.page, id).locator("input.title").press("Tab");
  await waitFor(b.page, "B's write synced", () => document.querySelector("#pending").textContent === "0");
  await a.page.waitForTimeout(20);
  await row(a.page, id).locator("input[type=checkbox]").uncheck();
  await a.page.waitForTimeout(300);
  assert.equal(await row(b.page, id).locator("input[type=checkbox]").isChecked(), true, "B has not seen A's offline edits");
  assert.equal(await a.page.textContent("#pending"), "2", "both offline writes of A are pending");

  await a.page.uncheck("#offline");
  const converged = (id) => {
    const li = document.querySelector(`li[data-id="${id}"]`);
    return li && li.querySelector("input.title").value === "Buy oat milk (B)" && !li.querySelector("input[type=checkbox]").checked;
  };
  await waitFor(a.page, "A to converge", converged, id);
  await waitFor(b.page, "B to converge", converged, id);
  await waitFor(a.page, "A's push", () => document.querySelector("#pending").textContent === "0");
  // The conflict event fires when the run ends, which can be just after the
  // pull's page already showed nothing pending.
  await waitFor(a.page, "A's log to say its offline title lost",
    () => /title of .*lost to "Buy oat milk \(B\)"/.test(document.querySelector("#log").textContent));

  await a.page.click("#log-box summary"); // show A's sync log with the lost title
  await a.page.screenshot({ path: join(SHOTS, "device-a.png"), fullPage: true });
  await b.page.screenshot({ path: join(SHOTS, "device-b.png"), fullPage: true });

  // Delete on B: gone on A.
  await row(b.page, id).locator("button.delete").click();
  await waitFor(a.page, "B's delete on A", (id) => !document.querySelector(`li[data-id="${id}"]`), id);
  assert.deepEqual(await titles(a.page), []);
  assert.deepEqual(await titles(b.page), []);
  console.log(`demo screenshots: ${SHOTS}/device-a.png, device-b.png`);
  await a.context.close();
  await b.context.close();
});

test("a reload keeps the device's data and pending writes", async () => {
  const user = `reload-${Date.now()}`;
  const a = await device(user);
  await a.page.check("#offline");
  await a.page.fill("#title", "survives a reload");
  await a.page.press("#title", "Enter");
  await waitFor(a.page, "the pending write", () => document.querySelector("#pending").textContent === "1");
  await a.page.reload();
  // Same window, same device (sessionStorage): the name is remembered.
  assert.equal(await a.page.inputValue("#user"), user);
  await a.page.click("#login button");
  await a.page.waitForSelector("body[data-ready=true]");
  assert.deepEqual(await titles(a.page), ["survives a reload"]);
  await waitFor(a.page, "the write to sync after the reload", () => document.querySelector("#pending").textContent === "0");
  await a.context.close();
});

test("a todo the server refuses is shown with its message, retried and discarded, while later writes sync", async () => {
  const user = `refused-${Date.now()}`;
  const a = await device(user);
  await a.page.click("#add-refused");
  await waitFor(a.page, "the refused todo to be listed", () => document.querySelectorAll("#failed li").length === 1);
  const message = await a.page.textContent("#failed li .message");
  assert.match(message, /400 invalid_request/, message);
  assert.match(message, /1000/, message);
  assert.match(message, /refused 1×/, message);
  // Later writes are not held back.
  await a.page.fill("#title", "after the refusal");
  await a.page.press("#title", "Enter");
  await waitFor(a.page, "the later write to sync", () => document.querySelector("#pending").textContent === "0" &&
    [...document.querySelectorAll("#todos input.title")].some((i) => i.value === "after the refusal"));
  const b = await device(user);
  await waitFor(b.page, "the later write on B", () => [...document.querySelectorAll("#todos input.title")].some((i) => i.value === "after the refusal"));
  assert.deepEqual(await titles(b.page), ["after the refusal"], "B never sees the refused todo");
  await a.page.screenshot({ path: join(SHOTS, "refused.png") });
  // Retry: refused again, counted.
  await a.page.click("#retry");
  await waitFor(a.page, "the second refusal", () => /refused 2×/.test(document.querySelector("#failed li .message")?.textContent ?? ""));
  // Discard: the list empties and the local copy goes.
  await a.page.click("#failed li button.discard");
  await waitFor(a.page, "the list to empty", () => document.querySelector("#failed-box").hidden);
  assert.deepEqual(await titles(a.page), ["after the refusal"]);
  await a.context.close();
  await b.context.close();
});


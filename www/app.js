// The fieldsync demo: an offline-first todo list. Every write goes to
// IndexedDB first (it works with the network off) and syncs in the
// background; each field merges on its own, last write wins.
import init, { SyncClient } from "./fieldsync/fieldsync.js";

const $ = (id) => document.getElementById(id);

// Each window is a device with its own database, so two windows of one
// browser show sync between devices. sessionStorage keeps it across reloads.
const device = sessionStorage.getItem("fieldsync-demo-device") ?? Math.random().toString(36).slice(2, 8);
sessionStorage.setItem("fieldsync-demo-device", device);

let client;
let offline = false;
const rows = new Map(); // todo id → its <li>

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").prepend(item);
  while ($("log").children.length > 50) $("log").lastChild.remove();
}

function showError(error) {
  $("error").hidden = false;
  $("error").textContent = `${error.name ?? "Error"}: ${error.message ?? error}`;
}

async function token(user) {
  const res = await fetch("/dev/token", { method: "POST", body: JSON.stringify({ user }) });
  if (!res.ok) throw new Error(`the server refused a token for ${JSON.stringify(user)} (${res.status}); is it in development mode (--dev)?`);
  return (await res.json()).token;
}

async function start(user) {
  await init();
  client = await SyncClient.open({
    dbName: `fieldsync-demo-${user}-${device}`,
    version: 1,
    schema: { todos: "id, createdAt" },
    serverUrl: location.origin,
    appId: "demo",
    getToken: () => token(user),
  });
  $("who").textContent = user;
  $("device").textContent = device;
  $("login").hidden = true;
  $("app").hidden = false;

  client.on("change", () => render());
  client.on("status", ({ status }) => showStatus(status));
  client.on("conflict", ({ conflicts }) => {
    for (const c of conflicts) {
      log(`${c.field} of "${c.id}": this device's ${JSON.stringify(c.clientValue)} lost to ${JSON.stringify(c.serverValue)} (newer)`);
    }
  });
  client.on("error", ({ error }) => log(`${error.name}: ${error.message}`));
  client.on("failed", ({ failed }) => {
    for (const f of failed) log(`the server refused "${f.id}" (${f.status} ${f.code}): ${f.message}`);
    renderFailed();
  });
  client.start();
  await render();
  document.body.dataset.ready = "true";
}

function showStatus(status) {
  const shown = offline ? "offline" : status;
  $("status").textContent = offline ? "offline (switched off)" : status;
  $("status").dataset.status = shown;
  if (!offline && status === "idle") log("synced");
  refreshPending();
}

async function refreshPending() {
  if (client) $("pending").textContent = String(await client.pendingCount());
  await renderFailed();
}

// Changes the server refused for good: shown with its message, each with a
// way out (the list is kept in IndexedDB, so it survives reloads).
async function renderFailed() {
  if (!client) return;
  const failed = await client.failedChanges();
  $("failed-box").hidden = failed.length === 0;
  $("failed").replaceChildren(...failed.map((f) => {
    const li = document.createElement("li");
    li.dataset.id = f.id;
    const what = Object.assign(document.createElement("span"), {
      className: "message",
      textContent: `"${f.id}": ${f.status} ${f.code}: ${f.message} (refused ${f.attempts}×)`,
    });
    const discard = Object.assign(document.createElement("button"), { type: "button", className: "discard", textContent: "Discard" });
    discard.addEventListener("click", () => client.discardFailed(f.table, f.id).then(render).catch(showError));
    li.append(what, discard);
    return li;
  }));
}

async function render() {
  const todos = (await client.getAll("todos")).sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0));
  const seen = new Set();
  for (const todo of todos) {
    seen.add(todo.id);
    let li = rows.get(todo.id);
    if (!li) {
      li = todoItem(todo.id);
      rows.set(todo.id, li);
    }
    li.classList.toggle("done", !!todo.done);
    li.querySelector("input[type=checkbox]").checked = !!todo.done;
    const title = li.querySelector("input.title");
    // Never overwrite what the user is typing.
    if (document.activeElement !== title) title.value = todo.title ?? "";
    $("todos").append(li); // keeps the sorted order
  }
  for (const [id, li] of rows) {
    if (!seen.has(id)) {
      li.remove();
      rows.delete(id);
    }
  }
  $("empty").hidden = todos.length > 0;
  await refreshPending();
}

function todoItem(id) {
  const li = document.createElement("li");
  li.dataset.id = id;
  const done = Object.assign(document.createElement("input"), { type: "checkbox", title: "done" });
  const title = Object.assign(document.createElement("input"), { className: "title", maxLength: 500 });
  const remove = Object.assign(document.createElement("button"), { className: "delete", type: "button", textContent: "✕", title: "delete" });
  // Each control writes one field: concurrent edits of different fields on
  // two devices both survive.
  done.addEventListener("change", () => client.update("todos", id, { done: done.checked ? 1 : 0 }).catch(showError));
  title.addEventListener("change", () => client.update("todos", id, { title: title.value }).catch(showError));
  remove.addEventListener("click", () => client.delete("todos", id).catch(showError));
  li.append(done, title, remove);
  return li;
}

$("user").value = localStorage.getItem("fieldsync-demo-user") ?? "";
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = $("user").value.trim();
  localStorage.setItem("fieldsync-demo-user", user);
  start(user).catch(showError);
});

$("add").addEventListener("submit", (event) => {
  event.preventDefault();
  const title = $("title").value.trim();
  if (!title) return;
  $("title").value = "";
  client.put("todos", { id: crypto.randomUUID(), title, done: 0, createdAt: Date.now() }).catch(showError);
});

// A demonstration of a write the server will never accept (it takes at most
// 1,000 fields per change): it is set aside, and later writes still sync.
$("add-refused").addEventListener("click", () => {
  const record = { id: `too-wide-${crypto.randomUUID().slice(0, 4)}`, title: "1,001 fields", done: 0, createdAt: Date.now() };
  for (let i = 0; i < 1001; i++) record[`f${i}`] = i;
  client.put("todos", record).catch(showError);
});

$("retry").addEventListener("click", async () => {
  try {
    await client.retryFailed();
    await client.sync();
  } catch (error) {
    showError(error);
  }
  await renderFailed();
});

$("offline").addEventListener("change", () => {
  offline = $("offline").checked;
  if (offline) {
    client.stop(); // writes stay in IndexedDB, pending
    log("offline: writes stay on this device");
  } else {
    client.start(); // pushes what is pending, pulls what others wrote
    log("online again");
  }
  showStatus(client.status);
});

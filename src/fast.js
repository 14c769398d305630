// Hot loops that would otherwise cross the wasm boundary once per property.

// Why `value` cannot be synced ("path: reason"), or null when it is JSON.
// Properties holding `undefined` are skipped, as JSON.stringify does.
export function firstNonJson(value, path) {
  const what = (v) => (v && v.constructor && v.constructor.name) || typeof v;
  const walk = (v, path, depth) => {
    if (v === null) return null;
    switch (typeof v) {
      case "string":
      case "boolean":
        return null;
      case "number":
        return Number.isFinite(v) ? null : `${path}: ${v} is not a JSON number (NaN and Infinity cannot be synced)`;
      case "object": {
        if (depth > 64) return `${path}: nested deeper than 64 levels`;
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            if (v[i] === undefined) continue;
            const e = walk(v[i], `${path}[${i}]`, depth + 1);
            if (e) return e;
          }
          return null;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== null && Object.getPrototypeOf(proto) !== null) {
          return `${path}: a ${what(v)} cannot be synced; store JSON values only (a Date as an ISO string or a number of milliseconds)`;
        }
        for (const k of Object.keys(v)) {
          if (v[k] === undefined) continue;
          const e = walk(v[k], path ? `${path}.${k}` : k, depth + 1);
          if (e) return e;
        }
        return null;
      }
      default:
        return `${path}: a ${typeof v} cannot be synced; store JSON values only`;
    }
  };
  return walk(value, path, 0);
}

// A Dexie.Observable-format change-log row.
export function changeRow(table, key, type, stamp, obj, mods, oldObj) {
  const row = { table, key, type, stamp };
  if (obj !== undefined) row.obj = obj;
  if (mods !== undefined) row.mods = mods;
  if (oldObj !== undefined) row.oldObj = oldObj;
  return row;
}

// Runs `fn` (returning a Promise) holding the Web Lock `name` — exclusive
// across every tab and worker of this origin. Without Web Locks (old
// browsers), runs it directly.
export function withLock(name, fn) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  return locks ? locks.request(name, () => fn()) : fn();
}

// Requests the Web Lock `name` and holds it until `release` is called;
// `onAcquired` runs when this holder gets it (at once, or when the holder
// before it lets go). Returns the release function.
export function holdLock(name, onAcquired) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  let resolveHeld;
  let released = false;
  const held = new Promise((resolve) => { resolveHeld = resolve; });
  const release = () => { released = true; resolveHeld(); };
  if (!locks) {
    onAcquired();
    return release;
  }
  // Released before it was granted: never call back (the callback may be gone).
  locks.request(name, () => (released ? undefined : (onAcquired(), held))).catch(() => {});
  return release;
}

// The function `on()` returns: removes listener `id` through `off`, once;
// calling it again, or after the client was freed, does nothing.
export function unsubscriber(off, id) {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    try { off(id); } catch (_) { /* the client is gone, and its listeners with it */ }
  };
}

// Dexie's `x-storagemutated-1` message for writes to `tables` of `dbName`:
// the whole key range of each table's primary key, deletions and indexes
// (`parts`: per table, [name, ...index names]).
export function storageMutated(dbName, parts) {
  const message = {};
  const everything = { d: 1, from: -Infinity, to: [[]] };
  for (const [table, ...indexes] of parts) {
    for (const part of ["", ":dels", ...indexes]) message[`idb://${dbName}/${table}/${part}`] = everything;
  }
  return message;
}

// The tables among `known` that a `x-storagemutated-1` message names for
// `dbName`, sorted.
export function mutatedTables(data, dbName, known) {
  if (!data || typeof data !== "object") return [];
  const prefix = `idb://${dbName}/`;
  const found = new Set();
  for (const key of Object.keys(data)) {
    if (!key.startsWith(prefix)) continue;
    const table = key.slice(prefix.length).split("/")[0];
    if (known.includes(table)) found.add(table);
  }
  return [...found].sort();
}

// The `_changes` rows of the `synced` tables, and those among them no
// stamp was given yet (written by dexie-observable): [synced, unstamped].
export function syncedRows(rows, synced) {
  const kept = [];
  const unstamped = [];
  for (const row of rows) {
    if (!synced.includes(row.table)) continue;
    kept.push(row);
    if (row.stamp === undefined) unstamped.push(row);
  }
  return [kept, unstamped];
}

// fieldsync's node in Dexie.Observable's `_syncNodes` (of type "remote",
// which the addon never garbage-collects), with `myRevision` below every
// `_changes` row of a synced table not pushed yet, so that the addon's
// clean-up never deletes one.
export function observableNode(rows, nodes, synced, url) {
  let lowestNeeded = Infinity;
  let highest = 0;
  for (const row of rows) {
    highest = Math.max(highest, row.rev || 0);
    if (synced.includes(row.table)) lowestNeeded = Math.min(lowestNeeded, row.rev || 0);
  }
  const node = nodes.find((n) => n.url === url) ||
    { type: "remote", url, isMaster: 0, deleteTimeStamp: null };
  node.myRevision = lowestNeeded === Infinity ? highest + 1 : lowestNeeded;
  node.lastHeartBeat = Date.now();
  return node;
}

/* tslint:disable */
/* eslint-disable */

/** A Dexie schema: table name → Dexie spec ("++id, &email, *tags, [a+b]"), or null to delete a table. */
export type Schema = Record<string, string | null>;

/** Options of {@link SyncClient.open}. */
export interface SyncClientOptions {
    /** The IndexedDB database name (the one you give `new Dexie(name)`). */
    dbName: string;
    /** The tables, in Dexie's schema syntax. */
    schema: Schema;
    /** The Dexie version of this schema (IndexedDB version = version × 10). */
    version: number;
    /** Tables to sync; the others stay on this device. Default: all. */
    tables?: string[];
    /** A fixed client id. Default: one generated and kept in the database. */
    clientId?: string;
    /** Commit durability. Default: the browser's ("default"). */
    durability?: "default" | "relaxed" | "strict";
    /** The sync server (sync is not started by `open`). */
    serverUrl?: string;
    /** The app id on the sync server. */
    appId?: string;
    /** A bearer token for the sync server. */
    token?: string;
    /** Returns a fresh bearer token. */
    getToken?: () => Promise<string>;
    /** Period of background sync, in milliseconds. */
    syncIntervalMs?: number;
    /** Keep a WebSocket open for live updates. */
    live?: boolean;
    /** Called when opening waits for other tabs to close an older version. */
    onBlocked?: (event: BlockedEvent) => void;
}

/** A JSON value, as synced records hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A record of a table. */
export type Row = { [field: string]: Json };
/** A primary key: a string, a number, or an array of them (compound keys). */
export type Key = string | number | Array<string | number>;

/** One field's write: its value and hybrid-logical-clock timestamp. */
export interface FieldWrite { value: Json; updatedAt: string; removed?: boolean }
/** One record's change, as the sync protocol carries it. */
export interface Change {
    table: string;
    id: Key;
    op: "insert" | "update" | "delete";
    fields?: Record<string, FieldWrite>;
    data?: Row;
    insertedAt?: string;
    deletedAt?: string;
}
/** A local value that lost to a newer remote one. */
export interface Conflict {
    table: string; id: Key; field: string;
    clientValue: Json; clientTimestamp: string;
    serverValue: Json; serverTimestamp: string;
}
/** What {@link SyncClient.applyRemoteChanges} did: `changed` lists the records written or deleted. */
export interface ApplyResult {
    applied: number; skipped: number; conflicts: Conflict[];
    changed: Array<{ table: string; id: Key; deleted: boolean }>;
}
/** Pending local writes, coalesced per record; `more`: others wait behind this batch. */
export interface PendingBatch { changes: Change[]; revs: number[]; more?: boolean }
/** A query: an index (Dexie's name, e.g. "[a+b]"; default the primary key) and a key range. */
export interface Query {
    index?: string;
    equals?: Key;
    above?: Key; aboveOrEqual?: Key;
    below?: Key; belowOrEqual?: Key;
    limit?: number;
}
/** A record whose pending local values lost, for a conflict resolver. */
export interface ConflictCase { table: string; id: Key; local: Row; remote: Row | undefined; conflicts: Conflict[] }
/** A resolver's decision: keep the newest ("remote"), re-apply ours ("local"), or a merged record. */
export type ConflictDecision = "local" | "remote" | Row | undefined;
/** What {@link SyncClient.sync} did. */
export interface SyncResult { pushed: number; pulled: number; conflicts: Conflict[]; syncedUntil?: string }
/** Payload of the "change" event. "external": another tab, or Dexie, wrote. */
export interface ChangeEvent { tables: string[]; source: "local" | "remote" | "external" }
/** Payload of the "blocked" event: other tabs hold an older version open. */
export interface BlockedEvent { dbName: string }
/** Payload of the "conflict" event: local values that lost. */
export interface ConflictEvent { conflicts: Conflict[] }
/** Payload of the "status" event. */
export interface StatusEvent { status: "offline" | "idle" | "syncing" | "error" }
/** Payload of the "error" event. */
export interface ErrorEvent { error: Error }
/** Payload of the "progress" event during long pulls. */
export interface ProgressEvent { table: string; applied: number }
/** The events of {@link SyncClient.on}. */
export type SyncEventName = "change" | "status" | "conflict" | "error" | "progress" | "blocked";
/** Any event payload (see each event's payload type). */
export type SyncEvent = ChangeEvent | StatusEvent | ConflictEvent | ErrorEvent | ProgressEvent | BlockedEvent;



/**
 * An offline-first client: app data in IndexedDB (Dexie-compatible), every
 * local write logged for sync in the same transaction.
 *
 * @example
 * ```ts
 * const client = await SyncClient.open({
 *   dbName: "todos-app", version: 1,
 *   schema: { todos: "id, done, [owner+done]" },
 * });
 * await client.put("todos", { id: crypto.randomUUID(), title: "Buy milk", done: 0 });
 * const open = await client.query("todos", { index: "done", equals: 0 });
 * ```
 */
export class SyncClient {
    private constructor();
    free(): void;
    /**
     * Marks a batch from {@link SyncClient.pendingChanges} as stored by the
     * server, atomically. Writes made after the batch was read stay pending.
     *
     * @example
     * ```ts
     * await client.acknowledge(batch);
     * ```
     */
    acknowledge(batch: PendingBatch): Promise<void>;
    /**
     * Applies changes from a server (or any peer): merged field by field
     * with pending local writes (last write wins), in one transaction,
     * without logging them as local writes. Resolves to what was applied and
     * which local values lost.
     *
     * @example
     * ```ts
     * const { conflicts } = await client.applyRemoteChanges(response.serverChanges);
     * ```
     */
    applyRemoteChanges(changes: Change[]): Promise<ApplyResult>;
    /**
     * Puts many records in one transaction: all are written, or none.
     * Resolves to the number written.
     *
     * @example
     * ```ts
     * await client.bulkPut("todos", [{ id: "a", done: 0 }, { id: "b", done: 1 }]);
     * ```
     */
    bulkPut(table: string, records: Row[]): Promise<number>;
    /**
     * Closes the database connection and drops every listener.
     *
     * @example
     * ```ts
     * await client.close();
     * ```
     */
    close(): Promise<void>;
    /**
     * How many records a table holds.
     *
     * @example
     * ```ts
     * const n = await client.count("todos");
     * ```
     */
    count(table: string): Promise<number>;
    /**
     * Deletes one record (a no-op when it does not exist).
     *
     * @example
     * ```ts
     * await client.delete("todos", "t1");
     * ```
     */
    delete(table: string, key: Key): Promise<void>;
    /**
     * fieldsync's own stores as a Dexie schema fragment. An app that also
     * opens the database with Dexie must spread it into every
     * `stores({...})`, because Dexie deletes undeclared stores when it
     * upgrades.
     *
     * @example
     * ```ts
     * db.version(2).stores({ ...SyncClient.dexieStores(), todos: "id, done" });
     * ```
     */
    static dexieStores(): Record<string, string>;
    /**
     * Every record of a table, in primary-key order.
     *
     * @example
     * ```ts
     * const all = await client.getAll("todos");
     * ```
     */
    getAll(table: string): Promise<Row[]>;
    /**
     * One record, or `undefined`.
     *
     * @example
     * ```ts
     * const todo = await client.get("todos", "t1");
     * ```
     */
    get(table: string, key: Key): Promise<Row | undefined>;
    /**
     * Subscribes to an event; returns a function that unsubscribes. A
     * callback that throws is reported on the console and never breaks
     * fieldsync.
     *
     * @example
     * ```ts
     * const off = client.on("change", (e) => render((e as ChangeEvent).tables));
     * off();
     * ```
     */
    on(event: SyncEventName, callback: (payload: SyncEvent) => void): () => void;
    /**
     * Opens (creating or upgrading) the database and returns a client. With
     * no `serverUrl` it is a local-only store.
     *
     * @example
     * ```ts
     * const client = await SyncClient.open({ dbName: "app", version: 1, schema: { todos: "id, done" } });
     * ```
     */
    static open(options: SyncClientOptions): Promise<SyncClient>;
    /**
     * Pending local writes, coalesced to one change per record (at most
     * `maxRecords`, default 500), for a custom transport. Acknowledge them
     * with {@link SyncClient.acknowledge} once the server stored them.
     *
     * @example
     * ```ts
     * const batch = await client.pendingChanges(100);
     * await myTransport.send(batch.changes);
     * await client.acknowledge(batch);
     * ```
     */
    pendingChanges(max_records?: number | null): Promise<PendingBatch>;
    /**
     * How many local writes are not yet acknowledged by the server.
     *
     * @example
     * ```ts
     * badge.textContent = String(await client.pendingCount());
     * ```
     */
    pendingCount(): Promise<number>;
    /**
     * Inserts or replaces a whole record (stamping every field) and logs the
     * write, in one transaction. Resolves to the record's key. `key` is only
     * for tables whose keys live outside the records.
     *
     * @example
     * ```ts
     * await client.put("todos", { id: "t1", title: "Buy milk", done: 0 });
     * ```
     */
    put(table: string, record: Row, key?: Key | null): Promise<Key>;
    /**
     * Records whose index key equals a value or lies in a range, in index
     * order.
     *
     * @example
     * ```ts
     * const open = await client.query("todos", { index: "done", equals: 0 });
     * const recent = await client.query("todos", { index: "createdAt", aboveOrEqual: since, limit: 50 });
     * ```
     */
    query(table: string, query: Query): Promise<Row[]>;
    /**
     * Decides conflicts of `table` yourself: after a sync, `resolver` gets
     * each record whose pending local values lost — `{table, id, local,
     * remote, conflicts}` — and returns `"remote"` (keep last write wins),
     * `"local"` (write the local values again, so they win), or a merged
     * record (written whole); a Promise of these works too. A resolver
     * that throws leaves last write wins in place and emits `error`; sync
     * goes on. `null` removes the resolver.
     *
     * @example
     * ```ts
     * client.setConflictResolver("notes", ({ local, remote }) =>
     *   ({ ...remote, body: `${remote.body}\n${local.body}` }));
     * ```
     */
    setConflictResolver(table: string, resolver: ((conflict: ConflictCase) => ConflictDecision | Promise<ConflictDecision>) | null): void;
    /**
     * Starts background sync: a sync now, a push shortly after each local
     * write, a sync every `syncIntervalMs` (default 30 s) and whenever the
     * browser comes back online, and — unless `live: false` — a WebSocket on
     * which the server announces other devices' changes. Idempotent.
     *
     * @example
     * ```ts
     * client.start();
     * ```
     */
    start(): void;
    /**
     * Stops background sync: closes the WebSocket, cancels every timer and
     * hands leadership to another tab. A run in progress finishes.
     *
     * @example
     * ```ts
     * client.stop();
     * ```
     */
    stop(): void;
    /**
     * Pushes pending writes and pulls every synced table. Concurrent calls
     * share one run. Resolves to what was pushed, pulled and lost; rejects
     * with a `NetworkError`, `AuthError` or `ServerError` — writes stay
     * pending either way.
     *
     * @example
     * ```ts
     * const { pushed, pulled, conflicts } = await client.sync();
     * ```
     */
    sync(): Promise<SyncResult>;
    /**
     * Changes fields of one record: `changes` maps key paths (`"title"`,
     * `"address.city"`) to new values; `undefined` removes a property.
     * Resolves to 1, or 0 when there is no such record (as Dexie does).
     *
     * @example
     * ```ts
     * await client.update("todos", "t1", { done: 1 });
     * ```
     */
    update(table: string, key: Key, changes: Record<string, Json | undefined>): Promise<number>;
    /**
     * This client's id: generated once and kept in the database, unless
     * `clientId` was given to `open`.
     */
    readonly clientId: string;
    /**
     * The database name.
     */
    readonly dbName: string;
    /**
     * When the last successful sync ended (ms since the epoch), if any.
     */
    readonly lastSyncedAt: number | undefined;
    /**
     * Whether this tab leads background sync for its database.
     */
    readonly leader: boolean;
    /**
     * Whether the live WebSocket is open and authenticated.
     */
    readonly live: boolean;
    /**
     * `"idle"`, `"syncing"`, `"offline"` (the server could not be reached,
     * or the browser is offline) or `"error"`; the `status` event reports
     * changes.
     */
    readonly status: "idle" | "syncing" | "offline" | "error";
}

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_syncclient_free: (a: number, b: number) => void;
    readonly syncclient_acknowledge: (a: number, b: any) => any;
    readonly syncclient_applyRemoteChanges: (a: number, b: any) => any;
    readonly syncclient_bulkPut: (a: number, b: number, c: number, d: any) => any;
    readonly syncclient_clientId: (a: number) => [number, number];
    readonly syncclient_close: (a: number) => any;
    readonly syncclient_count: (a: number, b: number, c: number) => any;
    readonly syncclient_dbName: (a: number) => [number, number];
    readonly syncclient_delete: (a: number, b: number, c: number, d: any) => any;
    readonly syncclient_dexieStores: () => any;
    readonly syncclient_get: (a: number, b: number, c: number, d: any) => any;
    readonly syncclient_getAll: (a: number, b: number, c: number) => any;
    readonly syncclient_lastSyncedAt: (a: number) => [number, number];
    readonly syncclient_leader: (a: number) => number;
    readonly syncclient_live: (a: number) => number;
    readonly syncclient_on: (a: number, b: number, c: number, d: any) => [number, number, number];
    readonly syncclient_open: (a: any) => any;
    readonly syncclient_pendingChanges: (a: number, b: number) => any;
    readonly syncclient_pendingCount: (a: number) => any;
    readonly syncclient_put: (a: number, b: number, c: number, d: any, e: number) => any;
    readonly syncclient_query: (a: number, b: number, c: number, d: any) => any;
    readonly syncclient_setConflictResolver: (a: number, b: number, c: number, d: any) => [number, number];
    readonly syncclient_start: (a: number) => [number, number];
    readonly syncclient_status: (a: number) => [number, number];
    readonly syncclient_stop: (a: number) => void;
    readonly syncclient_sync: (a: number) => any;
    readonly syncclient_update: (a: number, b: number, c: number, d: any, e: any) => any;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number, c: any) => [number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number, c: any) => [number, number, number];
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number, c: any, d: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_30: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_31: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_32: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number) => any;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __wbindgen_destroy_closure: (a: number, b: number) => void;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;

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
/** A record whose pending local values lost, for a table's conflict resolver. */
export interface ConflictCase<R = Row> { table: string; id: Key; local: LocalValues<R>; remote: R | undefined; conflicts: Conflict[] }
/** The pending local values of a record (some of its fields; a {@link Row} stays a Row). */
export type LocalValues<R> = string extends keyof R ? R : Partial<R>;
/** A resolver's decision: keep the newest ("remote"), re-apply ours ("local"), or a merged record. */
export type ConflictDecision<R = Row> = "local" | "remote" | R | undefined;
/** A change the server refused for good, set aside so it never blocks the others. */
export interface FailedChange {
    table: string; id: Key;
    /** The HTTP status of the refusal (400, 403, 413, …). */
    status: number;
    /** The server's error code. */
    code: string;
    /** The server's message (for 413: what to do about a record too large). */
    message: string;
    /** How many pushes of it were refused. */
    attempts: number;
}
/** What {@link SyncClient.sync} did. `failed`: every change set aside (this run's and earlier ones). */
export interface SyncResult { pushed: number; pulled: number; conflicts: Conflict[]; failed: FailedChange[]; syncedUntil?: string }
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
/** Payload of the "failed" event: changes the server refused in this run, now set aside. */
export interface FailedEvent { failed: FailedChange[] }
/** Each event of {@link SyncClient.on} and its payload. */
export interface SyncEventMap {
    change: ChangeEvent; status: StatusEvent; conflict: ConflictEvent; error: ErrorEvent;
    progress: ProgressEvent; blocked: BlockedEvent; failed: FailedEvent;
}
/** The events of {@link SyncClient.on}. */
export type SyncEventName = keyof SyncEventMap;
/** Any event payload (see each event's payload type). */
export type SyncEvent = SyncEventMap[SyncEventName];

/** The record type of each table: `{ todos: Todo, notes: Note }`. */
export type TableTypes = { [table: string]: object };
/** What {@link SyncClient.update} takes: fields of `R` with their new values, or dotted key paths (`"address.city"`) with any JSON value; `undefined` removes. */
export type UpdateSpec<R> = { [F in keyof R]?: R[F] | undefined } & { [keyPath: `${string}.${string}`]: Json | undefined };
/** A table's name. */
export type TableName<S extends TableTypes> = keyof S & string;

/**
 * An offline-first client: app data in IndexedDB (Dexie-compatible), every
 * local write logged for sync in the same transaction. `S` maps each table
 * to its record type (default: any JSON record).
 *
 * @example
 * ```ts
 * interface Todo { id: string; title: string; done: 0 | 1 }
 * const client = await SyncClient.open<{ todos: Todo }>({
 *   dbName: "todos-app", version: 1,
 *   schema: { todos: "id, done" },
 * });
 * await client.put("todos", { id: crypto.randomUUID(), title: "Buy milk", done: 0 });
 * const open: Todo[] = await client.query("todos", { index: "done", equals: 0 });
 * ```
 */
export class SyncClient<S extends TableTypes = { [table: string]: Row }> {
    private constructor();
    /** Frees the client's memory in wasm (after {@link SyncClient.close}). */
    free(): void;
    /**
     * Opens (creating or upgrading) the database and returns a client. With
     * no `serverUrl` it is a local-only store.
     *
     * @example
     * ```ts
     * const client = await SyncClient.open({ dbName: "app", version: 1, schema: { todos: "id, done" } });
     * ```
     */
    static open<S extends TableTypes = { [table: string]: Row }>(options: SyncClientOptions): Promise<SyncClient<S>>;
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
    /** This client's id: generated once and kept in the database, unless `clientId` was given to `open`. */
    readonly clientId: string;
    /** The database name. */
    readonly dbName: string;
    /** Whether this tab leads background sync for its database. */
    readonly leader: boolean;
    /** Whether the live WebSocket is open and the server accepted its token. */
    readonly live: boolean;
    /** When the last successful sync ended (ms since the epoch), if any. */
    readonly lastSyncedAt: number | undefined;
    /**
     * `"idle"`, `"syncing"`, `"offline"` (the server could not be reached, or
     * the browser is offline) or `"error"`; the `status` event reports changes.
     */
    readonly status: "idle" | "syncing" | "offline" | "error";
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
    put<T extends TableName<S>>(table: T, record: S[T], key?: Key | null): Promise<Key>;
    /**
     * Puts many records in one transaction: all are written, or none.
     * Resolves to the number written.
     *
     * @example
     * ```ts
     * await client.bulkPut("todos", [{ id: "a", done: 0 }, { id: "b", done: 1 }]);
     * ```
     */
    bulkPut<T extends TableName<S>>(table: T, records: S[T][]): Promise<number>;
    /**
     * Changes fields of one record: `changes` maps fields, or key paths
     * (`"address.city"`), to new values; `undefined` removes a property.
     * Resolves to 1, or 0 when there is no such record (as Dexie does).
     *
     * @example
     * ```ts
     * await client.update("todos", "t1", { done: 1 });
     * ```
     */
    update<T extends TableName<S>>(table: T, key: Key, changes: UpdateSpec<S[T]>): Promise<number>;
    /**
     * Deletes one record (a no-op when it does not exist).
     *
     * @example
     * ```ts
     * await client.delete("todos", "t1");
     * ```
     */
    delete(table: TableName<S>, key: Key): Promise<void>;
    /**
     * One record, or `undefined`.
     *
     * @example
     * ```ts
     * const todo = await client.get("todos", "t1");
     * ```
     */
    get<T extends TableName<S>>(table: T, key: Key): Promise<S[T] | undefined>;
    /**
     * Every record of a table, in primary-key order.
     *
     * @example
     * ```ts
     * const all = await client.getAll("todos");
     * ```
     */
    getAll<T extends TableName<S>>(table: T): Promise<S[T][]>;
    /**
     * Records whose index key equals a value or lies in a range, in index order.
     *
     * @example
     * ```ts
     * const open = await client.query("todos", { index: "done", equals: 0 });
     * const recent = await client.query("todos", { index: "createdAt", aboveOrEqual: since, limit: 50 });
     * ```
     */
    query<T extends TableName<S>>(table: T, query: Query): Promise<S[T][]>;
    /**
     * How many records a table holds.
     *
     * @example
     * ```ts
     * const n = await client.count("todos");
     * ```
     */
    count(table: TableName<S>): Promise<number>;
    /**
     * How many local writes wait for the server (changes it refused are
     * listed by {@link SyncClient.failedChanges} instead).
     *
     * @example
     * ```ts
     * badge.textContent = String(await client.pendingCount());
     * ```
     */
    pendingCount(): Promise<number>;
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
    pendingChanges(maxRecords?: number | null): Promise<PendingBatch>;
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
     * The changes the server refused for good (a 4xx other than 401, 408 and
     * 429), set aside so they never block the rest: each with the server's
     * status, code and message and how many pushes were refused. A new local
     * write to the record, or {@link SyncClient.retryFailed}, queues it again.
     *
     * @example
     * ```ts
     * for (const f of await client.failedChanges()) console.warn(f.table, f.id, f.message);
     * ```
     */
    failedChanges(): Promise<FailedChange[]>;
    /**
     * Queues every change set aside again (say, after the server's rules
     * changed); background sync pushes them at once. Resolves to how many
     * records were re-queued.
     *
     * @example
     * ```ts
     * await client.retryFailed();
     * await client.sync();
     * ```
     */
    retryFailed(): Promise<number>;
    /**
     * Drops the local change set aside for one record, and the local copy of
     * the record: the server's state (if it has the record) comes back with
     * the next sync, which re-reads that table. Resolves to whether such a
     * change existed.
     *
     * @example
     * ```ts
     * await client.discardFailed("todos", "t1");
     * ```
     */
    discardFailed(table: TableName<S>, key: Key): Promise<boolean>;
    /**
     * Pushes pending writes and pulls every synced table. Concurrent calls
     * share one run. Resolves to what was pushed, pulled and lost, and the
     * changes set aside; rejects with a `NetworkError`, `AuthError` or
     * `ServerError` — writes stay pending either way.
     *
     * @example
     * ```ts
     * const { pushed, pulled, conflicts, failed } = await client.sync();
     * ```
     */
    sync(): Promise<SyncResult>;
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
     * Decides conflicts of `table` yourself: after a sync, `resolver` gets
     * each record whose pending local values lost — `{table, id, local,
     * remote, conflicts}` — and returns `"remote"` (keep last write wins),
     * `"local"` (write the local values again, so they win), or a merged
     * record (written whole); a Promise of these works too. A resolver that
     * throws leaves last write wins in place and emits `error`; sync goes
     * on. `null` removes the resolver.
     *
     * @example
     * ```ts
     * client.setConflictResolver("notes", ({ local, remote }) =>
     *   remote ? { ...remote, body: `${remote.body}\n${local.body}` } : "local");
     * ```
     */
    setConflictResolver<T extends TableName<S>>(
    table: T,
    resolver: ((conflict: ConflictCase<S[T]>) => ConflictDecision<S[T]> | Promise<ConflictDecision<S[T]>>) | null,
    ): void;
    /**
     * Subscribes to an event; the callback gets that event's payload. Returns
     * a function that unsubscribes. A callback that throws is reported on the
     * console and never breaks fieldsync.
     *
     * @example
     * ```ts
     * const off = client.on("change", (e) => render(e.tables));
     * client.on("failed", ({ failed }) => showRefused(failed));
     * off();
     * ```
     */
    on<E extends SyncEventName>(event: E, callback: (payload: SyncEventMap[E]) => void): () => void;
    /**
     * Closes the database connection and drops every listener.
     *
     * @example
     * ```ts
     * await client.close();
     * ```
     */
    close(): Promise<void>;
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
    readonly syncclient_discardFailed: (a: number, b: number, c: number, d: any) => any;
    readonly syncclient_failedChanges: (a: number) => any;
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
    readonly syncclient_retryFailed: (a: number) => any;
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
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_33: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_34: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>_35: (a: number, b: number, c: any) => void;
    readonly wasm_bindgen__convert__closures_____invoke__h<hash>: (a: number, b: number, c: number) => void;
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

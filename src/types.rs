//! The TypeScript types of the JS API that wasm-bindgen cannot derive: option
//! objects, payloads, records. They land in the package's `.d.ts` as written.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
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
"#;

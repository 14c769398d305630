//! Deterministic simulation: replicas built on the browser client's core code
//! paths (the `_changes` log, `group_pending` coalescing, `apply_remote`,
//! cursors, the persisted clock) sync with the server's real storage logic
//! ([`Store`] on a SQLite file) through a simulated network that delays,
//! reorders, duplicates and drops requests, responses and notifications,
//! loses responses after the server committed, partitions replicas for long
//! stretches, and restarts replicas and the server from their persisted state.
//!
//! After healing, every replica must hold exactly the server's state, nothing
//! may stay pending, and every acknowledged write must still be there or be
//! overwritten by a later write.
//!
//! Each seed is replayable: the schedule is a function of the seed. A failure
//! prints the seed and the shortest failing schedule found by removing steps.
//!
//! - `cargo test -p fieldsync-server --test simulation` — 300 seeds (CI).
//! - `FIELDSYNC_SIM_SEEDS=20000 cargo test --release -p fieldsync-server --test simulation` — a long run.
//! - `FIELDSYNC_SIM_SEED=1234 cargo test -p fieldsync-server --test simulation` — replay one seed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use fieldsync_core::replica::{apply_remote, group_pending};
use fieldsync_core::{
    Change, ChangeRow, Clock, PullResponse, PushRequest, PushResponse, RecordState, Timestamp, wire,
};
use fieldsync_server::store::{Since, Store};
use serde_json::{Map, Value, json};

const APP: &str = "sim";
const USER: &str = "u";
const TABLE: &str = "t";
const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];
const FIELDS: [&str; 3] = ["a", "b", "c"];
const CLIENTS: usize = 5;
const STEPS: usize = 160;
/// Small pull pages, so paging and cursors are exercised.
const PAGE: u32 = 2;

/// SplitMix64: a tiny seeded generator, so a seed means the same schedule on
/// every machine and every version of every dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[derive(Clone, Debug)]
enum Write {
    Put { a: i64, b: Option<i64> },
    Update { field: usize, value: Option<i64> },
    Delete,
}

/// One step of a schedule. Indices into the network are taken modulo its
/// length, so any subsequence of a schedule is a valid schedule (shrinking).
#[derive(Clone, Debug)]
enum Step {
    Write {
        client: usize,
        key: usize,
        write: Write,
    },
    StartPush {
        client: usize,
    },
    StartPull {
        client: usize,
    },
    /// Delivers the `pick`-th message in flight (delay and reordering). With
    /// `duplicate`, a copy stays in flight; with `lose_reply`, the server
    /// commits but its response never arrives.
    Deliver {
        pick: usize,
        duplicate: bool,
        lose_reply: bool,
    },
    Drop {
        pick: usize,
    },
    /// The client gives up waiting (a fetch timeout) and may retry later.
    Timeout {
        client: usize,
    },
    Partition {
        client: usize,
    },
    Heal {
        client: usize,
    },
    RestartClient {
        client: usize,
    },
    RestartServer,
    Tick {
        ms: u64,
    },
}

fn schedule(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let client = |rng: &mut Rng| rng.index(CLIENTS);
    (0..STEPS)
        .map(|_| match rng.below(100) {
            0..=29 => Step::Write {
                client: client(&mut rng),
                key: rng.index(KEYS.len()),
                write: match rng.below(10) {
                    0..=2 => Write::Put {
                        a: rng.below(4) as i64,
                        b: (rng.below(2) == 0).then(|| rng.below(4) as i64),
                    },
                    3..=8 => Write::Update {
                        field: rng.index(FIELDS.len()),
                        value: (rng.below(6) != 0).then(|| rng.below(4) as i64),
                    },
                    _ => Write::Delete,
                },
            },
            30..=41 => Step::StartPush {
                client: client(&mut rng),
            },
            42..=51 => Step::StartPull {
                client: client(&mut rng),
            },
            52..=75 => Step::Deliver {
                pick: rng.index(8),
                duplicate: rng.below(8) == 0,
                lose_reply: rng.below(8) == 0,
            },
            76..=80 => Step::Drop { pick: rng.index(8) },
            81..=85 => Step::Timeout {
                client: client(&mut rng),
            },
            86..=88 => Step::Partition {
                client: client(&mut rng),
            },
            89..=91 => Step::Heal {
                client: client(&mut rng),
            },
            92..=93 => Step::RestartClient {
                client: client(&mut rng),
            },
            94 => Step::RestartServer,
            _ => Step::Tick { ms: rng.below(5) },
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Payload {
    Push {
        body: String,
        revs: Vec<u64>,
        acked: Vec<Acked>,
    },
    Pull {
        since: Option<String>,
    },
    PushReply {
        body: String,
        revs: Vec<u64>,
        acked: Vec<Acked>,
    },
    PullReply {
        body: String,
        since: Option<String>,
    },
    Notify,
}

#[derive(Clone, Debug)]
struct Message {
    client: usize,
    /// The client's request this belongs to (0 for notifications).
    request: u64,
    payload: Payload,
}

/// A write the server acknowledged: it must survive or be overwritten later.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    /// A field name, or `None` for the record's lifecycle (put / delete).
    field: Option<String>,
    ts: Timestamp,
}

/// A replica: what the browser client keeps in IndexedDB (records, the
/// `_changes` log, the pull cursor, the persisted clock) plus what lives
/// only in memory (the outstanding request).
struct Replica {
    records: BTreeMap<String, Map<String, Value>>,
    rows: Vec<ChangeRow>,
    next_rev: u64,
    cursor: Option<String>,
    clock: Clock,
    skew: u64,
    outstanding: Option<u64>,
    partitioned: bool,
    acked: Vec<Acked>,
}

impl Replica {
    fn new(skew: u64) -> Self {
        Replica {
            records: BTreeMap::new(),
            rows: Vec::new(),
            next_rev: 0,
            cursor: None,
            clock: Clock::new(),
            skew,
            outstanding: None,
            partitioned: false,
            acked: Vec::new(),
        }
    }

    fn log(
        &mut self,
        key: &str,
        kind: u8,
        obj: Option<Map<String, Value>>,
        mods: Option<Map<String, Value>>,
        wall: u64,
    ) {
        let stamp = self.clock.now(wall + self.skew);
        self.next_rev += 1;
        let mut row = ChangeRow::from_json(&json!({"table": TABLE, "key": key, "type": kind}), "")
            .expect("a change row");
        row.rev = Some(self.next_rev);
        row.stamp = Some(stamp);
        row.obj = obj;
        row.mods = mods;
        self.rows.push(row);
    }

    /// A local write, as `Storage::put` / `update` / `delete` log it.
    fn write(&mut self, key: &str, write: &Write, wall: u64) {
        match write {
            Write::Put { a, b } => {
                let mut obj = Map::new();
                obj.insert("id".into(), json!(key));
                obj.insert("a".into(), json!(a));
                if let Some(b) = b {
                    obj.insert("b".into(), json!(b));
                }
                self.records.insert(key.into(), obj.clone());
                self.log(key, 1, Some(obj), None, wall);
            }
            Write::Update { field, value } => {
                let Some(record) = self.records.get_mut(key) else {
                    return; // Dexie semantics: updating a missing record does nothing
                };
                let name = FIELDS[*field];
                match value {
                    Some(v) => record.insert(name.into(), json!(v)),
                    None => record.remove(name),
                };
                let obj = record.clone();
                let mut mods = Map::new();
                mods.insert(name.into(), value.map_or(Value::Null, |v| json!(v)));
                self.log(key, 2, Some(obj), Some(mods), wall);
            }
            Write::Delete => {
                if self.records.remove(key).is_some() {
                    self.log(key, 3, None, None, wall);
                }
            }
        }
    }

    fn pending_states(&self) -> BTreeMap<String, RecordState> {
        group_pending(&self.rows)
            .expect("pending rows group")
            .into_iter()
            .map(|p| (p.key.to_string(), p.state))
            .collect()
    }

    /// A push body of every pending write, coalesced per record, with the
    /// revs it covers and the writes it will acknowledge.
    fn push_request(&self, client: usize) -> Option<(String, Vec<u64>, Vec<Acked>)> {
        let pending = group_pending(&self.rows).expect("pending rows group");
        if pending.is_empty() {
            return None;
        }
        let mut acked = Vec::new();
        let mut changes = Vec::new();
        let mut revs = Vec::new();
        for record in &pending {
            let key = record.key.to_string();
            if let Some(lifecycle) = record.state.lifecycle() {
                acked.push(Acked {
                    key: key.clone(),
                    field: None,
                    ts: lifecycle.ts,
                });
            }
            for (name, register) in record.state.fields() {
                acked.push(Acked {
                    key: key.clone(),
                    field: Some(name.clone()),
                    ts: register.ts,
                });
            }
            changes.push(record.to_change().expect("a pending change"));
            revs.extend(&record.revs);
        }
        let body = PushRequest {
            client_id: format!("c{client}"),
            since: None,
            changes,
        }
        .to_json();
        Some((body, revs, acked))
    }

    /// Applies server changes as `Storage::apply_remote` does: each record
    /// merged with the pending writes on it; the clock observes every stamp.
    /// Then each changed record must show the server's state with this
    /// replica's pending writes merged in: a user never sees their own
    /// unsynced write vanish.
    fn apply(&mut self, changes: &[Change]) -> Result<(), String> {
        let pending = self.pending_states();
        for change in changes {
            let key = change.id.to_string();
            let incoming = change.to_state(Timestamp::ZERO);
            if let Some(ts) = incoming.max_ts() {
                self.clock.observe(ts);
            }
            let out = apply_remote(self.records.get(&key), pending.get(&key), &incoming);
            match out.record {
                Some(record) => self.records.insert(key.clone(), record),
                None => self.records.remove(&key),
            };
            let mut expected = incoming;
            if let Some(p) = pending.get(&key) {
                expected.merge(p);
            }
            if self.records.get(&key) != expected.visible().as_ref() {
                return Err(format!(
                    "after applying {key}, the view shows {:?} instead of the server's state with pending writes merged: {:?}",
                    self.records.get(&key),
                    expected.visible()
                ));
            }
        }
        Ok(())
    }

    /// The pushed rows are acknowledged: removed by rev, as
    /// `Storage::acknowledge` does (later writes keep theirs).
    fn acknowledge(&mut self, revs: &[u64]) {
        let revs: BTreeSet<u64> = revs.iter().copied().collect();
        self.rows.retain(|r| !revs.contains(&r.rev.expect("a rev")));
    }
}

struct Sim {
    path: PathBuf,
    store: Store,
    clock: Arc<Mutex<Clock>>,
    replicas: Vec<Replica>,
    network: Vec<Message>,
    next_request: u64,
    wall: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

impl Sim {
    async fn new(seed: u64, attempt: u64) -> Self {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!(
            "fieldsync-sim-{}-{seed}-{attempt}.sqlite",
            std::process::id()
        ));
        remove_database(&path);
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("a store");
        let mut rng = Rng(seed ^ 0x5EED);
        let replicas = (0..CLIENTS).map(|_| Replica::new(rng.below(4))).collect();
        Sim {
            path,
            store,
            clock: Arc::new(Mutex::new(Clock::new())),
            replicas,
            network: Vec::new(),
            next_request: 1,
            wall: now_ms(),
        }
    }

    fn send(&mut self, client: usize, payload: Payload) {
        let request = self.next_request;
        self.next_request += 1;
        self.replicas[client].outstanding = Some(request);
        self.network.push(Message {
            client,
            request,
            payload,
        });
    }

    fn start_push(&mut self, client: usize) {
        let r = &self.replicas[client];
        if r.outstanding.is_some() || r.partitioned {
            return;
        }
        if let Some((body, revs, acked)) = r.push_request(client) {
            self.send(client, Payload::Push { body, revs, acked });
        }
    }

    fn start_pull(&mut self, client: usize) {
        let r = &self.replicas[client];
        if r.outstanding.is_some() || r.partitioned {
            return;
        }
        let since = r.cursor.clone();
        self.send(client, Payload::Pull { since });
    }

    /// The server handles a request: the real validation and storage code.
    async fn serve(&mut self, message: &Message) -> Result<Option<Payload>, String> {
        match &message.payload {
            Payload::Push { body, revs, acked } => {
                let request = PushRequest::parse(body.as_bytes())
                    .map_err(|e| format!("push refused: {e}"))?;
                let outcome = self
                    .store
                    .push(APP, USER, request, &self.clock, 1)
                    .await
                    .map_err(|e| format!("push failed: {e}"))?;
                if !outcome.changed_tables.is_empty() {
                    for other in 0..CLIENTS {
                        if other != message.client {
                            self.network.push(Message {
                                client: other,
                                request: 0,
                                payload: Payload::Notify,
                            });
                        }
                    }
                }
                let response = PushResponse {
                    server_changes: outcome.server_changes,
                    conflicts: outcome.conflicts,
                    synced_until: outcome.synced_until,
                };
                Ok(Some(Payload::PushReply {
                    body: response.to_json(),
                    revs: revs.clone(),
                    acked: acked.clone(),
                }))
            }
            Payload::Pull { since } => {
                let page = self
                    .store
                    .pull(
                        APP,
                        USER,
                        TABLE,
                        Since::parse(since.as_deref()).map_err(|e| format!("{e}"))?,
                        PAGE,
                    )
                    .await
                    .map_err(|e| format!("pull failed: {e}"))?;
                Ok(Some(Payload::PullReply {
                    body: page.to_json(),
                    since: since.clone(),
                }))
            }
            _ => Ok(None),
        }
    }

    /// A response or notification reaches its client.
    fn receive(&mut self, message: Message) -> Result<(), String> {
        let client = message.client;
        let replica = &mut self.replicas[client];
        match message.payload {
            Payload::Notify => {
                // `sync-available`: the client pulls (if it is not busy).
                self.start_pull(client);
            }
            // A response to a request the client gave up on is never read
            // (the fetch was aborted).
            _ if replica.outstanding != Some(message.request) => {}
            Payload::PushReply { body, revs, acked } => {
                let response =
                    wire::parse(body.as_bytes(), PushResponse::from_json).expect("a push response");
                replica.apply(&response.server_changes)?;
                replica.acknowledge(&revs);
                replica.acked.extend(acked);
                replica.outstanding = None;
            }
            Payload::PullReply { body, since } => {
                let page =
                    wire::parse(body.as_bytes(), PullResponse::from_json).expect("a pull response");
                replica.outstanding = None;
                // The cursor is checked and set with the page (cursor CAS).
                if replica.cursor == since {
                    replica.apply(&page.server_changes)?;
                    replica.cursor = Some(page.synced_until.0.clone());
                    if page.has_more {
                        self.start_pull(client);
                    }
                }
            }
            Payload::Push { .. } | Payload::Pull { .. } => {
                unreachable!("requests go to the server")
            }
        }
        Ok(())
    }

    async fn deliver(
        &mut self,
        pick: usize,
        duplicate: bool,
        lose_reply: bool,
    ) -> Result<(), String> {
        if self.network.is_empty() {
            return Ok(());
        }
        let index = pick % self.network.len();
        let message = if duplicate {
            self.network[index].clone()
        } else {
            self.network.remove(index)
        };
        if self.replicas[message.client].partitioned {
            if duplicate {
                self.network.remove(index);
            }
            return Ok(()); // lost in the partition
        }
        match message.payload {
            Payload::Push { .. } | Payload::Pull { .. } => {
                // The server commits whether or not its reply gets through.
                let reply = self.serve(&message).await?;
                if let Some(reply) = reply
                    && !lose_reply
                {
                    self.network.push(Message {
                        client: message.client,
                        request: message.request,
                        payload: reply,
                    });
                }
            }
            _ => self.receive(message)?,
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Write { client, key, write } => {
                let wall = self.wall;
                self.replicas[*client].write(KEYS[*key], write, wall);
            }
            Step::StartPush { client } => self.start_push(*client),
            Step::StartPull { client } => self.start_pull(*client),
            Step::Deliver {
                pick,
                duplicate,
                lose_reply,
            } => self.deliver(*pick, *duplicate, *lose_reply).await?,
            Step::Drop { pick } => {
                if !self.network.is_empty() {
                    let index = pick % self.network.len();
                    self.network.remove(index);
                }
            }
            Step::Timeout { client } => self.replicas[*client].outstanding = None,
            Step::Partition { client } => {
                self.replicas[*client].partitioned = true;
                self.replicas[*client].outstanding = None;
            }
            Step::Heal { client } => self.replicas[*client].partitioned = false,
            Step::RestartClient { client } => {
                // Only what IndexedDB holds survives; messages to the old
                // page are lost with it.
                self.replicas[*client].outstanding = None;
                self.network.retain(|m| m.client != *client);
            }
            Step::RestartServer => {
                let url = format!("sqlite://{}", self.path.display());
                self.store = Store::connect(&url)
                    .await
                    .map_err(|e| format!("reopening the store: {e}"))?;
                let mut clock = Clock::new();
                if let Some(last) = self.store.load_clock().await.map_err(|e| format!("{e}"))? {
                    clock.observe(last);
                }
                self.clock = Arc::new(Mutex::new(clock));
            }
            Step::Tick { ms } => self.wall += ms,
        }
        Ok(())
    }

    /// Runs the client's outstanding request, and the pages that follow
    /// it, to completion over a reliable network.
    async fn round_trip(&mut self, client: usize) -> Result<(), String> {
        let mut pages = 0;
        while let Some(request) = self.replicas[client].outstanding {
            pages += 1;
            if pages > 1000 {
                return Err(format!(
                    "client {client}'s sync never ends (1,000 requests)"
                ));
            }
            let Some(i) = self.network.iter().position(|m| {
                m.client == client
                    && m.request == request
                    && matches!(m.payload, Payload::Push { .. } | Payload::Pull { .. })
            }) else {
                self.replicas[client].outstanding = None;
                break;
            };
            let message = self.network.remove(i);
            let reply = self.serve(&message).await?.expect("a request has a reply");
            self.receive(Message {
                client,
                request,
                payload: reply,
            })?;
        }
        Ok(())
    }

    /// Heals everything: every partition ends, nothing is lost in flight any
    /// more, every replica pushes all it has, then every replica pulls to
    /// the end.
    async fn heal(&mut self) -> Result<(), String> {
        self.network.clear();
        for r in &mut self.replicas {
            r.partitioned = false;
            r.outstanding = None;
        }
        for client in 0..CLIENTS {
            // Each push round may be followed by more writes merged from the
            // response; a few rounds always suffice.
            for _ in 0..5 {
                self.start_push(client);
                self.round_trip(client).await?;
            }
            if !self.replicas[client].rows.is_empty() {
                return Err(format!(
                    "client {client} still has pending writes after healing"
                ));
            }
        }
        self.network.clear(); // the notifications of those pushes
        for client in 0..CLIENTS {
            self.start_pull(client);
            self.round_trip(client).await?;
        }
        Ok(())
    }

    /// The server's state, read as a brand-new client would pull it.
    async fn server_state(&self) -> Result<BTreeMap<String, RecordState>, String> {
        let mut since = Since::parse(None).map_err(|e| format!("{e}"))?;
        let mut state = BTreeMap::new();
        loop {
            let page = self
                .store
                .pull(APP, USER, TABLE, since, 1000)
                .await
                .map_err(|e| format!("{e}"))?;
            for change in &page.server_changes {
                state.insert(change.id.to_string(), change.to_state(Timestamp::ZERO));
            }
            since = Since::parse(Some(&page.synced_until.0)).map_err(|e| format!("{e}"))?;
            if !page.has_more {
                return Ok(state);
            }
        }
    }

    async fn check(&self) -> Result<(), String> {
        let server = self.server_state().await?;
        let visible: BTreeMap<String, Map<String, Value>> = server
            .iter()
            .filter_map(|(k, s)| s.visible().map(|v| (k.clone(), v)))
            .collect();
        for (i, r) in self.replicas.iter().enumerate() {
            if r.records != visible {
                return Err(format!(
                    "client {i} diverged from the server\n  client: {:?}\n  server: {visible:?}",
                    r.records
                ));
            }
            for write in &r.acked {
                let Some(state) = server.get(&write.key) else {
                    return Err(format!(
                        "client {i}'s acknowledged write {write:?} is gone: no record"
                    ));
                };
                let lifecycle = state.lifecycle().map(|l| l.ts);
                let kept = match &write.field {
                    None => lifecycle.is_some_and(|ts| ts >= write.ts),
                    Some(name) => {
                        state.field(name).is_some_and(|reg| reg.ts >= write.ts)
                            || lifecycle.is_some_and(|ts| ts >= write.ts)
                    }
                };
                if !kept {
                    return Err(format!(
                        "client {i}'s acknowledged write {write:?} was lost: the server holds {state:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Runs a schedule; `Err` says what broke.
async fn run(seed: u64, attempt: u64, steps: &[Step]) -> Result<(), String> {
    let mut sim = Sim::new(seed, attempt).await;
    let mut outcome = Ok(());
    for step in steps {
        if let Err(e) = sim.step(step).await {
            outcome = Err(e);
            break;
        }
    }
    if outcome.is_ok() {
        outcome = sim.heal().await;
    }
    if outcome.is_ok() {
        outcome = sim.check().await;
    }
    drop(sim.store);
    remove_database(&sim.path);
    outcome
}

/// Removes steps while the schedule still fails: halves, then quarters, …
/// then single steps.
async fn shrink(seed: u64, mut steps: Vec<Step>) -> (Vec<Step>, String) {
    let mut attempt = 1;
    let mut error = run(seed, attempt, &steps)
        .await
        .expect_err("the schedule fails");
    let mut chunk = steps.len() / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < steps.len() {
            let mut candidate = steps.clone();
            candidate.drain(start..(start + chunk).min(steps.len()));
            attempt += 1;
            match run(seed, attempt, &candidate).await {
                Err(e) => {
                    steps = candidate;
                    error = e;
                }
                Ok(()) => start += chunk,
            }
        }
        chunk /= 2;
    }
    (steps, error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_under_faults() {
    let seeds: Vec<u64> = match std::env::var("FIELDSYNC_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("FIELDSYNC_SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("FIELDSYNC_SIM_SEEDS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(300);
            (1..=n).collect()
        }
    };
    for seed in seeds {
        let steps = schedule(seed);
        if let Err(error) = run(seed, 0, &steps).await {
            let (shortest, shortest_error) = shrink(seed, steps.clone()).await;
            panic!(
                "seed {seed} failed: {error}\n\nreplay: FIELDSYNC_SIM_SEED={seed} cargo test -p fieldsync-server --test simulation\n\n\
                 shortest failing schedule found ({} of {} steps), failing with: {shortest_error}\n{}",
                shortest.len(),
                steps.len(),
                shortest
                    .iter()
                    .map(|s| format!("  {s:?}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// The checks can fail: a replica that diverged, or an acknowledged write
/// the server does not hold, is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_catch_divergence_and_lost_writes() {
    let steps = vec![
        Step::Write {
            client: 0,
            key: 0,
            write: Write::Put { a: 1, b: None },
        },
        Step::StartPush { client: 0 },
        Step::Deliver {
            pick: 0,
            duplicate: false,
            lose_reply: false,
        },
        Step::Deliver {
            pick: 0,
            duplicate: false,
            lose_reply: false,
        },
    ];
    let mut sim = Sim::new(u64::MAX, 0).await;
    for step in &steps {
        sim.step(step).await.unwrap();
    }
    sim.heal().await.unwrap();
    assert_eq!(sim.check().await, Ok(()));
    // Corrupt one replica's view: the check must notice.
    sim.replicas[3].records.clear();
    let error = sim.check().await.unwrap_err();
    assert!(error.contains("client 3 diverged"), "{error}");
    // And an acknowledged write the server does not hold.
    sim.replicas[3].records = sim.replicas[0].records.clone();
    sim.replicas[0].acked.push(Acked {
        key: "k9".into(),
        field: Some("a".into()),
        ts: Timestamp::ZERO,
    });
    let error = sim.check().await.unwrap_err();
    assert!(error.contains("acknowledged write"), "{error}");
    drop(sim.store);
    remove_database(&sim.path);
}

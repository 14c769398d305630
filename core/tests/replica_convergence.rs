//! Replicas built on the browser replica's rules (clean values need no
//! timestamps; pending writes live in stamped `_changes` rows) converge with
//! the server under any interleaving of local writes, pushes and pulls, with
//! skewed clocks. 1,000 cases by default (`PROPTEST_CASES` overrides it).

use std::collections::BTreeMap;

use fieldsync_core::replica::{apply_remote, group_pending};
use fieldsync_core::{Change, ChangeRow, Clock, RecordKey, RecordState, Timestamp, wire};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KEYS: [&str; 2] = ["k0", "k1"];

/// What an app sees: visible records by key.
type View = BTreeMap<String, Map<String, Value>>;

#[derive(Clone, Debug)]
enum Step {
    Put {
        client: usize,
        key: usize,
        a: i64,
        b: Option<i64>,
    },
    Update {
        client: usize,
        key: usize,
        field: usize,
        value: Option<i64>,
    },
    Delete {
        client: usize,
        key: usize,
    },
    Push {
        client: usize,
    },
    Pull {
        client: usize,
    },
    Tick {
        ms: u64,
    },
}

fn step(clients: usize) -> impl Strategy<Value = Step> {
    let c = 0..clients;
    prop_oneof![
        (
            c.clone(),
            0..KEYS.len(),
            0i64..3,
            proptest::option::of(0i64..3)
        )
            .prop_map(|(client, key, a, b)| Step::Put { client, key, a, b }),
        (
            c.clone(),
            0..KEYS.len(),
            0usize..2,
            proptest::option::weighted(0.8, 0i64..3)
        )
            .prop_map(|(client, key, field, value)| Step::Update {
                client,
                key,
                field,
                value
            }),
        (c.clone(), 0..KEYS.len()).prop_map(|(client, key)| Step::Delete { client, key }),
        c.clone().prop_map(|client| Step::Push { client }),
        c.prop_map(|client| Step::Pull { client }),
        (0u64..3).prop_map(|ms| Step::Tick { ms }),
    ]
}

struct Server {
    records: BTreeMap<String, RecordState>,
}

struct Client {
    records: BTreeMap<String, Map<String, Value>>,
    rows: Vec<ChangeRow>,
    next_rev: u64,
    clock: Clock,
    skew: u64,
}

impl Client {
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
        let mut row =
            ChangeRow::from_json(&json!({"table": "t", "key": key, "type": kind}), "").unwrap();
        row.rev = Some(self.next_rev);
        row.stamp = Some(stamp);
        row.obj = obj;
        row.mods = mods;
        self.rows.push(row);
    }

    fn push(&mut self, server: &mut Server) {
        let pending = group_pending(&self.rows).unwrap();
        for record in &pending {
            let change = record.to_change().unwrap();
            // Over the wire and back, as the real client and server do.
            let change = wire::parse(change.to_json().as_bytes(), Change::from_json).unwrap();
            server
                .records
                .entry(change.id.to_string())
                .or_default()
                .merge(&change.to_state(Timestamp::ZERO));
        }
        let acked: Vec<u64> = pending.iter().flat_map(|p| p.revs.clone()).collect();
        self.rows.retain(|r| !acked.contains(&r.rev.unwrap()));
    }

    /// The pending writes, coalesced per record key.
    fn pending_states(&self) -> BTreeMap<String, RecordState> {
        group_pending(&self.rows)
            .unwrap()
            .into_iter()
            .map(|p| (p.key.to_string(), p.state))
            .collect()
    }

    fn pull(&mut self, server: &Server) {
        let pending = self.pending_states();
        for (key, state) in &server.records {
            let id = RecordKey::new(json!(key)).unwrap();
            let change = Change::from_state("t", &id, state).unwrap();
            let incoming = change.to_state(Timestamp::ZERO);
            if let Some(ts) = incoming.max_ts() {
                self.clock.observe(ts);
            }
            let out = apply_remote(self.records.get(key), pending.get(key), &incoming);
            match out.record {
                Some(record) => self.records.insert(key.clone(), record),
                None => self.records.remove(key),
            };
        }
    }
}

impl Client {
    /// Right after a pull, the app sees the server's state with its own
    /// pending writes merged in.
    fn check_view(&self, server: &Server) {
        let pending = self.pending_states();
        for (key, state) in &server.records {
            let mut expected = state.clone();
            if let Some(p) = pending.get(key) {
                expected.merge(p);
            }
            assert_eq!(
                self.records.get(key),
                expected.visible().as_ref(),
                "view of {key}"
            );
        }
    }
}

fn run(steps: &[Step], skews: &[u64]) -> (Vec<View>, View) {
    let mut server = Server {
        records: BTreeMap::new(),
    };
    let mut clients: Vec<Client> = skews
        .iter()
        .map(|&skew| Client {
            records: BTreeMap::new(),
            rows: Vec::new(),
            next_rev: 0,
            clock: Clock::new(),
            skew,
        })
        .collect();
    let mut wall = 1_700_000_000_000u64;
    for s in steps {
        match s.clone() {
            Step::Put { client, key, a, b } => {
                let mut obj = Map::new();
                obj.insert("id".into(), json!(KEYS[key]));
                obj.insert("a".into(), json!(a));
                if let Some(b) = b {
                    obj.insert("b".into(), json!(b));
                }
                let c = &mut clients[client];
                c.records.insert(KEYS[key].into(), obj.clone());
                c.log(KEYS[key], 1, Some(obj), None, wall);
            }
            Step::Update {
                client,
                key,
                field,
                value,
            } => {
                let c = &mut clients[client];
                let Some(record) = c.records.get_mut(KEYS[key]) else {
                    continue;
                };
                let name = ["a", "b"][field];
                match value {
                    Some(v) => {
                        record.insert(name.into(), json!(v));
                    }
                    None => {
                        record.remove(name);
                    }
                }
                let obj = record.clone();
                let mut mods = Map::new();
                mods.insert(name.into(), value.map_or(Value::Null, |v| json!(v)));
                c.log(KEYS[key], 2, Some(obj), Some(mods), wall);
            }
            Step::Delete { client, key } => {
                let c = &mut clients[client];
                if c.records.remove(KEYS[key]).is_some() {
                    c.log(KEYS[key], 3, None, None, wall);
                }
            }
            Step::Push { client } => clients[client].push(&mut server),
            Step::Pull { client } => {
                clients[client].pull(&server);
                clients[client].check_view(&server);
            }
            Step::Tick { ms } => wall += ms,
        }
    }
    // Heal: everyone pushes, then everyone pulls.
    for c in &mut clients {
        c.push(&mut server);
    }
    for c in &mut clients {
        c.pull(&server);
    }
    let server_view = server
        .records
        .iter()
        .filter_map(|(k, s)| s.visible().map(|v| (k.clone(), v)))
        .collect();
    (
        clients.into_iter().map(|c| c.records).collect(),
        server_view,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_and_server_converge(
        skews in proptest::collection::vec(0u64..4, 3),
        steps in proptest::collection::vec(step(3), 0..40),
    ) {
        let (clients, server) = run(&steps, &skews);
        for client in &clients {
            prop_assert_eq!(client, &server);
        }
    }
}

/// A write made after seeing a value beats it, however slow the writer's
/// wall clock: the clock observed the value's stamp when it was pulled.
#[test]
fn causally_later_write_wins_despite_a_slow_clock() {
    let steps = [
        Step::Put {
            client: 0,
            key: 0,
            a: 1,
            b: None,
        },
        Step::Push { client: 0 },
        Step::Pull { client: 1 },
        Step::Update {
            client: 1,
            key: 0,
            field: 0,
            value: Some(2),
        },
    ];
    // Client 0's clock runs 3 ms ahead of client 1's.
    let (clients, server) = run(&steps, &[3, 0, 0]);
    assert_eq!(server["k0"]["a"], 2);
    assert_eq!(clients[0], server);
}

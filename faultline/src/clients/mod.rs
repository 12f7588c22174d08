//! The clients of a run (docs/design.md, "A test run"; step 5 in [`crate::run`]): tokio tasks that
//! run the generator ([`workload`]) through an adapter ([`adapter`]) against the nodes, every op
//! recorded as it happens by the [`recorder`] in `history.jsonl`; after the nemesis, one client
//! reads every key.

pub mod adapter;
pub mod recorder;
pub mod workload;

use crate::run::TestConfig;
use crate::store::RunDir;
use adapter::{Client, ClientOptions, Connector};
use anyhow::{Context, Result};
use recorder::Recorder;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use workload::Shared;

/// What a run's `history.jsonl` starts with: the run, its nodes and its workload.
pub struct Header<'a> {
    /// The run's id.
    pub run_id: &'a str,
    /// The node ids.
    pub nodes: &'a [String],
    /// When the run started (RFC 3339).
    pub started: &'a str,
}

/// Creates `history.jsonl` with its header line.
pub fn create_recorder(
    cfg: &TestConfig,
    run_dir: &RunDir,
    header: &Header,
) -> Result<Arc<Recorder>> {
    let header = json!({
        "faultline": 1,
        "system": cfg.spec.name,
        "nemesis": cfg.plan.name(),
        "seed": cfg.workload.seed,
        "run_id": header.run_id,
        "nodes": header.nodes,
        "command": cfg.command,
        "started": header.started,
        "workload": {
            "name": cfg.workload.kind.name(),
            "concurrency": cfg.workload.concurrency,
            "rate": cfg.workload.rate,
            "keys": cfg.workload.keys,
            "read_pct": cfg.workload.read_pct,
            "write_pct": cfg.workload.write_pct,
            "clients": cfg.workload.clients.name(),
            "op_timeout_ms": cfg.op_timeout.as_millis() as u64,
        },
        "node_args": cfg.node_args,
    });
    let recorder = Recorder::create(&run_dir.history(), header)
        .with_context(|| format!("create {}", run_dir.history().display()))?;
    Ok(Arc::new(recorder))
}

/// A client of `cfg`'s adapter named `name`, starting at node `first`.
fn client(
    cfg: &TestConfig,
    addrs: &[(String, SocketAddr)],
    connector: &Arc<dyn Connector>,
    first: usize,
    name: String,
) -> Client {
    Client::with_options(
        cfg.spec.client,
        ClientOptions::from_spec(&cfg.spec),
        addrs.to_vec(),
        first,
        Arc::clone(connector),
        name,
        cfg.op_timeout,
    )
}

/// The running client tasks.
pub struct Clients {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Starts `cfg.workload.concurrency` clients, client `i` first talking to node `i mod N`
    /// (and, spread, each process `p` to node `p mod N`: see [`workload::ClientMode`]).
    pub fn start(
        cfg: &TestConfig,
        rt: &Runtime,
        shared: &Arc<Shared>,
        addrs: &[(String, SocketAddr)],
        connector: &Arc<dyn Connector>,
    ) -> Clients {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..cfg.workload.concurrency)
            .map(|slot| {
                let client = client(
                    cfg,
                    addrs,
                    connector,
                    slot % addrs.len(),
                    format!("c{slot}"),
                );
                rt.spawn(workload::client_loop(
                    slot,
                    cfg.workload.clone(),
                    Arc::clone(shared),
                    client,
                    stopped.clone(),
                ))
            })
            .collect();
        Clients { stop, tasks }
    }

    /// Stops every client; an op in flight completes or times out first.
    pub fn stop(self, rt: &Runtime) {
        let _ = self.stop.send(true);
        rt.block_on(async {
            for t in self.tasks {
                let _ = t.await;
            }
        });
    }
}

/// One client reads every key, retrying within `cfg.final_read_budget`; returns the keys read.
pub fn final_reads(
    cfg: &TestConfig,
    rt: &Runtime,
    shared: &Shared,
    addrs: &[(String, SocketAddr)],
    connector: &Arc<dyn Connector>,
) -> usize {
    let mut reader = client(cfg, addrs, connector, 0, "final".to_string());
    rt.block_on(workload::final_reads(
        shared,
        &mut reader,
        cfg.final_read_budget,
    ))
}

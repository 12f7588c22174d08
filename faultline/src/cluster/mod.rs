//! The cluster of a run: one network namespace per node (built by the `nemesis` crate's netns
//! backend, every name carrying the run id), the nodes started from the system spec, and the wait
//! until each accepts connections (docs/design.md, "A test run"; steps 3 and 4 in [`crate::run`]).
//!
//! [`netns`] opens the clients' connections from inside the clients' namespace; [`crash`] tells a
//! node that ended by itself from one the nemesis killed.

pub mod crash;
pub mod netns;

use crate::maelstrom;
use crate::run::TestConfig;
use crate::spec::{Adapter, NodeVars};
use crate::store::RunDir;
use anyhow::{bail, Context, Result};
use nemesis::{Run, RunId, SpawnSpec};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The namespaces and node processes of one run, and where clients reach each node.
pub struct Cluster {
    /// The nemesis crate's run: namespaces, processes, faults; torn down when dropped.
    pub run: Run,
    /// The node ids, `n1` .. `nN`.
    pub nodes: Vec<String>,
    /// Each node's client address.
    pub addrs: Vec<(String, SocketAddr)>,
    /// For Maelstrom nodes: the services' listener, bound in the clients' namespace before the
    /// relays started (they connect to it); the run serves it ([`crate::maelstrom::service`]).
    pub services: Option<std::net::TcpListener>,
}

impl Cluster {
    /// Builds the namespaces of run `id` and starts every node with the spec's command
    /// (placeholders filled in, `--node-args` appended), stdout and stderr to `nodes/<id>.log`.
    pub fn start(cfg: &TestConfig, run_dir: &RunDir, id: RunId) -> Result<Cluster> {
        let run = Run::netns(id, cfg.nodes)?;
        let nodes: Vec<String> = run.nodes().to_vec();
        let mut vars = Vec::new();
        for node in &nodes {
            let ip = run.backend().address(node)?;
            let data_dir = run_dir.node_data(node);
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("create {}", data_dir.display()))?;
            vars.push(NodeVars {
                id: node.clone(),
                ip: ip.to_string(),
                data_dir,
            });
        }
        let mut addrs = Vec::new();
        for v in &vars {
            let text = cfg.spec.client_addr(v, &cfg.bin_dir);
            let addr: SocketAddr = text.parse().with_context(|| {
                format!("spec field `client_addr` rendered to {text:?}, expected IP:PORT")
            })?;
            addrs.push((v.id.clone(), addr));
        }
        let maelstrom = cfg.spec.client == Adapter::Maelstrom;
        let mut services = None;
        let mut node_ips = Vec::new();
        for v in &vars {
            let ip: IpAddr =
                v.ip.parse()
                    .with_context(|| format!("node {} has address {:?}", v.id, v.ip))?;
            node_ips.push((v.id.clone(), ip));
        }
        let service_addr = node_ips
            .first()
            .map(|(_, ip)| SocketAddr::new(maelstrom::clients_ip(*ip), maelstrom::SERVICE_PORT));
        if let (true, Some(addr)) = (maelstrom, service_addr) {
            let netns = nemesis::names::netns_name(run.run_id(), "c");
            let listener = nemesis::in_netns(&netns, move || std::net::TcpListener::bind(addr))?
                .with_context(|| format!("listen for the Maelstrom services on {addr}"))?;
            listener.set_nonblocking(true)?;
            services = Some(listener);
        }
        for (i, v) in vars.iter().enumerate() {
            let mut argv = cfg.spec.start_command(v, &vars, &cfg.bin_dir);
            argv.extend(cfg.node_args.iter().cloned());
            if let (true, Some(service)) = (maelstrom, service_addr) {
                let stats = maelstrom::stats::path(&run_dir.dir, &v.id);
                let plan = maelstrom::RelayPlan {
                    program: cfg.bin_dir.join("faultline").display().to_string(),
                    id: &v.id,
                    nodes: &node_ips,
                    client_addr: addrs[i].1,
                    service,
                    stats: &stats,
                    net: cfg.net,
                    seed: cfg.workload.seed,
                    init_timeout_s: cfg.spec.ready_timeout_s,
                };
                argv = maelstrom::relay_command(&plan, argv);
            }
            let program = argv.remove(0);
            let mut spawn = SpawnSpec::new(program, argv, run_dir.node_log(&v.id));
            spawn.env = cfg
                .spec
                .env
                .iter()
                .map(|(k, val)| (k.clone(), val.clone()))
                .collect();
            run.start(&v.id, spawn)
                .with_context(|| format!("starting {}", v.id))?;
        }
        Ok(Cluster {
            run,
            nodes,
            addrs,
            services,
        })
    }

    /// Waits until every node accepts a connection on its client address.
    pub fn wait_ready(&self, cfg: &TestConfig, run_dir: &RunDir) -> Result<()> {
        let run = &self.run;
        let deadline = Instant::now() + Duration::from_secs_f64(cfg.spec.ready_timeout_s);
        for (node, addr) in &self.addrs {
            loop {
                match run
                    .backend()
                    .connect(node, addr.port(), Duration::from_millis(500))
                {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => bail!(
                        "node {node} did not accept connections on {addr} within {} s ({e}); see {}",
                        cfg.spec.ready_timeout_s,
                        cfg.store.display()
                    ),
                    Err(_) => {
                        if let Some(h) = run.process(node) {
                            if let Ok(state) = run.state(node) {
                                if !state.is_alive() {
                                    let log = run_dir.node_log(node);
                                    let why = crash::telling_line_of(&log)
                                        .map(|l| format!(": {l}"))
                                        .unwrap_or_default();
                                    bail!(
                                        "node {node} (pid {}) exited before it was ready \
                                         ({state:?}){why}; its log: {}",
                                        h.pid,
                                        log.display()
                                    );
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Splits `--node-args` into words as a POSIX shell would (the `shlex` crate): spaces, tabs
/// and newlines separate words, single and double quotes group them, `\"` inside double quotes
/// is a quote. An unclosed quote or a trailing escape is an error. Beyond what node arguments
/// use, POSIX rules apply: `\` escapes outside quotes too, and a word starting with `#` starts
/// a comment.
pub fn split_args(text: &str) -> Result<Vec<String>> {
    match shlex::split(text) {
        Some(words) => Ok(words),
        None => bail!("unclosed quote or unfinished escape in {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_node_args_like_a_shell() {
        assert_eq!(
            split_args("--bug stale-read  --x 'a b' \"c\\\"d\"").unwrap(),
            vec!["--bug", "stale-read", "--x", "a b", "c\"d"]
        );
        assert!(split_args("").unwrap().is_empty());
        assert!(split_args("--x 'open").is_err());
    }
}

//! `faultline relay`: one Maelstrom node behind a relay ([`faultline::maelstrom::relay`]).

use crate::cmd::args::RelayArgs;
use anyhow::{anyhow, Result};
use faultline::exit::ExitCode;
use faultline::maelstrom::relay::{self, RelayConfig};
use std::time::Duration;

/// Runs the relay until its node ends, then exits with the node's code (the harness tells a
/// node that ended by itself from one the nemesis killed by that).
pub fn run(args: &RelayArgs) -> Result<ExitCode> {
    let mut nodes = Vec::new();
    for n in &args.nodes {
        let (id, ip) = n
            .split_once('=')
            .ok_or_else(|| anyhow!("--node {n:?}: expected ID=IP"))?;
        let ip = ip
            .parse()
            .map_err(|e| anyhow!("--node {n:?}: bad address: {e}"))?;
        nodes.push((id.to_string(), ip));
    }
    if !(args.init_timeout.is_finite() && args.init_timeout > 0.0 && args.init_timeout <= 3600.0) {
        return Err(anyhow!(
            "--init-timeout: expected seconds above 0 and at most 3600, found {}",
            args.init_timeout
        ));
    }
    let code = relay::run(RelayConfig {
        id: args.id.clone(),
        nodes,
        client_listen: args.client_listen,
        service: args.service,
        stats: args.stats.clone(),
        net: args.net.options(),
        seed: args.seed,
        init_timeout: Duration::from_secs_f64(args.init_timeout),
        command: args.command.clone(),
    })?;
    std::process::exit(code);
}

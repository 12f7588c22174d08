//! `faultline maelstrom`: Maelstrom's command line, on faultline's harness. The flags become a
//! system spec made on the spot (`client = "maelstrom"`, `start` = `--bin` and the arguments
//! after `--`) and a `faultline test` configuration; the store, the report and the exit codes
//! are faultline's.

use crate::cmd::args::{MaelstromArgs, TestArgs};
use anyhow::{bail, Context, Result};
use faultline::clients::workload::ClientMode;
use faultline::exit::ExitCode;
use faultline::spec::{Adapter, SystemSpec};

/// Parses `--concurrency`: a number, or `Kn` for K clients per node.
pub fn concurrency(text: &str, nodes: usize) -> Result<usize> {
    let bad = || {
        anyhow::anyhow!(
            "--concurrency: expected a number or Kn (K per node, e.g. 2n), found {text:?}"
        )
    };
    let n = match text.strip_suffix('n') {
        Some("") => nodes,
        Some(k) => k.parse::<usize>().map_err(|_| bad())? * nodes,
        None => text.parse::<usize>().map_err(|_| bad())?,
    };
    if n == 0 {
        bail!("--concurrency: expected at least 1 client, found {text:?}");
    }
    Ok(n)
}

/// The spec of a Maelstrom node run as `bin args...`.
pub fn spec_for(bin: &std::path::Path, args: &[String]) -> Result<SystemSpec> {
    let path = std::fs::canonicalize(bin)
        .with_context(|| format!("--bin {}: cannot find the node's executable", bin.display()))?;
    let meta = std::fs::metadata(&path).with_context(|| format!("--bin {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!(
            "--bin {}: not an executable file (chmod +x it, and give it a #! line if it is a script)",
            path.display()
        );
    }
    let mut words = vec![path.display().to_string()];
    words.extend(args.iter().cloned());
    let start = shlex::try_join(words.iter().map(String::as_str))
        .context("--bin and the node's arguments")?;
    let name: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "maelstrom".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let text = format!(
        "name = {name:?}\nclient = \"maelstrom\"\nstart = {start:?}\n",
        name = format!("maelstrom-{name}"),
    );
    let mut spec = SystemSpec::parse(&text).map_err(anyhow::Error::msg)?;
    spec.dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    debug_assert_eq!(spec.client, Adapter::Maelstrom);
    Ok(spec)
}

/// The `faultline test` flags that `args` mean.
fn test_args(args: &MaelstromArgs) -> Result<TestArgs> {
    Ok(TestArgs {
        system: args.bin.clone(),
        nodes: args.node_count,
        nemesis: args.nemesis.clone(),
        nemesis_interval: args.nemesis_interval,
        time_limit: args.time_limit,
        concurrency: concurrency(&args.concurrency, args.node_count)?,
        rate: args.rate,
        keys: args.keys,
        read_pct: 50,
        write_pct: 25,
        op_timeout: args.op_timeout,
        seed: args.seed,
        node_args: None,
        store: args.store.clone(),
        check_time_limit: 120.0,
        clients: ClientMode::Spread,
        workload: args.workload,
        topology: args.topology,
        net: args.net.clone(),
        json: args.json,
    })
}

/// Runs `faultline maelstrom`.
pub fn run(args: &MaelstromArgs) -> Result<ExitCode> {
    if args.node_count == 0 {
        bail!("--node-count: expected at least 1 node");
    }
    let spec = spec_for(&args.bin, &args.node_args)?;
    let test = test_args(args)?;
    nemesis::install_cleanup_handlers()?;
    faultline::runlog::install();
    let mut cfg = crate::cmd::test::config_with_spec(&test, spec)?;
    cfg.log_stderr = args.log_stderr;
    crate::cmd::test::run_config(&cfg, args.json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_a_number_or_per_node() {
        assert_eq!(concurrency("2n", 3).unwrap(), 6);
        assert_eq!(concurrency("n", 5).unwrap(), 5);
        assert_eq!(concurrency("7", 5).unwrap(), 7);
        for bad in ["", "0", "xn", "2m", "-1", "0n"] {
            assert!(concurrency(bad, 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_node_that_is_not_there_or_not_executable_is_named() {
        let err = spec_for(std::path::Path::new("/no/such/node.py"), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/node.py"), "{err:#}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("node.py");
        std::fs::write(&f, "print()").unwrap();
        let err = spec_for(&f, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("not an executable"), "{err:#}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = spec_for(&f, &["--x".into(), "a b".into()]).unwrap();
        assert_eq!(spec.name, "maelstrom-node");
        assert_eq!(spec.client, Adapter::Maelstrom);
        assert!(spec.start.ends_with("--x 'a b'"), "{}", spec.start);
    }
}

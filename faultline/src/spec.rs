//! System specs (`systems/*.toml`): how to start, reach and watch a system under test.
//!
//! A spec is the only thing a user writes to plug a new consensus binary into faultline
//! (docs/design.md, "System spec"). Commands are templates with placeholders that the harness fills
//! per node:
//!
//! | placeholder  | value                                                            |
//! |--------------|------------------------------------------------------------------|
//! | `{id}`       | the node's id, `n1` .. `nN`                                      |
//! | `{ip}`       | the node's address inside its namespace                          |
//! | `{peers}`    | every node rendered with the `peer` template, joined by `,`       |
//! | `{data_dir}` | the node's data directory in the store (kept after the run)      |
//! | `{bin}`      | the directory of the faultline binary (where `raft-node` is built)|
//! | `{spec_dir}` | the directory of the spec file (for scripts shipped beside it)    |
//!
//! `peer` (default `{id}={ip}:7001`) is how one node appears inside `{peers}`: etcd, for one,
//! wants `{id}=http://{ip}:2380`. A spec with a missing field, an unknown field or an unknown
//! placeholder is rejected with the file, the field and what was expected.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["id", "ip", "peers", "data_dir", "bin", "spec_dir"];

/// A parsed, validated system spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSpec {
    /// The system's name, used in store paths (`store/<name>-<nemesis>/...`).
    pub name: String,
    /// The client adapter: `jsonl-tcp` (Maelstrom lin-kv bodies over TCP), `etcd-v3` or
    /// `zookeeper`.
    pub client: Adapter,
    /// How reads are asked for: `linearizable` (default), `serializable` (`etcd-v3` only:
    /// served from a member's local state, so stale reads are allowed by the system itself),
    /// or `sync` / `plain` (`zookeeper`, which requires one of them).
    #[serde(default)]
    pub reads: Reads,
    /// Command line that starts one node (split into words as a shell would, after rendering).
    pub start: String,
    /// Where clients connect, e.g. `{ip}:7000`. Required, except for `client = "maelstrom"`,
    /// where it is where the relay listens (default [`MAELSTROM_CLIENT_ADDR`]).
    #[serde(default)]
    pub client_addr: String,
    /// How to tell that a node is up.
    #[serde(default)]
    pub ready: Ready,
    /// Where leader events come from.
    #[serde(default)]
    pub leader_events: LeaderEvents,
    /// How one node is rendered inside `{peers}`.
    #[serde(default = "default_peer")]
    pub peer: String,
    /// Seconds to wait for every node to be ready.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_s: f64,
    /// Extra environment variables for every node.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Bytes that every packet of the system's replication message (Raft's AppendEntries,
    /// heartbeats included) carries and no other message does, e.g. `{"Append":` for
    /// raft-node. Hunts that hold that one message kind back (`revote`) need it; without it
    /// they are skipped.
    #[serde(default)]
    pub append_pattern: Option<String>,
    /// The directory of the spec file, `{spec_dir}` (absolute after [`SystemSpec::load`]; `.`
    /// for a spec parsed from text).
    #[serde(skip, default = "default_spec_dir")]
    pub dir: PathBuf,
}

fn default_spec_dir() -> PathBuf {
    PathBuf::from(".")
}

fn default_peer() -> String {
    "{id}={ip}:7001".to_string()
}

/// Where a Maelstrom node's relay listens for clients unless the spec says otherwise.
pub const MAELSTROM_CLIENT_ADDR: &str = "{ip}:7000";

/// The longest `ready_timeout_s` a spec may ask for: an hour.
pub const READY_TIMEOUT_MAX_S: f64 = 3600.0;

fn default_ready_timeout() -> f64 {
    30.0
}

/// Client adapters faultline speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adapter {
    /// One JSON object per line each way (docs/design.md, "Client protocol").
    JsonlTcp,
    /// etcd's v3 JSON gateway over HTTP/1.1 (`crate::clients::adapter::etcd_v3`).
    EtcdV3,
    /// ZooKeeper's client protocol (`crate::clients::adapter::zookeeper`).
    Zookeeper,
    /// Redis with Sentinel, RESP2 (`crate::clients::adapter::redis`).
    Redis,
    /// A Maelstrom node (JSON messages on stdin/stdout), run behind a relay
    /// (`crate::maelstrom`); `start` is the node's command line and nothing else.
    Maelstrom,
}

impl Adapter {
    /// The name used in spec files.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::JsonlTcp => "jsonl-tcp",
            Adapter::EtcdV3 => "etcd-v3",
            Adapter::Zookeeper => "zookeeper",
            Adapter::Redis => "redis",
            Adapter::Maelstrom => "maelstrom",
        }
    }
}

/// The consistency clients ask for on reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// Reads see every write that completed before they started (the default).
    #[default]
    Linearizable,
    /// Reads may be served from a member's local, possibly stale, state (etcd's
    /// `serializable`); a linearizability checker is expected to catch the stale ones.
    Serializable,
    /// `zookeeper` only: a `sync` before each read, so it sees the leader's committed state as
    /// of the sync (ZooKeeper's closest to a linearizable read).
    Sync,
    /// `zookeeper` only: plain reads, served from the connected server's local state
    /// (sequentially consistent, possibly stale).
    Plain,
}

/// Readiness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Ready {
    /// A TCP connect to `client_addr` succeeds.
    #[default]
    TcpConnect,
}

/// Sources of leader events for the election-safety checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderEvents {
    /// The node prints `{"event":"leader","node":"n1","term":T}` lines on stdout.
    StdoutJsonl,
    /// Sampled by polling every etcd member's status
    /// (`crate::leaders::etcd_probe::leader_probe_loop`).
    EtcdProbe,
    /// Sampled by polling every ZooKeeper server's `srvr` four-letter word
    /// (`crate::leaders::zk_probe`).
    ZookeeperProbe,
    /// Sampled by polling every sentinel's `SENTINEL MASTER`
    /// (`crate::leaders::redis_probe`).
    RedisSentinel,
    /// None: election safety is reported as not checked.
    #[default]
    None,
}

impl LeaderEvents {
    /// Whether the events are sampled by polling the nodes (a probe), rather than announced by
    /// the nodes themselves: a sampled source can miss a short-lived leader.
    pub fn sampled(self) -> bool {
        matches!(
            self,
            LeaderEvents::EtcdProbe | LeaderEvents::ZookeeperProbe | LeaderEvents::RedisSentinel
        )
    }
}

/// A spec that could not be used: names the file and what is wrong.
#[derive(Debug)]
pub struct SpecError {
    /// The spec file.
    pub path: PathBuf,
    /// What is wrong, and where.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for SpecError {}

/// The values of the placeholders for one node.
#[derive(Debug, Clone)]
pub struct NodeVars {
    /// `{id}`.
    pub id: String,
    /// `{ip}`.
    pub ip: String,
    /// `{data_dir}`.
    pub data_dir: PathBuf,
}

impl SystemSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<SystemSpec, SpecError> {
        let err = |message: String| SpecError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut spec = SystemSpec::parse(&text).map_err(err)?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = parent.unwrap_or(Path::new("."));
        spec.dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Ok(spec)
    }

    /// Parses and validates spec text; the error names the field (and line, for TOML errors).
    pub fn parse(text: &str) -> Result<SystemSpec, String> {
        let mut spec: SystemSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        if spec.client_addr.is_empty() {
            if spec.client != Adapter::Maelstrom {
                return Err(format!(
                    "missing field `client_addr` (where clients connect, e.g. \"{{ip}}:7000\"); \
                     only client = \"maelstrom\" may leave it out, found client {:?}",
                    spec.client.name()
                ));
            }
            spec.client_addr = MAELSTROM_CLIENT_ADDR.to_string();
        }
        for (field, template) in [
            ("start", &spec.start),
            ("client_addr", &spec.client_addr),
            ("peer", &spec.peer),
        ] {
            check_template(template).map_err(|e| format!("field `{field}`: {e}"))?;
        }
        if spec.peer.contains("{peers}") {
            return Err("field `peer`: `{peers}` cannot appear inside `peer`".into());
        }
        if spec.name.is_empty() || spec.name.contains(['/', ' ']) {
            return Err(format!(
                "field `name`: expected a non-empty name without '/' or spaces, found {:?}",
                spec.name
            ));
        }
        if spec.reads == Reads::Serializable && spec.client != Adapter::EtcdV3 {
            return Err(format!(
                "field `reads`: \"serializable\" is only supported by client = \"etcd-v3\", \
                 not {:?}",
                spec.client.name()
            ));
        }
        let zk_reads = matches!(spec.reads, Reads::Sync | Reads::Plain);
        if zk_reads != (spec.client == Adapter::Zookeeper) {
            return Err(format!(
                "field `reads`: client = \"zookeeper\" needs reads = \"sync\" or \"plain\" (ZooKeeper \
                 has no linearizable read), and \"sync\" and \"plain\" are for it only; found \
                 client {:?} with reads {:?}",
                spec.client.name(),
                spec.reads
            ));
        }
        if spec.leader_events == LeaderEvents::ZookeeperProbe && spec.client != Adapter::Zookeeper {
            return Err(format!(
                "field `leader_events`: \"zookeeper-probe\" needs client = \"zookeeper\", not {:?}",
                spec.client.name()
            ));
        }
        if spec.leader_events == LeaderEvents::EtcdProbe && spec.client != Adapter::EtcdV3 {
            return Err(format!(
                "field `leader_events`: \"etcd-probe\" needs client = \"etcd-v3\", not {:?}",
                spec.client.name()
            ));
        }
        if spec.leader_events == LeaderEvents::RedisSentinel && spec.client != Adapter::Redis {
            return Err(format!(
                "field `leader_events`: \"redis-sentinel\" needs client = \"redis\", not {:?}",
                spec.client.name()
            ));
        }
        if let Some(p) = &spec.append_pattern {
            if p.is_empty() || p.len() > nemesis::FILTER_PATTERN_MAX {
                return Err(format!(
                    "field `append_pattern`: expected 1 to {} bytes, found {}",
                    nemesis::FILTER_PATTERN_MAX,
                    p.len()
                ));
            }
        }
        if !(spec.ready_timeout_s.is_finite()
            && spec.ready_timeout_s > 0.0
            && spec.ready_timeout_s <= READY_TIMEOUT_MAX_S)
        {
            return Err(format!(
                "field `ready_timeout_s`: expected a number of seconds above 0 and at most \
                 {READY_TIMEOUT_MAX_S}, found {}",
                spec.ready_timeout_s
            ));
        }
        match shlex::split(&spec.start) {
            None => {
                return Err("field `start`: unclosed quote or unfinished escape".into());
            }
            Some(words) if words.is_empty() => {
                return Err("field `start`: expected a command, found an empty string".into());
            }
            Some(_) => {}
        }
        Ok(spec)
    }

    /// The command line (program and arguments) that starts `node` in a cluster of `all`:
    /// the rendered `start`, split into words as a POSIX shell would (quotes group words),
    /// without a shell.
    pub fn start_command(&self, node: &NodeVars, all: &[NodeVars], bin: &Path) -> Vec<String> {
        let peers = self.peers(all, bin);
        let rendered = render(&self.start, node, &peers, bin, &self.dir);
        // `parse` checked the template; a placeholder's value with a quote in it (a data dir
        // named so) is split on whitespace instead of failing the run.
        shlex::split(&rendered)
            .unwrap_or_else(|| rendered.split_whitespace().map(str::to_string).collect())
    }

    /// The client address of `node`.
    pub fn client_addr(&self, node: &NodeVars, bin: &Path) -> String {
        render(&self.client_addr, node, "", bin, &self.dir)
    }

    fn peers(&self, all: &[NodeVars], bin: &Path) -> String {
        all.iter()
            .map(|n| render(&self.peer, n, "", bin, &self.dir))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Checks that every `{placeholder}` in `template` is known and every brace is closed.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in {template:?}"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            let known: Vec<String> = PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
            return Err(format!(
                "unknown placeholder {{{name}}}; expected one of {}",
                known.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

fn render(template: &str, node: &NodeVars, peers: &str, bin: &Path, spec_dir: &Path) -> String {
    template
        .replace("{id}", &node.id)
        .replace("{ip}", &node.ip)
        .replace("{peers}", peers)
        .replace("{data_dir}", &node.data_dir.display().to_string())
        .replace("{bin}", &bin.display().to_string())
        .replace("{spec_dir}", &spec_dir.display().to_string())
}

/// A valid spec of raft-node, shared by the unit tests of the crate.
#[cfg(test)]
pub(crate) const EXAMPLE_SPEC: &str = r#"
name = "raft-register"
client = "jsonl-tcp"
start = "{bin}/raft-node --id {id} --peers {peers} --listen {ip}:7001 --client {ip}:7000 --data {data_dir}"
client_addr = "{ip}:7000"
ready = "tcp-connect"
leader_events = "stdout-jsonl"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = EXAMPLE_SPEC;

    fn nodes() -> Vec<NodeVars> {
        (1..=3)
            .map(|i| NodeVars {
                id: format!("n{i}"),
                ip: format!("10.1.2.{i}"),
                data_dir: PathBuf::from(format!("/s/n{i}")),
            })
            .collect()
    }

    #[test]
    fn renders_the_start_command() {
        let spec = SystemSpec::parse(GOOD).unwrap();
        let all = nodes();
        let cmd = spec.start_command(&all[1], &all, Path::new("/b"));
        assert_eq!(cmd[0], "/b/raft-node");
        assert_eq!(cmd[2], "n2");
        assert_eq!(cmd[4], "n1=10.1.2.1:7001,n2=10.1.2.2:7001,n3=10.1.2.3:7001");
        assert_eq!(cmd.last().unwrap(), "/s/n2");
        assert_eq!(spec.client_addr(&all[0], Path::new("/b")), "10.1.2.1:7000");
    }

    #[test]
    fn rejects_an_unknown_placeholder_naming_the_field() {
        let bad = GOOD.replace("--data {data_dir}", "--data {datadir}");
        let err = SystemSpec::parse(&bad).unwrap_err();
        assert!(err.contains("field `start`"), "{err}");
        assert!(err.contains("{datadir}"), "{err}");
    }

    #[test]
    fn rejects_a_missing_field() {
        let bad = GOOD.replace("client_addr = \"{ip}:7000\"\n", "");
        let err = SystemSpec::parse(&bad).unwrap_err();
        assert!(err.contains("client_addr"), "{err}");
    }

    #[test]
    fn rejects_an_unknown_field_and_adapter() {
        let err = SystemSpec::parse(&format!("{GOOD}\nstrat = \"x\"\n")).unwrap_err();
        assert!(err.contains("strat"), "{err}");
        let err = SystemSpec::parse(&GOOD.replace("jsonl-tcp", "grpc")).unwrap_err();
        assert!(err.contains("grpc"), "{err}");
    }

    #[test]
    fn reads_default_to_linearizable_and_reject_unknown_values() {
        let etcd = GOOD.replace("jsonl-tcp", "etcd-v3");
        assert_eq!(SystemSpec::parse(&etcd).unwrap().reads, Reads::Linearizable);
        let ser = format!("{etcd}reads = \"serializable\"\n");
        assert_eq!(SystemSpec::parse(&ser).unwrap().reads, Reads::Serializable);
        let err = SystemSpec::parse(&format!("{etcd}reads = \"stale\"\n")).unwrap_err();
        assert!(err.contains("reads") && err.contains("stale"), "{err}");
        assert!(err.contains("linearizable"), "{err}");
        let err = SystemSpec::parse(&format!("{GOOD}reads = \"serializable\"\n")).unwrap_err();
        assert!(err.contains("field `reads`"), "{err}");
    }

    #[test]
    fn parses_the_zookeeper_specs_and_keeps_their_reads_to_them() {
        for (file, reads) in [
            ("zookeeper.toml", Reads::Sync),
            ("zookeeper-plain.toml", Reads::Plain),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../systems")
                .join(file);
            let spec = SystemSpec::load(&path).unwrap();
            assert_eq!(spec.client, Adapter::Zookeeper);
            assert_eq!(spec.reads, reads);
            assert_eq!(spec.leader_events, LeaderEvents::ZookeeperProbe);
            assert!(spec.leader_events.sampled());
            let all = nodes();
            let cmd = spec.start_command(&all[0], &all, Path::new("/b"));
            assert!(
                cmd[0].ends_with("systems/zookeeper/start-node.sh"),
                "{cmd:?}"
            );
            assert_eq!(cmd[1..3], ["n1", "10.1.2.1"]);
            assert_eq!(cmd[4], "n1=10.1.2.1,n2=10.1.2.2,n3=10.1.2.3");
            assert_eq!(spec.client_addr(&all[2], Path::new("/b")), "10.1.2.3:2181");
            // ZooKeeper has no linearizable read to ask for; etcd has no sync or plain.
            let text = std::fs::read_to_string(&path).unwrap();
            let default = text.replace(
                &format!(
                    "reads = \"{}\"",
                    if reads == Reads::Sync {
                        "sync"
                    } else {
                        "plain"
                    }
                ),
                "",
            );
            let err = SystemSpec::parse(&default).unwrap_err();
            assert!(err.contains("field `reads`"), "{err}");
        }
        let etcd = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../systems/etcd.toml"),
        )
        .unwrap();
        let err = SystemSpec::parse(&etcd.replace("\"linearizable\"", "\"sync\"")).unwrap_err();
        assert!(err.contains("field `reads`"), "{err}");
        let err = SystemSpec::parse(&etcd.replace("etcd-probe", "zookeeper-probe")).unwrap_err();
        assert!(err.contains("field `leader_events`"), "{err}");
    }

    #[test]
    fn parses_the_etcd_specs() {
        for (file, reads) in [
            ("etcd.toml", Reads::Linearizable),
            ("etcd-serializable.toml", Reads::Serializable),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../systems")
                .join(file);
            let spec = SystemSpec::load(&path).unwrap();
            assert_eq!(spec.client, Adapter::EtcdV3);
            assert_eq!(spec.reads, reads);
            assert_eq!(spec.leader_events, LeaderEvents::EtcdProbe);
            let all = nodes();
            let cmd = spec.start_command(&all[0], &all, Path::new("/b"));
            assert_eq!(cmd[0], "etcd");
            let cluster = cmd.iter().position(|a| a == "--initial-cluster").unwrap();
            assert_eq!(
                cmd[cluster + 1],
                "n1=http://10.1.2.1:2380,n2=http://10.1.2.2:2380,n3=http://10.1.2.3:2380"
            );
            assert_eq!(spec.client_addr(&all[2], Path::new("/b")), "10.1.2.3:2379");
        }
    }

    #[test]
    fn parses_the_redis_spec_and_ties_its_probe_to_its_adapter() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systems/redis-sentinel.toml");
        let spec = SystemSpec::load(&path).unwrap();
        assert_eq!(spec.client, Adapter::Redis);
        assert_eq!(spec.leader_events, LeaderEvents::RedisSentinel);
        assert!(spec.leader_events.sampled());
        let all = nodes();
        let cmd = spec.start_command(&all[0], &all, Path::new("/b"));
        assert!(cmd[0].ends_with("/redis/start-node.sh"), "{cmd:?}");
        assert_eq!(&cmd[1..3], ["n1", "10.1.2.1"]);
        assert_eq!(cmd[4], "n1=10.1.2.1,n2=10.1.2.2,n3=10.1.2.3");
        assert_eq!(spec.client_addr(&all[2], Path::new("/b")), "10.1.2.3:26379");
        let other = GOOD.replace("\"stdout-jsonl\"", "\"redis-sentinel\"");
        let err = SystemSpec::parse(&other).unwrap_err();
        assert!(err.contains("needs client = \"redis\""), "{err}");
    }

    #[test]
    fn append_pattern_is_optional_and_bounded() {
        let base =
            "name = \"x\"\nclient = \"jsonl-tcp\"\nstart = \"x\"\nclient_addr = \"{ip}:1\"\n";
        assert_eq!(SystemSpec::parse(base).unwrap().append_pattern, None);
        let ok = format!("{base}append_pattern = '{{\"Append\":'\n");
        assert_eq!(
            SystemSpec::parse(&ok).unwrap().append_pattern.as_deref(),
            Some("{\"Append\":")
        );
        for bad in [String::new(), "x".repeat(129)] {
            let text = format!("{base}append_pattern = \"{bad}\"\n");
            let e = SystemSpec::parse(&text).unwrap_err();
            assert!(e.contains("append_pattern"), "{e}");
        }
    }

    #[test]
    fn spec_dir_is_the_directory_of_the_loaded_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        let text = GOOD.replace("{bin}/raft-node", "{spec_dir}/start.sh");
        std::fs::write(&path, text).unwrap();
        let spec = SystemSpec::load(&path).unwrap();
        let all = nodes();
        let cmd = spec.start_command(&all[0], &all, Path::new("/b"));
        let want = std::fs::canonicalize(dir.path()).unwrap().join("start.sh");
        assert_eq!(cmd[0], want.display().to_string());
    }

    #[test]
    fn ready_timeout_must_be_a_positive_finite_number_of_seconds() {
        for bad in ["-1.0", "0.0", "nan", "inf", "3601.0"] {
            let text = format!("{GOOD}ready_timeout_s = {bad}\n");
            let e = SystemSpec::parse(&text).unwrap_err();
            assert!(e.contains("field `ready_timeout_s`"), "{bad}: {e}");
        }
        let text = format!("{GOOD}ready_timeout_s = 0.5\n");
        assert_eq!(SystemSpec::parse(&text).unwrap().ready_timeout_s, 0.5);
    }

    #[test]
    fn start_is_split_with_shell_quotes_and_an_unclosed_quote_is_rejected() {
        let text = GOOD.replace("--data {data_dir}", "--data {data_dir} --name 'two words'");
        let spec = SystemSpec::parse(&text).unwrap();
        let all = nodes();
        let cmd = spec.start_command(&all[0], &all, Path::new("/b"));
        assert_eq!(cmd.last().unwrap(), "two words");
        let bad = GOOD.replace("--data {data_dir}", "--data '{data_dir}");
        let e = SystemSpec::parse(&bad).unwrap_err();
        assert!(e.contains("field `start`") && e.contains("quote"), "{e}");
    }

    #[test]
    fn rejects_an_unclosed_brace() {
        let err = SystemSpec::parse(&GOOD.replace("{ip}:7000\"", "{ip:7000\"")).unwrap_err();
        assert!(err.contains("client_addr"), "{err}");
    }
}

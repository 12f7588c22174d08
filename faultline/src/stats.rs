//! Figures of a run beyond the verdict: op counts, latency quantiles, throughput, liveness.
//!
//! Liveness is what linearizability cannot see: a system that answers nothing is trivially
//! linearizable. So we report how many ops succeeded while the cluster was healthy and while it
//! was faulty, and for every heal the time until the first ok op completed after it.
//! A fault interval runs from a nemesis `start-*` event to the next `stop-*` event.

use histories::{Op, Outcome};
use serde::{Deserialize, Serialize};

/// A nemesis event reduced to what the figures need.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Nanoseconds since the run started.
    pub time_ns: u64,
    /// `start-...` or `stop-...` (anything else is ignored).
    pub f: String,
}

/// Counts of ops by outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    /// All client ops.
    pub total: usize,
    /// Completed ok.
    pub ok: usize,
    /// Definitely failed.
    pub fail: usize,
    /// Unknown outcome.
    pub info: usize,
}

/// Latency quantiles of ok ops, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// Liveness figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Liveness {
    /// Ok ops that completed outside fault intervals.
    pub ok_while_healthy: usize,
    /// Ok ops that completed inside fault intervals.
    pub ok_while_faulty: usize,
    /// Per heal: milliseconds from the heal to the first ok op after it (None: none came).
    pub heal_to_first_ok_ms: Vec<Option<f64>>,
    /// The worst of `heal_to_first_ok_ms` (None when there was no heal).
    pub max_heal_to_first_ok_ms: Option<f64>,
}

/// All figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Figures {
    /// Op counts, all ops.
    pub ops: Counts,
    /// Op counts per function (`read`, `write`, `cas`).
    pub ops_by_f: std::collections::BTreeMap<String, Counts>,
    /// Latency of ok ops.
    pub latency: Latency,
    /// Ok ops per second over the run.
    pub throughput_ok_per_s: f64,
    /// Liveness.
    pub liveness: Liveness,
}

/// Computes the figures of `ops` given the nemesis `marks` and the run's length.
pub fn figures(ops: &[Op], marks: &[Mark], duration_ns: u64) -> Figures {
    let mut fig = Figures::default();
    let mut latencies: Vec<u64> = Vec::new();
    let mut ok_times: Vec<u64> = Vec::new();
    for op in ops {
        let by_f = fig.ops_by_f.entry(op.f.name().to_string()).or_default();
        for c in [&mut fig.ops, by_f] {
            c.total += 1;
            match op.outcome {
                Outcome::Ok(_) => c.ok += 1,
                Outcome::Fail => c.fail += 1,
                Outcome::Info => c.info += 1,
            }
        }
        if let (Outcome::Ok(_), Some(call), Some(ret)) = (&op.outcome, op.call_time, op.ret_time) {
            latencies.push(ret.saturating_sub(call));
            ok_times.push(ret);
        }
    }
    latencies.sort_unstable();
    ok_times.sort_unstable();
    fig.latency = Latency {
        p50_ms: quantile_ms(&latencies, 0.50),
        p90_ms: quantile_ms(&latencies, 0.90),
        p99_ms: quantile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&l| l as f64 / 1e6),
    };
    if duration_ns > 0 {
        fig.throughput_ok_per_s = fig.ops.ok as f64 / (duration_ns as f64 / 1e9);
    }
    fig.liveness = liveness(&ok_times, marks);
    fig
}

fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1e6
}

/// Fault intervals `[start, stop)` from the marks; an interval never stopped runs to the end.
pub fn fault_intervals(marks: &[Mark]) -> Vec<(u64, u64)> {
    let mut intervals = Vec::new();
    let mut open: Option<u64> = None;
    for m in marks {
        if m.f.starts_with("start-") && open.is_none() {
            open = Some(m.time_ns);
        } else if m.f.starts_with("stop-") {
            if let Some(start) = open.take() {
                intervals.push((start, m.time_ns));
            }
        }
    }
    if let Some(start) = open {
        intervals.push((start, u64::MAX));
    }
    intervals
}

fn liveness(ok_times: &[u64], marks: &[Mark]) -> Liveness {
    let intervals = fault_intervals(marks);
    let faulty = |t: u64| intervals.iter().any(|&(a, b)| t >= a && t < b);
    let ok_while_faulty = ok_times.iter().filter(|&&t| faulty(t)).count();
    let heal_to_first_ok_ms: Vec<Option<f64>> = intervals
        .iter()
        .filter(|&&(_, stop)| stop != u64::MAX)
        .map(|&(_, stop)| {
            let i = ok_times.partition_point(|&t| t < stop);
            ok_times.get(i).map(|&t| (t - stop) as f64 / 1e6)
        })
        .collect();
    let max_heal_to_first_ok_ms = heal_to_first_ok_ms
        .iter()
        .map(|d| d.unwrap_or(f64::INFINITY))
        .fold(None, |acc: Option<f64>, d| {
            Some(acc.map_or(d, |a| a.max(d)))
        })
        .filter(|d| d.is_finite());
    Liveness {
        ok_while_healthy: ok_times.len() - ok_while_faulty,
        ok_while_faulty,
        heal_to_first_ok_ms,
        max_heal_to_first_ok_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use histories::{Value, F};

    fn op(id: usize, outcome: Outcome, call: u64, ret: u64) -> Op {
        Op {
            id,
            process: id as u64,
            f: F::Write,
            key: Some("k".into()),
            input: Value::Int(id as i64),
            outcome,
            call: id as u64 * 2,
            ret: Some(id as u64 * 2 + 1),
            call_line: 1,
            ret_line: Some(2),
            call_time: Some(call),
            ret_time: Some(ret),
            error: None,
            sent_to: None,
            served_by: None,
        }
    }

    #[test]
    fn counts_quantiles_and_liveness() {
        let ms = 1_000_000;
        let ops = vec![
            op(0, Outcome::Ok(Value::Null), 0, 10 * ms),
            op(1, Outcome::Fail, 0, 20 * ms),
            op(2, Outcome::Ok(Value::Null), 100 * ms, 150 * ms),
            op(3, Outcome::Ok(Value::Null), 200 * ms, 260 * ms),
        ];
        let marks = vec![
            Mark {
                time_ns: 50 * ms,
                f: "start-partition".into(),
            },
            Mark {
                time_ns: 200 * ms,
                f: "stop-partition".into(),
            },
        ];
        let fig = figures(&ops, &marks, 1_000 * ms);
        assert_eq!(
            fig.ops,
            Counts {
                total: 4,
                ok: 3,
                fail: 1,
                info: 0
            }
        );
        assert_eq!(fig.latency.max_ms, 60.0);
        assert_eq!(fig.latency.p50_ms, 50.0);
        assert_eq!(fig.liveness.ok_while_faulty, 1);
        assert_eq!(fig.liveness.ok_while_healthy, 2);
        assert_eq!(fig.liveness.heal_to_first_ok_ms, vec![Some(60.0)]);
        assert!((fig.throughput_ok_per_s - 3.0).abs() < 1e-9);
    }
}

//! The classic scenarios, after MIT 6.824's Raft tests (the table in [`super`]'s
//! documentation): one [`Scenario`] each, with its script and its expectations.

use super::{cycles, need, progress_after, script, secs, step, Scenario, HEALING, S};
use crate::faults::{Action, NemesisPlan, Target};

/// Every scenario, in the order they run. One literal per scenario, so the function is as long
/// as the table in the module's documentation; each entry reads on its own.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "initial-election",
            nodes: 3,
            seconds: 6.0,
            concurrency: 3,
            rate: 50.0,
            keys: 2,
            op_timeout: None,
            plan: || NemesisPlan::None,
            needs_leaders: true,
            expect: |f| {
                let first = f.leaders().first().ok_or("no leader was ever elected")?;
                let terms: std::collections::BTreeSet<u64> =
                    f.leaders().iter().map(|s| s.term).collect();
                need(terms.len() == 1, || {
                    format!("the term changed while healthy: terms {terms:?}")
                })?;
                Ok(format!("leader {} in term {}", first.node, first.term))
            },
        },
        Scenario {
            name: "re-election",
            nodes: 3,
            seconds: 14.0,
            concurrency: 4,
            rate: 100.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Isolate(Target::Leader)),
                    step(5.0, Action::Heal),
                    step(7.0, Action::Isolate(Target::LeaderAnd(1))),
                    step(10.0, Action::Heal),
                ])
            },
            needs_leaders: true,
            expect: |f| {
                let (cut, healed) = f.partition(0)?;
                let old = f
                    .leaders()
                    .iter()
                    .rfind(|s| s.time_ns <= cut)
                    .map(|s| s.node.clone());
                let new = f.leaders_between(cut, healed);
                need(
                    new.iter().any(|s| Some(&s.node) != old.as_ref())
                        || f.served_without(cut, healed),
                    || format!("no new leader while {old:?} was cut off"),
                )?;
                let (split, healed2) = f.partition(1)?;
                let grace = S;
                need(f.leaders_between(split + grace, healed2).is_empty(), || {
                    "a leader was elected with every node cut off".into()
                })?;
                let ok = f.ok_between(split + grace, healed2.saturating_sub(HEALING));
                need(ok == 0, || {
                    format!("{ok} op(s) succeeded with no majority connected")
                })?;
                let ms = progress_after(f, healed2, 3.0, "the second heal")?;
                Ok(format!("progress {ms:.0} ms after heal"))
            },
        },
        Scenario {
            name: "basic-agree",
            nodes: 3,
            seconds: 4.0,
            concurrency: 3,
            rate: 100.0,
            keys: 3,
            op_timeout: None,
            plan: || NemesisPlan::None,
            needs_leaders: false,
            expect: |f| {
                let ok = f.outcome.figures.ops.ok;
                need(ok >= 50, || {
                    format!("only {ok} ok ops in a healthy cluster")
                })?;
                Ok(format!("{ok} ok ops"))
            },
        },
        Scenario {
            name: "fail-agree",
            nodes: 3,
            seconds: 8.0,
            concurrency: 4,
            rate: 100.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Isolate(Target::Followers(1))),
                    step(6.0, Action::Heal),
                ])
            },
            needs_leaders: false,
            expect: |f| {
                let (cut, healed) = f.partition(0)?;
                let ok = f.ok_between(cut + S, healed);
                need(ok >= 20, || {
                    format!("only {ok} ok ops with one follower cut off")
                })?;
                Ok(format!("{ok} ok ops with a follower cut off"))
            },
        },
        Scenario {
            name: "fail-no-agree",
            nodes: 5,
            seconds: 9.0,
            concurrency: 5,
            rate: 100.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Isolate(Target::Followers(3))),
                    step(6.0, Action::Heal),
                ])
            },
            needs_leaders: false,
            expect: |f| {
                let (cut, healed) = f.partition(0)?;
                let ok = f.ok_between(cut + S, healed.saturating_sub(HEALING));
                need(ok == 0, || {
                    format!("{ok} op(s) succeeded with 3 of 5 cut off")
                })?;
                let ms = progress_after(f, healed, 3.0, "heal")?;
                Ok(format!("progress {ms:.0} ms after heal"))
            },
        },
        Scenario {
            name: "concurrent-ops",
            nodes: 3,
            seconds: 5.0,
            concurrency: 20,
            rate: 1000.0,
            keys: 4,
            op_timeout: None,
            plan: || NemesisPlan::None,
            needs_leaders: false,
            expect: |f| {
                let ok = f.outcome.figures.ops.ok;
                need(ok >= 500, || format!("only {ok} ok ops from 20 clients"))?;
                Ok(format!("{ok} ok ops"))
            },
        },
        Scenario {
            name: "rejoin",
            nodes: 3,
            seconds: 9.0,
            concurrency: 6,
            rate: 300.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Isolate(Target::Leader)),
                    step(5.5, Action::Heal),
                ])
            },
            needs_leaders: true,
            expect: |f| {
                let (cut, healed) = f.partition(0)?;
                need(
                    !f.leaders_between(cut, healed).is_empty() || f.served_without(cut, healed),
                    || "no new leader while the old one was cut off".into(),
                )?;
                let ms = progress_after(f, healed, 3.0, "heal")?;
                Ok(format!("progress {ms:.0} ms after the old leader rejoined"))
            },
        },
        Scenario {
            name: "backup",
            nodes: 5,
            seconds: 14.0,
            concurrency: 8,
            rate: 400.0,
            keys: 4,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Split(Target::LeaderAnd(1))),
                    step(6.0, Action::Heal),
                    step(6.0, Action::Split(Target::LeaderAnd(1))),
                    step(10.0, Action::Heal),
                ])
            },
            needs_leaders: false,
            expect: |f| {
                let healed = *f.times("stop-partition").last().ok_or("no heal recorded")?;
                let ms = progress_after(f, healed, 5.0, "the last heal")?;
                Ok(format!(
                    "divergent logs repaired: first ok op {ms:.0} ms after heal"
                ))
            },
        },
        Scenario {
            name: "persist",
            nodes: 3,
            seconds: 14.0,
            concurrency: 4,
            rate: 300.0,
            keys: 4,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(2.0, Action::Kill(Target::Followers(1))),
                    step(3.0, Action::RestartAll),
                    step(4.5, Action::Kill(Target::Leader)),
                    step(5.5, Action::RestartAll),
                    step(7.5, Action::Kill(Target::All)),
                    step(8.5, Action::RestartAll),
                ])
            },
            needs_leaders: false,
            expect: |f| {
                let restarted = *f.times("stop-kill").last().ok_or("no restart recorded")?;
                let ms = progress_after(f, restarted, 5.0, "restarting every node")?;
                Ok(format!("progress {ms:.0} ms after a full restart"))
            },
        },
        Scenario {
            name: "figure8",
            nodes: 5,
            seconds: 16.0,
            concurrency: 8,
            rate: 300.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                let cycle = [
                    (0.0, Action::Kill(Target::Leader)),
                    (0.8, Action::RestartAll),
                ];
                cycles(1.5, 13.0, 1.6, &cycle)
            },
            needs_leaders: false,
            expect: |f| {
                let restarted = *f.times("stop-kill").last().ok_or("no restart recorded")?;
                let ms = progress_after(f, restarted, 5.0, "the last restart")?;
                Ok(format!("progress {ms:.0} ms after the last restart"))
            },
        },
        Scenario {
            name: "unreliable",
            nodes: 3,
            seconds: 10.0,
            concurrency: 4,
            rate: 150.0,
            keys: 2,
            op_timeout: None,
            plan: || {
                script(vec![
                    step(1.0, Action::Loss(20)),
                    step(4.0, Action::Heal),
                    step(5.0, Action::Loss(40)),
                    step(8.0, Action::Heal),
                ])
            },
            needs_leaders: false,
            expect: |f| {
                let lossy = f.at("start-loss", 0)?;
                let ok = f.ok_between(lossy, lossy + 3 * S);
                need(ok > 0, || "nothing committed at 20% packet loss".into())?;
                Ok(format!("{ok} ok ops at 20% loss"))
            },
        },
        Scenario {
            name: "churn",
            nodes: 5,
            seconds: 14.0,
            concurrency: 8,
            rate: 300.0,
            keys: 4,
            op_timeout: None,
            plan: || NemesisPlan::Schedule {
                name: "mix".into(),
                interval: secs(1.5),
            },
            needs_leaders: false,
            expect: |f| {
                let end = f
                    .history()
                    .nemesis
                    .iter()
                    .filter(|e| e.f.starts_with("stop-"))
                    .filter_map(|e| e.time)
                    .max()
                    .unwrap_or(0);
                let ms = progress_after(f, end, 5.0, "the last fault ended")?;
                Ok(format!("progress {ms:.0} ms after the last fault"))
            },
        },
    ]
}

//! Differential tests of the linearizability checker against two oracles that share no code
//! with its search or its models:
//!
//! 1. brute force (`differential/brute.rs`): every real-time-respecting order of the ops, each
//!    `info` op placed or left out, over sequential semantics written from the definitions;
//! 2. stateright's `LinearizabilityTester` (`differential/specs.rs`) with specifications
//!    written here.
//!
//! On small random histories (`differential/gen.rs`) the three verdicts must be equal; a
//! disagreement is shrunk (`differential/shrink.rs`), printed with its seed and written to
//! `testdata/regressions/`. Larger histories are checked against what their construction
//! guarantees. See docs/testing-checker.md.
//!
//! Environment: `FAULTLINE_DIFF_CASES` (default 300000), `FAULTLINE_DIFF_SEED` (base seed,
//! default 0), `FAULTLINE_DIFF_REPRO=<case seed>` (run and print that one case only),
//! `FAULTLINE_DIFF_WRITE=0` (do not write fixtures).

mod brute;
mod gen;
mod large;
mod shrink;
mod specs;

use crate::common::testdata;
use brute::Model;
use checker::{Options, Verdict};
use gen::Case;
use histories::{History, Value};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The checker's verdict on a case (`None`: it panicked).
fn checker_verdict(case: &Case) -> Option<Verdict> {
    let history = History {
        source: format!("differential seed {}", case.seed),
        ops: case.ops.clone(),
        ..Default::default()
    };
    let opts = Options {
        model: Some(case.model.name().to_string()),
        initial: case.initial.clone(),
        time_limit: Some(Duration::from_secs(30)),
        explain: false,
        ..Options::default()
    };
    std::panic::catch_unwind(|| checker::check(&history, &opts).verdict).ok()
}

fn word(valid: bool) -> Verdict {
    if valid {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

/// The three verdicts: checker, brute force, stateright.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Verdicts {
    checker: Option<&'static str>,
    brute: &'static str,
    stateright: &'static str,
}

impl Verdicts {
    fn of(case: &Case) -> Verdicts {
        let brute = word(brute::linearizable(case.model, &case.initial, &case.ops));
        let stateright = word(specs::linearizable(case.model, &case.initial, &case.ops));
        Verdicts {
            checker: checker_verdict(case).map(|v| v.as_str()),
            brute: brute.as_str(),
            stateright: stateright.as_str(),
        }
    }

    fn agree(&self) -> bool {
        self.checker == Some(self.brute) && self.stateright == self.brute
    }

    fn describe(&self) -> String {
        format!(
            "checker {}, brute force {}, stateright {}",
            self.checker.unwrap_or("panicked"),
            self.brute,
            self.stateright
        )
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not an integer")),
        Err(_) => default,
    }
}

/// Shrinks a disagreeing case, prints it and (unless disabled) writes it as a fixture.
fn report(case: &Case, verdicts: Verdicts, write: bool) -> String {
    let small = shrink::shrink(case, |c| Verdicts::of(c) == verdicts);
    let note = format!(
        "{} on {}: {}",
        case.model.name(),
        case.seed,
        verdicts.describe()
    );
    let jsonl = shrink::to_jsonl(&small, &note);
    let mut text = format!(
        "disagreement, model {}, seed {} (FAULTLINE_DIFF_REPRO={}), initial {}: {}; \
         shrunk from {} to {} ops:\n{}",
        case.model.name(),
        case.seed,
        case.seed,
        case.initial,
        verdicts.describe(),
        case.ops.len(),
        small.ops.len(),
        jsonl
    );
    if write {
        let path =
            testdata("regressions").join(format!("{}-{}.jsonl", case.model.name(), case.seed));
        if !path.exists() {
            std::fs::write(&path, &jsonl).expect("write the fixture");
            text.push_str(&format!("written to {}\n", path.display()));
        }
    }
    text
}

#[derive(Default)]
struct Tally {
    cases: u64,
    valid: u64,
    by_model: BTreeMap<&'static str, (u64, u64)>,
    /// Disagreements by model and verdicts: how many, and the first case seed.
    disagreements: BTreeMap<(&'static str, Verdicts), (u64, u64)>,
}

impl Tally {
    fn merge(mut self, other: Tally) -> Tally {
        self.cases += other.cases;
        self.valid += other.valid;
        for (m, (n, v)) in other.by_model {
            let e = self.by_model.entry(m).or_default();
            e.0 += n;
            e.1 += v;
        }
        for (k, (n, seed)) in other.disagreements {
            let e = self.disagreements.entry(k).or_insert((0, seed));
            e.0 += n;
            e.1 = e.1.min(seed);
        }
        self
    }
}

#[test]
fn small_random_histories_agree_with_both_oracles() {
    let started = Instant::now();
    if let Ok(seed) = std::env::var("FAULTLINE_DIFF_REPRO") {
        let seed: u64 = seed
            .trim()
            .parse()
            .expect("FAULTLINE_DIFF_REPRO: a case seed");
        let case = gen::small(seed);
        let verdicts = Verdicts::of(&case);
        eprintln!(
            "case {seed}: model {}, mode {:?}, initial {}: {}\n{}",
            case.model.name(),
            case.mode,
            case.initial,
            verdicts.describe(),
            shrink::to_jsonl(&case, "repro")
        );
        assert!(verdicts.agree(), "{}", report(&case, verdicts, false));
        return;
    }
    let cases = env_u64("FAULTLINE_DIFF_CASES", 300_000);
    let base = env_u64("FAULTLINE_DIFF_SEED", 0);
    let write = env_u64("FAULTLINE_DIFF_WRITE", 1) != 0;
    let tally = (0..cases)
        .into_par_iter()
        .fold(Tally::default, |mut t, i| {
            let seed = gen::mix(base, i);
            let case = gen::small(seed);
            let v = Verdicts::of(&case);
            let valid = v.brute == "valid";
            t.cases += 1;
            t.valid += valid as u64;
            let e = t.by_model.entry(case.model.name()).or_default();
            e.0 += 1;
            e.1 += valid as u64;
            if !v.agree() {
                let e = t
                    .disagreements
                    .entry((case.model.name(), v))
                    .or_insert((0, seed));
                e.0 += 1;
                e.1 = e.1.min(seed);
            }
            t
        })
        .reduce(Tally::default, Tally::merge);
    let elapsed = started.elapsed();
    let mut summary = format!(
        "differential: {} cases (base seed {base}) in {:.1} s, {:.1}% valid, {:.1}% invalid; by model:",
        tally.cases,
        elapsed.as_secs_f64(),
        100.0 * tally.valid as f64 / tally.cases.max(1) as f64,
        100.0 * (tally.cases - tally.valid) as f64 / tally.cases.max(1) as f64,
    );
    for (m, (n, v)) in &tally.by_model {
        summary.push_str(&format!(
            " {m} {n} ({:.0}% valid)",
            100.0 * *v as f64 / *n as f64
        ));
    }
    let disagreeing: u64 = tally.disagreements.values().map(|d| d.0).sum();
    summary.push_str(&format!("; {disagreeing} disagreements"));
    eprintln!("{summary}");
    let mut details = String::new();
    for ((_, verdicts), (n, seed)) in &tally.disagreements {
        details.push_str(&format!("{n} case(s) like this one:\n"));
        details.push_str(&report(&gen::small(*seed), *verdicts, write));
    }
    eprintln!("{details}");
    assert!(tally.disagreements.is_empty(), "{summary}\n{details}");
    // Both kinds must come out often, or the comparison says little.
    let share = tally.valid as f64 / tally.cases.max(1) as f64;
    if tally.cases >= 1000 {
        assert!((0.25..=0.75).contains(&share), "{summary}");
    }
}

/// Every fixture of `testdata/regressions/`: the checker agrees with brute force (and
/// stateright with both).
#[test]
fn regression_fixtures_agree() {
    let mut failures = Vec::new();
    let mut count = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(testdata("regressions"))
        .expect("testdata/regressions")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    for path in paths {
        count += 1;
        let case = shrink::from_jsonl(&path);
        let v = Verdicts::of(&case);
        if !v.agree() {
            failures.push(format!("{}: {}", path.display(), v.describe()));
        }
    }
    eprintln!("{count} regression fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Hand-made fixtures with repeated values in every input format, each valid one with an
/// invalid twin: brute force and stateright must give the expected verdict (which checks the
/// oracles themselves), and so must the checker, reading the file as the CLI does.
#[test]
fn repeated_value_fixtures() {
    use histories::Format;
    let fixtures = [
        (
            "register-rewrite",
            "jsonl",
            Model::CasRegister,
            Format::Jsonl,
        ),
        ("kv-rewrite", "jsonl", Model::Kv, Format::Jsonl),
        ("append-kv-reput", "txt", Model::AppendKv, Format::Porcupine),
        (
            "multi-register-rewrite",
            "edn",
            Model::MultiRegister,
            Format::Edn,
        ),
        (
            "cas-register-rewrite",
            "edn",
            Model::CasRegister,
            Format::Edn,
        ),
    ];
    let mut failures = Vec::new();
    for (name, ext, model, format) in fixtures {
        for expected in ["valid", "invalid"] {
            let path = testdata("repeated").join(format!("{name}-{expected}.{ext}"));
            let loaded = histories::load(&path, Format::Auto)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(loaded.format, format, "{}", path.display());
            let ops = &loaded.history.ops;
            let brute = word(brute::linearizable(model, &Value::Null, ops)).as_str();
            let stateright = word(specs::linearizable(model, &Value::Null, ops)).as_str();
            assert_eq!(brute, expected, "brute force on {}", path.display());
            assert_eq!(stateright, expected, "stateright on {}", path.display());
            // No time limit: beside the long differential run (`make difftest-long`), which
            // keeps rayon's pool busy for minutes, this check's parts can wait longer than the
            // default 60 s for a pool thread, and its verdict would be a spent budget.
            let opts = Options {
                explain: false,
                time_limit: None,
                ..Options::default()
            };
            let report = checker::check(&loaded.history, &opts);
            assert_eq!(report.model, model.name(), "{}", path.display());
            if report.verdict.as_str() != expected {
                failures.push(format!(
                    "{}: checker says {}, expected {expected}",
                    path.display(),
                    report.verdict.as_str()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks a few hundred large cases of `make`, all expected to have `expected` as verdict.
fn large_cases(expected: Verdict, make: fn(Model, u64) -> Case) {
    let models = [
        Model::Register,
        Model::CasRegister,
        Model::Kv,
        Model::AppendKv,
        Model::MultiRegister,
        Model::Mutex,
    ];
    let base = env_u64("FAULTLINE_DIFF_SEED", 0);
    let per_model = env_u64("FAULTLINE_DIFF_LARGE", 50);
    let started = Instant::now();
    let results: Vec<(Model, f64, Option<String>)> = models
        .par_iter()
        .flat_map(|&model| {
            (0..per_model).into_par_iter().map(move |i| {
                let seed = gen::mix(base ^ 0x1a26e, i);
                let case = make(model, seed);
                let t = Instant::now();
                let got = checker_verdict(&case);
                let wrong = (got != Some(expected)).then(|| {
                    format!(
                        "{} seed {seed} ({} ops): checker {:?}, expected {}",
                        model.name(),
                        case.ops.len(),
                        got.map(|v| v.as_str()),
                        expected.as_str()
                    )
                });
                (model, t.elapsed().as_secs_f64(), wrong)
            })
        })
        .collect();
    let mut slowest = String::new();
    for model in models {
        let times: Vec<f64> = results
            .iter()
            .filter(|r| r.0 == model)
            .map(|r| r.1)
            .collect();
        let max = times.iter().cloned().fold(0.0, f64::max);
        let sum: f64 = times.iter().sum();
        slowest.push_str(&format!(
            " {} {sum:.1} s (slowest {max:.2} s)",
            model.name()
        ));
    }
    let wrong: Vec<String> = results.into_iter().filter_map(|r| r.2).collect();
    eprintln!(
        "{} large {} cases in {:.1} s, {} wrong; checker time by model:{slowest}",
        per_model * models.len() as u64,
        expected.as_str(),
        started.elapsed().as_secs_f64(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn large_valid_by_construction_histories_are_valid() {
    large_cases(Verdict::Valid, large::valid);
}

#[test]
fn large_histories_with_a_planted_anomaly_are_invalid() {
    large_cases(Verdict::Invalid, large::planted);
}

/// The large generators at small sizes, where the oracles can judge: what is valid by
/// construction is valid, and the planted anomaly makes it invalid (the argument of
/// `differential/large.rs`, checked by both oracles).
#[test]
fn oracles_confirm_the_large_generators_on_small_sizes() {
    let base = env_u64("FAULTLINE_DIFF_SEED", 0);
    let bad: Vec<String> = (0..6000u64)
        .into_par_iter()
        .filter_map(|i| {
            let model = Model::ALL[i as usize % Model::ALL.len()];
            let seed = gen::mix(base ^ 0x0c0f, i);
            let valid = large::valid_sized(model, seed, 1..=6);
            let planted = large::planted_sized(model, seed, 1..=6);
            let verdicts = [
                brute::linearizable(model, &valid.initial, &valid.ops),
                specs::linearizable(model, &valid.initial, &valid.ops),
                !brute::linearizable(model, &planted.initial, &planted.ops),
                !specs::linearizable(model, &planted.initial, &planted.ops),
            ];
            (verdicts != [true; 4]).then(|| {
                format!(
                    "{} seed {seed}: [valid by brute force, by stateright, planted invalid by \
                     brute force, by stateright] = {verdicts:?}\n{}{}",
                    model.name(),
                    shrink::to_jsonl(&valid, "valid"),
                    shrink::to_jsonl(&planted, "planted")
                )
            })
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Interchangeable candidates (docs/decisions.md): in histories crowded with equal ops (values
/// from a domain of one or two, several clients at once, one key), where the search skips a
/// candidate equal to one tried before it, the checker agrees with brute force.
#[test]
fn crowds_of_equal_ops_agree_with_brute_force() {
    use rand::{Rng, SeedableRng};
    let base = env_u64("FAULTLINE_DIFF_SEED", 0);
    let models = [
        Model::Register,
        Model::CasRegister,
        Model::Kv,
        Model::AppendKv,
    ];
    let modes = [
        gen::Mode::Truthful,
        gen::Mode::Mutated,
        gen::Mode::Arbitrary,
    ];
    let bad: Vec<String> = (0..30_000u64)
        .into_par_iter()
        .filter_map(|i| {
            let seed = gen::mix(base ^ 0x7a1e, i);
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let shape = gen::Shape {
                ops: rng.gen_range(2..=9),
                clients: rng.gen_range(2..=5),
                p_fail: 0.05,
                p_info: 0.15,
                max_info: 3,
                domain: rng.gen_range(1..=2),
                keys: 1,
                fresh: false,
            };
            let model = models[i as usize % models.len()];
            let mode = modes[(i as usize / models.len()) % modes.len()];
            let case = gen::generate(model, shape, mode, seed, &mut rng);
            let brute = word(brute::linearizable(case.model, &case.initial, &case.ops));
            let checker = checker_verdict(&case);
            (checker != Some(brute)).then(|| {
                format!(
                    "{} seed {seed}: checker {checker:?}, brute force {brute:?}\n{}",
                    model.name(),
                    shrink::to_jsonl(&case, "crowd of equal ops")
                )
            })
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

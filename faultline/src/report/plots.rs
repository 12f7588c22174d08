//! Latency and throughput over time, as Jepsen draws them, made with `plotters`' SVG backend.
//!
//! - latency: one point per op (x: invoke time, y: latency on a log scale), coloured by outcome;
//! - throughput: completions per second by outcome, in up to [`RATE_BUCKETS`] time buckets;
//! - both with the nemesis intervals shaded behind the data.
//!
//! A plot's size must not grow with the history: above [`LATENCY_POINTS_MAX`] points the latency
//! plot keeps, per time bucket and outcome, the fastest, the median and the slowest op, which
//! preserves the envelope and the trend a reader looks for (outliers stay visible).

use super::timeline::Band;
use histories::{History, Outcome};
use plotters::prelude::*;

/// Most points drawn in the latency plot.
pub const LATENCY_POINTS_MAX: usize = 3_000;
/// Time buckets of the downsampled latency plot.
const LATENCY_BUCKETS: usize = 300;
/// Time buckets of the throughput plot.
pub const RATE_BUCKETS: usize = 100;
/// Plot size in pixels.
const PLOT_SIZE_PX: (u32, u32) = (960, 300);

/// Latencies below this (1 ns) are drawn at it: a log scale has no zero.
const LATENCY_MS_MIN: f64 = 1e-6;

/// A latency axis label: `250`, `2.5`, `0.25`, `3e-4`.
fn ms_label(v: &f64) -> String {
    if *v >= 10.0 {
        format!("{v:.0}")
    } else if *v >= 0.01 {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.0e}")
    }
}

const OK: RGBColor = RGBColor(44, 160, 44);
const FAIL: RGBColor = RGBColor(214, 39, 40);
const INFO: RGBColor = RGBColor(255, 140, 0);

fn band_color(kind: &str) -> RGBColor {
    match kind {
        "kill" => RGBColor(214, 39, 40),
        "pause" => RGBColor(31, 119, 180),
        _ => RGBColor(148, 103, 189),
    }
}

/// One op's point: invoke time (s), latency (ms), outcome (0 ok, 1 fail, 2 info).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Invoke, seconds since the start.
    pub t_s: f64,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// 0 ok, 1 fail, 2 info.
    pub outcome: u8,
}

/// Every op with both times, as a point.
pub fn points(history: &History) -> Vec<Point> {
    history
        .ops
        .iter()
        .filter_map(|op| {
            let (call, ret) = (op.call_time?, op.ret_time?);
            Some(Point {
                t_s: call as f64 / 1e9,
                latency_ms: ret.saturating_sub(call) as f64 / 1e6,
                outcome: match op.outcome {
                    Outcome::Ok(_) => 0,
                    Outcome::Fail => 1,
                    Outcome::Info => 2,
                },
            })
        })
        .collect()
}

/// At most about [`LATENCY_POINTS_MAX`] points: per bucket and outcome, min, median and max.
pub fn downsample(points: &[Point], t_end_s: f64) -> Vec<Point> {
    if points.len() <= LATENCY_POINTS_MAX {
        return points.to_vec();
    }
    let width = (t_end_s / LATENCY_BUCKETS as f64).max(f64::MIN_POSITIVE);
    let mut buckets: Vec<[Vec<Point>; 3]> = vec![Default::default(); LATENCY_BUCKETS];
    for p in points {
        let i = ((p.t_s / width) as usize).min(LATENCY_BUCKETS - 1);
        buckets[i][usize::from(p.outcome.min(2))].push(*p);
    }
    let mut out = Vec::new();
    for bucket in &mut buckets {
        for group in bucket.iter_mut() {
            if group.is_empty() {
                continue;
            }
            group.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
            let picks = [0, group.len() / 2, group.len() - 1];
            let mut last = usize::MAX;
            for i in picks {
                if i != last {
                    out.push(group[i]);
                    last = i;
                }
            }
        }
    }
    out
}

fn color(outcome: u8) -> RGBColor {
    match outcome {
        0 => OK,
        1 => FAIL,
        _ => INFO,
    }
}

const NAMES: [&str; 3] = ["ok", "fail", "info"];

/// The latency plot as SVG; `bands` in units of which `per_second` make a second. One plotters
/// chart built step by step (canvas, axes, bands, one series per outcome), kept in one piece
/// so that it reads in drawing order.
pub fn latency_svg(
    points: &[Point],
    bands: &[Band],
    per_second: f64,
    t_end_s: f64,
) -> Result<String, String> {
    let shown = downsample(points, t_end_s);
    let lat = |f: fn(f64, f64) -> f64, init: f64| {
        shown
            .iter()
            .map(|p| p.latency_ms.max(LATENCY_MS_MIN))
            .fold(init, f)
    };
    let y_min = lat(f64::min, f64::INFINITY).min(1.0) / 2.0;
    let y_max = lat(f64::max, 0.0).max(y_min * 10.0) * 2.0;
    let x_max = t_end_s.max(1e-6);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PX).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let caption = if shown.len() < points.len() {
            format!(
                "Latency ({} of {} ops drawn: fastest, median, slowest per bucket)",
                shown.len(),
                points.len()
            )
        } else {
            "Latency".to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("latency (ms)")
            .y_label_formatter(&ms_label)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bands.iter().map(|b| {
                Rectangle::new(
                    [
                        (b.start as f64 / per_second, y_min),
                        (b.end as f64 / per_second, y_max),
                    ],
                    band_color(&b.kind).mix(0.15).filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        for outcome in 0..3u8 {
            let c = color(outcome);
            chart
                .draw_series(
                    shown.iter().filter(|p| p.outcome == outcome).map(|p| {
                        Circle::new((p.t_s, p.latency_ms.max(LATENCY_MS_MIN)), 2, c.filled())
                    }),
                )
                .map_err(|e| e.to_string())?
                .label(NAMES[usize::from(outcome)])
                .legend(move |(x, y)| Circle::new((x, y), 3, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Completions per second by outcome in [`RATE_BUCKETS`] buckets: `(bucket start s, [ok, fail,
/// info])`.
pub fn rates(points: &[Point], t_end_s: f64) -> Vec<(f64, [f64; 3])> {
    let width = (t_end_s / RATE_BUCKETS as f64).max(1e-9);
    let mut counts = vec![[0f64; 3]; RATE_BUCKETS];
    for p in points {
        let done = p.t_s + p.latency_ms / 1e3;
        let i = ((done / width) as usize).min(RATE_BUCKETS - 1);
        counts[i][usize::from(p.outcome.min(2))] += 1.0;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i as f64 * width, c.map(|n| n / width)))
        .collect()
}

/// The throughput plot as SVG; `bands` in units of which `per_second` make a second.
pub fn throughput_svg(
    points: &[Point],
    bands: &[Band],
    per_second: f64,
    t_end_s: f64,
) -> Result<String, String> {
    let rates = rates(points, t_end_s);
    let y_max = rates
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let x_max = t_end_s.max(1e-6);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PX).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Throughput (completions per second)", ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("ops/s")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bands.iter().map(|b| {
                Rectangle::new(
                    [
                        (b.start as f64 / per_second, 0.0),
                        (b.end as f64 / per_second, y_max),
                    ],
                    band_color(&b.kind).mix(0.15).filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        for outcome in 0..3usize {
            let c = color(outcome as u8);
            chart
                .draw_series(LineSeries::new(
                    rates.iter().map(|(t, r)| (*t, r[outcome])),
                    c.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(NAMES[outcome])
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(n: usize) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                t_s: i as f64 / n as f64 * 10.0,
                latency_ms: 1.0 + (i % 97) as f64,
                outcome: (i % 3) as u8,
            })
            .collect()
    }

    #[test]
    fn downsampling_bounds_points_and_keeps_extremes() {
        let p = pts(200_000);
        let d = downsample(&p, 10.0);
        assert!(d.len() <= LATENCY_BUCKETS * 9, "{}", d.len());
        assert!(d.len() > LATENCY_BUCKETS);
        let max = d.iter().map(|p| p.latency_ms).fold(0.0, f64::max);
        assert_eq!(max, 97.0);
        assert_eq!(downsample(&p[..10], 10.0).len(), 10);
    }

    #[test]
    fn plots_are_svg_with_bands() {
        let bands = vec![Band {
            start: 2_000_000,
            end: 4_000_000,
            kind: "network".into(),
            label: "partition".into(),
        }];
        let l = latency_svg(&pts(50_000), &bands, 1e6, 10.0).unwrap();
        assert!(l.starts_with("<svg"), "{}", &l[..50]);
        assert!(l.contains("latency (ms)"));
        assert!(l.len() < 1_000_000, "{}", l.len());
        let t = throughput_svg(&pts(1000), &bands, 1e6, 10.0).unwrap();
        assert!(t.contains("ops/s"));
        let total: f64 = rates(&pts(1000), 10.0)
            .iter()
            .map(|(_, r)| r.iter().sum::<f64>() * 0.1)
            .sum();
        assert!((total - 1000.0).abs() < 1e-6, "{total}");
    }
}

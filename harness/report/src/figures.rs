//! SVG figures drawn with plotters' SVG backend into strings. Every function takes the plain
//! data of [`crate::plot_data`] and returns the SVG text, or why it could not be drawn.
//!
//! Colours are the Okabe–Ito palette (Okabe & Ito 2008), distinguishable with the common
//! colour-vision deficiencies. Text is emitted as SVG `<text>` (plotters escapes it), so no font
//! is needed to build or to draw.

use crate::plot_data::{ForestRow, LatencyPlotData, ReliabilityData, RocPlotData, ThroughputBar};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Okabe–Ito colours, blue first.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];
const GREY: RGBColor = RGBColor(120, 120, 120);
const FONT: &str = "sans-serif";

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws into a fresh SVG string of the given size.
fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| format!("could not draw the figure: {e}"))?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn fmt3(x: f64) -> String {
    format!("{x:.3}")
}

/// Left-aligned row labels drawn on the root area at absolute pixel positions.
fn row_label(
    root: &DrawingArea<SVGBackend, Shift>,
    text: &str,
    x: i32,
    y: i32,
    size: u32,
    col: &RGBColor,
) -> DrawResult {
    let style = TextStyle::from((FONT, size).into_font())
        .color(col)
        .pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(text.to_string(), (x, y), style))?;
    Ok(())
}

/// ROC curve with its pointwise bootstrap band (shaded), the chance diagonal, and the operating
/// point at the threshold, labelled with its sensitivity and specificity.
pub fn roc_svg(name: &str, d: &RocPlotData, auroc_legend: &str) -> Result<String, String> {
    render((560, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("ROC curve: {name}"), (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("1 − specificity (false-positive rate)")
            .y_desc("Sensitivity")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let blue = colour(0);
        if let Ok(band) = &d.band {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|s| (s.fpr, s.upper)).collect();
            poly.extend(band.iter().rev().map(|s| (s.fpr, s.lower)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, blue.mix(0.22).filled())))?
                .label(format!(
                    "pointwise 95% bootstrap band (B = {})",
                    d.band_replicates
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], blue.mix(0.22).filled())
                });
        }
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                GREY.stroke_width(1),
            ))?
            .label("chance (AUROC 0.5)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREY));
        chart
            .draw_series(LineSeries::new(
                d.curve.iter().copied(),
                blue.stroke_width(2),
            ))?
            .label(auroc_legend.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2))
            });
        if let Some(op) = d.operating_point {
            let vermillion = colour(4);
            let p = (1.0 - op.specificity, op.sensitivity);
            chart
                .draw_series(std::iter::once(Circle::new(p, 6, vermillion.filled())))?
                .label(format!("threshold {}", op.threshold))
                .legend(move |(x, y)| Circle::new((x + 9, y), 5, vermillion.filled()));
            let text = format!("sens {:.3}, spec {:.3}", op.sensitivity, op.specificity);
            // Keep the label inside the plot: to the right of the marker unless near the edge.
            let (anchor, dx) = if p.0 < 0.55 {
                (HPos::Left, 0.03)
            } else {
                (HPos::Right, -0.03)
            };
            let dy = if p.1 > 0.1 { -0.05 } else { 0.05 };
            let style = TextStyle::from((FONT, 14).into_font())
                .color(&vermillion)
                .pos(Pos::new(anchor, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(
                text,
                (p.0 + dx, p.1 + dy),
                style,
            )))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .draw()?;
        Ok(())
    })
}

/// Reliability diagram: mean predicted probability against observed frequency in each
/// non-empty ECE-10 bin (marker area ∝ bin count), the diagonal of perfect calibration, and a
/// strip of bin counts underneath.
pub fn reliability_svg(name: &str, d: &ReliabilityData) -> Result<String, String> {
    render((560, 600), |root| {
        let (top, bottom) = root.split_vertically(450);
        let mut chart = ChartBuilder::on(&top)
            .caption(format!("Reliability diagram: {name}"), (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("Mean predicted probability (ECE-10 bin)")
            .y_desc("Observed frequency of positives")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                GREY.stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREY));
        let blue = colour(0);
        chart
            .draw_series(LineSeries::new(
                d.points.iter().map(|p| (p.mean_score, p.mean_label)),
                blue.stroke_width(1),
            ))?
            .label("bins (marker area ∝ cases)")
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, blue.filled()));
        let max_n = d.points.iter().map(|p| p.n).max().unwrap_or(1).max(1) as f64;
        chart.draw_series(d.points.iter().map(|p| {
            Circle::new(
                (p.mean_score, p.mean_label),
                (3.0 + 9.0 * (p.n as f64 / max_n).sqrt()) as i32,
                blue.mix(0.7).filled(),
            )
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .draw()?;

        let max_count = d.counts.iter().map(|c| c.2).max().unwrap_or(1).max(1);
        let mut strip = ChartBuilder::on(&bottom)
            .margin_left(12)
            .margin_right(12)
            .margin_bottom(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .caption(caption_line(d), (FONT, 13))
            .build_cartesian_2d(0f64..1f64, 0u64..max_count as u64)?;
        strip
            .configure_mesh()
            .y_desc("cases")
            .y_labels(3)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        strip.draw_series(d.counts.iter().filter(|c| c.2 > 0).map(|&(lo, hi, n)| {
            Rectangle::new(
                [(lo + 0.005, 0), (hi - 0.005, n as u64)],
                blue.mix(0.5).filled(),
            )
        }))?;
        Ok(())
    })
}

/// "ECE-10 = … · slope … · intercept …" (or why the fit is missing).
pub fn caption_line(d: &ReliabilityData) -> String {
    let ece = d.ece_10.map_or("n/a".to_string(), fmt3);
    match (d.slope, d.intercept) {
        (Some(s), Some(i)) => format!(
            "ECE-10 = {ece} · calibration slope = {} · intercept = {}",
            fmt3(s),
            fmt3(i)
        ),
        _ => format!("ECE-10 = {ece} · calibration slope/intercept: n/a"),
    }
}

/// Forest plot of subgroup AUROCs with DeLong 95 % CIs, one row per level, the overall AUROC as
/// a vertical line; levels without an AUROC (or CI) say why.
pub fn forest_svg(name: &str, rows: &[ForestRow], overall: Option<f64>) -> Result<String, String> {
    let row_h = 30u32;
    let label_w = 250u32;
    let height = 110 + row_h * rows.len().max(1) as u32;
    let lo = rows
        .iter()
        .flat_map(|r| r.ci95.map(|c| c[0]).or(r.auroc))
        .chain(overall)
        .filter(|x| x.is_finite())
        .fold(1.0f64, f64::min);
    let x_lo = ((lo - 0.05) * 10.0).floor().clamp(0.0, 9.0) / 10.0;
    render((760, height), |root| {
        let (_, right) = root.split_horizontally(label_w);
        let n_rows = rows.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&right)
            .caption(
                format!("Subgroup AUROC (DeLong 95% CI): {name}"),
                (FONT, 17),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(0)
            .build_cartesian_2d(x_lo..1f64, -0.5f64..(n_rows - 0.5))?;
        let x_desc = match overall.filter(|o| o.is_finite()) {
            Some(o) => format!("AUROC (dashed line: overall AUROC {})", fmt3(o)),
            None => "AUROC".to_string(),
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .disable_y_mesh()
            .x_label_formatter(&|v| format!("{v:.2}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        // Row i is drawn at y = n − 1 − i so that the first row is on top.
        let y_of = |i: usize| n_rows - 1.0 - i as f64;
        let blue = colour(0);
        if let Some(o) = overall.filter(|o| o.is_finite()) {
            chart.draw_series(DashedLineSeries::new(
                vec![(o, -0.5), (o, n_rows - 0.5)],
                5,
                4,
                colour(4).stroke_width(1),
            ))?;
        }
        for (i, r) in rows.iter().enumerate() {
            let y = y_of(i);
            let (_, py) = chart.backend_coord(&(x_lo, y));
            row_label(root, &truncate(&r.label(), 38), 8, py, 13, &BLACK)?;
            if let Some([a, b]) = r.ci95 {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(a, y), (b, y)],
                    blue.stroke_width(2),
                )))?;
                for x in [a, b] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - 0.18), (x, y + 0.18)],
                        blue.stroke_width(2),
                    )))?;
                }
            }
            match r.auroc {
                Some(a) => {
                    let (px, py) = chart.backend_coord(&(a, y));
                    root.draw(&Rectangle::new(
                        [(px - 5, py - 5), (px + 5, py + 5)],
                        blue.filled(),
                    ))?;
                    if r.ci95.is_none() {
                        let (tx, _) = chart.backend_coord(&(x_lo, y));
                        row_label(
                            root,
                            "no CI: fewer than 2 positives or 2 negatives",
                            tx + 4,
                            py - 11,
                            11,
                            &GREY,
                        )?;
                    }
                }
                None => {
                    let (tx, ty) = chart.backend_coord(&(x_lo, y));
                    let note = r.note.as_deref().unwrap_or("undefined");
                    row_label(root, &format!("n/a: {note}"), tx + 6, ty, 12, &GREY)?;
                }
            }
        }
        Ok(())
    })
}

/// Empirical latency CDF, one line per backend × profile × scenario, with the legend under the
/// chart (it would hide the curves inside it).
pub fn latency_svg(d: &LatencyPlotData) -> Result<String, String> {
    let legend_h = 16 + 18 * d.series.len() as u32;
    let height = 420 + legend_h;
    render((820, height), |root| {
        let (top, bottom) = root.split_vertically(420);
        let tx = |ms: f64| if d.log_x { ms.log10() } else { ms };
        let (x0, x1) = if d.log_x {
            (d.min_ms.log10().floor(), d.max_ms.log10().ceil())
        } else {
            (0.0, d.max_ms * 1.05)
        };
        let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0, x0 + 1.0) };
        let mut chart = ChartBuilder::on(&top)
            .caption("Latency distribution (empirical CDF)", (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, 0f64..1.0f64)?;
        let log = d.log_x;
        let fmt_x = move |v: &f64| {
            if log {
                format_ms(10f64.powf(*v))
            } else {
                format_ms(*v)
            }
        };
        chart
            .configure_mesh()
            .x_desc(if log {
                "latency (ms, log scale)"
            } else {
                "latency (ms)"
            })
            .y_desc("fraction of queries ≤ latency")
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, s) in d.series.iter().enumerate() {
            let c = colour(i);
            // A step function: each point holds until the next.
            let mut pts = Vec::with_capacity(2 * s.points.len());
            let mut prev_y = 0.0;
            for &(ms, f) in &s.points {
                pts.push((tx(ms), prev_y));
                pts.push((tx(ms), f));
                prev_y = f;
            }
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?;
            let y = 12 + 18 * i as i32;
            bottom.draw(&PathElement::new(vec![(64, y), (92, y)], c.stroke_width(3)))?;
            row_label(&bottom, &s.label, 100, y, 13, &BLACK)?;
        }
        Ok(())
    })
}

fn format_ms(ms: f64) -> String {
    if ms == 0.0 {
        "0".to_string()
    } else if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

/// Horizontal bars of throughput (queries per second), one per measured row, each labelled
/// above its bar so that long labels never overlap it.
pub fn throughput_svg(bars: &[ThroughputBar]) -> Result<String, String> {
    let row_h = 46u32;
    let height = 100 + row_h * bars.len().max(1) as u32;
    let max = bars.iter().map(|b| b.per_s).fold(0.0f64, f64::max);
    let x1 = if max > 0.0 { max * 1.15 } else { 1.0 };
    render((820, height), |root| {
        let n = bars.len().max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Throughput", (FONT, 18))
            .margin(12)
            .margin_left(20)
            .x_label_area_size(40)
            .y_label_area_size(0)
            .build_cartesian_2d(0f64..x1, -0.5f64..(n - 0.5))?;
        chart
            .configure_mesh()
            .x_desc("queries per second")
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, b) in bars.iter().enumerate() {
            // Row i spans [y − 0.5, y + 0.5]: its label on top, its bar below.
            let y = n - 1.0 - i as f64;
            let c = colour(i);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.42), (b.per_s, y + 0.02)],
                c.mix(0.8).filled(),
            )))?;
            let (px, py) = chart.backend_coord(&(b.per_s, y - 0.2));
            row_label(root, &format!("{:.1}/s", b.per_s), px + 4, py, 12, &BLACK)?;
            let (lx, ly) = chart.backend_coord(&(0.0, y + 0.24));
            row_label(root, &b.label, lx + 2, ly, 12, &BLACK)?;
        }
        Ok(())
    })
}

/// At most `max` characters, with "…" when cut (the tables carry the full text).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

//! SVG figures drawn with plotters' SVG backend into strings. Every function takes the plain
//! data of [`crate::plot_data`] and returns the SVG text, or why it could not be drawn.
//!
//! Colours are the Okabe–Ito palette (Okabe & Ito 2008), distinguishable with the common
//! colour-vision deficiencies. Text is emitted as SVG `<text>` (plotters escapes it), so no font
//! is needed to build or to draw.

use crate::format::{fixed, ms, num, truncate};
use crate::plot_data::{
    ForestRow, LatencyPlotData, MAX_SERIES_PER_PANEL, MsAxis, QuantilePlotData, QuantileRow,
    ReliabilityData, RocOverlayCurve, RocPlotData, ThroughputBar,
};
use plotters::chart::SeriesAnno;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DrawResult = Result<(), Box<dyn std::error::Error>>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The eight Okabe–Ito colours, blue first and yellow (hard to see on white) last.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
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

/// A tick label of a 0-to-1 axis.
fn tick(v: &f64) -> String {
    fixed(*v, 1)
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

/// A chart in the unit square (ROC, reliability) with its mesh.
fn unit_square<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: String,
    x_label_area: u32,
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(x_label_area)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

/// The dashed diagonal of a unit-square chart, labelled `label` in the legend.
fn diagonal(chart: &mut Chart, label: &str) -> DrawResult {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            6,
            4,
            GREY.stroke_width(1),
        ))?
        .label(label)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREY));
    Ok(())
}

/// The legend of the series labels, boxed, at `position`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()?;
    Ok(())
}

const ROC_AXES: (&str, &str) = ("1 − specificity (false-positive rate)", "Sensitivity");
const CHANCE: &str = "chance (AUROC 0.5)";

/// ROC curve with its pointwise bootstrap band (shaded), the chance diagonal, and the operating
/// point at the threshold, labelled with its sensitivity and specificity.
pub fn roc_svg(name: &str, d: &RocPlotData, auroc_legend: &str) -> Result<String, String> {
    render((560, 520), |root| {
        let mut chart = unit_square(root, format!("ROC curve: {name}"), 42, ROC_AXES)?;
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
        diagonal(&mut chart, CHANCE)?;
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
            let text = format!(
                "sens {}, spec {}",
                fixed(op.sensitivity, 3),
                fixed(op.specificity, 3)
            );
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
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// Reliability diagram: mean predicted probability against observed frequency in each
/// non-empty ECE-10 bin (marker area ∝ bin count), the diagonal of perfect calibration, and a
/// strip of bin counts underneath.
pub fn reliability_svg(name: &str, d: &ReliabilityData) -> Result<String, String> {
    render((560, 600), |root| {
        let (top, bottom) = root.split_vertically(450);
        let mut chart = unit_square(
            &top,
            format!("Reliability diagram: {name}"),
            36,
            (
                "Mean predicted probability (ECE-10 bin)",
                "Observed frequency of positives",
            ),
        )?;
        diagonal(&mut chart, "perfect calibration")?;
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
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;

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
            .x_label_formatter(&tick)
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

/// One class's line of a classwise reliability diagram: (mean predicted probability of the
/// class, observed frequency of the class, cases) per non-empty ECE-10 bin, and its ECE-10.
pub struct ClassReliability {
    pub class: String,
    pub points: Vec<(f64, f64, usize)>,
    pub ece_10: Option<f64>,
}

/// Classwise reliability diagram of a multi-class model: for each class, the mean predicted
/// probability of that class against the observed frequency of that class in each non-empty
/// ECE-10 bin (marker area ∝ bin count), one colour per class, at most
/// [`MAX_SERIES_PER_PANEL`] classes to a panel, and the diagonal of perfect calibration.
pub fn classwise_reliability_svg(
    name: &str,
    classes: &[ClassReliability],
) -> Result<String, String> {
    const PANEL: (u32, u32) = (560, 480);
    let panels: Vec<&[ClassReliability]> = classes.chunks(MAX_SERIES_PER_PANEL).collect();
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    let max_n = classes
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.2))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    render((PANEL.0 * cols as u32, PANEL.1 * rows as u32), |root| {
        let cells = root.split_evenly((rows, cols));
        for (p, chunk) in panels.iter().enumerate() {
            let title = if panels.len() > 1 {
                format!(
                    "Classwise reliability: {name} ({} of {})",
                    p + 1,
                    panels.len()
                )
            } else {
                format!("Classwise reliability: {name}")
            };
            let mut chart = unit_square(
                &cells[p],
                title,
                36,
                (
                    "Mean predicted probability of the class (ECE-10 bin)",
                    "Observed frequency of the class",
                ),
            )?;
            diagonal(&mut chart, "perfect calibration")?;
            for (i, c) in chunk.iter().enumerate() {
                let (col, dashed) = key_style(p * MAX_SERIES_PER_PANEL + i);
                let line: Vec<(f64, f64)> = c.points.iter().map(|&(x, y, _)| (x, y)).collect();
                let label = format!("{}: ECE-10 {}", truncate(&c.class, 20), num(c.ece_10, 3));
                draw_line(&mut chart, line, col.stroke_width(2), dashed)?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 9, y), 5, col.filled()));
                chart.draw_series(c.points.iter().map(|&(x, y, n)| {
                    Circle::new(
                        (x, y),
                        (3.0 + 7.0 * (n as f64 / max_n).sqrt()) as i32,
                        col.mix(0.7).filled(),
                    )
                }))?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })
}

/// "ECE-10 = … · slope … · intercept …" (or why the fit is missing).
pub fn caption_line(d: &ReliabilityData) -> String {
    let ece = num(d.ece_10, 3);
    match (d.slope, d.intercept) {
        (Some(s), Some(i)) => format!(
            "ECE-10 = {ece} · calibration slope = {} · intercept = {}",
            fixed(s, 3),
            fixed(i, 3)
        ),
        _ => format!("ECE-10 = {ece} · calibration slope/intercept: n/a"),
    }
}

/// Forest plot of subgroup AUROCs with DeLong 95 % CIs, one row per level, the overall AUROC as
/// a vertical line; levels without an AUROC (or CI) say why.
/// A forest plot of AUROCs with CIs, one row per entry of `rows`; `title` names what the rows
/// are ("Subgroup AUROC (DeLong 95% CI)"), `overall` is drawn as a dashed line and described
/// as `overall_label` ("overall AUROC").
pub fn forest_svg(
    name: &str,
    title: &str,
    rows: &[ForestRow],
    overall: Option<f64>,
    overall_label: &str,
) -> Result<String, String> {
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
            .caption(format!("{title}: {name}"), (FONT, 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(0)
            .build_cartesian_2d(x_lo..1f64, -0.5f64..(n_rows - 0.5))?;
        let x_desc = match overall.filter(|o| o.is_finite()) {
            Some(o) => format!("AUROC (dashed line: {overall_label} {})", fixed(o, 3)),
            None => "AUROC".to_string(),
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .disable_y_mesh()
            .x_label_formatter(&|v| fixed(*v, 2))
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

/// The colour of key `k` (a candidate, a configuration) and whether its line is dashed: the
/// eight colours, then the same colours dashed, and so on.
fn key_style(k: usize) -> (RGBColor, bool) {
    (colour(k), (k / PALETTE.len()) % 2 == 1)
}

/// A line in chart coordinates, solid or dashed.
fn draw_line<'c, 'a, 'b: 'a>(
    chart: &'c mut Chart<'a, 'b>,
    points: Vec<(f64, f64)>,
    style: ShapeStyle,
    dashed: bool,
) -> Result<&'c mut SeriesAnno<'a, SVGBackend<'b>>, Box<dyn std::error::Error>> {
    Ok(if dashed {
        chart.draw_series(DashedLineSeries::new(points, 7, 4, style))?
    } else {
        chart.draw_series(LineSeries::new(points, style))?
    })
}

/// A legend swatch (a short line, solid or dashed) at pixel (x, y) of `area`.
fn swatch(
    area: &DrawingArea<SVGBackend, Shift>,
    x: i32,
    y: i32,
    c: RGBColor,
    dashed: bool,
) -> DrawResult {
    let style = c.stroke_width(3);
    if dashed {
        for x0 in [x, x + 11, x + 22] {
            area.draw(&PathElement::new(vec![(x0, y), (x0 + 7, y)], style))?;
        }
    } else {
        area.draw(&PathElement::new(vec![(x, y), (x + 28, y)], style))?;
    }
    Ok(())
}

/// The mesh of a chart with a time axis: plotters' own labels on a linear axis; on a log axis
/// grid lines and labels at the axis' 1-2-5 ticks (plotters would label the log10 values).
/// The y axis is labelled as a fraction when `y_labels`, with `y_desc` when not empty.
fn time_mesh(
    root: &DrawingArea<SVGBackend, Shift>,
    chart: &mut ChartContext<SVGBackend, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    axis: &MsAxis,
    x_desc: &str,
    (y_labels, y_desc): (bool, &str),
    font: u32,
) -> DrawResult {
    let y = chart.y_range();
    let x_label = |v: &f64| ms(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .label_style((FONT, font))
        .axis_desc_style((FONT, font))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&x_label);
    if axis.log {
        mesh.x_labels(0);
    }
    if y_labels {
        mesh.y_labels(6).y_label_formatter(&tick);
    } else {
        mesh.disable_y_mesh().y_labels(0);
    }
    if !y_desc.is_empty() {
        mesh.y_desc(y_desc);
    }
    mesh.draw()?;
    for t in axis.log_ticks() {
        let x = axis.x(t);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y.start), (x, y.end)],
            GREY.mix(0.25).stroke_width(1),
        )))?;
        let (px, py) = chart.backend_coord(&(x, y.start));
        let style = TextStyle::from((FONT, font).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(log_tick(t), (px, py + 6), style))?;
    }
    Ok(())
}

/// A 1-2-5 tick of a log time axis with just its significant digit: "0.02", "0.5", "20".
fn log_tick(ms: f64) -> String {
    fixed(ms, (-ms.log10().floor()).max(0.0) as usize)
}

/// Empirical latency CDFs as small multiples: a row of panels per candidate, a column per
/// scenario and batch size, at most six configurations (engine · profile · threads) per panel,
/// each configuration in the same colour in every panel, and one legend under the grid (it
/// would hide the curves inside a panel). Panels of one column share their time axis.
pub fn latency_svg(d: &LatencyPlotData) -> Result<String, String> {
    const PANEL_W: u32 = 360;
    const PANEL_H: u32 = 270;
    const LEGEND_COL_W: u32 = 330;
    let (rows, cols) = (d.rows.max(1), d.columns.max(1));
    let width = (cols as u32 * PANEL_W + 24).max(2 * LEGEND_COL_W + 48);
    let legend_cols = ((width - 48) / LEGEND_COL_W).max(1) as usize;
    // The legend names the configurations that have a line, each once.
    let shown: Vec<usize> = (0..d.keys.len())
        .filter(|&k| d.series.iter().any(|s| s.key == k))
        .collect();
    let legend_h = 20 + 22 * shown.len().div_ceil(legend_cols) as u32;
    let grid_h = rows as u32 * PANEL_H;
    render((width, 40 + grid_h + legend_h), |root| {
        let body = root.titled(
            "Latency distribution (empirical CDF): one panel per candidate, scenario and batch size",
            (FONT, 17),
        )?;
        let (grid, legend) = body.split_vertically(grid_h);
        let cells = grid.margin(0, 0, 12, 12).split_evenly((rows, cols));
        for (p, panel) in d.panels.iter().enumerate() {
            let area = &cells[panel.row * cols + panel.column];
            let r = panel.axis.range();
            let mut chart = ChartBuilder::on(area)
                .caption(truncate(&panel.title, 46), (FONT, 14))
                .margin(8)
                .margin_right(16)
                .x_label_area_size(40)
                .y_label_area_size(if panel.column == 0 { 52 } else { 36 })
                .build_cartesian_2d(r, 0f64..1f64)?;
            time_mesh(
                root,
                &mut chart,
                &panel.axis,
                if panel.axis.log {
                    "latency (ms, log scale)"
                } else {
                    "latency (ms)"
                },
                (
                    true,
                    if panel.column == 0 {
                        "fraction of queries ≤ latency"
                    } else {
                        ""
                    },
                ),
                12,
            )?;
            for s in d.series.iter().filter(|s| s.panel == p) {
                let (c, dashed) = key_style(s.key);
                // A step function: each point holds until the next.
                let mut pts = Vec::with_capacity(2 * s.points.len());
                let mut prev_y = 0.0;
                for &(ms, f) in &s.points {
                    let x = panel.axis.x(ms);
                    pts.push((x, prev_y));
                    pts.push((x, f));
                    prev_y = f;
                }
                draw_line(&mut chart, pts, c.stroke_width(2), dashed)?;
            }
        }
        for (i, &k) in shown.iter().enumerate() {
            let (label, x) = (
                &d.keys[k],
                24 + (i % legend_cols) as i32 * LEGEND_COL_W as i32,
            );
            let y = 12 + (i / legend_cols) as i32 * 22;
            let (c, dashed) = key_style(k);
            swatch(&legend, x, y, c, dashed)?;
            row_label(&legend, &truncate(label, 40), x + 36, y, 13, &BLACK)?;
        }
        Ok(())
    })
}

/// The marker of one quantile in the dot plot, centred on pixel (x, y) of `area`.
fn quantile_marker(
    area: &DrawingArea<SVGBackend, Shift>,
    which: usize,
    (x, y): (i32, i32),
) -> DrawResult {
    let c = QUANTILE_COLOURS[which];
    match which {
        0 => area.draw(&Circle::new((x, y), 5, c.filled()))?,
        1 => area.draw(&TriangleMarker::new((x, y), 7, c.filled()))?,
        2 => area.draw(&Rectangle::new(
            [(x - 5, y - 5), (x + 5, y + 5)],
            c.filled(),
        ))?,
        _ => area.draw(&PathElement::new(
            vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y), (x, y - 7)],
            c.stroke_width(2),
        ))?,
    }
    Ok(())
}

/// p50 (blue circle), p90 (orange triangle), p99 (vermillion square), early-stopping estimate
/// (black open diamond).
const QUANTILE_COLOURS: [RGBColor; 4] = [PALETTE[0], PALETTE[1], PALETTE[4], PALETTE[6]];

/// Dot plot of the latency percentiles: one row per measured configuration, grouped under its
/// candidate, with p50, p90 and p99 as three markers on a line from p50 to p99, and the
/// early-stopping estimate of the tail where the data carries one.
pub fn latency_quantiles_svg(d: &QuantilePlotData) -> Result<String, String> {
    const ROW_H: u32 = 22;
    const WIDTH: u32 = 980;
    // A heading line for each candidate (when named), then its rows.
    enum Line<'a> {
        Heading(&'a str),
        Row(&'a QuantileRow),
    }
    let mut lines = Vec::new();
    for (i, r) in d.rows.iter().enumerate() {
        if !r.candidate.is_empty() && (i == 0 || d.rows[i - 1].candidate != r.candidate) {
            lines.push(Line::Heading(&r.candidate));
        }
        lines.push(Line::Row(r));
    }
    let label_chars = d.rows.iter().map(|r| r.label.chars().count()).max();
    // About 5.8 pixels a character at 12 px.
    let label_w = (label_chars.unwrap_or(10) as f64 * 5.8 + 40.0).clamp(180.0, 480.0) as u32;
    let with_es = d.rows.iter().any(|r| r.early_stopping.is_some());
    let n = lines.len().max(1);
    let height = 110 + ROW_H * n as u32;
    render((WIDTH, height), |root| {
        let body = root.titled("Latency percentiles of each configuration", (FONT, 18))?;
        let (key, body) = body.split_vertically(28);
        let mut entries = vec!["p50 (median)", "p90", "p99"];
        if with_es {
            entries.push("early-stopping estimate of the tail (p90 or p99)");
        }
        let mut x = label_w as i32;
        for (i, e) in entries.iter().enumerate() {
            quantile_marker(&key, i, (x, 12))?;
            row_label(&key, e, x + 12, 12, 13, &BLACK)?;
            x += 30 + 8 * e.chars().count() as i32;
        }
        let (_, right) = body.split_horizontally(label_w - 12);
        let n = n as f64;
        let r = d.axis.range();
        let mut chart = ChartBuilder::on(&right)
            .margin(8)
            .margin_right(24)
            .x_label_area_size(42)
            .y_label_area_size(0)
            .build_cartesian_2d(r.clone(), -0.5f64..(n - 0.5))?;
        time_mesh(
            root,
            &mut chart,
            &d.axis,
            if d.axis.log {
                "per-query latency (ms, log scale)"
            } else {
                "per-query latency (ms)"
            },
            (false, ""),
            13,
        )?;
        // Line i is drawn at y = n − 1 − i so that the first line is on top.
        let mut shade = false;
        for (i, line) in lines.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            let (_, py) = chart.backend_coord(&(r.start, y));
            match line {
                Line::Heading(name) => {
                    let style = TextStyle::from((FONT, 14, FontStyle::Bold).into_font())
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center));
                    root.draw(&Text::new(truncate(name, 60), (10, py), style))?;
                    shade = false;
                }
                Line::Row(q) => {
                    if shade {
                        chart.draw_series(std::iter::once(Rectangle::new(
                            [(r.start, y - 0.5), (r.end, y + 0.5)],
                            GREY.mix(0.08).filled(),
                        )))?;
                    }
                    shade = !shade;
                    let indent = if q.candidate.is_empty() { 10 } else { 24 };
                    let chars = ((label_w as i32 - indent - 12) as f64 / 5.8) as usize;
                    row_label(root, &truncate(&q.label, chars), indent, py, 12, &BLACK)?;
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(d.axis.x(q.p50), y), (d.axis.x(q.p99), y)],
                        GREY.stroke_width(1),
                    )))?;
                    let es = q.early_stopping.filter(|e| d.axis.shows(e.ms));
                    let points = [Some(q.p50), Some(q.p90), Some(q.p99), es.map(|e| e.ms)];
                    for (k, ms) in points.iter().enumerate() {
                        if let Some(ms) = ms {
                            let p = chart.backend_coord(&(d.axis.x(*ms), y));
                            quantile_marker(root, k, p)?;
                        }
                    }
                }
            }
        }
        Ok(())
    })
}

/// The ROC curves of all candidates over one another, at most six to a panel (panels side by
/// side when there are more), each in its colour with its AUROC in the legend, the chance
/// diagonal, and each candidate's operating point at the threshold as a dot of its colour.
/// The ROC curves of several candidates in one panel per [`MAX_SERIES_PER_PANEL`] curves,
/// under the title `title` ("ROC curves of the candidates").
pub fn roc_overlay_svg(title: &str, curves: &[RocOverlayCurve]) -> Result<String, String> {
    const PANEL: (u32, u32) = (600, 580);
    let panels: Vec<&[RocOverlayCurve]> = curves.chunks(MAX_SERIES_PER_PANEL).collect();
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    render((PANEL.0 * cols as u32, PANEL.1 * rows as u32), |root| {
        let cells = root.split_evenly((rows, cols));
        for (p, chunk) in panels.iter().enumerate() {
            let title = if panels.len() > 1 {
                format!("{title} ({} of {})", p + 1, panels.len())
            } else {
                title.to_string()
            };
            let mut chart = unit_square(&cells[p], title, 42, ROC_AXES)?;
            diagonal(&mut chart, CHANCE)?;
            for (i, c) in chunk.iter().enumerate() {
                let (col, dashed) = key_style(p * MAX_SERIES_PER_PANEL + i);
                let style = col.stroke_width(2);
                let label = format!("{}: {}", truncate(&c.name, 24), c.auroc);
                let anno = draw_line(&mut chart, c.curve.clone(), style, dashed)?;
                anno.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                });
            }
            // The operating points over the curves, each circled in white to stand out.
            for (i, c) in chunk.iter().enumerate() {
                if let Some(op) = c.operating_point {
                    let (col, _) = key_style(p * MAX_SERIES_PER_PANEL + i);
                    let at = (1.0 - op.specificity, op.sensitivity);
                    chart.draw_series([
                        Circle::new(at, 7, WHITE.filled()),
                        Circle::new(at, 5, col.filled()),
                    ])?;
                }
            }
            legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })
}

/// A confusion-matrix heat map: rows are the true classes, columns the argmax predictions;
/// each cell is shaded by its share of its row (the class's sensitivity on the diagonal) and
/// labelled with its count and that share.
pub fn confusion_svg(
    name: &str,
    classes: &[String],
    counts: &[Vec<u64>],
) -> Result<String, String> {
    let k = classes.len().max(1);
    let cell = (520 / k as u32).clamp(36, 110);
    let label_w = 170u32;
    let size = (label_w + cell * k as u32 + 40, 90 + cell * k as u32 + 24);
    render(size, |root| {
        let title = TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(
            format!("Confusion matrix (row = true class, column = argmax): {name}"),
            (12, 10),
            title,
        ))?;
        let (x0, y0) = (label_w as i32, 90i32);
        let small = |anchor: Pos| TextStyle::from((FONT, 12).into_font()).pos(anchor);
        root.draw(&Text::new(
            "predicted →".to_string(),
            (x0, y0 - 40),
            small(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        for (j, c) in classes.iter().enumerate() {
            let x = x0 + (j as i32) * cell as i32 + cell as i32 / 2;
            root.draw(&Text::new(
                truncate(c, 14),
                (x, y0 - 12),
                small(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
        for (i, row) in counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            let y = y0 + (i as i32) * cell as i32;
            row_label(
                root,
                &format!("{} (n = {total})", truncate(&classes[i], 14)),
                8,
                y + cell as i32 / 2,
                12,
                &BLACK,
            )?;
            for (j, &n) in row.iter().enumerate() {
                let share = if total > 0 {
                    n as f64 / total as f64
                } else {
                    0.0
                };
                let x = x0 + (j as i32) * cell as i32;
                let fill = if i == j { colour(0) } else { colour(1) };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32 - 2, y + cell as i32 - 2)],
                    fill.mix(0.08 + 0.85 * share).filled(),
                ))?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    format!("{n}"),
                    (x + cell as i32 / 2, y + cell as i32 / 2 - 7),
                    small(Pos::new(HPos::Center, VPos::Center)).color(&ink),
                ))?;
                if total > 0 {
                    root.draw(&Text::new(
                        format!("{}%", fixed(100.0 * share, 0)),
                        (x + cell as i32 / 2, y + cell as i32 / 2 + 8),
                        small(Pos::new(HPos::Center, VPos::Center)).color(&ink),
                    ))?;
                }
            }
        }
        Ok(())
    })
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
            // The engine's colour, as in the latency figures.
            let c = key_style(b.key).0;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.42), (b.per_s, y + 0.02)],
                c.mix(0.8).filled(),
            )))?;
            let (px, py) = chart.backend_coord(&(b.per_s, y - 0.2));
            row_label(
                root,
                &format!("{}/s", fixed(b.per_s, 1)),
                px + 4,
                py,
                12,
                &BLACK,
            )?;
            let (lx, ly) = chart.backend_coord(&(0.0, y + 0.24));
            row_label(root, &b.label, lx + 2, ly, 12, &BLACK)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot_data::EarlyStoppingMark;

    #[test]
    fn log_ticks_keep_their_significant_digit() {
        assert_eq!(
            [0.02, 0.1, 0.5, 1.0, 20.0, 1000.0].map(log_tick),
            ["0.02", "0.1", "0.5", "1", "20", "1000"]
        );
    }

    #[test]
    fn the_dot_plot_marks_the_early_stopping_estimate_when_there_is_one() {
        let row = |candidate: &str, es: Option<f64>| QuantileRow {
            candidate: candidate.into(),
            label: "tract · cpu · single-stream · batch 1 · 1 thread".into(),
            p50: 1.0,
            p90: 1.4,
            p99: 2.0,
            early_stopping: es.map(|ms| EarlyStoppingMark {
                percentile: 0.9,
                ms,
            }),
        };
        let axis = MsAxis::fit([1.0, 2.0]).unwrap();
        let d = QuantilePlotData {
            rows: vec![row("a", None), row("b", None)],
            axis,
        };
        let svg = latency_quantiles_svg(&d).unwrap();
        assert!(svg.contains("p50 (median)") && !svg.contains("early-stopping"));
        // Headings for the two candidates.
        assert!(svg.contains(">\na\n<") && svg.contains(">\nb\n<"), "{svg}");
        let d = QuantilePlotData {
            rows: vec![row("a", Some(1.5))],
            axis,
        };
        let svg = latency_quantiles_svg(&d).unwrap();
        assert!(svg.contains("early-stopping estimate"));
    }

    #[test]
    fn the_roc_overlay_puts_at_most_six_curves_in_a_panel() {
        let curves: Vec<RocOverlayCurve> = (0..8)
            .map(|i| RocOverlayCurve {
                name: format!("model-{i}"),
                auroc: "AUROC 0.800 [0.700, 0.900]".into(),
                curve: vec![(1.0, 1.0), (0.2, 0.7), (0.0, 0.0)],
                operating_point: None,
            })
            .collect();
        let svg = roc_overlay_svg("ROC curves of the candidates", &curves).unwrap();
        assert!(svg.contains("(1 of 2)") && svg.contains("(2 of 2)"));
        assert_eq!(svg.matches("chance (AUROC 0.5)").count(), 2);
        assert!(svg.contains("model-7: AUROC 0.800"));
        let one = roc_overlay_svg("ROC curves of the candidates", &curves[..2]).unwrap();
        assert!(one.contains("ROC curves of the candidates\n"));
    }
}

//! Charts as SVG (plotters' SVG backend: no fonts or system libraries needed; text is left to
//! the viewer's sans-serif). Each function returns the document; callers write it atomically.

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::validate::LayerError;

/// Any drawing error, as text (plotters' error types borrow the backend).
fn drawing<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {e:?}")
}

/// A confusion matrix (`[label][predicted]` counts) as a heat map with the counts written in.
///
/// # Errors
/// Only if drawing fails.
pub fn confusion_svg(matrix: &[Vec<usize>], title: &str) -> Result<String> {
    let n = matrix.len().max(1);
    let cell = (480 / n).clamp(24, 48);
    let side = u32::try_from(cell * n + 90)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side, side + 30)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let n_i = i32::try_from(n)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(40)
            .build_cartesian_2d((0..n_i - 1).into_segmented(), (0..n_i - 1).into_segmented())
            .map_err(drawing)?;
        // Row 0 (label 0) at the top, as the text matrix prints it.
        let label_of = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(y) => (n_i - 1 - y).to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("label")
            .x_labels(n)
            .y_labels(n)
            .y_label_formatter(&label_of)
            .draw()
            .map_err(drawing)?;
        let at = |x: i32, y: i32| (SegmentValue::Exact(x), SegmentValue::Exact(y));
        let rows: Vec<usize> = matrix
            .iter()
            .map(|r| r.iter().sum::<usize>().max(1))
            .collect();
        for (label, row) in matrix.iter().enumerate() {
            for (predicted, &count) in row.iter().enumerate() {
                let share = count as f64 / rows[label] as f64;
                let (x, y) = (i32::try_from(predicted)?, n_i - 1 - i32::try_from(label)?);
                chart
                    .draw_series([Rectangle::new(
                        [at(x, y), at(x + 1, y + 1)],
                        BLUE.mix(share * 0.8).filled(),
                    )])
                    .map_err(drawing)?;
                if count > 0 {
                    let colour = if share > 0.5 { WHITE } else { BLACK };
                    let style = ("sans-serif", 12).into_font().color(&colour);
                    chart
                        .draw_series([Text::new(
                            count.to_string(),
                            (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                            style,
                        )])
                        .map_err(drawing)?;
                }
            }
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Per-layer SQNR as horizontal bars, in execution order.
///
/// # Errors
/// Only if drawing fails.
pub fn layers_svg(layers: &[LayerError], title: &str) -> Result<String> {
    let n = layers.len().max(1);
    // A lossless layer (+inf) draws as the best, a layer with no signal (-inf) as the worst.
    let values: Vec<f64> = layers.iter().map(|l| l.sqnr_db).collect();
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let top = finite.clone().fold(10.0f64, f64::max) * 1.1;
    let bottom = finite.fold(0.0f64, f64::min) * 1.1;
    let bar = |v: f64| v.clamp(bottom, top);
    let height = u32::try_from(22 * n + 100)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let n_i = i32::try_from(n)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(280)
            .build_cartesian_2d(bottom..top, (0..n_i - 1).into_segmented())
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("SQNR (dB), higher is better")
            .y_labels(n)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(y) => usize::try_from(n_i - 1 - y)
                    .ok()
                    .and_then(|i| layers.get(i))
                    .map(|l| format!("{} {}", l.op, l.name))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(drawing)?;
        for (i, &v) in values.iter().enumerate() {
            let y = n_i - 1 - i32::try_from(i)?;
            chart
                .draw_series([Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y)),
                        (bar(v), SegmentValue::Exact(y + 1)),
                    ],
                    BLUE.mix(0.6).filled(),
                )])
                .map_err(drawing)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// One line of a chart: a name for the legend and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Learning curves: loss (left) and, if any curve has points, accuracy in percent (right),
/// against the epoch.
///
/// # Errors
/// Only if drawing fails.
pub fn learning_curves_svg(title: &str, loss: &[Curve], accuracy: &[Curve]) -> Result<String> {
    let with_accuracy = accuracy.iter().any(|c| !c.points.is_empty());
    let width = if with_accuracy { 960 } else { 480 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let body = root.titled(title, ("sans-serif", 16)).map_err(drawing)?;
        let panels = if with_accuracy {
            let (a, b) = body.split_horizontally(width / 2);
            vec![(a, loss, "loss"), (b, accuracy, "accuracy (%)")]
        } else {
            vec![(body, loss, "loss")]
        };
        for (area, curves, label) in panels {
            let points = curves.iter().flat_map(|c| c.points.iter());
            let epochs = points.clone().map(|p| p.0).fold(1.0f64, f64::max);
            let (lo, hi) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let pad = ((hi - lo) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(&area)
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(1.0..epochs.max(2.0), (lo - pad)..(hi + pad))
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(label)
                .draw()
                .map_err(drawing)?;
            for (i, curve) in curves.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(curve.points.iter().copied(), color))
                    .map_err(drawing)?
                    .label(curve.name.clone())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(drawing)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

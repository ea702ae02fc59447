//! Human reports of an evidence bundle: self-contained report.html and summary.md with SVG
//! figures drawn by plotters.
//!
//! The input ([`ReportInput`]) is plain data: the header (suite, data set, tool, machine), the
//! candidates with their `harness_metrics` model reports and scores, the paired comparisons,
//! cross-backend agreement and performance rows. From it the crate computes only what it
//! draws — the ROC curve with its pointwise bootstrap band ([`harness_metrics::roc_band`]), the
//! operating point, the Holm adjustment of the comparisons ([`harness_metrics::multiple`]) —
//! and the plain-language sentences and "Limits of this evidence" that follow from the data.
//!
//! Not here: statistics (harness-metrics), reading or hashing files (harness-data, evidence),
//! terminal tables (the CLI). The HTML has no script and fetches nothing; every string that
//! comes from a user file is escaped. Numbers and escaping are written by [`format`], which
//! other writers of the same numbers can use too.
//!
//! * [`render`]: pure, input to the HTML page, the Markdown summary and the figures, computed
//!   once (each ROC band is a bootstrap).
//! * [`write_report`]: writes `report.html`, `summary.md` and `figures/*.svg`, each atomically.

pub mod figures;
pub mod format;
mod html;
pub mod input;
mod markdown;
pub mod plot_data;
mod tables;
pub mod text;
mod view;

pub use input::{
    AcceptanceRow, AgreementRow, Candidate, DatasetInfo, EarlyStoppingMs, Evaluation, Header,
    InferenceInfo, LatencyMs, NotMeasured, PerformanceRow, ReportInput, ReportOptions, SiteAnswer,
    SiteInfo, Status, Suite, TargetCurves, ToolInfo,
};
pub use view::Figure;

use std::path::{Path, PathBuf};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid report input: {0}")]
    Invalid(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// The whole report, computed once (each ROC band is a bootstrap): the HTML page, the
/// Markdown summary and every figure.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub html: String,
    pub markdown: String,
    /// In the order they appear; the SVG, or why it could not be drawn.
    pub figures: Vec<Figure>,
}

/// Computes the report once and writes it as HTML, Markdown and figures.
pub fn render(input: &ReportInput) -> Rendered {
    let v = view::build(input);
    Rendered {
        html: html::html(&v),
        markdown: markdown::markdown(&v),
        figures: v.figures().cloned().collect(),
    }
}

/// Writes `contents` to `path` atomically ([`harness_data::write_atomic`]).
fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    harness_data::write_atomic(path, contents).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `dir/report.html`, `dir/summary.md` and `dir/figures/<id>.svg` (creating the folders),
/// each atomically, and returns the paths written (figures first). The input is validated first
/// ([`ReportInput::validate`]): scores that do not match the labels are an error, not a blank
/// figure.
pub fn write_report(input: &ReportInput, dir: &Path) -> Result<Vec<PathBuf>> {
    input.validate().map_err(ReportError::Invalid)?;
    let r = render(input);
    let figures_dir = dir.join("figures");
    std::fs::create_dir_all(&figures_dir).map_err(|source| ReportError::Io {
        path: figures_dir.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for f in &r.figures {
        if let Ok(svg) = &f.svg {
            let path = figures_dir.join(f.file_name());
            write_atomic(&path, svg.as_bytes())?;
            written.push(path);
        }
    }
    let md = dir.join("summary.md");
    write_atomic(&md, r.markdown.as_bytes())?;
    written.push(md);
    let html_path = dir.join("report.html");
    write_atomic(&html_path, r.html.as_bytes())?;
    written.push(html_path);
    Ok(written)
}

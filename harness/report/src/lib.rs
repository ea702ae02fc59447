//! Human reports of an evidence bundle: self-contained report.html and summary.md with SVG figures drawn by plotters.

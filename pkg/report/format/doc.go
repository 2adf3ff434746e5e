// Package format renders advtest reports for people and CI tools: an ASCII
// table, Markdown, JUnit XML and a self-contained HTML page with plots
// (gonum/plot) and a gallery of adversarial examples; JSON is the report's
// own form (report.WriteJSON), registered here under "json" too.
//
// Contract: a Writer renders a report without modifying it and without
// computing a figure (every number it prints is in the report); Lookup
// names the formats (exactly config.Formats); WriteFile writes atomically.
// Only cmd and pkg/run import this package, so the packages below them do
// not link the plotting and table libraries. Golden files under testdata
// pin every format's bytes; they render pkg/report's JSON goldens.
package format

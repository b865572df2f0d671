"""The report: text, display tables, sections, figures, rendering and publishing."""

"""Finance reports: queries to typed rows, rendered as a self-contained HTML page (charts as
inline SVG), CSV and XLSX; the money chain of one order (``cfp trace``). No HTTP here.

Read docs/reports.md for what each section shows and where its figures come from.
"""

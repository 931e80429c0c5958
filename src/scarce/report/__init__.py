"""`scarce report`: one self-contained HTML page from a results.json (docs/results-schema.md).

from scarce.report import write_report
write_report("results.json", "report.html")
"""

from scarce.report.html import (
    REPORT_MARK,
    check_results,
    load_results,
    render_html,
    write_report,
)

__all__ = ["REPORT_MARK", "check_results", "load_results", "render_html", "write_report"]

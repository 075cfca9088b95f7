"""Reports: self-contained HTML (images embedded, nothing fetched), Markdown and JSON.

The report layer reads results and lays them out; it computes nothing new.
"""

from eie.report.document import Figure, Report, Table
from eie.report.provenance import provenance

__all__ = ["Figure", "Report", "Table", "provenance"]

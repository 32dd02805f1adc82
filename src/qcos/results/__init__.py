"""Results of a workflow run: counts files, the summary table, plots and provenance."""

from qcos.results.counts import ResultsError, read_counts, write_counts

__all__ = ["ResultsError", "read_counts", "write_counts"]

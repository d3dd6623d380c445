"""Reports: charts and the self-contained HTML report."""

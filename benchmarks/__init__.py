"""Benchmarks: missionline against hand-written DuckDB SQL and pandas, ratios in one process."""

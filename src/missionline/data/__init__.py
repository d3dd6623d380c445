"""The data layer: canonical tables, database connections, imports and exports."""

"""Statistical models fitted in NumPy/SciPy on data the engine has aggregated."""

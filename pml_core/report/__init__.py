"""Results -> DataFrames -> tables (csv/md/tex) and figures; what the notebooks call."""

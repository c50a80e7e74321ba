"""Grid tariffs as data: one TOML file per grid company and year, loaded and validated."""

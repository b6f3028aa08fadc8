"""保养模板库 data files (YAML), shipped with the package."""

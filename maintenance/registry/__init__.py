"""Registry: the site's zones (片区), people and assets, loaded from the site file."""

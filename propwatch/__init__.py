"""propwatch: facility monitoring and preventive maintenance for property management (物业)."""

__version__ = "0.1.0"

"""遥控: commands to devices, as the maintenance side records, sends and settles them."""

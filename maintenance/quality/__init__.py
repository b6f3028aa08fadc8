"""物业质量监控: patrol findings (巡查发现) and their rectifications (整改), issue to re-check."""

"""人工与费用: labour, extra costs and 有偿维修 on work orders, and what an order cost."""

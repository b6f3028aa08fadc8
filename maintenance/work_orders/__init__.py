"""Work orders (工单): registered, dispatched, handled, closed and revisited."""

"""England geography and NHS organisation reference data: what ships, how to load more,
and the lookups the rules use (in memory for tests, SQL for the running register)."""

"""The reference office server: the authority for queues, routes, progress and number leases."""

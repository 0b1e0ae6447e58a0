"""Glue that runs the whole lobby on one machine: brokers and the demo."""

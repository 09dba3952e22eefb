"""Orchestration of domain code and adapters: one module per job."""

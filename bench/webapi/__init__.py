"""Benchmark of the WebAPI: checkroom and roomcreate beside a bare endpoint, SQLite and PostgreSQL."""

"""Engines other than the embedded DuckDB file, each in a module of its own.

The scoring plan is written in Ibis, so the same expressions compile for any engine Ibis
speaks. What differs between engines (types, bulk loading, session settings) lives in
one small module per engine (``postgres`` for a PostgreSQL server, ``spark`` for a Spark
session), on what they share (``engine``).
"""

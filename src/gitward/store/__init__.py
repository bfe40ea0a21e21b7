"""Persistence: SQLAlchemy 2 models, Alembic migrations, query functions.

The only package that imports SQLAlchemy; services receive sessions and model objects
through ``gitward.store.db`` and the query modules.
"""

"""Ingestion, chunking and indexes for the store's documents."""

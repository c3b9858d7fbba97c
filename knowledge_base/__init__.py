"""The knowledge base: loaders, chunking, ingestion, the passage store, indexes (FAISS, BM25), the
hybrid retriever, the product catalog and the recommender. Imports core and models."""

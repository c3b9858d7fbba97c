"""Models: the embedder now; the reader, generator and intent model build on the same pattern."""

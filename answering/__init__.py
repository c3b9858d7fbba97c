"""Answers from retrieved passages: extractive sentences, the reader ladder, phrasing by the
generator, grounding checks and the streaming writer. Imports core, models and knowledge_base."""

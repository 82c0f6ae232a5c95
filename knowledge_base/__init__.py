"""Knowledge base: entries, import, embedding, index and retrieval.

Imports nothing heavy: models and FAISS load when first used.
"""

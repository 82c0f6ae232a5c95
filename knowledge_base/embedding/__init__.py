"""Embedding: the embedder, the e5 conversion, tuning on the KB, the one device/dtype resolver."""

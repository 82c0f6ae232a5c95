"""Retrieval: the retriever, BM25, fusion, the entry classifier head, calibration of the answer threshold."""

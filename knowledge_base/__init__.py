"""The knowledge and how it is searched: no conversation, no UI.

- `entries`, `db_models`, `repository`: entries, their tables, every change a new KB version;
- `importers/`: reading files into entries (one module per format) and writing them back;
- `embedding/`: the embedder, the e5 conversion, tuning, the one device/dtype resolver;
- `index/`: FAISS snapshots (format, loading, memory-mapping), the writer (build, atomic switch),
  index kinds, incremental sync;
- `retrieval/`: the retriever, BM25, fusion, the entry head, calibration.

Imports neither `chatbot` nor `ui`: what it needs (database engine, model name, paths,
calibration inputs) comes in as arguments. Imports nothing heavy: models and FAISS load when
first used.
"""

"""Import time of a 1,000-entry XLSX and a 50-page PDF through the product's import path.

For each file, a fresh CHATBOT_HOME (SQLite, extractive generator, the shipped all-MiniLM-L6-v2)
runs `Services.import_files`: read and validate the file, upsert the entries as one KB version,
and update the index (embed every phrasing, FAISS, BM25, calibration, snapshot files). The
embedder is loaded and warmed before the clock starts. The baseline, in the same run, is raw
`SentenceTransformer.encode` of the same phrasings (the texts the index embeds), on the same
model files; the ratio says what the product adds on top of embedding.

    python bench/bench_import_formats.py [--entries 1000] [--pages 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "knowledge_base" / "importers"))
from document_files import write_pdf, write_xlsx

from chatbot.services import build_services
from chatbot.settings import Settings
from knowledge_base.embedding.embedder import resolve_model_path
from knowledge_base.importers.readers import read_file

MODEL = "all-MiniLM-L6-v2"
TOPICS = ["shipping", "returns", "payment", "account", "warranty", "delivery", "refund", "order"]


def make_xlsx(path: Path, count: int) -> Path:
    rows: list[list[object]] = [["id", "question", "alternates", "answer", "category"]]
    for n in range(count):
        topic = TOPICS[n % len(TOPICS)]
        rows.append([f"q{n}", f"How does {topic} work for order type {n}?",
                     f"{topic} rules for case {n}|question {n} about {topic}",
                     f"For case {n}, our {topic} policy applies: contact support within {n % 30 + 1} days.",
                     topic])
    return write_xlsx(path, rows)


def make_pdf(path: Path, pages: int) -> Path:
    content = []
    for page in range(pages):
        lines = [f"{page + 1} {TOPICS[page % len(TOPICS)].upper()} POLICY"]
        for n in range(40):  # about 2,400 characters a page: two chunks
            lines.append(f"Rule {n} of section {page + 1}: items are handled within {n % 9 + 1} days.")
            if n % 10 == 9:
                lines.append("")
        content.append(lines)
    return write_pdf(path, content)


def measure(path: Path) -> tuple[float, float, int, int]:
    """(product seconds, raw encode seconds, entries, phrasings) for one file."""
    with tempfile.TemporaryDirectory() as home:
        services = build_services(Settings(home=home, generator="extractive", embedding_model=MODEL))
        embedder = services.embedders.get(MODEL)
        embedder.warm_up()
        start = time.perf_counter()
        [report] = services.import_files([path])
        product = time.perf_counter() - start
        assert not report.refused and not report.errors, report
    texts = [text for entry in read_file(path).entries for text in entry.phrasings]
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(MODEL), device="cpu")
    model.encode(texts[:8])  # warm up, as the product's embedder was
    start = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    raw = time.perf_counter() - start
    return product, raw, report.imported, len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = [make_xlsx(Path(folder) / "faq.xlsx", args.entries), make_pdf(Path(folder) / "manual.pdf", args.pages)]
        print(f"{'file':<12} {'entries':>7} {'phrasings':>9} {'import s':>9} {'raw encode s':>12} {'ratio':>6}")
        for path in files:
            product, raw, entries, phrasings = measure(path)
            print(f"{path.name:<12} {entries:>7} {phrasings:>9} {product:>9.2f} {raw:>12.2f} {product / raw:>6.2f}")


if __name__ == "__main__":
    main()

"""`chatbot index tune` through the services: a tuned model version, recorded in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.embedding.tuning import TUNING_FILE
from knowledge_base.retrieval.calibration import DEFAULT_QUANTILE, TUNED_QUANTILE

ROWS = [
    ("ship-time", "How long does shipping take?", "When will my order arrive?|delivery time|how many days to ship"),
    ("returns", "Can I return an item?", "What is your return policy?|send something back|refund for a product"),
    ("password", "How do I reset my password?", "I forgot my password|can't log in|change my login"),
    ("payment", "Which payment methods do you accept?", "Can I pay with PayPal?|do you take cards|ways to pay"),
]


@pytest.mark.slow
def test_tune_makes_a_new_model_version_that_later_imports_keep(chatbot_home: Path, tmp_path: Path,
                                                                 make_services) -> None:
    services = make_services("id,question,alternates,answer\n" + "".join(
        f'{i},"{q}","{a}",Answer {i}.\n' for i, q, a in ROWS))
    assert services.index_store.read_manifest().embedding_model == "all-MiniLM-L6-v2"

    manifest = services.tune_index(epochs=1)
    tuned = Path(manifest.embedding_model)
    assert tuned.parent == chatbot_home / "models" / "tuned" and (tuned / "model.safetensors").exists()
    record = json.loads((tuned / TUNING_FILE).read_text())
    assert record["epochs"] == 1 and record["pairs"] > 0
    assert manifest.calibration["quantile"] == TUNED_QUANTILE  # services chose it for a tuned model
    assert services.engine.respond(None, "I forgot my password").citations[0].entry_id == "password"

    more = tmp_path / "more.csv"
    more.write_text("id,question,answer\ngift,Do you sell gift cards?,Yes.\n", encoding="utf-8")
    services.import_files([more])
    after = services.index_store.read_manifest()
    assert after.embedding_model == str(tuned)  # incremental update with the tuned model
    assert after.entry_count == 5 and after.calibration["quantile"] == TUNED_QUANTILE
    # The untuned model stays usable: a full rebuild (`chatbot index rebuild`) goes back to it.
    rebuilt = services.sync_index(full=True)
    assert rebuilt.embedding_model == "all-MiniLM-L6-v2" and rebuilt.calibration["quantile"] == DEFAULT_QUANTILE
    assert tuned.exists()

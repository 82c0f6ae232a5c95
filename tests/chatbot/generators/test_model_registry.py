"""Model versions on disk, the promotion pointer, and the generator that follows it (no model loaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.generators.local import LocalGenerator
from chatbot.generators.promoted import PromotedVersionGenerator, follow_promoted
from chatbot.generators.registry import CARD_FILE, ModelCard, ModelRegistry, ModelVersionError, new_version_id


def make_version(registry: ModelRegistry, version_id: str, base: str = "smollm2", kind: str = "lora",
                 created: str = "2025-01-01T00:00:00+00:00") -> ModelCard:
    """A version folder as `chatbot finetune` leaves it: card.json and a weights folder."""
    card = ModelCard(id=version_id, base=base, kind=kind, created=created, data_hash="0" * 64,
                     metrics={"before": {"exact_answer": 0.0}, "after": {"exact_answer": 0.5}})
    work = registry.work_dir(version_id)
    (work / ("adapter" if kind == "lora" else "model")).mkdir()
    registry.commit(work, card)
    return card


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def test_versions_are_listed_oldest_first_and_read_back(registry: ModelRegistry) -> None:
    assert registry.list_versions() == [] and registry.promoted() is None
    make_version(registry, "b", created="2025-02-01T00:00:00+00:00")
    make_version(registry, "a", created="2025-03-01T00:00:00+00:00", kind="full")
    (registry.versions_dir / ".tmp-half-written").mkdir()  # a run in progress is not a version
    assert [card.id for card in registry.list_versions()] == ["b", "a"]
    card = registry.get("a")
    assert card.kind == "full" and card.metrics["after"]["exact_answer"] == 0.5
    assert registry.weights_dir(card) == registry.versions_dir / "a" / "model"
    assert registry.weights_dir(registry.get("b")).name == "adapter"


def test_unknown_and_malformed_ids_are_clear_errors(registry: ModelRegistry) -> None:
    with pytest.raises(ModelVersionError, match=r"no model version 'nope' \(there are none yet: run `chatbot finetune`\)"):
        registry.get("nope")
    make_version(registry, "v1")
    with pytest.raises(ModelVersionError, match=r"no model version 'nope' \(known: v1\)"):
        registry.promote("nope")
    with pytest.raises(ModelVersionError, match="is not a model version id"):
        registry.get("../v1")
    (registry.versions_dir / "v1" / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelVersionError, match="not a readable model card"):
        registry.get("v1")
    assert registry.list_versions() == []  # a broken card does not break the listing


def test_promote_then_rollback_walks_back_to_the_base(registry: ModelRegistry) -> None:
    for version_id in ("v1", "v2", "v3"):
        make_version(registry, version_id)
    with pytest.raises(ModelVersionError, match="nothing to roll back"):
        registry.rollback()
    registry.promote("v1")
    registry.promote("v2")
    registry.promote("v2")  # promoting what serves changes nothing
    registry.promote("v3")
    assert registry.promoted() == "v3"
    assert json.loads(registry.pointer.read_text())["previous"] == ["v1", "v2"]
    assert registry.rollback() == "v2"
    assert registry.rollback() == "v1"
    assert registry.rollback() is None and registry.promoted() is None


def test_rollback_skips_deleted_versions(registry: ModelRegistry) -> None:
    make_version(registry, "v1")
    make_version(registry, "v2")
    registry.promote("v1")
    registry.promote("v2")
    shutil.rmtree(registry.versions_dir / "v1")
    assert registry.rollback() is None


def test_a_version_without_weights_cannot_be_promoted(registry: ModelRegistry) -> None:
    make_version(registry, "v1")
    (registry.versions_dir / "v1" / "adapter").rmdir()
    with pytest.raises(ModelVersionError, match="has no weights"):
        registry.promote("v1")


def test_a_damaged_pointer_says_how_to_recover(registry: ModelRegistry) -> None:
    registry.root.mkdir(parents=True)
    registry.pointer.write_text("{")
    with pytest.raises(ModelVersionError, match="delete it to serve the base model"):
        registry.promoted()


def test_version_ids_are_unique_and_safe() -> None:
    ids = {new_version_id("/models/My Model v2/") for _ in range(20)}
    assert len(ids) == 20
    assert all(i.startswith("my-model-v2-") and "/" not in i and " " not in i for i in ids)
    assert new_version_id("HuggingFaceTB/SmolLM2-360M-Instruct").startswith("smollm2-360m-instruct-")


def test_the_generator_follows_promotions_without_loading_anything(registry: ModelRegistry) -> None:
    base = LocalGenerator("smollm2", registry.root.parent, device="cpu", max_new_tokens=32)
    follower = follow_promoted(base, registry)
    assert isinstance(follower, PromotedVersionGenerator)
    assert follower.current() is base and follower.name == "local:smollm2" and follower.version is None
    assert (follower.max_new_tokens, follower.load_seconds) == (32, None)  # forwarded to the model in service

    make_version(registry, "v1")
    make_version(registry, "full1", kind="full")
    make_version(registry, "other", base="HuggingFaceTB/SmolLM2-360M-Instruct")
    registry.promote("v1")
    assert follower.current() is base  # the pointer is looked at once a second, not every call
    follower.refresh()
    tuned = follower.current()
    assert follower.name == "local:smollm2@v1" and follower.version == "v1"
    assert (tuned.model, tuned.adapter) == ("smollm2", str(registry.versions_dir / "v1" / "adapter"))
    assert (tuned.device, tuned.max_new_tokens) == ("cpu", 32)

    registry.promote("full1")
    follower.refresh()
    assert follower.current().model == str(registry.versions_dir / "full1" / "model")
    assert follower.current().adapter is None and follower.name == "local:smollm2@full1"

    registry.promote("other")  # tuned from another base: the configured base serves
    follower.refresh()
    assert follower.current().adapter is None and follower.name == "local:smollm2"

    registry.rollback()
    follower.refresh()
    assert follower.current().model.endswith("full1/model") and follower.name == "local:smollm2@full1"
    registry.rollback()
    registry.rollback()
    follower.refresh()
    assert follower.current().model == "smollm2" and follower.name == "local:smollm2"
    assert follower.current() is not base  # a fresh base: the model it replaces can be freed


def test_generators_without_a_model_are_left_alone(registry: ModelRegistry) -> None:
    extractive = ExtractiveGenerator()
    assert follow_promoted(extractive, registry) is extractive


def test_promote_model_says_whether_the_generator_setting_serves_the_version(tmp_path: Path) -> None:
    from chatbot.services import promote_model
    from chatbot.settings import Settings

    local = Settings(home=tmp_path, generator="local")
    registry = ModelRegistry(local.models_dir)
    make_version(registry, "v1", base="smollm2")
    promotion = promote_model(local, "v1")
    assert promotion.card.id == "v1" and promotion.serves and registry.promoted() == "v1"
    # Promoted all the same, but the extractive generator serves no version of SmolLM2.
    assert promote_model(Settings(home=tmp_path, generator="extractive"), "v1").serves is False
    with pytest.raises(ModelVersionError, match="no model version 'v9'"):
        promote_model(local, "v9")


def test_the_versions_table_marks_the_promoted_one_and_shows_metric_changes(registry: ModelRegistry) -> None:
    from ui.terminal import format_model_versions

    assert format_model_versions([], None) == "no model versions yet: run `chatbot finetune`"
    first = make_version(registry, "v1", created="2025-01-01T00:00:00+00:00")
    second = make_version(registry, "version-2", created="2025-02-01T00:00:00+00:00")
    assert first.metric_change("exact_answer") == "0.0->0.5" and first.metric_change("loss") == "-"
    lines = format_model_versions([first, second], "version-2").splitlines()
    assert lines[0] == "   id         base     kind  created                    exact answer  grounded  loss"
    assert lines[1] == "   v1         smollm2  lora  2025-01-01T00:00:00+00:00  0.0->0.5      -         -"
    assert lines[2] == "*  version-2  smollm2  lora  2025-02-01T00:00:00+00:00  0.0->0.5      -         -"
    assert lines[3] == "serving: version-2 (metrics: held out, before->after)"

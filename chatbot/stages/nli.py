"""The optional NLI check of the grounding step: do the cited entries entail the answer?

Off unless `CHATBOT_NLI_MODEL` names a sequence-classification model with an "entailment"
label (a Hugging Face id or a local folder, e.g. an mDeBERTa or DeBERTa NLI cross-encoder); no
such model ships with the product, and none is downloaded unless the operator asks for one.

    >>> nli = NliModel("/models/nli-deberta-v3-small", device="cpu")
    >>> nli.entailment("Items can be returned within 30 days.", "You have 30 days to return it.")
    0.97

torch and transformers are imported in `warm_up` only.
"""

from __future__ import annotations

import threading
from typing import Any

from knowledge_base.embedding.devices import DeviceChoice, resolve_device


class NliModel:
    """A premise/hypothesis classifier; `entailment()` is the probability of "entailment"."""

    def __init__(self, model: str, device: str = "auto") -> None:
        if not model or not model.strip():
            raise ValueError("nli_model is empty: name a Hugging Face id or a local model folder")
        self.model = model.strip()
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._entailment_index: int | None = None
        self.device_choice: DeviceChoice | None = None

    def warm_up(self) -> None:
        """Load the tokenizer and model once; a model without an entailment label is an error."""
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            choice = resolve_device(self.device)
            model = AutoModelForSequenceClassification.from_pretrained(self.model, dtype=choice.torch_dtype())
            labels = {int(i): str(label).lower() for i, label in model.config.id2label.items()}
            matches = [i for i, label in labels.items() if label.startswith("entail")]
            if len(matches) != 1:
                raise ValueError(f"NLI model {self.model!r} has no single 'entailment' label "
                                 f"(its labels: {sorted(labels.values())})")
            self._tokenizer = AutoTokenizer.from_pretrained(self.model)
            self._model, self._entailment_index = model.to(choice.device).eval(), matches[0]
            self.device_choice = choice

    def entailment(self, premise: str, hypothesis: str) -> float:
        """P(entailment) of `hypothesis` given `premise`; the premise is cut to fit the model."""
        import torch

        self.warm_up()
        limit = min(int(self._tokenizer.model_max_length), 512)  # sentinels run to 1e30
        inputs = self._tokenizer(premise, hypothesis, truncation="only_first", max_length=limit,
                                 return_tensors="pt").to(self._model.device)
        with torch.inference_mode():
            logits = self._model(**inputs).logits[0].float()
        return float(torch.softmax(logits, dim=-1)[self._entailment_index])

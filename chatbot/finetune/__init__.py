"""Supervised fine-tuning of the local generative model on the knowledge base.

The order of the modules is the order of a run (`chatbot finetune`, `run_finetune`):

- `dataset`: each phrasing → its entry's answer, prompted exactly as the engine prompts at serving
  time; phrasings held out per entry (seeded) for measuring; logged turns staff approved or
  corrected, trained on;
- `evalset`: evaluation sets' queries (real paraphrases) → their expected entry's answer, measured;
- `training`: LoRA (peft) or full fine-tuning, loss on the answer tokens only, precision and
  gradient checkpointing chosen from the device resolver;
- `metrics`: held-out exact-answer agreement, grounded rate, answer length (per language too),
  the answers generated concurrently where the model batches;
- `pipeline`: measure the base, train, save a version with its card, measure the version.

Nothing here is imported by `import chatbot`; torch, transformers and peft load inside functions.
"""

"""Supervised fine-tuning of the local generative model on the knowledge base.

The order of the modules is the order of a run (`chatbot finetune`, `run_finetune`):

- `dataset`: each phrasing → its entry's answer, prompted exactly as the engine prompts at serving
  time; phrasings held out per entry (seeded) for measuring;
- `training`: LoRA (peft) or full fine-tuning, loss on the answer tokens only, precision and
  gradient checkpointing chosen from the device resolver;
- `metrics`: held-out exact-answer agreement, grounded rate, answer length;
- `pipeline`: measure the base, train, save a version with its card, measure the version.

Nothing here is imported by `import chatbot`; torch, transformers and peft load inside functions.
"""

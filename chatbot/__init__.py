"""The conversation: one turn, its log, its evaluation, its models.

- `settings`, `messages`: typed settings; the dataclasses that travel between stages;
- `engine`: one turn, stage after stage (`stages/`), the prompt built once;
- `services`: the application object every front door calls, wired once at start-up;
- `stages/`: guard, language, rewrite, prompts, grounding, numbers, NLI, canned replies;
- `generators/`: the Generator interface, its backends (extractive, local, remote), batching,
  the model registry;
- `conversations/`: the database, the conversation store, labels, redaction;
- `evaluation/`: test-set cases, the evaluation run, the threshold trade-off, reports;
- `finetune/`: supervised fine-tuning of the local generator.

Imports run one way: `ui` → `chatbot` → `knowledge_base`. `import chatbot` loads no model and
does not import torch.
"""

__version__ = "0.1.0"

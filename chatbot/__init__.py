"""The support chatbot: settings, engine, generators, conversation log, evaluation and CLI.

`import chatbot` loads no model and does not import torch.
"""

__version__ = "0.1.0"

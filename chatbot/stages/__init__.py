"""The stages of one turn, in order: guard, language, rewrite, prompts, grounding (with numbers and NLI), canned replies."""

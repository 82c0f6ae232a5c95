"""The customer chat page (Gradio) at /."""

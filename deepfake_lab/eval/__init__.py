"""Evaluation: judges trained on ground-truth renders, metrics, and the swap benchmark."""

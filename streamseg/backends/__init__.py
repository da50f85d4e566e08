"""Inference backends: the same network on different runtimes (see registry.py)."""

"""streamseg: remove the background from car videos at GPU speed (and on any CPU)."""

__version__ = "0.1.0"

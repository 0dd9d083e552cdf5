"""Where admitted jobs run: ``sleep`` (in process, timed) and ``ray``."""

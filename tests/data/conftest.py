"""The data tests use ``demo_cache`` and ``demo_root`` from tests/conftest.py (built once per session)."""

"""DeepSeek-OCR (v1), native: configuration, model and processor (see :mod:`.modeling`)."""

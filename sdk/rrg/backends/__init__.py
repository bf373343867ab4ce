"""Alternative model backends. The default is plain transformers + PEFT (``rrg.models``)."""

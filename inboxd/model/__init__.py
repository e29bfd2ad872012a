"""Building and measuring the classifier: training with a target precision (``training``), the
model files and one training at a time (``modelfile``), evaluation (``evaluate``), the sentence
encoder (``encoder``) and its cache of embeddings (``embedding_cache``)."""

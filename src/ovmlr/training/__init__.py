"""Training of C²SRT: vocabulary, feature batches, the epoch loop, checkpoints and the MLflow pyfunc model."""

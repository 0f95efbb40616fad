"""Category relations: the sources of related seen categories (LLM, text similarity, co-occurrence,
random, WordNet), the top-K neighbour selection with its fallback, the LLM request/answer tables, and the
graph plot.

Library code shared by the ``relation_mining`` pipeline, the ablation runner, and the trained model's
policy for new label names.
"""

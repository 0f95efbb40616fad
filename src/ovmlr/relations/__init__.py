"""Category relations: the sources of related seen categories (LLM, text similarity, co-occurrence,
random, WordNet), the top-K neighbour selection with its fallback, the LLM request/answer tables, the
graph plot, and the sources side by side (``compare``: Fig. 10 and the overlap of their neighbour sets).

Library code shared by the ``relation_mining`` pipeline, the ablation runner, and the trained model's
policy for new label names.
"""

"""Raw dataset readers and builders: from release files to the data contracts of ``docs/architecture.md``.

Readers (``idx``, ``nus_wide``, ``open_images``) turn a dataset's release files into a *release* object; the
Kedro datasets in ``ovmlr.datasets`` call them, so all file access stays in the catalog. Builders turn a
release into the same five tables for every dataset (``image_manifest``, ``labels``, ``categories``,
``pretrain_pool``, ``data_report``; see ``tables``), so every later stage is dataset-agnostic.
"""

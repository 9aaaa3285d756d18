"""The contact importer: storage → reading → mapping → normalising + preparing (in
workers on big files) → writing, driven by runner.

The wizard (contacts.views_import), the Celery task (contacts.tasks) and the benchmark
(bench/import_contacts.py) all go through `contacts.importing.service`.
"""

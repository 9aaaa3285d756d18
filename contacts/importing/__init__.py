"""The contact importer: storage → reading → mapping → normalising → writing, driven by runner.

The wizard (contacts.views_import), the Celery task (contacts.tasks) and the benchmark
(bench/import_contacts.py) all go through `contacts.importing.service`.
"""

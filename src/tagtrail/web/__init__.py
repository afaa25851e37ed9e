"""HTTP pieces that both the registry API (``tagtrail.api``) and the UI (``tagtrail.ui``) use.

Beneath both, above the use cases: who the caller is (``guard``), what the app holds
(``state``) and reading a form with limits (``forms``). Neither api nor ui is imported here.
"""

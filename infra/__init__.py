"""Deployment: the backing resources as code, packaging, `make deploy` / `make destroy`.

Never shipped to Lambda: Chalice packages only app.py and chalicelib/.
"""

"""Active-learning explorer: ``streamlit run app.py``.

The entry point only starts the app's frame (``pages/ui/frame.py``): navigation between the pages, the run named
in the URL (``?run=<id>``, so a reload finds the same run), the sidebar of past runs, and the page itself.
"""
from pages.ui.frame import run_app

run_app()

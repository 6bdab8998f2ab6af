"""What the pages share: the app's frame, the run in the URL, the job registry, the setup form and the panels.

Modules here are never pages (Streamlit's ``pages/``-folder mode runs every ``pages/*.py`` file as one), and they
never import a page file: imports run app -> pages -> pages.ui -> alcore.
"""

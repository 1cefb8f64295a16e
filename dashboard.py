"""Entry point of the analyst dashboard (``streamlit run dashboard.py``): the page list.

``st.navigation`` lists the pages so the home page is called "Home" in the sidebar rather than
after this file's name; the other pages are the files in ``pages/``, named after their files.
"""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.home import home

pages = [st.Page(home, title="Home", default=True)]
pages += [st.Page(path) for key, (path, _) in state.PAGES.items() if key != "home"]
st.navigation(pages).run()

"""The what-if app (`partnersim app`): a Streamlit page over a warm process pool.

`setting` is what one ensemble runs, `pool` runs and caches it, `ensemble` turns
replications into tidy frames, `charts` draws them, `view` fills the page, `page` is the
Streamlit script and `command` the command that serves it.
"""

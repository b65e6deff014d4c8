"""`pagerduty-plugin http`: the actions over HTTP, warm, under gunicorn.

app.py is the WSGI application (plain WSGI, no framework: a dozen routes); command.py reads the
command line and runs it under gunicorn. Steps run only through the runner, as `run` does.
"""

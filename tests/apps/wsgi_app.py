"""wsgi_app.py: the WSGI application for running gunicorn (Debian's 20.1) under `herdless
run`: every request gets 200 with the body `worker=<HERDLESS_WORKER> pid=<pid>\\n`, so a
client (`herdless load`) can tell which slot and which process answered. The pid is
gunicorn's worker process (a child of the program herdless started), not the master.

  herdless run ... -- gunicorn --workers 1 --bind fd://3 --chdir tests/apps wsgi_app:app
(with --fd-env einhorn or none: gunicorn 20.1 refuses --bind fd://3 when LISTEN_FDS is set)
"""
import os


def app(environ, start_response):
    body = ("worker=%s pid=%d\n" % (os.environ.get("HERDLESS_WORKER", "?"), os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

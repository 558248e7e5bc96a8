"""Sources: the only modules that do I/O. Each returns plain records (`cronctl.records`).

Database sources expose a query builder and a row parser separately (so several can run in one session,
pipelined) plus a convenience `fetch_*` that does both on a connection.
"""

"""``python -m bench.network``: how fast media reaches students on real networks (issue 10).

``env.NetworkEnv`` is the shared stage (a network namespace, the embedded Janus, the node's
own coturn with TLS from a throw-away CA). Every other module of this package is a
measurement: it registers rows with ``registry.measurement`` and is found on its own, so
a new measurement is one new module here.
"""

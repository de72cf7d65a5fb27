"""Use cases: what each party may do, checked against one policy before anything is read.

The command line acts as the operator (``ADMIN``) on a local file; the HTTP API acts as
whoever its key says. Both call the same use cases (``usecases``), each of which asks the
policy (``policy.check``) first, so a matrix test over roles and use cases covers every
face at once.
"""
